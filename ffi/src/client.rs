//! One client behind a handle: its own I/O runtime (one worker thread), the REST session,
//! the realtime session, the queue of finished requests and server pushes that the game
//! drains with `asobi_client_poll`, and the strings the last poll handed out.
//!
//! It is public so other engine layers written in Rust (the Godot extension) poll the same
//! way. Nothing here calls back into C: work runs on the client's runtime and its outcome waits in
//! the queue until the engine's thread polls for it.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use asobi_client::{ClientConfig, ClientError, Event, Realtime, Rest, Tokens};
use asobi_core::protocol::{ClientMessage, ServerMessage, envelope};
use serde_json::{Value, json};
use tokio::runtime::{Handle, Runtime};

use crate::status::FfiError;

/// Server pushes kept while the game does not poll; beyond this, new state pushes
/// (`match.state`, `world.tick`) are dropped — newer state follows — while replies and
/// connection events are always kept.
const MAX_QUEUED: usize = 16_384;

/// How long freeing a client waits for the realtime session to close and the runtime to stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// Something for the game to poll.
#[derive(Debug)]
pub enum Outcome {
    /// A request finished.
    Reply {
        /// The request id.
        id: u64,
        /// The reply's type (`auth.login`, `match.joined`…).
        ty: String,
        /// The reply's JSON.
        payload: String,
    },
    /// A request failed.
    Failure {
        /// The request id.
        id: u64,
        /// Why.
        error: ClientError,
    },
    /// A server push.
    Push {
        /// The message type.
        ty: String,
        /// The payload's JSON.
        payload: String,
        /// The state itself when this is `match.state`, for the typed accessors.
        state: Option<Value>,
    },
    /// The realtime connection came up or went down.
    Connection(Event),
    /// The realtime session ended for good.
    Ended,
}

impl Outcome {
    fn is_state(&self) -> bool {
        matches!(self, Outcome::Push { ty, .. } if ty == "match.state" || ty == "world.tick")
    }
}

/// The queue between the client's runtime and the game's thread.
#[derive(Debug, Default)]
pub(crate) struct Queue(Mutex<VecDeque<Outcome>>);

impl Queue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Outcome>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, outcome: Outcome) {
        let mut q = self.lock();
        if q.len() >= MAX_QUEUED && outcome.is_state() {
            return;
        }
        q.push_back(outcome);
    }

    pub(crate) fn pop(&self) -> Option<Outcome> {
        self.lock().pop_front()
    }
}

/// An open realtime session; `id` tells a session's own end from a later session's.
struct Session {
    id: u64,
    realtime: Realtime,
}

/// A client.
pub struct ClientInner {
    runtime: Mutex<Option<Runtime>>,
    io: Handle,
    config: Mutex<ClientConfig>,
    rest: Rest,
    realtime: Arc<Mutex<Option<Session>>>,
    queue: Arc<Queue>,
    next_request: AtomicU64,
    polled: Mutex<crate::event::Polled>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientInner {
    /// A client for the server whose REST base URL is `http_url`; realtime over WebSocket at
    /// `<http_url>/ws` until [`ClientInner::use_quic`].
    pub fn new(http_url: &str) -> Result<Self, FfiError> {
        let base = http_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(FfiError::InvalidArgument(format!(
                "server URL must start with http:// or https://: {http_url}"
            )));
        }
        let mut config = ClientConfig::local("localhost", 0, 0);
        config.http_url = base.to_owned();
        let config = config.over_websocket();
        let rest = Rest::new(base, Tokens::default()).map_err(client_config_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("asobi-io")
            .enable_all()
            .build()
            .map_err(|e| FfiError::Runtime(format!("cannot start the I/O runtime: {e}")))?;
        Ok(ClientInner {
            io: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            config: Mutex::new(config),
            rest,
            realtime: Arc::default(),
            queue: Arc::default(),
            next_request: AtomicU64::new(1),
            polled: Mutex::default(),
        })
    }

    /// Realtime over QUIC at `addr` (`host:port`), pinning the certificate when `pin` is given.
    pub fn use_quic(&self, addr: &str, pin: Option<&str>) -> Result<(), FfiError> {
        self.while_disconnected()?;
        let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
        let server_name = if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            "localhost".to_owned()
        } else {
            host.to_owned()
        };
        let mut config = lock(&self.config);
        let mut next = config.clone();
        next.transport = asobi_client::TransportKind::Quic {
            addr: addr.to_owned(),
            server_name,
        };
        next.pin = None;
        if let Some(pin) = pin {
            next = next.pinned(pin).map_err(client_config_error)?;
        }
        *config = next;
        Ok(())
    }

    /// Realtime over WebSocket at `<http_url>/ws` (the default).
    pub fn use_websocket(&self) -> Result<(), FfiError> {
        self.while_disconnected()?;
        let mut config = lock(&self.config);
        *config = config.clone().over_websocket();
        Ok(())
    }

    fn while_disconnected(&self) -> Result<(), FfiError> {
        if lock(&self.realtime).is_some() {
            Err(FfiError::InvalidArgument(
                "the transport can only change while the realtime session is closed".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// The REST session.
    pub fn rest(&self) -> Rest {
        self.rest.clone()
    }

    /// The open realtime session.
    pub fn realtime(&self) -> Result<Realtime, FfiError> {
        lock(&self.realtime)
            .as_ref()
            .map(|s| s.realtime.clone())
            .ok_or(FfiError::NotConnected)
    }

    /// Starts `work` on the client's runtime; its outcome is queued under the returned id.
    pub fn spawn<F>(&self, work: F) -> u64
    where
        F: Future<Output = Result<(String, String), ClientError>> + Send + 'static,
    {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let queue = self.queue.clone();
        self.io.spawn(async move {
            queue.push(match work.await {
                Ok((ty, payload)) => Outcome::Reply { id, ty, payload },
                Err(error) => Outcome::Failure { id, error },
            });
        });
        id
    }

    /// Registers a player and signs in (`auth.register`).
    pub fn register(&self, username: &str, password: &str) -> u64 {
        let (u, p, rest) = (username.to_owned(), password.to_owned(), self.rest());
        self.spawn(async move {
            let s = rest.register(&u, &p).await?;
            Ok(("auth.register".into(), session_json(&s)))
        })
    }

    /// Signs in (`auth.login`).
    pub fn login(&self, username: &str, password: &str) -> u64 {
        let (u, p, rest) = (username.to_owned(), password.to_owned(), self.rest());
        self.spawn(async move {
            let s = rest.login(&u, &p).await?;
            Ok(("auth.login".into(), session_json(&s)))
        })
    }

    /// Signs in as a device's guest (`auth.guest`).
    pub fn guest(&self, device_id: &str, device_secret: &str) -> u64 {
        let (d, k, rest) = (device_id.to_owned(), device_secret.to_owned(), self.rest());
        self.spawn(async move {
            let s = rest.guest(&d, &k).await?;
            Ok(("auth.guest".into(), session_json(&s)))
        })
    }

    /// Signs out (`auth.logout`).
    pub fn logout(&self) -> u64 {
        let rest = self.rest();
        self.spawn(async move {
            rest.logout().await?;
            Ok(("auth.logout".into(), "null".into()))
        })
    }

    /// Any REST call below `/api/v1` (reply type `rest`).
    pub fn rest_call(&self, method: &str, path: &str, body: Option<Value>) -> u64 {
        let (m, p, rest) = (method.to_owned(), path.to_owned(), self.rest());
        self.spawn(async move {
            let answer = rest.send(&m, &p, body).await?;
            Ok(("rest".into(), answer.to_string()))
        })
    }

    /// Opens the realtime session as the signed-in player. Its pushes are queued from then on.
    pub fn connect(&self) -> Result<u64, FfiError> {
        if lock(&self.realtime).is_some() {
            return Err(FfiError::InvalidArgument(
                "the realtime session is already open".into(),
            ));
        }
        let config = lock(&self.config).realtime();
        let rest = self.rest.clone();
        let slot = self.realtime.clone();
        let queue = self.queue.clone();
        let session_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        Ok(self.spawn(async move {
            let (realtime, mut events) = Realtime::connect(config, rest.clone()).await?;
            *lock(&slot) = Some(Session {
                id: session_id,
                realtime,
            });
            tokio::spawn(async move {
                while let Some(event) = events.next().await {
                    queue.push(match event {
                        Event::Message(message) => push(message),
                        other => Outcome::Connection(other),
                    });
                }
                let mut slot = lock(&slot);
                if slot.as_ref().is_some_and(|s| s.id == session_id) {
                    *slot = None;
                }
                drop(slot);
                queue.push(Outcome::Ended);
            });
            let player = rest.tokens().get().map(|s| s.player_id);
            Ok((
                "session.connected".into(),
                json!({ "player_id": player }).to_string(),
            ))
        }))
    }

    /// Sends a realtime request; its reply is queued under the returned id.
    pub fn request(&self, message: ClientMessage) -> Result<u64, FfiError> {
        let realtime = self.realtime()?;
        Ok(self.spawn(async move {
            let reply = realtime.request(message).await?;
            Ok(payload_of(&reply))
        }))
    }

    /// Queues for a match of `mode` (`matchmaker.add`); `properties` defaults to `{}`.
    pub fn matchmaker_add(&self, mode: &str, properties: Option<Value>) -> Result<u64, FfiError> {
        let payload = json!({
            "mode": mode,
            "properties": properties.unwrap_or_else(|| Value::Object(Default::default())),
        });
        self.request(message("matchmaker.add", Some(payload))?)
    }

    /// Sends a realtime message that has no reply (inputs).
    pub fn send(&self, message: ClientMessage) -> Result<(), FfiError> {
        self.realtime()?
            .send(message)
            .map_err(|_| FfiError::NotConnected)
    }

    /// Closes the realtime session (no reconnect); completion is queued under the returned id.
    pub fn close_realtime(&self) -> Result<u64, FfiError> {
        let session = lock(&self.realtime).take().ok_or(FfiError::NotConnected)?;
        Ok(self.spawn(async move {
            let realtime = session.realtime;
            realtime.close().await;
            Ok(("session.closed".into(), "null".into()))
        }))
    }

    /// The strings of the last poll and the last `match.state` polled.
    pub(crate) fn polled(&self) -> MutexGuard<'_, crate::event::Polled> {
        lock(&self.polled)
    }

    /// The next outcome, if any.
    pub fn next_outcome(&self) -> Option<Outcome> {
        self.queue.pop()
    }

    /// Closes the realtime session and stops the runtime (bounded waits). Called from inside
    /// some tokio runtime (a Rust game freeing its client from async code), where blocking
    /// would panic, the same work runs on a thread of its own and this returns at once.
    pub fn shutdown(&self) {
        let parts = (lock(&self.realtime).take(), lock(&self.runtime).take());
        let io = self.io.clone();
        let stop = move |(session, runtime): (Option<Session>, Option<Runtime>)| {
            if let Some(session) = session {
                let close = session.realtime.close();
                let _ = io.block_on(async { tokio::time::timeout(SHUTDOWN_WAIT, close).await });
            }
            if let Some(runtime) = runtime {
                runtime.shutdown_timeout(SHUTDOWN_WAIT);
            }
        };
        if Handle::try_current().is_err() {
            return stop(parts);
        }
        let slot = Arc::new(Mutex::new(Some(parts)));
        let taken = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("asobi-free".into())
            .spawn(move || {
                if let Some(parts) = lock(&taken).take() {
                    stop(parts);
                }
            });
        if spawned.is_err() {
            // No thread to wait on: stop the runtime without waiting (allowed in async code).
            if let Some((_, Some(runtime))) = lock(&slot).take() {
                runtime.shutdown_background();
            }
        }
    }
}

/// A realtime message from its wire type and JSON payload, checked as the server would.
pub fn message(ty: &str, payload: Option<Value>) -> Result<ClientMessage, FfiError> {
    let mut frame = serde_json::Map::new();
    frame.insert("type".into(), Value::String(ty.to_owned()));
    if let Some(payload) = payload {
        frame.insert("payload".into(), payload);
    }
    envelope::decode_text(&Value::Object(frame).to_string())
        .map(|inbound| inbound.message)
        .map_err(|e| match e.reason.as_str() {
            "unknown_type" => FfiError::InvalidArgument(format!("unknown message type `{ty}`")),
            reason => FfiError::InvalidJson {
                arg: "payload",
                why: format!("{reason} for `{ty}`"),
            },
        })
}

/// `(type, payload JSON)` of a server message.
fn payload_of(message: &ServerMessage) -> (String, String) {
    let mut out = Vec::with_capacity(128);
    message.write_payload(&mut out);
    (
        message.type_name().into_owned(),
        String::from_utf8(out).unwrap_or_else(|_| "null".into()),
    )
}

fn push(message: ServerMessage) -> Outcome {
    let (ty, payload) = payload_of(&message);
    let state = match message {
        ServerMessage::MatchState(object) => Some(Value::Object(object)),
        _ => None,
    };
    Outcome::Push { ty, payload, state }
}

/// The reply payload of a sign-in: the player and their tokens.
fn session_json(s: &asobi_client::AuthSession) -> String {
    json!({
        "player_id": s.player_id,
        "username": s.username,
        "access_token": s.access_token,
        "refresh_token": s.refresh_token,
    })
    .to_string()
}

fn client_config_error(e: ClientError) -> FfiError {
    FfiError::InvalidArgument(e.to_string())
}

/// The stable code reported for a failed request.
pub fn failure_code(error: &ClientError) -> &str {
    match error {
        ClientError::Server { code, .. } => code,
        ClientError::Http(_) => "client.http",
        ClientError::Connect(_) => "client.connect",
        ClientError::Disconnected => "client.disconnected",
        ClientError::Closed => "client.closed",
        ClientError::Timeout => "client.timeout",
        ClientError::NotSignedIn => "client.not_signed_in",
        ClientError::Protocol(_) => "client.protocol",
        ClientError::Config(_) => "client.config",
    }
}
