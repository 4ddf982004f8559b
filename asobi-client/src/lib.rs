//! `asobi-client`: the async Rust client of the Asobi game server.
//!
//! - [`rest::Rest`]: sign-in (tokens kept for the realtime session), players, matchmaker,
//!   matches and worlds over REST;
//! - [`realtime::Realtime`]: the realtime session over QUIC (`asobi/1`, binary frames,
//!   datagrams for state, a stream per terrain chunk) or WebSocket (JSON), with requests
//!   correlated to replies, one [`realtime::Event`] stream for everything the server pushes,
//!   automatic reconnect with backoff that re-authenticates and resumes;
//! - [`world::WorldView`]: per-zone entity tables kept from `world.tick` keyframes and deltas
//!   (a gap asks for a resync), and the terrain chunks received.
//!
//! ```no_run
//! # async fn demo() -> Result<(), asobi_client::ClientError> {
//! use asobi_client::{Client, ClientConfig};
//! use asobi_core::protocol::ClientMessage;
//!
//! let client = Client::new(ClientConfig::local("127.0.0.1", 8080, 8443))?;
//! client.rest().login("alice", "correct-horse").await?;
//! let (rt, mut events) = client.connect().await?;
//! rt.request(ClientMessage::MatchmakerAdd {
//!     mode: "arena".into(),
//!     properties: serde_json::json!({}),
//!     party: vec![],
//! })
//! .await?;
//! while let Some(event) = events.next().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod realtime;
pub mod rest;
pub mod transport;
pub mod world;

use std::time::Duration;

pub use error::ClientError;
pub use realtime::{Backoff, Event, Events, Realtime, RealtimeConfig};
pub use rest::{AuthSession, Rest, Tokens};
pub use transport::pin::Fingerprint;
pub use transport::{Faults, TransportKind};
pub use world::WorldView;

/// Where the server is and how to reach it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// REST base URL, e.g. `http://127.0.0.1:8080`.
    pub http_url: String,
    /// The realtime transport.
    pub transport: TransportKind,
    /// Pinned SHA-256 fingerprint of the server's QUIC certificate (the server prints it).
    pub pin: Option<Fingerprint>,
    /// Certificates (DER) trusted for `https://` and `wss://` besides the web PKI: a private
    /// CA, or a test server's self-signed certificate.
    pub tls_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Reconnect policy.
    pub backoff: Backoff,
    /// How long a request waits for its reply.
    pub request_timeout: Duration,
    /// Test knobs (datagram loss).
    pub faults: Faults,
}

impl ClientConfig {
    /// A server on `host` with its HTTP and QUIC ports, realtime over QUIC.
    pub fn local(host: &str, http_port: u16, quic_port: u16) -> Self {
        ClientConfig {
            http_url: format!("http://{host}:{http_port}"),
            transport: TransportKind::Quic {
                addr: format!("{host}:{quic_port}"),
                server_name: "localhost".into(),
            },
            pin: None,
            tls_roots: Vec::new(),
            backoff: Backoff::default(),
            request_timeout: Duration::from_secs(10),
            faults: Faults::default(),
        }
    }

    /// The same server, realtime over WebSocket.
    pub fn over_websocket(mut self) -> Self {
        let ws = self
            .http_url
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        self.transport = TransportKind::WebSocket {
            url: format!("{ws}/ws"),
        };
        self
    }

    /// The realtime session's settings drawn from this configuration.
    pub fn realtime(&self) -> RealtimeConfig {
        RealtimeConfig {
            transport: self.transport.clone(),
            pin: self.pin.clone(),
            tls_roots: self.tls_roots.clone(),
            backoff: self.backoff,
            request_timeout: self.request_timeout,
            heartbeat: Duration::from_secs(15),
            faults: self.faults,
        }
    }

    /// Trusts `pem` (one or more PEM certificates) for `https://` and `wss://`, besides the
    /// web PKI.
    pub fn trusting_pem(mut self, pem: &[u8]) -> Result<Self, ClientError> {
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            self.tls_roots
                .push(cert.map_err(|e| ClientError::Config(format!("certificate: {e}")))?);
        }
        Ok(self)
    }

    /// Pins the QUIC certificate.
    pub fn pinned(mut self, fingerprint: &str) -> Result<Self, ClientError> {
        self.pin = Some(Fingerprint::parse(fingerprint)?);
        Ok(self)
    }
}

/// A client: REST plus the means to open realtime sessions as the signed-in player.
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    rest: Rest,
}

impl Client {
    /// A client for one server.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let rest = Rest::with_roots(&config.http_url, Tokens::default(), &config.tls_roots)?;
        Ok(Client { config, rest })
    }

    /// The REST calls.
    pub fn rest(&self) -> &Rest {
        &self.rest
    }

    /// Opens the realtime session as the signed-in player.
    pub async fn connect(&self) -> Result<(Realtime, Events), ClientError> {
        Realtime::connect(self.config.realtime(), self.rest.clone()).await
    }
}
