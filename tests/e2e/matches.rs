//! Matches end to end: joining, state, input, game events, finishing and records, refusal,
//! fault isolation and slow clients.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestServer, Ws};
use crate::modes;

async fn server() -> TestServer {
    TestServer::start_with_modes(modes::all(), |_| {}).await
}

fn tick_of(state: &Value) -> u64 {
    state["payload"]["tick"].as_u64().expect("state has a tick")
}

#[tokio::test]
async fn two_players_join_play_and_finish_with_a_recorded_result() {
    let s = server().await;
    let (a, b) = (s.register("alpha").await, s.register("bravo").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);

    let joined = wa
        .request("match.find_or_create", json!({"mode": "scoring"}))
        .await;
    assert_eq!(joined["type"], "match.joined", "{joined}");
    let p = &joined["payload"];
    assert_eq!(
        (
            p["status"].as_str(),
            p["player_count"].as_u64(),
            p["max_players"].as_u64()
        ),
        (Some("waiting"), Some(1), Some(2))
    );
    assert_eq!(
        (
            p["listed"].clone(),
            p["joinable"].clone(),
            p["mode"].clone()
        ),
        (json!(true), json!(true), json!("scoring"))
    );
    let match_id = p["match_id"].as_str().unwrap().to_owned();

    let listed = wb
        .request(
            "match.list",
            json!({"mode": "scoring", "has_capacity": true}),
        )
        .await;
    assert_eq!(
        listed["payload"]["matches"][0]["match_id"],
        match_id.as_str()
    );
    assert!(
        listed["payload"]["matches"][0].get("players").is_none(),
        "never the roster"
    );

    let joined = wb
        .request("match.join", json!({"match_id": match_id}))
        .await;
    assert_eq!(joined["payload"]["status"], "running");
    assert_eq!(
        joined["payload"]["players"],
        json!([a.player_id, b.player_id])
    );

    // Both see state with both players, the replicated component and resource, and a tick.
    for ws in [&mut wa, &mut wb] {
        let state = ws.recv_type("match.state").await;
        let players = &state["payload"]["players"];
        assert_eq!(players[&a.player_id]["score"], 0, "{state}");
        assert_eq!(players[&b.player_id]["score"], 0);
        assert!(state["payload"]["inputs_seen"].is_u64());
        assert!(tick_of(&state) >= 1);
    }

    wa.send(json!({"type": "match.input", "payload": {"add": 3}}))
        .await;
    for ws in [&mut wa, &mut wb] {
        let event = ws.recv_type("match.scored").await;
        assert_eq!(event["payload"], json!({"by": a.player_id, "score": 3}));
        loop {
            let state = ws.recv_type("match.state").await;
            if state["payload"]["players"][&a.player_id]["score"] == 3 {
                assert_eq!(state["payload"]["players"][&b.player_id]["score"], 0);
                break;
            }
        }
    }
    // The deprecated wrapped shape is normalised before the game sees it.
    wa.send(json!({"type": "match.input", "payload": {"data": "{\"add\": 7}"}}))
        .await;
    for ws in [&mut wa, &mut wb] {
        // The finishing tick's own event arrives, and before `match.finished`.
        let mut scored_ten = false;
        let finished = loop {
            let f = ws.recv().await;
            if f["type"] == "match.scored" && f["payload"]["score"] == 10 {
                scored_ten = true;
            }
            if f["type"] == "match.finished" {
                break f;
            }
        };
        assert!(
            scored_ten,
            "the event of the finishing tick was delivered first"
        );
        assert_eq!(
            finished["payload"],
            json!({"match_id": match_id, "result": {"winner": a.player_id}})
        );
    }
    // After finishing, input gets the not-in-match hint.
    wa.send(json!({"type": "match.input", "payload": {"add": 1}}))
        .await;
    let hint = wa.recv_type("error").await;
    assert_eq!(hint["payload"]["reason"], "not_in_match");

    // The record and the per-player stats are written in one transaction.
    let db = s.running().state().db();
    for _ in 0..100 {
        if asobi_server::matches::record::get(db, &match_id)
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record = s
        .get(
            &format!("/api/v1/matches/{match_id}"),
            Some(&a.access_token),
        )
        .await
        .body;
    assert_eq!(record["status"], "finished");
    assert_eq!(record["result"], json!({"winner": a.player_id}), "{record}");
    assert_eq!(record["mode"], "scoring");
    assert!(record["finished_at"].as_str().unwrap().ends_with('Z'));
    let history = s
        .get(
            "/api/v1/matches?mode=scoring&limit=abc",
            Some(&b.access_token),
        )
        .await;
    assert_eq!(history.body["matches"][0]["id"], match_id.as_str());
    assert_eq!(
        asobi_server::matches::record::stats(db, &a.player_id)
            .await
            .unwrap(),
        (1, 1, 0)
    );
    assert_eq!(
        asobi_server::matches::record::stats(db, &b.player_id)
            .await
            .unwrap(),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn joins_are_refused_with_the_contracts_errors() {
    let s = server().await;
    let (a, b, c) = (
        s.register("carla").await,
        s.register("dino").await,
        s.register("emma").await,
    );
    let (mut wa, mut wb, mut wc) = (s.ws_as(&a).await, s.ws_as(&b).await, s.ws_as(&c).await);

    let refused = wa
        .request(
            "match.find_or_create",
            json!({"mode": "picky", "ctx": {"team": "blue"}}),
        )
        .await;
    assert_eq!(refused["payload"]["reason"], "join_refused", "{refused}");
    assert_eq!(refused["payload"]["error"]["code"], "match.join_refused");
    assert_eq!(
        refused["payload"]["error"]["details"]["refused_reason"],
        "team_full"
    );

    let bad_ctx = wa
        .request(
            "match.find_or_create",
            json!({"mode": "picky", "ctx": {"lvl": 1.5}}),
        )
        .await;
    assert_eq!(bad_ctx["payload"]["reason"], "invalid_join_ctx_value");
    let unknown = wa
        .request(
            "match.join",
            json!({"match_id": "0198f3a2-0002-7000-8000-00000000b009"}),
        )
        .await;
    assert_eq!(
        (
            unknown["payload"]["reason"].as_str(),
            unknown["payload"]["error"]["code"].as_str()
        ),
        (Some("match_not_found"), Some("match.not_found"))
    );
    let no_mode = wa
        .request("match.find_or_create", json!({"mode": "nope"}))
        .await;
    assert_eq!(
        no_mode["payload"]["error"]["details"]["reason"],
        "not_found"
    );

    // Full: scoring takes two.
    let m = wa
        .request("match.find_or_create", json!({"mode": "scoring"}))
        .await;
    let id = m["payload"]["match_id"].as_str().unwrap().to_owned();
    wb.request("match.join", json!({"match_id": id})).await;
    let full = wc.request("match.join", json!({"match_id": id})).await;
    assert_eq!(
        (
            full["payload"]["reason"].as_str(),
            full["payload"]["error"]["code"].as_str()
        ),
        (Some("match_full"), Some("match.full"))
    );
    // find_or_create converges on a new match when the only one is full.
    let other = wc
        .request("match.find_or_create", json!({"mode": "scoring"}))
        .await;
    assert_ne!(other["payload"]["match_id"], id.as_str());
}

#[tokio::test]
async fn join_rate_limit_answers_join_rate_limited() {
    use asobi_server::config::Limit;
    let s = TestServer::start_with_modes(modes::all(), |c| {
        c.rate_limits.join = Limit {
            count: 2,
            window_ms: 60_000,
        }
    })
    .await;
    let f = s.register("frida").await;
    let mut ws = s.ws_as(&f).await;
    for _ in 0..2 {
        let r = ws
            .request("match.find_or_create", json!({"mode": "solo"}))
            .await;
        assert_eq!(r["type"], "match.joined");
    }
    let r = ws
        .request("match.find_or_create", json!({"mode": "solo"}))
        .await;
    assert_eq!(
        (
            r["payload"]["reason"].as_str(),
            r["payload"]["error"]["code"].as_str()
        ),
        (Some("join_rate_limited"), Some("join_rate_limited"))
    );
}

/// Intervals between consecutive `match.state` ticks seen on a socket during `window`.
async fn state_intervals(ws: &mut Ws, window: Duration) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut last: Option<Instant> = None;
    let end = Instant::now() + window;
    while Instant::now() < end {
        let f = ws.recv().await;
        if f["type"] != "match.state" {
            continue;
        }
        let now = Instant::now();
        if let Some(prev) = last {
            out.push(now - prev);
        }
        last = Some(now);
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Reads a socket for `window`, recording when each `match.state` arrived and its tick.
fn record_states(
    mut ws: Ws,
    window: Duration,
) -> tokio::task::JoinHandle<(Ws, Vec<(Instant, u64)>)> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let end = Instant::now() + window;
        while Instant::now() < end {
            let f = ws.recv().await;
            if f["type"] == "match.state" {
                seen.push((Instant::now(), tick_of(&f)));
            }
        }
        (ws, seen)
    })
}

/// Median interval between consecutive arrivals within `[from, to)`.
fn median_interval(samples: &[(Instant, u64)], from: Instant, to: Instant) -> Duration {
    let times: Vec<Instant> = samples
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t >= from && *t < to)
        .collect();
    median(times.windows(2).map(|w| w[1] - w[0]).collect())
}

#[tokio::test]
async fn a_panicking_match_ends_alone_and_the_others_keep_their_cadence() {
    let s = server().await;
    let mut readers = Vec::new();
    for i in 0..3 {
        let p = s.register(&format!("healthy{i}")).await;
        let mut ws = s.ws_as(&p).await;
        let r = ws
            .request("match.find_or_create", json!({"mode": "solo"}))
            .await;
        assert_eq!(r["payload"]["status"], "running");
        readers.push(record_states(ws, Duration::from_millis(1800)));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The crashing match dies at its 10th tick, ~0.5 s after it starts.
    let victim = s.register("victim").await;
    let mut wv = s.ws_as(&victim).await;
    let r = wv
        .request("match.find_or_create", json!({"mode": "crashing"}))
        .await;
    let crashed_id = r["payload"]["match_id"].as_str().unwrap().to_owned();
    let finished = wv.recv_type("match.finished").await;
    let crashed_at = Instant::now();
    assert_eq!(
        finished["payload"],
        json!({"match_id": crashed_id, "result": {"status": "crashed"}})
    );
    wv.assert_alive().await;

    for reader in readers {
        let (mut ws, samples) = reader.await.unwrap();
        let before = median_interval(&samples, started, crashed_at);
        let after = median_interval(&samples, crashed_at, Instant::now());
        let ticks_after = samples.iter().filter(|(t, _)| *t > crashed_at).count();
        println!(
            "healthy match: median interval before {before:?}, after {after:?}, {ticks_after} states after the crash"
        );
        assert!(
            ticks_after >= 5,
            "the healthy match kept ticking after the crash"
        );
        assert!(
            after < before * 2 && after < Duration::from_millis(100),
            "cadence kept: {before:?} → {after:?}"
        );
        ws.assert_alive().await;
    }
    let health = s.get("/health", None).await;
    assert_eq!(health.body["matches"]["crashed"], 1);
    assert!(health.body["matches"]["tick"]["count"].as_u64().unwrap() > 20);
    // The server keeps serving: the victim can start another match.
    let again = wv
        .request("match.find_or_create", json!({"mode": "solo"}))
        .await;
    assert_eq!(again["type"], "match.joined");
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_coalesced_state_and_does_not_slow_the_other() {
    let s = server().await;
    let (a, b) = (s.register("reader").await, s.register("sleeper").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    wa.request("match.find_or_create", json!({"mode": "bulky"}))
        .await;
    wb.request("match.find_or_create", json!({"mode": "bulky"}))
        .await;
    let first = wa.recv_type("match.state").await;
    let start_tick = tick_of(&first);

    // b stops reading for 3 s (~60 ticks of ~200 KB: far more than socket buffers hold).
    let intervals = state_intervals(&mut wa, Duration::from_secs(3)).await;
    let m = median(intervals.clone());
    println!(
        "reader's median interval while the other stalls: {m:?} over {} frames",
        intervals.len()
    );
    assert!(
        m < Duration::from_millis(100),
        "the reader keeps the match cadence: {m:?}"
    );

    let now_tick = tick_of(&wa.recv_type("match.state").await);
    let elapsed_ticks = now_tick - start_tick;
    // b resumes: it sees recent states, and far fewer frames than ticks went by.
    let mut received = 0u64;
    let mut newest = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let f = wb.recv().await;
        if f["type"] == "match.state" {
            received += 1;
            newest = tick_of(&f);
            if newest >= now_tick {
                break;
            }
        }
    }
    println!("sleeper: {received} frames for {elapsed_ticks} ticks, caught up to tick {newest}");
    assert!(
        newest >= now_tick,
        "the slow client catches up to the live tick"
    );
    assert!(
        received < elapsed_ticks / 2,
        "states coalesced ({received} frames for {elapsed_ticks} ticks)"
    );
    wb.assert_alive().await;
}

#[tokio::test]
async fn leaving_empties_and_stops_the_match() {
    let s = server().await;
    let g = s.register("gus").await;
    let mut ws = s.ws_as(&g).await;
    let r = ws
        .request("match.find_or_create", json!({"mode": "picky"}))
        .await;
    let id = r["payload"]["match_id"].as_str().unwrap().to_owned();
    let live = s.get("/api/v1/matches/live", Some(&g.access_token)).await;
    assert!(
        live.body["matches"].as_array().unwrap().is_empty(),
        "picky is unlisted"
    );
    let one = s
        .get(&format!("/api/v1/matches/{id}"), Some(&g.access_token))
        .await;
    assert_eq!(
        (one.status, one.body["status"].as_str()),
        (StatusCode::OK, Some("running"))
    );
    let left = ws.request("match.leave", json!({})).await;
    assert_eq!(left["payload"], json!({"success": true}));
    let mut gone = false;
    for _ in 0..40 {
        if s.get(&format!("/api/v1/matches/{id}"), Some(&g.access_token))
            .await
            .status
            == StatusCode::NOT_FOUND
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "an emptied match stops without a record");
}

#[tokio::test]
async fn a_match_that_never_fills_finishes_with_timeout() {
    let s = TestServer::start_with_modes(modes::all(), |c| c.match_waiting_timeout_ms = 300).await;
    let a = s.register("lonely").await;
    let mut wa = s.ws_as(&a).await;
    let r = wa
        .request("match.find_or_create", json!({"mode": "scoring"}))
        .await;
    assert_eq!(r["payload"]["status"], "waiting");
    let finished = wa.recv_type("match.finished").await;
    assert_eq!(finished["payload"]["result"], json!({"status": "timeout"}));
    assert_eq!(finished["payload"]["match_id"], r["payload"]["match_id"]);
}

#[tokio::test]
async fn the_game_can_lock_a_match_and_a_disconnect_leaves_it() {
    let s = server().await;
    let (a, b, c) = (
        s.register("lock_a").await,
        s.register("lock_b").await,
        s.register("lock_c").await,
    );
    let (mut wa, mut wb, mut wc) = (s.ws_as(&a).await, s.ws_as(&b).await, s.ws_as(&c).await);
    let r = wa
        .request("match.find_or_create", json!({"mode": "lockable"}))
        .await;
    let id = r["payload"]["match_id"].as_str().unwrap().to_owned();
    wb.request("match.join", json!({"match_id": id})).await;
    let both = wa.recv_type("match.state").await;
    assert!(both["payload"]["players"][&b.player_id]["here"] == true);

    wa.send(json!({"type": "match.input", "payload": {"lock": true}}))
        .await;
    let mut locked = false;
    for _ in 0..40 {
        let list = wc.request("match.list", json!({"joinable": false})).await;
        if list["payload"]["matches"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x["match_id"] == id.as_str()))
        {
            locked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        locked,
        "match.list with joinable=false shows the locked match"
    );
    let refused = wc.request("match.join", json!({"match_id": id})).await;
    assert_eq!(
        (
            refused["payload"]["reason"].as_str(),
            refused["payload"]["error"]["code"].as_str()
        ),
        (Some("match_locked"), Some("match.locked"))
    );
    // find_or_create skips the locked match.
    let other = wc
        .request("match.find_or_create", json!({"mode": "lockable"}))
        .await;
    assert_ne!(other["payload"]["match_id"], id.as_str());

    // b's only socket closes: b leaves, a keeps playing without b.
    drop(wb);
    let without = loop {
        let st = wa.recv_type("match.state").await;
        if st["payload"]["players"].get(&b.player_id).is_none() {
            break st;
        }
    };
    assert!(without["payload"]["players"][&a.player_id]["here"] == true);
}

#[tokio::test]
async fn a_refused_join_elsewhere_keeps_the_player_in_their_match() {
    let s = server().await;
    let (a, b) = (s.register("stay_a").await, s.register("stay_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    let m = wa
        .request("match.find_or_create", json!({"mode": "scoring"}))
        .await;
    wb.request("match.join", json!({"match_id": m["payload"]["match_id"]}))
        .await;
    let refused = wa
        .request(
            "match.find_or_create",
            json!({"mode": "picky", "ctx": {"team": "blue"}}),
        )
        .await;
    assert_eq!(refused["payload"]["reason"], "join_refused");
    // Still in the scoring match: input reaches it.
    wa.send(json!({"type": "match.input", "payload": {"add": 2}}))
        .await;
    loop {
        let st = wb.recv_type("match.state").await;
        if st["payload"]["players"][&a.player_id]["score"] == 2 {
            break;
        }
    }
}

#[tokio::test]
async fn match_joined_always_precedes_the_first_state() {
    let s = server().await;
    for round in 0..5 {
        let (a, b) = (
            s.register(&format!("order_a{round}")).await,
            s.register(&format!("order_b{round}")).await,
        );
        let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
        let m = wa
            .request("match.find_or_create", json!({"mode": "lockable"}))
            .await;
        // b joins a match that starts running with this very join.
        wb.send(json!({"type": "match.join", "cid": "j", "payload": {"match_id": m["payload"]["match_id"]}})).await;
        let first = wb.recv().await;
        assert_eq!(
            (first["type"].as_str(), first["cid"].as_str()),
            (Some("match.joined"), Some("j")),
            "{first}"
        );
        wa.request("match.leave", json!({})).await;
        wb.request("match.leave", json!({})).await;
    }
}
