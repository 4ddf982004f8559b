//! The QUIC gateway (ALPN `asobi/1`): the native binary path beside the WebSocket one.
//!
//! A connection becomes the same [`Session`] a WebSocket does, with the same admission (the
//! per-IP connect limit, drain), authentication, limits and error codes. Only the framing is
//! this module's:
//!
//! - the client opens one bidirectional **control stream**; both directions carry binary
//!   frames ([`asobi_core::protocol::binary`]) split by a [`FrameReader`] with the WebSocket
//!   path's size limits (a frame over 64 KiB is answered `payload_too_large` and skipped; one
//!   over 1 MiB, or a stream whose framing is lost, closes the connection after the answer);
//! - **datagrams** carry `match.state` and `world.tick` deltas when they fit the path's
//!   datagram size, and fall back to the control stream when they do not; keyframes and
//!   removal frames always go on the stream. A lost delta shows as a `frame_seq` gap and the
//!   client asks for a resync; when a zone goes quiet its last delta is repeated on the
//!   stream ([`OutFrame::is_repeat`]), so a lost *last* delta shows too. Clients may send
//!   frames as datagrams too (one frame each);
//! - each **terrain chunk** goes on its own unidirectional stream, so chunks never delay
//!   state or each other.
//!
//! Close codes are the WebSocket ones (1008 `session_revoked`, 1001 `server_shutdown`, …) as
//! QUIC application error codes, with the reason text.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use asobi_core::protocol::binary::{Frame, FrameReader, StreamError};
use asobi_core::protocol::{MAX_TEXT_FRAME, ServerMessage};
use quinn::{Connection, Endpoint, SendStream, VarInt};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::tls::{Identity, TlsError, server_crypto};
use crate::session::{CloseReason, OutFrame, Session, Transport, session_span};
use crate::state::AppState;

/// Frames between [`MAX_TEXT_FRAME`] and this are skipped with an error; larger ones close
/// the connection (the WebSocket path's hard limit).
const HARD_FRAME_LIMIT: usize = 1 << 20;
/// Terrain chunk streams in flight per connection.
const CHUNK_STREAMS: usize = 16;
/// Close code when the control stream cannot be read any further.
const PROTOCOL_ERROR: CloseReason = CloseReason {
    code: 1002,
    reason: "protocol_error",
};

/// Binds the QUIC endpoint.
pub fn bind(
    addr: SocketAddr,
    identity: Identity,
    config: &crate::config::Config,
) -> Result<Endpoint, TlsError> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(server_crypto(identity)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    let idle = Duration::from_millis(config.ws_idle_timeout_ms);
    transport
        .max_idle_timeout(quinn::IdleTimeout::try_from(idle).ok())
        // One control stream per connection; the client never opens unidirectional streams.
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(Some(MAX_TEXT_FRAME));
    server.transport_config(Arc::new(transport));
    Endpoint::server(server, addr).map_err(|e| TlsError::Config(format!("bind {addr}: {e}")))
}

/// Accepts connections until the endpoint is closed. A peer first proves its address with a
/// stateless Retry; then the per-address connect limit (and the drain) apply before any
/// handshake crypto: a refused address costs one stateless close, not a TLS handshake, and
/// a spoofed one costs nothing of the real owner's budget.
pub async fn serve(endpoint: Endpoint, app: AppState) {
    while let Some(incoming) = endpoint.accept().await {
        // A first packet's source address can be spoofed; a stateless Retry makes the peer
        // prove it owns the address before its connection spends that address's budget.
        let incoming = if !incoming.remote_address_validated() && incoming.may_retry() {
            match incoming.retry() {
                Ok(()) => continue,
                Err(e) => e.into_incoming(),
            }
        } else {
            incoming
        };
        let peer = incoming.remote_address();
        if let Some(reason) = super::admission(&app, peer.ip(), || true) {
            tracing::debug!(%peer, reason = reason.reason, "QUIC connection refused before the handshake");
            incoming.refuse();
            continue;
        }
        let app = app.clone();
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => run(conn, app, peer).await,
                Err(e) => tracing::debug!(%peer, error = %e, "QUIC handshake failed"),
            }
        });
    }
}

fn close(conn: &Connection, reason: &CloseReason) {
    conn.close(
        VarInt::from_u32(u32::from(reason.code)),
        reason.reason.as_bytes(),
    );
}

async fn run(conn: Connection, app: AppState, peer: SocketAddr) {
    let config = app.config().clone();
    let auth_timeout = Duration::from_millis(config.ws_idle_auth_timeout_ms);
    // The client opens the control stream first thing; a peer that never does is closed
    // like a socket that never authenticates.
    let (send, recv) = match tokio::time::timeout(auth_timeout, conn.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        Ok(Err(_)) => return,
        Err(_) => {
            close(
                &conn,
                &CloseReason {
                    code: 1008,
                    reason: "idle_auth_timeout",
                },
            );
            return;
        }
    };
    let (handle, inbox) = app.sessions().open(
        config.ws_outbound_queue,
        crate::ratelimit::client_key(peer.ip()),
    );
    let id = handle.id();
    let span = session_span(id, "quic", peer.ip());
    let session = Session::new(app.clone(), handle, Transport::Quic, span.clone());
    let closed_by = Connected {
        conn: conn.clone(),
        send,
        chunks: Arc::new(Semaphore::new(CHUNK_STREAMS)),
    }
    .drive(session, recv, inbox, auth_timeout)
    .instrument(span.clone())
    .await;
    tracing::debug!(parent: &span, closed_by, "disconnected");
    super::disconnected(&app, id);
}

/// One authenticated-or-not connection with its control stream.
struct Connected {
    conn: Connection,
    send: SendStream,
    chunks: Arc<Semaphore>,
}

/// How an outbound frame travels.
enum Lane {
    Stream,
    Datagram,
    Chunk,
}

fn lane(frame: &OutFrame) -> Lane {
    if frame.is_repeat() {
        return Lane::Stream;
    }
    match frame.message() {
        ServerMessage::MatchState(_) => Lane::Datagram,
        ServerMessage::WorldTick(t) if t.frame_seq.is_some() && t.kf != Some(true) => {
            Lane::Datagram
        }
        ServerMessage::WorldTerrain(_) => Lane::Chunk,
        _ => Lane::Stream,
    }
}

impl Connected {
    async fn drive(
        mut self,
        mut session: Session,
        mut recv: quinn::RecvStream,
        mut inbox: crate::session::SessionInbox,
        auth_timeout: Duration,
    ) -> &'static str {
        let mut reader = FrameReader::new(MAX_TEXT_FRAME, HARD_FRAME_LIMIT);
        let auth_deadline = tokio::time::sleep(auth_timeout);
        tokio::pin!(auth_deadline);
        tracing::debug!("connected");
        loop {
            tokio::select! {
                biased;
                Some(frame) = inbox.frames.recv() => {
                    if !self.deliver(&frame).await {
                        return "write_failed";
                    }
                }
                // Chunks as quinn holds them: no read buffer of our own per connection.
                read = recv.read_chunk(usize::MAX, true) => {
                    let chunk = match read {
                        Ok(Some(chunk)) => chunk,
                        Ok(None) => return "client",
                        Err(_) => return "error",
                    };
                    reader.push(&chunk.bytes);
                    while let Some(next) = reader.next_frame() {
                        match next {
                            Ok(frame) => session.on_frame(frame).await,
                            Err(StreamError::Skipped(e)) => session.on_unusable(e.reason()),
                            Err(StreamError::Fatal(e)) => {
                                session.on_unusable(e.reason());
                                self.flush(&mut inbox).await;
                                close(&self.conn, &PROTOCOL_ERROR);
                                return "protocol_error";
                            }
                        }
                    }
                }
                datagram = self.conn.read_datagram() => {
                    let Ok(bytes) = datagram else { return "client" };
                    match Frame::decode_datagram(&bytes, MAX_TEXT_FRAME) {
                        Ok(frame) => session.on_frame(frame).await,
                        Err(e) => session.on_unusable(e.reason()),
                    }
                }
                frame = inbox.state.take() => {
                    if !self.deliver(&frame).await {
                        return "write_failed";
                    }
                }
                changed = inbox.close.changed() => {
                    let reason = inbox.close.borrow().clone();
                    if let (Ok(()), Some(reason)) = (changed, reason) {
                        close(&self.conn, &reason);
                        return reason.reason;
                    }
                }
                () = &mut auth_deadline, if !session.is_authenticated() => {
                    close(&self.conn, &CloseReason { code: 1008, reason: "idle_auth_timeout" });
                    return "idle_auth_timeout";
                }
            }
        }
    }

    /// Writes what is already queued (the answer to a fatal frame) and waits, briefly, for
    /// the peer to acknowledge it: closing the connection discards unacknowledged data.
    async fn flush(&mut self, inbox: &mut crate::session::SessionInbox) {
        while let Ok(frame) = inbox.frames.try_recv() {
            if !self.deliver(&frame).await {
                return;
            }
        }
        if self.send.finish().is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.send.stopped()).await;
        }
    }

    /// Sends one frame on its lane; `false` when the connection is gone.
    async fn deliver(&mut self, frame: &Arc<OutFrame>) -> bool {
        let bytes = frame.binary().clone();
        frame.written(bytes.len());
        match lane(frame) {
            Lane::Datagram
                if self
                    .conn
                    .max_datagram_size()
                    .is_some_and(|max| bytes.len() <= max) =>
            {
                match self.conn.send_datagram(bytes.clone()) {
                    Ok(()) => true,
                    Err(quinn::SendDatagramError::ConnectionLost(_)) => false,
                    // Too large after all, or datagrams got disabled: the stream carries it.
                    Err(_) => self.send.write_all(&bytes).await.is_ok(),
                }
            }
            Lane::Chunk => {
                let Ok(permit) = self.chunks.clone().acquire_owned().await else {
                    return false;
                };
                let conn = self.conn.clone();
                tokio::spawn(async move {
                    if let Ok(mut stream) = conn.open_uni().await {
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.finish();
                    }
                    drop(permit);
                });
                true
            }
            Lane::Datagram | Lane::Stream => self.send.write_all(&bytes).await.is_ok(),
        }
    }
}
