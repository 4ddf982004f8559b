//! The WebSocket gateway at `/ws` (`websocket.md` §1): admission at upgrade (per-IP connect
//! limit, then the Origin allowlist), then one task per connection that moves frames between
//! the socket and its [`Session`], and owns the connection's timers: the idle-auth deadline,
//! the silence timeout, and the close signal.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tracing::Instrument;

use asobi_core::protocol::Reason;

use crate::session::{CloseReason, Session, Transport, session_span};
use crate::state::AppState;

/// Frames over this size are refused by the WebSocket layer itself (close 1009). Frames between
/// [`asobi_core::protocol::MAX_TEXT_FRAME`] and this get a `payload_too_large` error frame and
/// the socket stays open.
const HARD_FRAME_LIMIT: usize = 1 << 20;

/// Bytes tungstenite reads at a time. Its default (128 KiB) is zeroed on every poll of the
/// socket's read side — which this gateway's loop does after every frame it writes — and
/// was the largest cost of a server pushing state at 20 Hz (a fifth of its CPU time in
/// `memset`); frames larger than this still arrive, over several reads.
const READ_BUFFER: usize = 4096;

/// `GET /ws`.
pub async fn upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Behind a trusted load balancer, the address it says the client has.
    let config = app.config();
    let client = crate::forwarded::client_ip(
        peer.ip(),
        &headers,
        &config.trusted_proxies,
        config.forwarded_header,
    );
    let peer = SocketAddr::new(client, peer.port());
    let refusal = super::admission(&app, peer.ip(), || origin_allowed(&app, &headers));
    ws.max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |mut socket| async move {
            match refusal {
                Some(reason) => {
                    let _ = socket.send(close_message(&reason)).await;
                }
                None => run(socket, app, peer).await,
            }
        })
}

fn origin_allowed(app: &AppState, headers: &HeaderMap) -> bool {
    let allowed = &app.config().ws_allowed_origins;
    match headers.get(axum::http::header::ORIGIN).map(|o| o.to_str()) {
        _ if allowed.is_empty() => true,
        None => true,
        Some(Ok(origin)) => allowed.iter().any(|a| a == origin),
        Some(Err(_)) => false,
    }
}

fn close_message(reason: &CloseReason) -> Message {
    Message::Close(Some(CloseFrame {
        code: reason.code,
        reason: Utf8Bytes::from_static(reason.reason),
    }))
}

async fn run(mut socket: WebSocket, app: AppState, peer: SocketAddr) {
    let (handle, mut inbox) = app.sessions().open(
        app.config().ws_outbound_queue,
        crate::ratelimit::client_key(peer.ip()),
    );
    let id = handle.id();
    let span = session_span(id, "ws", peer.ip());
    let mut session = Session::new(app.clone(), handle, Transport::WebSocket, span.clone());
    let config = app.config();
    let auth_deadline = tokio::time::sleep(Duration::from_millis(config.ws_idle_auth_timeout_ms));
    let idle_timeout = Duration::from_millis(config.ws_idle_timeout_ms);
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(auth_deadline, idle);
    async {
        tracing::debug!("connected");
        let closed_by = loop {
            tokio::select! {
                // Reliable frames before state, so `match.matched` precedes the first state.
                biased;
                Some(frame) = inbox.frames.recv() => {
                    if frame.is_repeat() {
                        continue;
                    }
                    if socket.send(Message::Text(frame.json().into())).await.is_err() {
                        break "write_failed";
                    }
                    frame.written(frame.json().len());
                }
                inbound = socket.recv() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_timeout);
                    match inbound {
                        Some(Ok(Message::Text(text))) => session.on_text(text.as_str()).await,
                        Some(Ok(Message::Binary(_))) => session.on_unusable(Reason::BinaryUplinkUnsupported),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => break "client",
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "socket error");
                            break "error";
                        }
                    }
                }
                frame = inbox.state.take() => {
                    if socket.send(Message::Text(frame.json().into())).await.is_err() {
                        break "write_failed";
                    }
                    frame.written(frame.json().len());
                }
                changed = inbox.close.changed() => {
                    let reason = inbox.close.borrow().clone();
                    if let (Ok(()), Some(reason)) = (changed, reason) {
                        let _ = socket.send(close_message(&reason)).await;
                        break reason.reason;
                    }
                }
                () = &mut auth_deadline, if !session.is_authenticated() => {
                    let _ = socket.send(close_message(&CloseReason { code: 1008, reason: "idle_auth_timeout" })).await;
                    break "idle_auth_timeout";
                }
                () = &mut idle => {
                    let _ = socket.send(close_message(&CloseReason { code: 1000, reason: "idle_timeout" })).await;
                    break "idle_timeout";
                }
            }
        };
        tracing::debug!(closed_by, "disconnected");
    }
    .instrument(span)
    .await;
    super::disconnected(&app, id);
}
