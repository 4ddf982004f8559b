//! Storage objects over REST (`rest.md` §5.13): ownership and permissions, conditional
//! writes (50 concurrent writers, one winner), and cursor pagination.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn ownership_permissions_and_errors() {
    let s = TestServer::start().await;
    let (a, b) = (s.register("owner-a").await, s.register("other-b").await);
    let (ta, tb) = (Some(a.access_token.as_str()), Some(b.access_token.as_str()));

    let r = s.get("/api/v1/storage/notes/k", ta).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "storage.not_found")
    );

    let r = s
        .put("/api/v1/storage/notes/k", json!({"value": {"n": 1}}), ta)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["player_id"], a.player_id.as_str());
    assert_eq!(
        (r.body["read_perm"].as_str(), r.body["write_perm"].as_str()),
        (Some("owner"), Some("owner"))
    );
    for k in ["id", "collection", "key", "value", "updated_at"] {
        assert!(r.body.get(k).is_some(), "{k} in {}", r.body);
    }

    // Owner-only: B can neither read, write nor delete it.
    assert_eq!(
        s.get("/api/v1/storage/notes/k", tb).await.code(),
        "storage.forbidden"
    );
    let r = s
        .put("/api/v1/storage/notes/k", json!({"value": 2}), tb)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "storage.forbidden")
    );
    assert_eq!(
        s.delete("/api/v1/storage/notes/k", tb).await.code(),
        "storage.forbidden"
    );

    // Public read, then public write: B reads and overwrites but cannot change perms.
    let r = s
        .put(
            "/api/v1/storage/notes/k",
            json!({"value": {"n": 2}, "read_perm": "public", "write_perm": "public"}),
            ta,
        )
        .await;
    assert_eq!(r.body["version"], 2);
    let r = s.get("/api/v1/storage/notes/k", tb).await;
    assert_eq!(r.body["value"], json!({"n": 2}));
    let r = s
        .put(
            "/api/v1/storage/notes/k",
            json!({"value": "b was here", "read_perm": "owner"}),
            tb,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["version"].as_i64(), r.body["read_perm"].as_str()),
        (Some(3), Some("public"))
    );
    assert_eq!(r.body["player_id"], a.player_id.as_str());

    // Bad bodies.
    let r = s.put("/api/v1/storage/notes/k", json!([1, 2]), ta).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "storage.invalid_request")
    );
    let r = s
        .put(
            "/api/v1/storage/notes/k",
            json!({"read_perm": "friends"}),
            ta,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "storage.invalid_perm")
    );
    let r = s
        .put(
            "/api/v1/storage/notes/big",
            json!({"value": "x".repeat(256 * 1024)}),
            ta,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "storage.value_too_large")
    );

    // Conditional writes: a stale version is refused; 0 means "only if absent".
    let r = s
        .put(
            "/api/v1/storage/notes/k",
            json!({"value": 1, "version": 2}),
            ta,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "save.version_conflict")
    );
    assert_eq!(r.body["error"]["details"]["current_version"], 3);
    let r = s
        .put(
            "/api/v1/storage/notes/new",
            json!({"value": 1, "version": 0}),
            ta,
        )
        .await;
    assert_eq!(r.body["version"], 1);
    let r = s
        .put(
            "/api/v1/storage/notes/new",
            json!({"value": 1, "version": 0}),
            ta,
        )
        .await;
    assert_eq!(r.code(), "save.version_conflict");

    // A NUL in a name is refused, on both databases.
    let r = s
        .put("/api/v1/storage/notes/a%00b", json!({"value": 1}), ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "storage.invalid_request")
    );

    // Delete: the public-write row by B, then it is gone.
    let r = s.delete("/api/v1/storage/notes/k", tb).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::OK, json!({"success": true}))
    );
    assert_eq!(
        s.delete("/api/v1/storage/notes/k", ta).await.code(),
        "storage.not_found"
    );
}

#[tokio::test]
async fn listing_pages_through_a_stable_cursor() {
    let s = TestServer::start().await;
    let (a, b) = (s.register("lister-a").await, s.register("lister-b").await);
    let (ta, tb) = (Some(a.access_token.as_str()), Some(b.access_token.as_str()));
    for i in 0..7 {
        let perm = if i % 2 == 0 { "public" } else { "owner" };
        let r = s
            .put(
                &format!("/api/v1/storage/inv/a{i}"),
                json!({"value": i, "read_perm": perm}),
                ta,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    s.put("/api/v1/storage/inv/b0", json!({"value": "mine"}), tb)
        .await;

    // B sees A's four public rows and its own, three at a time.
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/storage/inv?limit=3&cursor={c}"),
            None => "/api/v1/storage/inv?limit=3".to_owned(),
        };
        let r = s.get(&path, tb).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let page = r.body["objects"].as_array().unwrap();
        assert!(page.len() <= 3);
        keys.extend(page.iter().map(|o| o["key"].as_str().unwrap().to_owned()));
        cursor = r.body["cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(keys, ["a0", "a2", "a4", "a6", "b0"]);
    let r = s.get("/api/v1/storage/inv?cursor=not-a-cursor", tb).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "storage.invalid_request")
    );
    let r = s.get("/api/v1/storage/inv?limit=abc", ta).await;
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn fifty_conditional_writers_one_winner() {
    let s = TestServer::start().await;
    let a = s.register("cond-writer").await;
    let t = a.access_token.clone();
    let r = s
        .put(
            "/api/v1/storage/race/k",
            json!({"value": -1, "write_perm": "public"}),
            Some(&t),
        )
        .await;
    assert_eq!(r.body["version"], 1);
    let (winner, lost) = s
        .racing_puts(
            "/api/v1/storage/race/k",
            &t,
            50,
            |i| json!({"value": i, "version": 1}),
        )
        .await;
    assert_eq!(lost.len(), 49);
    for r in &lost {
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(r.body["error"]["details"]["current_version"], 2);
    }
    let r = s.get("/api/v1/storage/race/k", Some(&t)).await;
    assert_eq!(
        (r.body["value"].as_i64(), r.body["version"].as_i64()),
        (Some(winner), Some(2))
    );
}

#[tokio::test]
async fn a_key_two_players_own_through_lua_answers_conflict() {
    let s = TestServer::start().await;
    let (a, b) = (
        s.register("lua-owner-a").await,
        s.register("lua-owner-b").await,
    );
    // `game.storage.player_set` keeps one row per player; REST keys are global.
    let storage = s.running().state().storage().unwrap().clone();
    for p in [&a, &b] {
        storage
            .set_value(Some(&p.player_id), "shared", "k", &json!(1))
            .await
            .unwrap();
    }
    let r = s
        .get("/api/v1/storage/shared/k", Some(&a.access_token))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "storage.conflict")
    );
    let r = s
        .put(
            "/api/v1/storage/shared/k",
            json!({"value": 2}),
            Some(&a.access_token),
        )
        .await;
    assert_eq!(r.code(), "storage.conflict");
}
