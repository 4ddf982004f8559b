//! One simulated client's connection: WebSocket (JSON text, the path every Asobi SDK
//! speaks) or QUIC (`asobi/1` binary frames, datagrams for state). Both read into the same
//! [`Incoming`] and count the application bytes each message took on the wire: the
//! WebSocket frame (header and payload) or the binary frame; TCP, UDP, IP and QUIC packet
//! overhead is not counted.
//!
//! Lean on purpose: no reader task and no queue per connection, so 100,000 of them fit in
//! the generator beside the server.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asobi_client::Fingerprint;
use asobi_core::protocol::binary::{Frame, MAX_SERVER_FRAME};
use asobi_core::protocol::envelope::{decode_server_text, encode_client_text};
use asobi_core::protocol::{ClientMessage, ServerMessage};
use asobi_core::world::compact::KIND_WORLD_TICK_COMPACT;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::BenchError;
use crate::net::Sources;

/// Which path the simulated clients take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// WebSocket, JSON text frames.
    Ws,
    /// QUIC, binary frames and datagrams.
    Quic,
}

impl Transport {
    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Quic => "quic",
        }
    }
}

/// What a connection read.
#[derive(Debug)]
pub enum Incoming {
    /// A server message with the cid it answers.
    Message {
        /// Correlation id.
        cid: Option<u64>,
        /// The message.
        message: ServerMessage,
        /// Bytes it took.
        wire: usize,
    },
    /// A compact `world.tick` (QUIC): its payload, undecoded.
    Compact {
        /// Frame payload.
        payload: Vec<u8>,
        /// Bytes it took.
        wire: usize,
    },
}

/// Opens connections from the pool of source addresses.
pub struct Dialer {
    http: SocketAddr,
    quic: SocketAddr,
    sources: Sources,
    endpoints: Vec<quinn::Endpoint>,
    next_endpoint: AtomicUsize,
}

impl Dialer {
    /// A dialer for one server. `quic_sockets` UDP sockets are opened per source address
    /// (QUIC connections share them, so QUIC needs no file descriptor per connection).
    pub fn new(
        http: SocketAddr,
        quic: SocketAddr,
        pin: Option<&Fingerprint>,
        sources: usize,
        quic_sockets: usize,
    ) -> Result<Self, BenchError> {
        let sources = Sources::new(http, sources);
        let crypto = asobi_client::transport::pin::client_crypto(pin)
            .map_err(|e| BenchError::Config(e.to_string()))?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto)
            .map_err(|e| BenchError::Config(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(quinn::IdleTimeout::try_from(Duration::from_secs(120)).ok())
            .datagram_receive_buffer_size(Some(256 * 1024));
        config.transport_config(Arc::new(transport));
        let mut endpoints = Vec::new();
        for ip in sources.all() {
            for _ in 0..quic_sockets.max(1) {
                let mut endpoint = quinn::Endpoint::client(SocketAddr::new(*ip, 0))
                    .map_err(|e| BenchError::Connect(format!("UDP socket on {ip}: {e}")))?;
                endpoint.set_default_client_config(config.clone());
                endpoints.push(endpoint);
            }
        }
        Ok(Dialer {
            http,
            quic,
            sources,
            endpoints,
            next_endpoint: AtomicUsize::new(0),
        })
    }

    /// The REST base URL.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Opens one connection.
    pub async fn dial(&self, transport: Transport) -> Result<Conn, BenchError> {
        match transport {
            Transport::Ws => self.dial_ws(self.sources.next()).await,
            Transport::Quic => self.dial_quic().await,
        }
    }

    async fn dial_ws(&self, source: IpAddr) -> Result<Conn, BenchError> {
        let socket = match source {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| BenchError::Connect(format!("socket: {e}")))?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| BenchError::Connect(format!("bind {source}: {e}")))?;
        let stream = socket
            .connect(self.http)
            .await
            .map_err(|e| BenchError::Connect(format!("{source} → {}: {e}", self.http)))?;
        let _ = stream.set_nodelay(true);
        // Small buffers: tungstenite's default 128 KiB read buffer per socket would make the
        // generator, not the server, the memory hog of the idle scenario.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let url = format!("ws://{}/ws", self.http);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .map_err(|e| BenchError::Connect(format!("websocket handshake: {e}")))?;
        Ok(Conn {
            link: Link::Ws(Box::new(ws)),
        })
    }

    async fn dial_quic(&self) -> Result<Conn, BenchError> {
        let i = self.next_endpoint.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        let conn = self.endpoints[i]
            .connect(self.quic, "localhost")
            .map_err(|e| BenchError::Connect(e.to_string()))?
            .await
            .map_err(|e| BenchError::Connect(format!("QUIC handshake: {e}")))?;
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| BenchError::Connect(format!("control stream: {e}")))?;
        Ok(Conn {
            link: Link::Quic(Box::new(QuicLink {
                conn,
                send,
                recv,
                buf: Vec::new(),
            })),
        })
    }
}

/// One connection.
pub struct Conn {
    link: Link,
}

enum Link {
    Ws(Box<WebSocketStream<TcpStream>>),
    Quic(Box<QuicLink>),
}

struct QuicLink {
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    /// Control-stream bytes not yet forming a whole frame.
    buf: Vec<u8>,
}

/// Bytes of a WebSocket frame header for a payload of `len` (masked adds 4).
fn ws_header(len: usize, masked: bool) -> usize {
    let base = match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    base + if masked { 4 } else { 0 }
}

fn closed(what: impl std::fmt::Display) -> BenchError {
    BenchError::Closed(what.to_string())
}

impl Conn {
    /// Sends a message on the reliable channel; returns the bytes it took.
    pub async fn send(
        &mut self,
        message: &ClientMessage,
        cid: Option<u64>,
    ) -> Result<usize, BenchError> {
        match &mut self.link {
            Link::Ws(ws) => {
                let text = encode_client_text(message, cid.map(serde_json::Value::from).as_ref());
                let wire = text.len() + ws_header(text.len(), true);
                ws.send(Message::Text(text.into())).await.map_err(closed)?;
                Ok(wire)
            }
            Link::Quic(q) => {
                let bytes = Frame::from_client(message, cid).encode();
                q.send.write_all(&bytes).await.map_err(closed)?;
                Ok(bytes.len())
            }
        }
    }

    /// Reads the next message.
    pub async fn recv(&mut self) -> Result<Incoming, BenchError> {
        match &mut self.link {
            Link::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let wire = text.len() + ws_header(text.len(), false);
                        let (message, cid) = decode_server_text(text.as_str()).map_err(|e| {
                            BenchError::Unexpected {
                                request: "a server frame",
                                got: e.to_string(),
                            }
                        })?;
                        let cid = cid.and_then(|c| c.as_u64());
                        return Ok(Incoming::Message { cid, message, wire });
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(closed(frame.map_or_else(
                            || "close without a reason".to_owned(),
                            |f| format!("{} {}", u16::from(f.code), f.reason),
                        )));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(closed(e)),
                    None => return Err(closed("end of stream")),
                }
            },
            Link::Quic(q) => q.recv().await,
        }
    }

    /// Sends a request and reads until its answer (other messages are skipped).
    pub async fn request(
        &mut self,
        message: &ClientMessage,
        cid: u64,
        wait: Duration,
    ) -> Result<ServerMessage, BenchError> {
        self.send(message, Some(cid)).await?;
        tokio::time::timeout(wait, async {
            loop {
                if let Incoming::Message {
                    cid: Some(c),
                    message,
                    ..
                } = self.recv().await?
                    && c == cid
                {
                    return Ok(message);
                }
            }
        })
        .await
        .map_err(|_| BenchError::Timeout("a reply"))?
    }

    /// Closes with a normal close.
    pub async fn close(mut self) {
        match &mut self.link {
            Link::Ws(ws) => {
                let _ = SinkExt::close(ws.as_mut()).await;
            }
            Link::Quic(q) => {
                let _ = q.send.finish();
                q.conn.close(1000u32.into(), b"client_closed");
            }
        }
    }
}

impl QuicLink {
    fn frame(frame: Frame, wire: usize) -> Result<Incoming, BenchError> {
        if frame.kind == KIND_WORLD_TICK_COMPACT {
            return Ok(Incoming::Compact {
                payload: frame.payload,
                wire,
            });
        }
        let message = frame.to_server().map_err(|e| BenchError::Unexpected {
            request: "a server frame",
            got: e.to_string(),
        })?;
        Ok(Incoming::Message {
            cid: frame.cid,
            message,
            wire,
        })
    }

    async fn recv(&mut self) -> Result<Incoming, BenchError> {
        loop {
            match Frame::decode(&self.buf, MAX_SERVER_FRAME) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Self::frame(frame, used);
                }
                Ok(None) => {}
                Err(e) => return Err(closed(format!("unreadable stream: {e}"))),
            }
            tokio::select! {
                chunk = self.recv.read_chunk(64 * 1024, true) => match chunk {
                    Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
                    Ok(None) => return Err(closed("control stream finished")),
                    Err(e) => return Err(closed(e)),
                },
                datagram = self.conn.read_datagram() => {
                    let bytes = datagram.map_err(closed)?;
                    let frame = Frame::decode_datagram(&bytes, MAX_SERVER_FRAME)
                        .map_err(|e| closed(format!("unreadable datagram: {e}")))?;
                    return Self::frame(frame, bytes.len());
                }
            }
        }
    }
}
