//! The matchmaker end to end: queue, match, play; duplicates, ownership, skill windows,
//! expiry, parties, restarts and start failures.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Account, TestServer, Ws};
use crate::modes;

async fn server() -> TestServer {
    TestServer::start_with_modes(modes::all(), |c| c.matchmaker_tick_ms = 100).await
}

async fn queue(ws: &mut Ws, payload: Value) -> Value {
    let r = ws.request("matchmaker.add", payload).await;
    assert_eq!(r["type"], "matchmaker.queued", "{r}");
    r
}

fn roster(matched: &Value) -> Vec<String> {
    let mut p: Vec<String> =
        serde_json::from_value(matched["payload"]["players"].clone()).expect("players");
    p.sort();
    p
}

fn ids(accounts: &[&Account]) -> Vec<String> {
    let mut v: Vec<String> = accounts.iter().map(|a| a.player_id.clone()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn two_queued_players_are_matched_play_and_finish() {
    let s = server().await;
    let (a, b) = (s.register("queue_a").await, s.register("queue_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    let qa = queue(&mut wa, json!({"mode": "scoring"})).await;
    assert_eq!(qa["payload"]["players_needed"], 2);
    assert_eq!(
        (
            qa["payload"]["status"].as_str(),
            qa["payload"]["already_queued"].as_bool()
        ),
        (Some("pending"), Some(false))
    );
    queue(
        &mut wb,
        json!({"mode": "scoring", "properties": {"skill": 1200}}),
    )
    .await;

    let ma = wa.recv_type("match.matched").await;
    let mb = wb.recv_type("match.matched").await;
    assert_eq!(ma["payload"]["match_id"], mb["payload"]["match_id"]);
    assert_eq!(roster(&ma), ids(&[&a, &b]));
    assert!(ma.get("cid").is_none());
    // Matched players are already joined: input reaches the game and both see it.
    wb.send(json!({"type": "match.input", "payload": {"add": 4}}))
        .await;
    for ws in [&mut wa, &mut wb] {
        loop {
            let st = ws.recv_type("match.state").await;
            if st["payload"]["players"][&b.player_id]["score"] == 4 {
                break;
            }
        }
    }
    wb.send(json!({"type": "match.input", "payload": {"add": 6}}))
        .await;
    for ws in [&mut wa, &mut wb] {
        let f = ws.recv_type("match.finished").await;
        assert_eq!(f["payload"]["result"], json!({"winner": b.player_id}));
    }
}

#[tokio::test]
async fn tickets_are_unique_per_player_and_mode_and_owned() {
    let s = TestServer::start_with_modes(modes::all(), |c| c.matchmaker_tick_ms = 60_000).await;
    let (a, b) = (s.register("owner_a").await, s.register("owner_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    let first = queue(&mut wa, json!({"mode": "scoring"})).await;
    let again = queue(&mut wa, json!({"mode": "scoring"})).await;
    let ticket = first["payload"]["ticket_id"].as_str().unwrap().to_owned();
    assert_eq!(again["payload"]["ticket_id"], ticket.as_str());
    assert_eq!(again["payload"]["already_queued"], true);

    let unknown = wa.request("matchmaker.add", json!({"mode": "nope"})).await;
    assert_eq!(
        (
            unknown["payload"]["reason"].as_str(),
            unknown["payload"]["error"]["code"].as_str()
        ),
        (Some("unknown_mode"), Some("matchmaker.unknown_mode"))
    );
    assert_eq!(unknown["payload"]["type"], "matchmaker.add");

    let mine = s
        .get(
            &format!("/api/v1/matchmaker/{ticket}"),
            Some(&a.access_token),
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(
        (mine.body["mode"].as_str(), mine.body["status"].as_str()),
        (Some("scoring"), Some("pending"))
    );
    assert!(mine.body["submitted_at"].is_i64());
    let theirs = s
        .get(
            &format!("/api/v1/matchmaker/{ticket}"),
            Some(&b.access_token),
        )
        .await;
    assert_eq!(
        (theirs.status, theirs.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let stolen = wb
        .request("matchmaker.remove", json!({"ticket_id": ticket}))
        .await;
    assert_eq!(
        (
            stolen["payload"]["reason"].as_str(),
            stolen["payload"]["error"]["code"].as_str()
        ),
        (Some("not_owner"), Some("forbidden"))
    );
    assert_eq!(stolen["payload"]["type"], "matchmaker.remove");

    let rest = s
        .post(
            "/api/v1/matchmaker",
            json!({"mode": "nope"}),
            Some(&b.access_token),
        )
        .await;
    assert_eq!(
        (rest.status, rest.code()),
        (StatusCode::BAD_REQUEST, "matchmaker.unknown_mode")
    );
    let rest = s
        .post(
            "/api/v1/matchmaker",
            json!({"mode": "ranked"}),
            Some(&b.access_token),
        )
        .await;
    assert_eq!(rest.status, StatusCode::OK);
    let b_ticket = rest.body["ticket_id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.delete(
            &format!("/api/v1/matchmaker/{b_ticket}"),
            Some(&b.access_token)
        )
        .await
        .status,
        StatusCode::OK
    );
    let gone = s
        .get(
            &format!("/api/v1/matchmaker/{b_ticket}"),
            Some(&b.access_token),
        )
        .await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "matchmaker.ticket_not_found")
    );

    let removed = wa
        .request("matchmaker.remove", json!({"ticket_id": ticket}))
        .await;
    assert_eq!(removed["payload"], json!({"success": true}));
    let missing = wa
        .request("matchmaker.remove", json!({"ticket_id": ticket}))
        .await;
    assert_eq!(
        (
            missing["payload"]["reason"].as_str(),
            missing["payload"]["error"]["details"]["reason"].as_str()
        ),
        (Some("not_found"), Some("not_found"))
    );
}

#[tokio::test]
async fn skill_windows_widen_with_the_wait() {
    let s = server().await;
    let (a, b) = (s.register("skill_a").await, s.register("skill_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    let queued_at = Instant::now();
    queue(
        &mut wa,
        json!({"mode": "ranked", "properties": {"skill": 1000}}),
    )
    .await;
    queue(
        &mut wb,
        json!({"mode": "ranked", "properties": {"skill": 1240}}),
    )
    .await;
    // Spread 240 > 200: not before the window grows to 250 after 5 s of waiting.
    let matched = wa
        .recv_type_within("match.matched", Duration::from_secs(10))
        .await;
    let waited = queued_at.elapsed();
    println!("skill spread 240 matched after {waited:?}");
    assert!(
        waited >= Duration::from_millis(4900),
        "matched too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(8),
        "matched too late: {waited:?}"
    );
    assert_eq!(roster(&matched), ids(&[&a, &b]));
}

#[tokio::test]
async fn tickets_expire() {
    let s = TestServer::start_with_modes(modes::all(), |c| {
        c.matchmaker_tick_ms = 100;
        c.matchmaker_max_wait_ms = 500;
    })
    .await;
    let a = s.register("expire_a").await;
    let mut wa = s.ws_as(&a).await;
    let q = queue(&mut wa, json!({"mode": "scoring"})).await;
    let expired = wa.recv_type("match.matchmaker_expired").await;
    assert_eq!(
        expired["payload"],
        json!({"ticket_id": q["payload"]["ticket_id"]})
    );
    let gone = s
        .get(
            &format!(
                "/api/v1/matchmaker/{}",
                q["payload"]["ticket_id"].as_str().unwrap()
            ),
            Some(&a.access_token),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_party_is_matched_as_one_unit_and_never_split() {
    let s = TestServer::start_with_modes(modes::all(), |c| c.matchmaker_tick_ms = 60_000).await;
    let [a, b, c, d] = [
        s.register("solo_a").await,
        s.register("lead_b").await,
        s.register("mate_c").await,
        s.register("solo_d").await,
    ];
    let mut ws: Vec<Ws> = Vec::new();
    for acc in [&a, &b, &c, &d] {
        ws.push(s.ws_as(acc).await);
    }
    queue(&mut ws[0], json!({"mode": "scoring"})).await;
    // A client cannot queue anyone but themselves (issue 15 §8: B was forced into A's
    // match); a party that accepted is queued by the server side.
    let forced = ws[1]
        .request(
            "matchmaker.add",
            json!({"mode": "scoring", "party": [c.player_id]}),
        )
        .await;
    assert_eq!(
        forced["payload"]["error"]["details"]["reason"], "party_not_accepted",
        "{forced}"
    );
    let rest = s
        .post(
            "/api/v1/matchmaker",
            json!({"mode": "scoring", "party": [c.player_id]}),
            Some(&b.access_token),
        )
        .await;
    assert_eq!(rest.status, StatusCode::BAD_REQUEST, "{}", rest.body);
    let st = s.running().state();
    let party = [c.player_id.clone()];
    st.matchmaker()
        .add_party(
            st.matches(),
            st.worlds(),
            &b.player_id,
            "scoring",
            json!({}),
            &party,
        )
        .await
        .unwrap();
    queue(&mut ws[3], json!({"mode": "scoring"})).await;
    let too_big = st
        .matchmaker()
        .add_party(
            st.matches(),
            st.worlds(),
            &d.player_id,
            "ranked",
            json!({}),
            &[a.player_id.clone(), b.player_id.clone()],
        )
        .await;
    assert!(
        matches!(
            too_big,
            Err(asobi_server::matchmaker::MatchmakerError::InvalidParty)
        ),
        "{too_big:?}"
    );
    // Properties are capped: size, keys, shape.
    for properties in [
        json!({"blob": "x".repeat(5000)}),
        json!(
            (0..40)
                .map(|i| (format!("k{i}"), json!(i)))
                .collect::<serde_json::Map<_, _>>()
        ),
        json!([1, 2]),
    ] {
        let r = ws[3]
            .request(
                "matchmaker.add",
                json!({"mode": "ranked", "properties": properties}),
            )
            .await;
        assert_eq!(
            r["payload"]["error"]["details"]["reason"], "invalid_properties",
            "{r}"
        );
    }
    // c's own add now answers with the party ticket.
    let c_again = ws[2]
        .request("matchmaker.add", json!({"mode": "scoring"}))
        .await;
    assert_eq!(c_again["payload"]["already_queued"], true);

    // FIFO would pair a with b; the party cannot be split, so a pairs with d.
    st.matchmaker()
        .pass(
            st.matches(),
            st.worlds(),
            &st.sessions_arc(),
            asobi_server::time::now_ms(),
        )
        .await
        .unwrap();
    let mut rosters: Vec<Vec<String>> = Vec::new();
    for w in &mut ws {
        rosters.push(roster(&w.recv_type("match.matched").await));
    }
    assert_eq!(rosters[0], ids(&[&a, &d]));
    assert_eq!(rosters[3], ids(&[&a, &d]));
    assert_eq!(rosters[1], ids(&[&b, &c]));
    assert_eq!(rosters[2], ids(&[&b, &c]));
}

#[tokio::test]
async fn queued_tickets_survive_a_restart() {
    let mut first =
        TestServer::start_with_modes(modes::all(), |c| c.matchmaker_tick_ms = 100).await;
    let (a, b) = (
        first.register("durable_a").await,
        first.register("durable_b").await,
    );
    let mut wa = first.ws_as(&a).await;
    let q = queue(&mut wa, json!({"mode": "scoring"})).await;
    let ticket = q["payload"]["ticket_id"].as_str().unwrap().to_owned();
    first.stop().await;

    let second = TestServer::start_on(first.database_url.clone(), modes::all(), |c| {
        c.matchmaker_tick_ms = 100
    })
    .await;
    let kept = second
        .get(
            &format!("/api/v1/matchmaker/{ticket}"),
            Some(&a.access_token),
        )
        .await;
    assert_eq!(
        kept.status,
        StatusCode::OK,
        "the ticket survived: {}",
        kept.body
    );
    let mut wa = second.ws_as(&a).await;
    let mut wb = second.ws_as(&b).await;
    let again = queue(&mut wa, json!({"mode": "scoring"})).await;
    assert_eq!(
        (
            again["payload"]["ticket_id"].as_str(),
            again["payload"]["already_queued"].as_bool()
        ),
        (Some(ticket.as_str()), Some(true))
    );
    queue(&mut wb, json!({"mode": "scoring"})).await;
    let matched = wa.recv_type("match.matched").await;
    assert_eq!(roster(&matched), ids(&[&a, &b]));
}

#[tokio::test]
async fn a_match_that_cannot_start_is_retried_then_reported() {
    let s = server().await;
    let (a, b) = (s.register("broken_a").await, s.register("broken_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    queue(&mut wa, json!({"mode": "broken"})).await;
    queue(&mut wb, json!({"mode": "broken"})).await;
    for ws in [&mut wa, &mut wb] {
        let failed = ws.recv_type("match.matchmaker_failed").await;
        assert_eq!(failed["payload"], json!({"reason": "match_start_failed"}));
    }
    // The tickets are gone after the third attempt.
    let again = wa
        .request("matchmaker.add", json!({"mode": "broken"}))
        .await;
    assert_eq!(again["payload"]["already_queued"], false);
}
