//! The harness: boot a real server in-process on an ephemeral port, on SQLite in a temp dir or,
//! when `ASOBI_TEST_DATABASE_URL` is set, on PostgreSQL in a fresh schema, and drive it over
//! real HTTP and WebSocket connections.

use std::path::PathBuf;
use std::time::Duration;

use asobi_server::config::{Limit, PasswordHashing};
use asobi_server::{Config, RunningServer};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long a test waits for any one frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// A running server and what is needed to clean up after it.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub base: String,
    pub ws_url: String,
    pub http: reqwest::Client,
    pub database_url: String,
    temp_dir: Option<PathBuf>,
}

/// A database URL for one test server: a fresh PostgreSQL schema, or a SQLite file in a new
/// temp dir.
pub async fn fresh_database() -> (String, Option<PathBuf>) {
    let tag = uuid::Uuid::now_v7().simple().to_string();
    match std::env::var("ASOBI_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let schema = format!("asobi_test_{tag}");
            let admin = asobi_server::db::Db::connect(&base, 1)
                .await
                .expect("admin connection");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(admin.pool())
                .await
                .expect("create schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            (format!("{base}{sep}options[search_path]={schema}"), None)
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("asobi-test-{tag}"));
            std::fs::create_dir_all(&dir).expect("temp dir");
            (format!("sqlite://{}/asobi.db", dir.display()), Some(dir))
        }
    }
}

/// One development certificate for the whole test process (generating one per server would
/// race on the file).
fn dev_cert() -> PathBuf {
    static CERT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("asobi-e2e-cert-{}.pem", std::process::id()));
        let config = Config {
            quic_dev_cert: path.clone(),
            ..Config::default()
        };
        asobi_server::gateway::tls::identity(&config).expect("development certificate");
        path
    })
    .clone()
}

/// The configuration tests start from: cheap password hashing and generous limits, so only
/// the tests about limits meet them.
pub fn test_config(database_url: String) -> Config {
    let generous = Limit {
        count: 100_000,
        window_ms: 1000,
    };
    let mut config = Config {
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        quic_addr: "127.0.0.1:0".parse().expect("addr"),
        quic_dev_cert: dev_cert(),
        database_url,
        database_max_connections: 8,
        password_hashing: PasswordHashing {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        cors_origins: vec!["https://game.example".into()],
        ..Config::default()
    };
    let r = &mut config.rate_limits;
    (
        r.register,
        r.auth,
        r.erase,
        r.api,
        r.guest_global,
        r.ws_connect,
        r.iap,
    ) = (
        generous, generous, generous, generous, generous, generous, generous,
    );
    config
}

impl TestServer {
    /// A server with the test configuration.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server with the test configuration, adjusted.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_with_modes(Vec::new(), adjust).await
    }

    /// A server with Rust match and world modes.
    pub async fn start_with_game(
        modes: Vec<asobi_server::game::MatchMode>,
        world_modes: Vec<asobi_server::worlds::WorldMode>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let (database_url, temp_dir) = fresh_database().await;
        let mut server =
            TestServer::start_on_with_game(database_url, modes, world_modes, adjust).await;
        server.temp_dir = temp_dir;
        server
    }

    /// A server with match and world modes on an existing database (a restart).
    pub async fn start_on_with_game(
        database_url: String,
        modes: Vec<asobi_server::game::MatchMode>,
        world_modes: Vec<asobi_server::worlds::WorldMode>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let game = asobi_server::Game {
            modes,
            world_modes,
            ..Default::default()
        };
        TestServer::start_on_game(database_url, game, adjust).await
    }

    /// A server with a Rust game (modes and sign-in hooks) on a fresh database.
    pub async fn start_game(
        game: asobi_server::Game,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let (database_url, temp_dir) = fresh_database().await;
        let mut server = TestServer::start_on_game(database_url, game, adjust).await;
        server.temp_dir = temp_dir;
        server
    }

    async fn start_on_game(
        database_url: String,
        game: asobi_server::Game,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let temp_dir = None;
        let mut config = test_config(database_url.clone());
        adjust(&mut config);
        let server = asobi_server::start_game(config, game)
            .await
            .expect("server starts");
        let addr = server.addr();
        TestServer {
            server: Some(server),
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/ws"),
            http: reqwest::Client::new(),
            database_url,
            temp_dir,
        }
    }

    /// A server with Rust game modes.
    pub async fn start_with_modes(
        modes: Vec<asobi_server::game::MatchMode>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let (database_url, temp_dir) = fresh_database().await;
        let mut server = TestServer::start_on(database_url, modes, adjust).await;
        server.temp_dir = temp_dir;
        server
    }

    /// A server on an existing database (a restart).
    pub async fn start_on(
        database_url: String,
        modes: Vec<asobi_server::game::MatchMode>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        TestServer::start_on_with_game(database_url, modes, Vec::new(), adjust).await
    }

    /// An `asobi-client` for this server over QUIC, pinned to its certificate.
    pub fn quic_client(&self) -> asobi_client::Client {
        let r = self.running();
        let quic = r.quic_addr().expect("QUIC on");
        let config = asobi_client::ClientConfig::local("127.0.0.1", r.addr().port(), quic.port())
            .pinned(r.quic_fingerprint().expect("fingerprint"))
            .expect("pin");
        asobi_client::Client::new(config).expect("client")
    }

    /// An `asobi-client` for this server over WebSocket.
    pub fn ws_client(&self) -> asobi_client::Client {
        let r = self.running();
        let config =
            asobi_client::ClientConfig::local("127.0.0.1", r.addr().port(), 0).over_websocket();
        asobi_client::Client::new(config).expect("client")
    }

    /// The running server.
    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().expect("running")
    }

    /// Drains and stops the server, keeping its database.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.http.delete(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::from(req.send().await.expect("request sent")).await
    }

    /// `POST` JSON; returns status, body and headers.
    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::from(req.send().await.expect("request sent")).await
    }

    /// `PUT` JSON.
    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        let mut req = self.http.put(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::from(req.send().await.expect("request sent")).await
    }

    /// `GET`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::from(req.send().await.expect("request sent")).await
    }

    /// Registers a player and returns its token body.
    pub async fn register(&self, username: &str) -> Account {
        let r = self
            .post(
                "/api/v1/auth/register",
                json!({"username": username, "password": "password-123"}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "register {username}: {}", r.body);
        Account::from(&r.body)
    }

    /// Fires `n` PUTs at `path` at once, writer `i` sending `body(i)`; returns the one
    /// writer that got 200 (asserting there was exactly one) and every refusal.
    pub async fn racing_puts(
        &self,
        path: &str,
        token: &str,
        n: i64,
        body: impl Fn(i64) -> Value,
    ) -> (i64, Vec<Reply>) {
        let writes = (0..n).map(|i| {
            let b = body(i);
            async move { (i, self.put(path, b, Some(token)).await) }
        });
        let results = futures_util::future::join_all(writes).await;
        let (won, lost): (Vec<_>, Vec<_>) = results
            .into_iter()
            .partition(|(_, r)| r.status == StatusCode::OK);
        assert_eq!(won.len(), 1, "exactly one write wins");
        (won[0].0, lost.into_iter().map(|(_, r)| r).collect())
    }

    /// Registers player `player-<n>`.
    pub async fn register_n(&self, n: usize) -> Account {
        self.register(&format!("player-{n}")).await
    }

    /// Opens a WebSocket.
    pub async fn ws(&self) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(&self.ws_url)
            .await
            .expect("ws connects");
        Ws { stream }
    }

    /// Opens a WebSocket and authenticates it.
    pub async fn ws_as(&self, account: &Account) -> Ws {
        let mut ws = self.ws().await;
        ws.send(json!({"type": "session.connect", "cid": "auth", "payload": {"token": account.access_token}}))
            .await;
        let reply = ws.recv().await;
        assert_eq!(reply["type"], "session.connected", "{reply}");
        ws
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A player's credentials.
#[derive(Debug, Clone)]
pub struct Account {
    pub player_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl From<&Value> for Account {
    fn from(body: &Value) -> Self {
        let s = |k: &str| {
            body[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k} in {body}"))
                .to_owned()
        };
        Account {
            player_id: s("player_id"),
            access_token: s("access_token"),
            refresh_token: s("refresh_token"),
        }
    }
}

/// An HTTP reply.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    async fn from(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            headers,
        }
    }

    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no code>")
    }
}

/// A WebSocket client.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What ended a socket.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl Ws {
    /// Sends a JSON text frame.
    pub async fn send(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("frame sent");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream
            .send(Message::Binary(bytes.into()))
            .await
            .expect("frame sent");
    }

    /// The next JSON text frame (fails on close or timeout).
    pub async fn recv(&mut self) -> Value {
        self.recv_within(FRAME_TIMEOUT).await
    }

    /// The next frame of type `ty` within `timeout`, skipping others.
    pub async fn recv_type_within(&mut self, ty: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = self.recv_within(left).await;
            if f["type"] == ty {
                return f;
            }
        }
    }

    /// The next JSON text frame within `timeout`.
    pub async fn recv_within(&mut self, timeout: Duration) -> Value {
        loop {
            let msg = tokio::time::timeout(timeout, self.stream.next())
                .await
                .expect("a frame before the timeout")
                .expect("socket open")
                .expect("frame readable");
            match msg {
                Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).expect("server sends JSON");
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// A frame that has already arrived, without waiting for one.
    pub fn poll_ready(&mut self) -> Option<Message> {
        use futures_util::FutureExt;
        self.stream
            .next()
            .now_or_never()
            .flatten()
            .and_then(Result::ok)
    }

    /// Sends a heartbeat with a cid and checks the reply: proof the socket still serves.
    pub async fn assert_alive(&mut self) {
        self.send(json!({"type": "session.heartbeat", "cid": "alive", "payload": {}}))
            .await;
        // Other frames (match state, events) may arrive first.
        let reply = loop {
            let f = self.recv().await;
            if f["cid"] == "alive" {
                break f;
            }
        };
        assert_eq!(reply["type"], "session.heartbeat", "{reply}");
        assert_eq!(reply["cid"], "alive");
    }

    /// The next frame of type `ty`, skipping others (fails on close or timeout).
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let f = self.recv().await;
            if f["type"] == ty {
                return f;
            }
        }
    }

    /// Sends a request and returns the next reply or error carrying its cid.
    pub async fn request(&mut self, ty: &str, payload: Value) -> Value {
        let cid = format!("{ty}-{}", uuid::Uuid::now_v7().simple());
        self.send(json!({"type": ty, "cid": cid, "payload": payload}))
            .await;
        loop {
            let f = self.recv().await;
            if f["cid"] == cid.as_str() {
                return f;
            }
        }
    }

    /// Waits for the server to close the socket; returns the close frame.
    pub async fn closed(&mut self) -> Closed {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("close before the timeout");
            match msg {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Closed {
                        code: u16::from(frame.code),
                        reason: frame.reason.to_string(),
                    };
                }
                Some(Ok(Message::Close(None))) => {
                    return Closed {
                        code: u16::from(CloseCode::Status),
                        reason: String::new(),
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close: {e}"),
                None => panic!("stream ended without a close frame"),
            }
        }
    }
}
