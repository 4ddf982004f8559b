//! Transports: one connection to the server, as a sender of client messages and a stream of
//! [`LinkEvent`]s. QUIC (`asobi/1`, binary frames) is the default; WebSocket (JSON text) is
//! the compatibility path. Everything above this module is transport-agnostic.

pub mod pin;
pub mod quic;
pub mod ws;

use asobi_core::protocol::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;

use crate::error::ClientError;

/// Which transport carries the realtime session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportKind {
    /// QUIC to `addr` (`host:port`, UDP), TLS name `server_name`.
    Quic {
        /// `host:port` of the server's QUIC gateway.
        addr: String,
        /// The name the certificate must carry (ignored when pinning by fingerprint).
        server_name: String,
    },
    /// WebSocket at `url` (`ws://host:port/ws`).
    WebSocket {
        /// The `/ws` URL.
        url: String,
    },
}

/// What a connection delivers.
#[derive(Debug)]
pub enum LinkEvent {
    /// A server message, with the cid it answers.
    Message {
        /// Correlation id of the request it answers.
        cid: Option<u64>,
        /// The message.
        message: ServerMessage,
    },
    /// A compact `world.tick` (QUIC), decoded against the zone's table by the world view.
    CompactTick(Vec<u8>),
    /// The connection ended. `code` is the server's close code when it gave one.
    Closed {
        /// Close code (WebSocket codes on both transports).
        code: Option<u16>,
        /// Close reason text.
        reason: String,
    },
}

/// Test knobs applied to what the client receives.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Fraction (0..1) of inbound QUIC datagrams dropped before they are read.
    pub datagram_loss: f64,
    /// Seed of the drop sequence.
    pub seed: u64,
}

/// The sending half of a connection.
pub enum Link {
    /// QUIC.
    Quic(quic::QuicLink),
    /// WebSocket.
    Ws(ws::WsLink),
}

impl Link {
    /// Sends one message on the reliable channel.
    pub async fn send(
        &mut self,
        message: &ClientMessage,
        cid: Option<u64>,
    ) -> Result<(), ClientError> {
        match self {
            Link::Quic(l) => l.send(message, cid).await,
            Link::Ws(l) => l.send(message, cid).await,
        }
    }

    /// Closes the connection with a normal close.
    pub async fn close(&mut self) {
        match self {
            Link::Quic(l) => l.close(),
            Link::Ws(l) => l.close().await,
        }
    }
}

/// Opens a connection; its events arrive on the returned receiver.
pub async fn connect(
    kind: &TransportKind,
    pin: Option<&pin::Fingerprint>,
    roots: &[rustls::pki_types::CertificateDer<'static>],
    faults: Faults,
) -> Result<(Link, mpsc::Receiver<LinkEvent>), ClientError> {
    match kind {
        TransportKind::Quic { addr, server_name } => {
            let (link, rx) = quic::connect(addr, server_name, pin, faults).await?;
            Ok((Link::Quic(link), rx))
        }
        TransportKind::WebSocket { url } => {
            let (link, rx) = ws::connect(url, roots).await?;
            Ok((Link::Ws(link), rx))
        }
    }
}
