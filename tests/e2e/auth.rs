//! Sign-up, sign-in, rotating refresh tokens, logout, guests, and their failures.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn register_login_refresh_and_logout() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    assert_eq!(alice.player_id.len(), 36, "UUID player id");
    assert_ne!(alice.access_token, alice.refresh_token);

    let login = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "ALICE", "password": "password-123"}),
            None,
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["player_id"], alice.player_id.as_str());
    assert_eq!(login.body["username"], "alice");

    let refreshed = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": alice.refresh_token}),
            None,
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let new_access = refreshed.body["access_token"].as_str().unwrap().to_owned();
    let new_refresh = refreshed.body["refresh_token"].as_str().unwrap().to_owned();
    assert!(
        refreshed.body.get("player_id").is_none(),
        "refresh returns only the pair"
    );
    let me = s
        .get(
            &format!("/api/v1/players/{}", alice.player_id),
            Some(&new_access),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);

    let logout = s
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": new_refresh}),
            Some(&new_access),
        )
        .await;
    assert_eq!(
        (logout.status, &logout.body),
        (StatusCode::OK, &json!({"success": true}))
    );
    let after = s
        .get(
            &format!("/api/v1/players/{}", alice.player_id),
            Some(&new_access),
        )
        .await;
    assert_eq!(
        (after.status, after.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let again = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": new_refresh}),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // Logout with nothing to revoke still answers 200.
    let empty = s.post("/api/v1/auth/logout", json!({}), None).await;
    assert_eq!(empty.status, StatusCode::OK);
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_family() {
    let s = TestServer::start().await;
    let bob = s.register("bob").await;
    // A second sign-in is another family and must survive.
    let other = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "bob", "password": "password-123"}),
            None,
        )
        .await;
    let other_access = other.body["access_token"].as_str().unwrap().to_owned();

    let first = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": bob.refresh_token}),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let rotated_access = first.body["access_token"].as_str().unwrap().to_owned();
    let rotated_refresh = first.body["refresh_token"].as_str().unwrap().to_owned();
    // Whoever refreshed first (say, a thief) has a socket open on the rotated tokens, and
    // the other sign-in one of its own.
    let thief = crate::common::Account {
        player_id: bob.player_id.clone(),
        access_token: rotated_access.clone(),
        refresh_token: rotated_refresh.clone(),
    };
    let mut thief_ws = s.ws_as(&thief).await;
    let other_account = crate::common::Account::from(&other.body);
    let mut other_ws = s.ws_as(&other_account).await;

    // The used token comes back (stolen): refused, and the family dies.
    let replay = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": bob.refresh_token}),
            None,
        )
        .await;
    assert_eq!(
        (replay.status, replay.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    // Issue 15 §12: the family's open sockets close, as on logout.
    let closed = thief_ws.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "session_revoked")
    );
    other_ws.assert_alive().await;
    let rotated = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": rotated_refresh}),
            None,
        )
        .await;
    assert_eq!(
        rotated.status,
        StatusCode::UNAUTHORIZED,
        "the rotated refresh token died with its family"
    );
    for token in [&bob.access_token, &rotated_access] {
        let r = s
            .get(&format!("/api/v1/players/{}", bob.player_id), Some(token))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "access tokens of the family are revoked"
        );
    }
    let r = s
        .get(
            &format!("/api/v1/players/{}", bob.player_id),
            Some(&other_access),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "another sign-in's family is untouched"
    );
}

#[tokio::test]
async fn registration_and_login_failures_carry_their_codes() {
    let s = TestServer::start().await;
    s.register("carol").await;
    let dup = s
        .post(
            "/api/v1/auth/register",
            json!({"username": "Carol", "password": "password-123"}),
            None,
        )
        .await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "auth.username_taken")
    );

    let wrong = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "carol", "password": "nope-nope"}),
            None,
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_credentials")
    );
    let ghost = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "nobody", "password": "nope-nope"}),
            None,
        )
        .await;
    assert_eq!(
        (ghost.status, ghost.code()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_credentials")
    );

    let missing = s
        .post("/api/v1/auth/register", json!({"username": "dave"}), None)
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );
    let missing = s
        .post("/api/v1/auth/login", json!({"password": 5}), None)
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );
    let missing = s.post("/api/v1/auth/refresh", json!({}), None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );

    let invalid = s
        .post(
            "/api/v1/auth/register",
            json!({"username": "x!", "password": "short", "display_name": "d".repeat(65)}),
            None,
        )
        .await;
    assert_eq!(
        (invalid.status, invalid.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let fields = &invalid.body["fields"];
    assert!(
        fields["username"].as_array().is_some_and(|m| m.len() == 2),
        "{fields}"
    );
    assert!(
        fields["password"].is_array() && fields["display_name"].is_array(),
        "{fields}"
    );
    assert_eq!(
        &invalid.body["error"]["details"]["fields"], fields,
        "legacy key duplicated into details"
    );
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let s = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let url = format!("{}/api/v1/auth/login", s.base);
    let raw = |body: &'static str| {
        s.http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = raw("{not json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );
    let r = raw("[1, 2]").await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "invalid_payload"
    );

    let big = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "x".repeat(5000), "password": "p"}),
            None,
        )
        .await;
    assert_eq!(
        (big.status, big.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    // A streamed body without Content-Length.
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(b"{}".to_vec())]);
    let r = s
        .http
        .post(&url)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LENGTH_REQUIRED);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "length_required"
    );

    // And the server keeps serving.
    let ok = s.get("/live", None).await;
    assert_eq!(ok.status, StatusCode::OK);
}

/// Issue 15 §7: sign-in is limited per client address whatever bearer comes with it, and a
/// username's failed sign-ins back off whatever address they come from.
#[tokio::test]
async fn sign_in_limits_ignore_bearers_and_back_off_per_username() {
    use asobi_server::config::Limit;
    let s = TestServer::start_with(|c| {
        c.rate_limits.auth = Limit {
            count: 8,
            window_ms: 60_000,
        }
    })
    .await;
    let (a, b) = (s.register("bearer_a").await, s.register("bearer_b").await);
    let bearers = [
        Some(a.access_token.as_str()),
        Some(b.access_token.as_str()),
        None,
    ];
    let wrong = json!({"username": "victim", "password": "wrong-password"});
    let mut codes = Vec::new();
    for i in 0..9 {
        // A different username each time: only the per-address limit can refuse.
        let attempt = json!({"username": format!("nobody{i}"), "password": "wrong-password"});
        let r = s.post("/api/v1/auth/login", attempt, bearers[i % 3]).await;
        codes.push((r.status.as_u16(), r.code().to_owned()));
    }
    // Eight in the window from this address, whichever bearer: the ninth is refused.
    assert_eq!(codes[8], (429, "rate_limited".to_owned()), "{codes:?}");

    let s = TestServer::start_with(|c| {
        c.rate_limits.auth = Limit {
            count: 100,
            window_ms: 1000,
        }
    })
    .await;
    s.register("victim").await;
    for _ in 0..asobi_server::ratelimit::BACKOFF_FREE_FAILURES {
        let r = s.post("/api/v1/auth/login", wrong.clone(), None).await;
        assert_eq!(r.code(), "auth.invalid_credentials");
    }
    // Even the right password waits now; another username does not.
    let right = json!({"username": "victim", "password": "password-123"});
    let r = s.post("/api/v1/auth/login", right.clone(), None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(r.headers.contains_key("retry-after"));
    s.register("bystander").await;
    let other = json!({"username": "bystander", "password": "password-123"});
    assert_eq!(
        s.post("/api/v1/auth/login", other, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rate_limit_buckets_answer_429_with_retry_after() {
    use asobi_server::config::Limit;
    let s = TestServer::start_with(|c| {
        c.rate_limits.register = Limit {
            count: 3,
            window_ms: 1000,
        }
    })
    .await;
    for i in 0..3 {
        let r = s
            .post(
                "/api/v1/auth/register",
                json!({"username": format!("rl{i}"), "password": "password-123"}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers.contains_key("x-ratelimit-remaining"));
        assert!(r.headers.contains_key("x-ratelimit-reset"));
    }
    let r = s
        .post(
            "/api/v1/auth/register",
            json!({"username": "rl9", "password": "password-123"}),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry));
    assert_eq!(r.body["retry_after"], retry);
    assert_eq!(r.body["error"]["details"]["retry_after"], retry);
    // Other buckets are unaffected.
    let login = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "rl0", "password": "password-123"}),
            None,
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
}

#[tokio::test]
async fn guest_sign_in_with_a_device_secret() {
    use base64::Engine;
    let off = TestServer::start().await;
    let secret = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let r = off
        .post(
            "/api/v1/auth/guest",
            json!({"device_id": "d1", "device_secret": secret}),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "guest.disabled")
    );

    let s = TestServer::start_with(|c| {
        c.guest_auth = true;
        c.guest_pepper = Some("a pepper of at least thirty-two bytes".into());
    })
    .await;
    let guest = |device: &str, secret: &str| {
        s.post(
            "/api/v1/auth/guest",
            json!({"device_id": device, "device_secret": secret}),
            None,
        )
    };
    let weak = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
    let r = guest("d1", &weak).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "guest.weak_device_secret")
    );
    let r = guest(&"d".repeat(256), &secret).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "guest.invalid_device_id")
    );
    let r = s
        .post("/api/v1/auth/guest", json!({"device_id": "d1"}), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );

    let created = guest("d1", &secret).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(
        (
            created.body["guest"].clone(),
            created.body["created"].clone()
        ),
        (json!(true), json!(true))
    );
    assert!(
        created.body["username"]
            .as_str()
            .unwrap()
            .starts_with("guest_")
    );
    let resumed = guest("d1", &secret).await;
    assert_eq!(resumed.status, StatusCode::OK);
    assert_eq!(resumed.body["player_id"], created.body["player_id"]);
    assert!(
        resumed.body.get("created").is_none(),
        "created only on the creating call"
    );

    let other = base64::engine::general_purpose::STANDARD.encode([8u8; 32]);
    let r = guest("d1", &other).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "guest.invalid_device_secret")
    );
}

/// Issue 15 §12: expired tokens, used refresh tokens and unclaimed guests nobody signs in as
/// are purged; a live sign-in and a claimed account are not.
#[tokio::test]
async fn expired_credentials_and_idle_guests_are_purged() {
    use base64::Engine;
    let s = TestServer::start_with(|c| {
        c.guest_auth = true;
        c.guest_pepper = Some("a pepper of at least thirty-two bytes".into());
    })
    .await;
    let kept = s.register("kept_player").await;
    let secret = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let g = s
        .post(
            "/api/v1/auth/guest",
            json!({"device_id": "idle-device", "device_secret": secret}),
            None,
        )
        .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let guest = crate::common::Account::from(&g.body);
    // The guest owns an open group the kept player is in: erasing the guest hands it on.
    let r = s
        .post(
            "/api/v1/groups",
            json!({"name": "Idlers", "open": true}),
            Some(&guest.access_token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let group = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .post(
            &format!("/api/v1/groups/{group}/join"),
            json!({}),
            Some(&kept.access_token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A used refresh token, kept until it expires for reuse detection.
    let used = kept.refresh_token.clone();
    let r = s
        .post("/api/v1/auth/refresh", json!({"refresh_token": used}), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let st = s.running().state();
    let now = asobi_server::time::now_ms();
    let day = 86_400_000;
    // Nothing has expired yet: nothing goes.
    let purge = |at| asobi_server::erasure::purge(st, at, 90 * day);
    let p = purge(now).await.unwrap();
    assert_eq!(p, asobi_server::auth::Purged::default());
    // A hundred days on, every token has expired: tokens, families and the idle guest go.
    let p = purge(now + 100 * day).await.unwrap();
    assert_eq!(p.access_tokens, 3, "{p:?}");
    assert_eq!(p.refresh_tokens, 3, "{p:?}");
    assert_eq!(p.families, 2, "{p:?}");
    assert_eq!(p.guests, 1, "{p:?}");
    let gone = s
        .post(
            "/api/v1/auth/login",
            json!({"username": "kept_player", "password": "password-123"}),
            None,
        )
        .await;
    assert_eq!(
        gone.status,
        StatusCode::OK,
        "a password account is never purged"
    );
    let token = gone.body["access_token"].as_str().unwrap().to_owned();
    let r = s
        .get(
            &format!("/api/v1/players/{}", guest.player_id),
            Some(&token),
        )
        .await;
    assert_eq!(r.code(), "player.not_found");
    let r = s
        .get(&format!("/api/v1/groups/{group}/members"), Some(&token))
        .await;
    assert_eq!(r.body["members"][0]["role"], "owner", "{}", r.body);
    assert_eq!(r.body["members"][0]["player_id"], kept.player_id.as_str());
}

/// Issue 15 §15: behind a trusted load balancer each client has its own budget; a client
/// that is not a trusted proxy cannot pick its address with the header.
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    use asobi_server::config::Limit;
    let register = |s: &TestServer, name: &str, forwarded: &str| {
        s.http
            .post(format!("{}/api/v1/auth/register", s.base))
            .header("x-forwarded-for", forwarded.to_owned())
            .json(&json!({"username": name, "password": "password-123"}))
            .send()
    };
    let one_per_minute = Limit {
        count: 1,
        window_ms: 60_000,
    };
    let behind = TestServer::start_with(|c| {
        c.rate_limits.register = one_per_minute;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(register(&behind, "fw_a", "203.0.113.1").await.unwrap()),
        StatusCode::OK
    );
    assert_eq!(
        status(register(&behind, "fw_b", "203.0.113.2").await.unwrap()),
        StatusCode::OK
    );
    assert_eq!(
        status(register(&behind, "fw_c", "203.0.113.1").await.unwrap()),
        StatusCode::TOO_MANY_REQUESTS
    );

    let direct = TestServer::start_with(|c| c.rate_limits.register = one_per_minute).await;
    assert_eq!(
        status(register(&direct, "fw_d", "203.0.113.1").await.unwrap()),
        StatusCode::OK
    );
    assert_eq!(
        status(register(&direct, "fw_e", "203.0.113.2").await.unwrap()),
        StatusCode::TOO_MANY_REQUESTS,
        "an untrusted peer's header is ignored"
    );
}
