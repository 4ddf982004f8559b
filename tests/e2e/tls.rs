//! `https://` and `wss://` end to end (issue 15 §18): the server terminates TLS on its HTTP
//! listener (`--tls-cert/--tls-key`), and `asobi-client` signs in over HTTPS and holds its
//! realtime session over `wss://`, trusting the server's certificate.

use asobi_client::{Client, ClientConfig, Event};
use asobi_core::protocol::{ClientMessage, ServerMessage};

use crate::common::TestServer;

const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::test]
async fn https_and_wss_work_end_to_end() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let cert_pem = certified.cert.pem();
    let dir = std::env::temp_dir().join(format!("asobi-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &cert_pem).expect("cert written");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key written");
    let s = TestServer::start_with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    let port = s.running().addr().port();
    let https = format!("https://localhost:{port}");

    let mut config = ClientConfig::local("localhost", port, 0);
    config.http_url = https.clone();
    let config = config
        .trusting_pem(cert_pem.as_bytes())
        .expect("pem")
        .over_websocket();
    assert!(
        matches!(&config.transport, asobi_client::TransportKind::WebSocket { url } if url.starts_with("wss://"))
    );
    let client = Client::new(config.clone()).expect("client");
    let session = client
        .rest()
        .register("tls_player", "correct-horse-battery")
        .await
        .expect("register over https");
    let (rt, mut events) = client.connect().await.expect("connect over wss");
    let connected = tokio::time::timeout(WAIT, async {
        loop {
            match events.next().await {
                Some(Event::Connected { player_id, .. }) => break player_id,
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
    })
    .await
    .expect("connected within the deadline");
    assert_eq!(connected, session.player_id);
    let reply = rt
        .request(ClientMessage::SessionHeartbeat)
        .await
        .expect("heartbeat over wss");
    assert!(matches!(reply, ServerMessage::Heartbeat(_)), "{reply:?}");

    // Plain HTTP to the TLS listener gets nothing useful, and a client that does not trust
    // the certificate cannot sign in.
    let plain = reqwest::get(format!("http://localhost:{port}/live")).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    let mut untrusting = ClientConfig::local("localhost", port, 0);
    untrusting.http_url = https;
    let untrusting = Client::new(untrusting).expect("client");
    assert!(
        untrusting
            .rest()
            .register("tls_other", "correct-horse-battery")
            .await
            .is_err(),
        "an unknown certificate is refused"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
