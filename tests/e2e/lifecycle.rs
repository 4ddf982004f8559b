//! Health endpoints, CORS and headers, and the graceful shutdown.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn health_endpoints_report_the_node() {
    let s = TestServer::start().await;
    let live = s.get("/live", None).await;
    assert_eq!(
        (live.status, &live.body),
        (StatusCode::OK, &json!({"status": "alive"}))
    );
    let ready = s.get("/ready", None).await;
    assert_eq!(
        (ready.status, &ready.body),
        (StatusCode::OK, &json!({"status": "ready"}))
    );
    for path in ["/health", "/api/v1/health"] {
        let h = s.get(path, None).await;
        assert_eq!(h.status, StatusCode::OK, "{path}");
        assert_eq!(h.body["status"], "ok");
        assert_eq!(h.body["database"]["ok"], true);
        let backend = if s.database_url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        };
        assert_eq!(h.body["database"]["backend"], backend);
    }
    let unknown = s.get("/api/v1/nope", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // A plain 404 (`rest.md` §1.1), not an RPC code.
    assert_eq!(unknown.body, json!(""), "no body");
}

#[tokio::test]
async fn cors_security_headers_and_correlation_ids() {
    let s = TestServer::start().await;
    let pre = s
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/auth/login", s.base),
        )
        .header("origin", "https://game.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::OK);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "https://game.example");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let r = s
        .http
        .get(format!("{}/live", s.base))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["x-request-id"], "req-42");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.contains_key("strict-transport-security"));
    let minted = s.get("/live", None).await;
    assert!(
        minted.headers["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("r-")
    );
}

#[tokio::test]
async fn graceful_shutdown_drains_ready_then_closes_sessions() {
    let mut s = TestServer::start_with(|c| c.shutdown_grace_ms = 400).await;
    let ola = s.register("olaf").await;
    let mut ws = s.ws_as(&ola).await;
    let ready_url = format!("{}/ready", s.base);
    let http = s.http.clone();
    let server = s.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let during = http.get(&ready_url).send().await.unwrap();
    assert_eq!(
        during.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "ready goes 503 first"
    );
    assert_eq!(
        during.json::<serde_json::Value>().await.unwrap(),
        json!({"status": "not_ready"})
    );
    ws.assert_alive().await;
    let closed = ws.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1001, "server_shutdown")
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
    assert!(
        http.get(&ready_url).send().await.is_err(),
        "the listener is closed"
    );
}
