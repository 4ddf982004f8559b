//! Issue 19 §4: the operator's actions on one player over the ops plane (`rest.md` §5.15):
//! look-up, ban and unban (sockets closed at once, sign-in refused), export of everything
//! we hold, and erase with the username echoed as confirmation.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

const SECRET: &str = "an-operator-secret-of-32-bytes-or-more";
const OPS: Option<&str> = Some(SECRET);

async fn server() -> TestServer {
    TestServer::start_with(|c| c.ops_secret = Some(SECRET.into())).await
}

#[tokio::test]
async fn a_banned_player_is_cut_off_and_refused_until_unbanned() {
    let s = server().await;
    let a = s.register("rule_breaker").await;
    let bystander = s.register("bystander").await;
    let mut ws = s.ws_as(&a).await;
    let path = format!("/api/v1/ops/players/{}/ban", a.player_id);

    // Operator credentials only; ids are checked.
    for token in [None, Some(a.access_token.as_str()), Some("wrong")] {
        let r = s.post(&path, json!({}), token).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    }
    let r = s.post("/api/v1/ops/players/nope/ban", json!({}), OPS).await;
    assert_eq!(r.code(), "ops.invalid_id");
    let r = s
        .post(
            "/api/v1/ops/players/0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b/ban",
            json!({}),
            OPS,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ops.not_found")
    );
    let r = s.post(&path, json!({"duration_secs": -5}), OPS).await;
    assert_eq!(r.code(), "validation_failed");
    assert!(r.body["errors"]["duration_secs"].is_array(), "{}", r.body);

    let r = s
        .post(
            &path,
            json!({"reason": "cheating", "duration_secs": 3600}),
            OPS,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["banned"], true);
    assert_eq!(r.body["data"]["reason"], "cheating");

    // The open socket closes with the reason; the tokens are dead.
    let closed = ws.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (1008, "banned"));
    let me = format!("/api/v1/players/{}", a.player_id);
    assert_eq!(
        s.get(&me, Some(&a.access_token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": a.refresh_token}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Sign-in is refused with a clear code, the reason and the end.
    let login = json!({"username": "rule_breaker", "password": "password-123"});
    let r = s.post("/api/v1/auth/login", login.clone(), None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "account.banned"),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["details"]["reason"], "cheating");
    assert!(
        r.body["error"]["details"]["until"].is_string(),
        "{}",
        r.body
    );
    // Others are untouched; the operator sees the ban.
    assert_eq!(
        s.get(&me, Some(&bystander.access_token)).await.status,
        StatusCode::OK
    );
    let r = s
        .get(&format!("/api/v1/ops/players/{}", a.player_id), OPS)
        .await;
    assert_eq!(r.body["data"]["ban"]["reason"], "cheating", "{}", r.body);
    assert_eq!(r.body["data"]["has_password"], true);
    assert_eq!(r.body["data"]["online"], false);

    // Unbanned, they sign in again.
    let r = s.delete(&path, OPS).await;
    assert_eq!(r.body["data"]["banned"], false);
    let r = s.post("/api/v1/auth/login", login.clone(), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // A ban without a duration is for ever.
    let r = s.post(&path, json!({}), OPS).await;
    assert_eq!(r.body["data"]["until"], serde_json::Value::Null);
    let r = s.post("/api/v1/auth/login", login, None).await;
    assert_eq!(r.code(), "account.banned");
    assert_eq!(r.body["error"]["details"]["until"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_export_holds_everything_and_no_secret() {
    let s = server().await;
    let a = s.register("exported").await;
    let b = s.register("pen_pal").await;
    let ta = Some(a.access_token.as_str());
    let r = s
        .put("/api/v1/saves/main", json!({"data": {"level": 3}}), ta)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.post("/api/v1/friends", json!({"friend_id": b.player_id}), ta)
        .await;
    let r = s
        .post(
            "/api/v1/dm",
            json!({"recipient_id": a.player_id, "content": "hello there"}),
            Some(&b.access_token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let r = s
        .get(&format!("/api/v1/ops/players/{}/export", a.player_id), OPS)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let doc = &r.body["data"];
    assert_eq!(doc["player_id"], a.player_id.as_str());
    assert_eq!(doc["account"][0]["username"], "exported");
    assert_eq!(doc["account"][0]["has_password"], 1);
    assert!(
        doc["account"][0]["inserted_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(doc["saves"][0]["data"], json!({"level": 3}));
    assert_eq!(doc["friendships"][0]["friend_id"], b.player_id.as_str());
    assert_eq!(doc["messages"][0]["content"], "hello there");
    assert_eq!(doc["sign_ins"].as_array().unwrap().len(), 1);
    for section in [
        "wallets",
        "inventory",
        "notifications",
        "identities",
        "matches",
    ] {
        assert!(doc[section].is_array(), "{section} listed, empty or not");
    }
    // No secret of any kind.
    let text = doc.to_string();
    for secret in ["password_hash", "token_hash", "secret_hash", "$argon2"] {
        assert!(!text.contains(secret), "{secret} in the export");
    }
    assert!(!text.contains(&a.access_token));

    let r = s
        .get(
            "/api/v1/ops/players/0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b/export",
            OPS,
        )
        .await;
    assert_eq!(r.code(), "ops.not_found");
}

#[tokio::test]
async fn the_operator_erases_with_the_username_as_confirmation() {
    let s = server().await;
    let a = s.register("to_be_erased").await;
    let mut ws = s.ws_as(&a).await;
    let path = format!("/api/v1/ops/players/{}/erase", a.player_id);
    let r = s.post(&path, json!({}), OPS).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "ops.confirmation_required")
    );
    let r = s
        .post(&path, json!({"username": "someone_else"}), OPS)
        .await;
    assert_eq!(r.code(), "ops.confirmation_mismatch");
    let r = s
        .post(
            &path,
            json!({"username": "to_be_erased"}),
            Some(&a.access_token),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = s
        .post(&path, json!({"username": "to_be_erased"}), OPS)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["deleted"], true);
    let closed = ws.closed().await;
    assert_eq!(closed.reason, "session_revoked");
    let r = s
        .get(&format!("/api/v1/ops/players/{}", a.player_id), OPS)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ops.not_found")
    );
    let r = s
        .post(&path, json!({"username": "to_be_erased"}), OPS)
        .await;
    assert_eq!(r.code(), "ops.not_found");
}
