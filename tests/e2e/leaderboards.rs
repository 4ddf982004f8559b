//! Leaderboards over REST (`rest.md` §5.7): client submit gated by the operator, the
//! original's defaults, per-board operators and order, sub_score tie-breaks, and a reset
//! schedule crossed with the service's test clock.

use asobi_services::leaderboards::{BoardConfig, ClientSubmit, Operator, Order};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestServer;

fn ids(entries: &Value) -> Vec<(String, i64, i64)> {
    entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["player_id"].as_str().unwrap().to_owned(),
                e["score"].as_i64().unwrap(),
                e["rank"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn defaults_are_the_originals() {
    let s = TestServer::start_with(|c| {
        c.leaderboard_client_submit = ClientSubmit::new(vec!["open".into()]);
    })
    .await;
    let p: Vec<_> = futures_util::future::join_all((0..4).map(|i| s.register_n(i))).await;
    let t = |i: usize| Some(p[i].access_token.as_str());

    let r = s
        .post("/api/v1/leaderboards/closed", json!({"score": 5}), t(0))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "leaderboard.client_submit_disabled")
    );

    for (i, score) in [(0, 10), (1, 30), (2, 30), (3, 20)] {
        let r = s
            .post("/api/v1/leaderboards/open", json!({"score": score}), t(i))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["leaderboard_id"], "open");
        assert!(r.body["updated_at"].as_str().unwrap().ends_with('Z'));
    }
    // Submit replaces (last write wins), even with a lower score.
    let r = s
        .post("/api/v1/leaderboards/open", json!({"score": 15}), t(3))
        .await;
    assert_eq!(
        (r.body["score"].as_i64(), r.body["rank"].as_i64()),
        (Some(15), Some(3))
    );
    // A non-number reads as 0.
    let r = s
        .post("/api/v1/leaderboards/open", json!({"score": "lots"}), t(0))
        .await;
    assert_eq!(r.body["score"], 0);

    let mut tied = [p[1].player_id.clone(), p[2].player_id.clone()];
    tied.sort();
    let r = s.get("/api/v1/leaderboards/open", t(0)).await;
    assert_eq!(
        ids(&r.body),
        vec![
            (tied[0].clone(), 30, 1),
            (tied[1].clone(), 30, 2),
            (p[3].player_id.clone(), 15, 3),
            (p[0].player_id.clone(), 0, 4),
        ]
    );
    let e = &r.body["entries"][0];
    for k in [
        "leaderboard_id",
        "player_id",
        "score",
        "sub_score",
        "rank",
        "updated_at",
    ] {
        assert!(e.get(k).is_some(), "{k} in {e}");
    }
    let r = s.get("/api/v1/leaderboards/open?limit=2", t(0)).await;
    assert_eq!(r.body["entries"].as_array().unwrap().len(), 2);

    let r = s
        .get(
            &format!(
                "/api/v1/leaderboards/open/around/{}?range=1",
                p[3].player_id
            ),
            t(0),
        )
        .await;
    assert_eq!(
        ids(&r.body).iter().map(|e| e.2).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    let r = s.get("/api/v1/leaderboards/open/around/nobody", t(0)).await;
    assert_eq!(r.body, json!({"entries": []}));
    let r = s.get("/api/v1/leaderboards/never-written", t(0)).await;
    assert_eq!(r.body, json!({"entries": []}));
    let r = s
        .get("/api/v1/leaderboards/open?period=yesterday", t(0))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );
}

#[tokio::test]
async fn operators_order_and_sub_score() {
    let s = TestServer::start_with(|c| {
        let board = |order, operator| BoardConfig {
            order,
            operator,
            client_submit: true,
            ..BoardConfig::default()
        };
        c.leaderboards
            .insert("best".into(), board(Order::Desc, Operator::Best));
        c.leaderboards
            .insert("laps".into(), board(Order::Asc, Operator::Best));
        c.leaderboards
            .insert("kills".into(), board(Order::Desc, Operator::Increment));
        c.leaderboards
            .insert("lives".into(), board(Order::Desc, Operator::Decrement));
    })
    .await;
    let (a, b) = (s.register("op-a").await, s.register("op-b").await);
    let (ta, tb) = (Some(a.access_token.as_str()), Some(b.access_token.as_str()));
    let submit = |board: &'static str, t, score: i64, sub: i64| {
        let s = &s;
        async move {
            s.post(
                &format!("/api/v1/leaderboards/{board}"),
                json!({"score": score, "sub_score": sub}),
                t,
            )
            .await
            .body
        }
    };
    assert_eq!(submit("best", ta, 50, 0).await["score"], 50);
    assert_eq!(
        submit("best", ta, 40, 0).await["score"],
        50,
        "best keeps the better score"
    );
    assert_eq!(submit("best", ta, 60, 0).await["score"], 60);
    // Same score: the higher sub_score ranks first and is kept.
    submit("best", tb, 60, 5).await;
    let r = s.get("/api/v1/leaderboards/best", ta).await;
    assert_eq!(r.body["entries"][0]["player_id"], b.player_id.as_str());
    assert_eq!(r.body["entries"][0]["sub_score"], 5);

    assert_eq!(submit("laps", ta, 90, 0).await["score"], 90);
    assert_eq!(
        submit("laps", ta, 95, 0).await["score"],
        90,
        "ascending board keeps the lower"
    );
    submit("laps", tb, 80, 0).await;
    let r = s.get("/api/v1/leaderboards/laps", ta).await;
    assert_eq!(r.body["entries"][0]["player_id"], b.player_id.as_str());

    submit("kills", ta, 3, 0).await;
    assert_eq!(submit("kills", ta, 4, 0).await["score"], 7);
    assert_eq!(submit("lives", ta, 1, 0).await["score"], -1);
    assert_eq!(submit("lives", ta, 2, 0).await["score"], -3);
}

#[tokio::test]
async fn a_reset_schedule_starts_an_empty_period_and_keeps_the_last() {
    let s = TestServer::start_with(|c| {
        c.leaderboards.insert(
            "daily".into(),
            BoardConfig {
                reset: Some("@daily".into()),
                client_submit: true,
                ..BoardConfig::default()
            },
        );
    })
    .await;
    let a = s.register("daily-a").await;
    let t = Some(a.access_token.as_str());
    s.post("/api/v1/leaderboards/daily", json!({"score": 7}), t)
        .await;
    let r = s.get("/api/v1/leaderboards/daily", t).await;
    assert_eq!(r.body["entries"].as_array().unwrap().len(), 1);
    let before = s.get("/api/v1/leaderboards/daily/periods", t).await.body;

    // One day later on the service's clock: a new, empty period.
    s.running()
        .state()
        .leaderboards()
        .clock()
        .advance(86_400_000);
    let r = s.get("/api/v1/leaderboards/daily", t).await;
    assert_eq!(r.body, json!({"entries": []}));
    let r = s.get("/api/v1/leaderboards/daily?period=previous", t).await;
    assert_eq!(ids(&r.body), vec![(a.player_id.clone(), 7, 1)]);
    let periods = s.get("/api/v1/leaderboards/daily/periods", t).await.body;
    assert_eq!(periods["finished"][0]["start"], before["current"]["start"]);
    assert_eq!(periods["current"]["start"], before["current"]["end"]);
    let start = before["current"]["start"].as_i64().unwrap();
    let r = s
        .get(&format!("/api/v1/leaderboards/daily?period={start}"), t)
        .await;
    assert_eq!(ids(&r.body).len(), 1);
    let r = s
        .get(
            &format!(
                "/api/v1/leaderboards/daily/around/{}?period=previous",
                a.player_id
            ),
            t,
        )
        .await;
    assert_eq!(ids(&r.body).len(), 1);

    // A submit now lands in the new period only.
    s.post("/api/v1/leaderboards/daily", json!({"score": 1}), t)
        .await;
    let r = s.get("/api/v1/leaderboards/daily", t).await;
    assert_eq!(ids(&r.body), vec![(a.player_id.clone(), 1, 1)]);
    let r = s.get("/api/v1/leaderboards/daily?period=previous", t).await;
    assert_eq!(ids(&r.body), vec![(a.player_id.clone(), 7, 1)]);
}

#[tokio::test]
async fn a_full_board_refuses_new_players_but_not_its_own() {
    let s = TestServer::start_with(|c| {
        c.leaderboards.insert(
            "tiny".into(),
            BoardConfig {
                client_submit: true,
                max_entries: 2,
                ..BoardConfig::default()
            },
        );
    })
    .await;
    let p: Vec<_> = futures_util::future::join_all((0..3).map(|i| s.register_n(i))).await;
    for a in &p[..2] {
        let r = s
            .post(
                "/api/v1/leaderboards/tiny",
                json!({"score": 1}),
                Some(&a.access_token),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = s
        .post(
            "/api/v1/leaderboards/tiny",
            json!({"score": 1}),
            Some(&p[2].access_token),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "leaderboard.capacity_reached"
        )
    );
    let r = s
        .post(
            "/api/v1/leaderboards/tiny",
            json!({"score": 5}),
            Some(&p[0].access_token),
        )
        .await;
    assert_eq!(
        (r.status, r.body["rank"].as_i64()),
        (StatusCode::OK, Some(1))
    );
}
