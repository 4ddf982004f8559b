//! The realtime session over WebSocket: handshake, heartbeat, limits and every bad input.

use serde_json::{Value, json};

use crate::common::TestServer;

fn error_of(frame: &Value) -> (&str, &str) {
    assert_eq!(frame["type"], "error", "{frame}");
    (
        frame["payload"]["reason"].as_str().unwrap_or("<none>"),
        frame["payload"]["error"]["code"]
            .as_str()
            .unwrap_or("<none>"),
    )
}

#[tokio::test]
async fn connect_authenticate_and_heartbeat() {
    let s = TestServer::start().await;
    let hana = s.register("hana").await;
    let mut ws = s.ws().await;

    // Heartbeat works before authentication, and echoes any JSON cid verbatim.
    ws.send(json!({"type": "session.heartbeat", "cid": {"n": [1]}}))
        .await;
    let hb = ws.recv().await;
    assert_eq!(hb["cid"], json!({"n": [1]}));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (hb["payload"]["ts"].as_i64().unwrap() - now).abs() < 5_000,
        "{hb}"
    );

    ws.send(json!({"type": "session.connect", "cid": "1", "payload": {"token": hana.access_token, "wire": "binary"}}))
        .await;
    let connected = ws.recv().await;
    assert_eq!(
        connected,
        json!({"type": "session.connected", "cid": "1", "payload": {"player_id": hana.player_id, "wire": "json"}})
    );
    // A reply to a request without cid has no cid key at all.
    ws.send(json!({"type": "session.heartbeat", "payload": {}}))
        .await;
    let hb = ws.recv().await;
    assert!(hb.get("cid").is_none(), "{hb}");

    // Several sockets per player.
    let mut second = s.ws_as(&hana).await;
    second.assert_alive().await;
    ws.assert_alive().await;
    assert_eq!(s.running().state().sessions().player_count(), 1);
    assert_eq!(s.running().state().sessions().count(), 2);
}

#[tokio::test]
async fn a_bad_token_is_answered_and_the_socket_stays_open() {
    let s = TestServer::start().await;
    let ivy = s.register("ivy1").await;
    let mut ws = s.ws().await;
    for payload in [json!({"token": "bogus"}), json!({"token": 12}), json!({})] {
        ws.send(json!({"type": "session.connect", "cid": "c", "payload": payload}))
            .await;
        let e = ws.recv().await;
        assert_eq!(error_of(&e), ("invalid_token", "unauthenticated"));
        assert_eq!(e["cid"], "c");
    }
    ws.assert_alive().await;
    ws.send(
        json!({"type": "session.connect", "cid": "ok", "payload": {"token": ivy.access_token}}),
    )
    .await;
    assert_eq!(ws.recv().await["type"], "session.connected");
}

#[tokio::test]
async fn malformed_frames_get_their_error_and_the_server_keeps_serving() {
    let s = TestServer::start().await;
    let jo = s.register("jojo").await;
    let mut ws = s.ws().await;

    // Before authentication only the pre-auth set is accepted.
    ws.send(json!({"type": "match.join", "cid": 5, "payload": {"match_id": "m"}}))
        .await;
    let e = ws.recv().await;
    assert_eq!(
        (error_of(&e), &e["cid"]),
        (("unknown_type", "unknown_type"), &json!(5))
    );
    ws.send(json!({"type": "chat.leave", "cid": "l", "payload": {"channel_id": "global:x"}}))
        .await;
    assert_eq!(
        ws.recv().await,
        json!({"type": "chat.left", "cid": "l", "payload": {"channel_id": "global:x"}})
    );

    ws.send(json!({"type": "session.connect", "payload": {"token": jo.access_token}}))
        .await;
    assert_eq!(ws.recv().await["type"], "session.connected");

    let cases: Vec<(String, &str, &str, Option<Value>)> = vec![
        (
            "{\"type\": \"session.heartbeat\"".into(),
            "invalid_json",
            "invalid_json",
            None,
        ),
        (
            r#"{"payload": {}, "cid": "x"}"#.into(),
            "invalid_message",
            "invalid_message",
            None,
        ),
        (
            r#"{"type": 7, "cid": "x"}"#.into(),
            "invalid_message",
            "invalid_message",
            None,
        ),
        (
            r#"[1,2,3]"#.into(),
            "invalid_message",
            "invalid_message",
            None,
        ),
        (
            r#"{"type": "nope.nope", "cid": "u"}"#.into(),
            "unknown_type",
            "unknown_type",
            Some(json!("u")),
        ),
        (
            r#"{"type": "match.join", "cid": "m", "payload": {}}"#.into(),
            "missing_field",
            "missing_field",
            Some(json!("m")),
        ),
        (
            r#"{"type": "match.input", "cid": "i", "payload": 3}"#.into(),
            "invalid_payload",
            "invalid_payload",
            Some(json!("i")),
        ),
        (
            r#"{"type": "matchmaker.add", "cid": "q", "payload": {"mode": 1}}"#.into(),
            "unknown_mode",
            "matchmaker.unknown_mode",
            Some(json!("q")),
        ),
    ];
    for (text, reason, code, cid) in cases {
        ws.send_text(text.clone()).await;
        let e = ws.recv().await;
        assert_eq!(error_of(&e), (reason, code), "{text}");
        assert_eq!(e.get("cid"), cid.as_ref(), "{text}");
        assert!(e["payload"]["error"]["details"].is_object());
    }
    assert_eq!(ws.recv_matchmaker_type_check().await, "matchmaker.add");

    // Oversized frame: error, not counted, socket open.
    let big =
        json!({"type": "session.heartbeat", "payload": {"pad": "x".repeat(70_000)}}).to_string();
    ws.send_text(big).await;
    let e = ws.recv().await;
    assert_eq!(error_of(&e), ("payload_too_large", "payload_too_large"));
    assert!(e.get("cid").is_none());

    // Binary uplink is refused on the JSON path.
    ws.send_binary(vec![1, 2, 3]).await;
    let e = ws.recv().await;
    assert_eq!(
        error_of(&e),
        ("binary_uplink_unsupported", "ws.request_failed")
    );
    assert_eq!(
        e["payload"]["error"]["details"]["reason"],
        "binary_uplink_unsupported"
    );
    ws.assert_alive().await;
}

impl crate::common::Ws {
    /// Re-sends a bad `matchmaker.add` and returns the extra top-level `type` of its error.
    async fn recv_matchmaker_type_check(&mut self) -> String {
        self.send(json!({"type": "matchmaker.add", "payload": {"mode": false}}))
            .await;
        let e = self.recv().await;
        e["payload"]["type"].as_str().unwrap_or_default().to_owned()
    }
}

#[tokio::test]
async fn a_flood_past_the_window_is_rate_limited_and_the_socket_survives() {
    let s = TestServer::start().await;
    let kim = s.register("kimi").await;
    let mut ws = s.ws_as(&kim).await; // session.connect used 1 of this window's 60
    for i in 0..80 {
        ws.send(json!({"type": "session.heartbeat", "cid": i}))
            .await;
    }
    let (mut answered, mut limited) = (0, 0);
    for _ in 0..80 {
        let f = ws.recv().await;
        match f["type"].as_str() {
            Some("session.heartbeat") => answered += 1,
            Some("error") => {
                assert_eq!(error_of(&f), ("rate_limited", "rate_limited"));
                assert!(f.get("cid").is_none());
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answered + limited, 80);
    assert!(
        limited >= 20,
        "at most 60 frames per window pass (got {limited} limited)"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    ws.assert_alive().await;
}

/// Issue 15 §10: budgets are per player, not per socket; sockets per player and per
/// address are capped; oversized frames spend budget too.
#[tokio::test]
async fn budgets_are_per_player_and_sockets_are_capped() {
    use asobi_server::config::Limit;
    let s = TestServer::start_with(|c| {
        c.rate_limits.ws_messages = Limit::new(10, 60_000);
        c.max_sockets_per_player = 2;
        c.max_sockets_per_address = 6;
    })
    .await;
    // Oversized frames spend the budget (per socket before sign-in): 10 pass, then refused.
    let mut g = s.ws().await;
    let big =
        json!({"type": "session.heartbeat", "payload": {"pad": "x".repeat(70_000)}}).to_string();
    let mut reasons = Vec::new();
    for _ in 0..11 {
        g.send_text(big.clone()).await;
        reasons.push(error_of(&g.recv().await).0.to_owned());
    }
    let too_large = reasons.iter().filter(|r| *r == "payload_too_large").count();
    assert_eq!(too_large, 10, "{reasons:?}");
    assert_eq!(reasons.last().map(String::as_str), Some("rate_limited"));

    let pat = s.register("pat").await;
    let (mut a, mut b) = (s.ws_as(&pat).await, s.ws_as(&pat).await);
    // Two sockets, one budget: 8 + 8 frames against the player's 10.
    for ws in [&mut a, &mut b] {
        for i in 0..8 {
            ws.send(json!({"type": "session.heartbeat", "cid": i}))
                .await;
        }
    }
    let mut limited = 0;
    for ws in [&mut a, &mut b] {
        for _ in 0..8 {
            if ws.recv().await["type"] == "error" {
                limited += 1;
            }
        }
    }
    assert!(
        limited >= 6,
        "one budget for both sockets (limited {limited})"
    );

    // A third socket for the same player is refused at session.connect.
    let mut c = s.ws().await;
    c.send(json!({"type": "session.connect", "cid": "c", "payload": {"token": pat.access_token}}))
        .await;
    let e = c.recv().await;
    assert_eq!(
        e["payload"]["error"]["details"]["reason"], "too_many_sessions",
        "{e}"
    );
    // Sockets from one address: four are open (g, a, b, c); two more fit, the next is closed.
    // (A heartbeat's answer proves each socket's session is registered.)
    let (mut d, mut e) = (s.ws().await, s.ws().await);
    d.assert_alive().await;
    e.assert_alive().await;
    let mut f = s.ws().await;
    let closed = f.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "too_many_connections")
    );
}

#[tokio::test]
async fn no_session_connect_within_the_timeout_closes_1008() {
    let s = TestServer::start_with(|c| c.ws_idle_auth_timeout_ms = 300).await;
    let mut ws = s.ws().await;
    // Heartbeats do not count as authentication.
    ws.assert_alive().await;
    let started = std::time::Instant::now();
    let closed = ws.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "idle_auth_timeout")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    // An authenticated socket outlives the deadline.
    let lee = s.register("leela").await;
    let mut ok = s.ws_as(&lee).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    ok.assert_alive().await;
}

#[tokio::test]
async fn requests_for_services_not_built_yet_get_well_formed_errors() {
    let s = TestServer::start().await;
    let mo = s.register("momo").await;
    let mut ws = s.ws().await;
    // rpc.call before auth: unauthenticated; bad cid: invalid_cid without echo.
    ws.send(json!({"type": "rpc.call", "cid": "r0", "payload": {"protocol": 1, "method": "asobi.datagram.open", "params": {}}}))
        .await;
    let e = ws.recv().await;
    assert_eq!(
        (e["type"].clone(), e["payload"]["error"]["code"].clone()),
        (json!("rpc.error"), json!("unauthenticated"))
    );
    ws.send(json!({"type": "session.connect", "payload": {"token": mo.access_token}}))
        .await;
    ws.recv().await;
    ws.send(json!({"type": "rpc.call", "cid": 3, "payload": {"protocol": 1, "method": "x", "params": {}}})).await;
    let e = ws.recv().await;
    assert_eq!(e["payload"]["error"]["code"], "rpc.invalid_cid");
    assert!(e.get("cid").is_none());
    let rpc = |method: &str, protocol: i64| json!({"type": "rpc.call", "cid": "r1", "payload": {"protocol": protocol, "method": method, "params": {}}});
    for (msg, code) in [
        (rpc("asobi.datagram.open", 1), "datagram_unavailable"),
        (rpc("asobi.datagram.open", 2), "rpc.unsupported_protocol"),
        (rpc("quests.claim", 1), "rpc.unknown_method"),
    ] {
        ws.send(msg).await;
        let e = ws.recv().await;
        assert_eq!(
            (e["type"].as_str(), e["cid"].as_str()),
            (Some("rpc.error"), Some("r1"))
        );
        assert_eq!(e["payload"]["error"]["code"], code);
        assert!(
            e["payload"].get("reason").is_none(),
            "rpc.error has no reason"
        );
    }

    // Votes are the one service left unbuilt.
    ws.send(
        json!({"type": "vote.cast", "cid": "q", "payload": {"vote_id": "v", "option_id": "a"}}),
    )
    .await;
    let e = ws.recv().await;
    assert_eq!(error_of(&e), ("not_implemented", "ws.request_failed"));
    assert_eq!(
        (
            e["cid"].as_str(),
            e["payload"]["error"]["details"]["reason"].as_str()
        ),
        (Some("q"), Some("not_implemented"))
    );

    // Leaving is always fine; input outside a match gets the rate-limited hint without cid.
    ws.send(json!({"type": "match.leave", "cid": "lv"})).await;
    assert_eq!(
        ws.recv().await,
        json!({"type": "match.left", "cid": "lv", "payload": {"success": true}})
    );
    ws.send(json!({"type": "match.input", "cid": "in", "payload": {"fire": true}}))
        .await;
    let hint = ws.recv().await;
    assert_eq!(error_of(&hint), ("not_in_match", "match.not_in_match"));
    assert_eq!(hint["payload"]["type"], "match.input");
    assert!(hint.get("cid").is_none());
    ws.send(json!({"type": "match.input", "payload": {"fire": true}}))
        .await;
    ws.send(json!({"type": "presence.update", "cid": "p", "payload": {"status": "away"}}))
        .await;
    // The second input within 5 s earns no hint: the next frame is the presence reply.
    assert_eq!(
        ws.recv().await,
        json!({"type": "presence.updated", "cid": "p", "payload": {"status": "away"}})
    );
}

#[tokio::test]
async fn logout_closes_the_sockets_of_that_sign_in() {
    let s = TestServer::start().await;
    let nia = s.register("niamh").await;
    let mut ws = s.ws_as(&nia).await;
    let r = s
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": nia.refresh_token}),
            None,
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK);
    let closed = ws.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "session_revoked")
    );
}

#[tokio::test]
async fn upgrades_over_the_per_ip_limit_or_from_a_foreign_origin_are_closed_1008() {
    use asobi_server::config::Limit;
    let s = TestServer::start_with(|c| {
        c.rate_limits.ws_connect = Limit {
            count: 2,
            window_ms: 60_000,
        };
        c.ws_allowed_origins = vec!["https://game.example".into()];
    })
    .await;
    // No Origin header (a native client): admitted.
    let mut native = s.ws().await;
    native.assert_alive().await;
    // A browser from elsewhere: rejected after the limiter counted it.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        s.ws_url.as_str(),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut foreign = crate::common::Ws { stream };
    let closed = foreign.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "origin_rejected")
    );
    // Third upgrade from this IP inside the window: rate limited.
    let mut third = s.ws().await;
    let closed = third.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "rate_limited")
    );
    native.assert_alive().await;
}
