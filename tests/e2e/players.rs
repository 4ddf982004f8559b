//! Player profiles and account erasure.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn profiles_read_and_update() {
    let s = TestServer::start().await;
    let erin = s.register("erin").await;
    let frank = s.register("frank").await;
    let path = format!("/api/v1/players/{}", erin.player_id);

    let unauth = s.get(&path, None).await;
    assert_eq!(
        (unauth.status, unauth.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let bad = s.get(&path, Some("not-a-token")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);

    let seen = s.get(&path, Some(&frank.access_token)).await;
    assert_eq!(seen.status, StatusCode::OK);
    let keys: Vec<&str> = seen
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "avatar_url",
            "display_name",
            "id",
            "inserted_at",
            "metadata",
            "updated_at",
            "username"
        ]
    );
    assert_eq!(seen.body["display_name"], "erin");
    assert!(seen.body["inserted_at"].as_str().unwrap().ends_with('Z'));

    let updated = s
        .put(
            &path,
            json!({"display_name": "Erin E.", "metadata": {"level": 3}, "ignored": 1}),
            Some(&erin.access_token),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["display_name"], "Erin E.");
    assert_eq!(updated.body["metadata"], json!({"level": 3}));
    assert_eq!(
        s.get(&path, Some(&frank.access_token)).await.body["metadata"]["level"],
        3
    );

    let other = s
        .put(
            &path,
            json!({"display_name": "x"}),
            Some(&frank.access_token),
        )
        .await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let invalid = s
        .put(
            &path,
            json!({"display_name": "d".repeat(65), "metadata": [1]}),
            Some(&erin.access_token),
        )
        .await;
    assert_eq!(
        (invalid.status, invalid.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert!(
        invalid.body["errors"]["display_name"].is_array()
            && invalid.body["errors"]["metadata"].is_array()
    );

    let missing = s
        .get(
            "/api/v1/players/0198f3a2-0001-7000-8000-00000000a001",
            Some(&erin.access_token),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "player.not_found")
    );
}

#[tokio::test]
async fn erase_needs_the_password_and_ends_every_session() {
    let s = TestServer::start().await;
    let gail = s.register("gail").await;
    let mut ws = s.ws_as(&gail).await;

    let r = s
        .post(
            "/api/v1/players/me/erase",
            json!({}),
            Some(&gail.access_token),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );
    let r = s
        .post(
            "/api/v1/players/me/erase",
            json!({"password": "wrong-one"}),
            Some(&gail.access_token),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "player.confirmation_failed")
    );
    ws.assert_alive().await;

    let r = s
        .post(
            "/api/v1/players/me/erase",
            json!({"password": "password-123"}),
            Some(&gail.access_token),
        )
        .await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &json!({"deleted": true}))
    );
    let closed = ws.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "session_revoked")
    );

    let after = s
        .get(
            &format!("/api/v1/players/{}", gail.player_id),
            Some(&gail.access_token),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let login = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "gail", "password": "password-123"}),
            None,
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    // The name is free again.
    s.register("gail").await;
}
