//! The QUIC transport: a control stream for reliable frames both ways, datagrams for state
//! (newest wins; a lost `world.tick` delta shows as a `frame_seq` gap), and one
//! unidirectional stream per terrain chunk. Frames are `asobi_core::protocol::binary` frames
//! read with the same bounded [`FrameReader`] the server uses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use asobi_core::protocol::ClientMessage;
use asobi_core::protocol::binary::{Frame, FrameReader, MAX_SERVER_FRAME};
use asobi_core::world::compact::KIND_WORLD_TICK_COMPACT;
use quinn::{Connection, ConnectionError, Endpoint, SendStream, VarInt};
use tokio::sync::mpsc;

use super::pin::{Fingerprint, client_crypto};
use super::{Faults, LinkEvent};
use crate::error::ClientError;

/// Events buffered between the connection's reader and the session driver.
const EVENT_QUEUE: usize = 1024;

/// The sending half of a QUIC connection.
pub struct QuicLink {
    conn: Connection,
    send: SendStream,
    _endpoint: Endpoint,
}

impl QuicLink {
    /// Writes one frame on the control stream.
    pub async fn send(
        &mut self,
        message: &ClientMessage,
        cid: Option<u64>,
    ) -> Result<(), ClientError> {
        let bytes = Frame::from_client(message, cid).encode();
        self.send
            .write_all(&bytes)
            .await
            .map_err(|_| ClientError::Disconnected)
    }

    /// Closes with 1000.
    pub fn close(&mut self) {
        let _ = self.send.finish();
        self.conn.close(VarInt::from_u32(1000), b"client_closed");
    }
}

async fn resolve(addr: &str) -> Result<SocketAddr, ClientError> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(|e| ClientError::Config(format!("cannot resolve {addr}: {e}")))?
        .next()
        .ok_or_else(|| ClientError::Config(format!("no address for {addr}")))
}

/// Connects, opens the control stream, and starts the reader.
pub async fn connect(
    addr: &str,
    server_name: &str,
    pin: Option<&Fingerprint>,
    faults: Faults,
) -> Result<(QuicLink, mpsc::Receiver<LinkEvent>), ClientError> {
    let remote = resolve(addr).await?;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_crypto(pin)?)
        .map_err(|e| ClientError::Config(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(5)))
        .max_idle_timeout(quinn::IdleTimeout::try_from(Duration::from_secs(30)).ok())
        .datagram_receive_buffer_size(Some(1 << 20));
    config.transport_config(Arc::new(transport));
    let local: SocketAddr = if remote.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = Endpoint::client(local).map_err(|e| ClientError::Connect(e.to_string()))?;
    endpoint.set_default_client_config(config);
    let conn = endpoint
        .connect(remote, server_name)
        .map_err(|e| ClientError::Connect(e.to_string()))?
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    tokio::spawn(read_loop(conn.clone(), recv, tx, faults));
    Ok((
        QuicLink {
            conn,
            send,
            _endpoint: endpoint,
        },
        rx,
    ))
}

fn message(frame: &Frame) -> Option<LinkEvent> {
    if frame.kind == KIND_WORLD_TICK_COMPACT {
        return Some(LinkEvent::CompactTick(frame.payload.clone()));
    }
    match frame.to_server() {
        Ok(message) => Some(LinkEvent::Message {
            cid: frame.cid,
            message,
        }),
        Err(e) => {
            tracing::warn!(error = %e, kind = frame.kind, "unreadable server frame");
            None
        }
    }
}

/// A small deterministic generator for the loss knob.
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn read_loop(
    conn: Connection,
    mut recv: quinn::RecvStream,
    tx: mpsc::Sender<LinkEvent>,
    faults: Faults,
) {
    let mut reader = FrameReader::new(MAX_SERVER_FRAME, MAX_SERVER_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    let mut dice = Dice(faults.seed | 1);
    let mut stream_open = true;
    loop {
        tokio::select! {
            read = recv.read(&mut buf), if stream_open => match read {
                Ok(Some(n)) => {
                    reader.push(&buf[..n]);
                    while let Some(next) = reader.next_frame() {
                        match next {
                            Ok(frame) => {
                                if let Some(ev) = message(&frame) && tx.send(ev).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "bad frame on the control stream"),
                        }
                    }
                }
                Ok(None) | Err(_) => stream_open = false,
            },
            datagram = conn.read_datagram() => match datagram {
                Ok(bytes) => {
                    if faults.datagram_loss > 0.0 && dice.roll() < faults.datagram_loss {
                        continue;
                    }
                    match Frame::decode_datagram(&bytes, MAX_SERVER_FRAME) {
                        Ok(frame) => {
                            if let Some(ev) = message(&frame) && tx.send(ev).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "bad datagram"),
                    }
                }
                Err(e) => {
                    let _ = tx.send(closed(&e)).await;
                    return;
                }
            },
            uni = conn.accept_uni() => match uni {
                Ok(mut stream) => {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let Ok(bytes) = stream.read_to_end(MAX_SERVER_FRAME + 16).await else {
                            return;
                        };
                        match Frame::decode(&bytes, MAX_SERVER_FRAME) {
                            Ok(Some((frame, _))) => {
                                if let Some(ev) = message(&frame) {
                                    let _ = tx.send(ev).await;
                                }
                            }
                            _ => tracing::warn!("bad chunk stream"),
                        }
                    });
                }
                Err(e) => {
                    let _ = tx.send(closed(&e)).await;
                    return;
                }
            },
        }
    }
}

fn closed(e: &ConnectionError) -> LinkEvent {
    match e {
        ConnectionError::ApplicationClosed(close) => LinkEvent::Closed {
            code: u16::try_from(close.error_code.into_inner()).ok(),
            reason: String::from_utf8_lossy(&close.reason).into_owned(),
        },
        other => LinkEvent::Closed {
            code: None,
            reason: other.to_string(),
        },
    }
}
