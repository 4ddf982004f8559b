//! Cloud saves over REST (`rest.md` §5.13): slots, versions, limits, and the atomic version
//! check under 50 concurrent writers.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn slots_versions_and_limits() {
    let s = TestServer::start().await;
    let a = s.register("saver").await;
    let t = Some(a.access_token.as_str());

    let r = s.get("/api/v1/saves/main", t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "save.not_found")
    );

    let r = s
        .put("/api/v1/saves/main", json!({"data": {"level": 3}}), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["slot"], "main");
    assert_eq!(r.body["player_id"], a.player_id.as_str());
    assert_eq!(r.body["data"], json!({"level": 3}));
    assert!(r.body["updated_at"].as_str().unwrap().ends_with('Z'));

    // Unconditional write, then a conditional one at the right version.
    let r = s
        .put("/api/v1/saves/main", json!({"data": {"level": 4}}), t)
        .await;
    assert_eq!(r.body["version"], 2);
    let r = s
        .put(
            "/api/v1/saves/main",
            json!({"data": {"level": 5}, "version": 2}),
            t,
        )
        .await;
    assert_eq!(r.body["version"], 3, "{}", r.body);
    let r = s
        .put(
            "/api/v1/saves/main",
            json!({"data": {"level": 9}, "version": 2}),
            t,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "save.version_conflict")
    );
    assert_eq!(r.body["error"]["details"]["current_version"], 3);
    let r = s.get("/api/v1/saves/main", t).await;
    assert_eq!(r.body["data"], json!({"level": 5}));

    // A missing body stores {}; a non-integer version is refused.
    let r = s.put("/api/v1/saves/empty", json!({}), t).await;
    assert_eq!(r.body["data"], json!({}));
    let r = s
        .put("/api/v1/saves/empty", json!({"version": "one"}), t)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );

    let r = s.put("/api/v1/saves/a%00b", json!({}), t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "save.not_found")
    );

    // 256 KiB encoded is the cap.
    let big = "x".repeat(256 * 1024);
    let r = s.put("/api/v1/saves/big", json!({"data": big}), t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "save.too_large")
    );

    // Ten slots; the eleventh is refused, rewriting an existing one is not.
    for i in 0..8 {
        let r = s
            .put(&format!("/api/v1/saves/s{i}"), json!({"data": i}), t)
            .await;
        assert_eq!(r.status, StatusCode::OK, "slot {i}: {}", r.body);
    }
    let r = s.put("/api/v1/saves/eleventh", json!({"data": 1}), t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "save.slot_limit_reached")
    );
    let r = s.put("/api/v1/saves/s0", json!({"data": 1}), t).await;
    assert_eq!(r.status, StatusCode::OK);

    let r = s.get("/api/v1/saves", t).await;
    let slots = r.body["saves"].as_array().unwrap();
    assert_eq!(slots.len(), 10);
    assert_eq!(
        slots[0],
        json!({"slot": "empty", "version": 1, "updated_at": slots[0]["updated_at"]})
    );
    assert!(slots.iter().all(|s| s.get("data").is_none()));

    // Another player sees none of it; no token → 401.
    let b = s.register("other-saver").await;
    let r = s.get("/api/v1/saves", Some(&b.access_token)).await;
    assert_eq!(r.body["saves"], json!([]));
    assert_eq!(
        s.get("/api/v1/saves", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn fifty_writers_one_version_one_winner() {
    let s = TestServer::start().await;
    let a = s.register("racer").await;
    let t = a.access_token.clone();
    let r = s
        .put("/api/v1/saves/race", json!({"data": {"w": -1}}), Some(&t))
        .await;
    assert_eq!(r.body["version"], 1);
    let (winner, lost) = s
        .racing_puts(
            "/api/v1/saves/race",
            &t,
            50,
            |i| json!({"data": {"w": i}, "version": 1}),
        )
        .await;
    assert_eq!(lost.len(), 49);
    for r in &lost {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "save.version_conflict"),
            "{}",
            r.body
        );
        assert_eq!(r.body["error"]["details"]["current_version"], 2);
    }
    let r = s.get("/api/v1/saves/race", Some(&t)).await;
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["data"], json!({"w": winner}));
}

#[tokio::test]
async fn storage_disabled_answers_not_found() {
    let s = TestServer::start_with(|c| c.storage_enabled = false).await;
    let a = s.register("nostore").await;
    let t = Some(a.access_token.as_str());
    let r = s.get("/api/v1/saves", t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "save.not_found")
    );
    let r = s.put("/api/v1/storage/c/k", json!({"value": 1}), t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "storage.not_found")
    );
}
