//! The WebSocket transport: JSON text frames (`websocket.md`), the path every Asobi SDK
//! speaks. Integer cids, so replies correlate the same way as on QUIC.

use asobi_core::protocol::ClientMessage;
use asobi_core::protocol::envelope::{decode_server_text, encode_client_text};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::LinkEvent;
use crate::error::ClientError;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The sending half of a WebSocket.
pub struct WsLink {
    sink: SplitSink<Socket, Message>,
}

impl WsLink {
    /// Writes one text frame.
    pub async fn send(
        &mut self,
        message: &ClientMessage,
        cid: Option<u64>,
    ) -> Result<(), ClientError> {
        let cid = cid.map(Value::from);
        let text = encode_client_text(message, cid.as_ref());
        self.sink
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| ClientError::Disconnected)
    }

    /// Closes with 1000.
    pub async fn close(&mut self) {
        let _ = self
            .sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "client_closed".into(),
            })))
            .await;
    }
}

/// Connects (`wss://` through [`super::pin::web_crypto`] with `roots` trusted besides the
/// web PKI) and starts the reader.
pub async fn connect(
    url: &str,
    roots: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<(WsLink, mpsc::Receiver<LinkEvent>), ClientError> {
    let connector = if url.starts_with("wss://") {
        Some(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
            super::pin::web_crypto(roots)?,
        )))
    } else {
        None
    };
    let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector)
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let end = loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => match decode_server_text(text.as_str()) {
                    Ok((message, cid)) => {
                        let cid = cid.as_ref().and_then(Value::as_u64);
                        if tx.send(LinkEvent::Message { cid, message }).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable server frame"),
                },
                Some(Ok(Message::Close(frame))) => {
                    break LinkEvent::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    break LinkEvent::Closed {
                        code: None,
                        reason: e.to_string(),
                    };
                }
                None => {
                    break LinkEvent::Closed {
                        code: None,
                        reason: "connection lost".into(),
                    };
                }
            }
        };
        let _ = tx.send(end).await;
    });
    Ok((WsLink { sink }, rx))
}
