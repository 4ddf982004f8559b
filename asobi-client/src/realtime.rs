//! The realtime session: one task that owns the connection, correlates requests with their
//! replies, keeps the [`WorldView`] current, asks for resyncs, sends heartbeats, and
//! reconnects with backoff when the connection drops, re-authenticating (refreshing the
//! token when it expired) so the server resumes the player: a world re-binds the player's
//! entity inside its grace period and sends keyframes again.
//!
//! Callers talk to the task through [`Realtime`] (requests, fire-and-forget sends) and read
//! everything the server pushes from [`Events`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use asobi_core::protocol::{ClientMessage, ServerMessage};
use tokio::sync::{mpsc, oneshot};

use crate::error::ClientError;
use crate::rest::Rest;
use crate::transport::{self, Faults, Link, LinkEvent, TransportKind, pin::Fingerprint};
use crate::world::WorldView;

/// Reconnect backoff.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Give up after this many failed attempts in a row (`None`: never).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl Backoff {
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self.initial.saturating_mul(1 << attempt.min(16));
        exp.min(self.max)
    }
}

/// How the realtime session connects.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// The transport.
    pub transport: TransportKind,
    /// Pinned QUIC certificate fingerprint.
    pub pin: Option<Fingerprint>,
    /// Certificates trusted for `wss://` besides the web PKI (DER).
    pub tls_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Reconnect policy.
    pub backoff: Backoff,
    /// How long a request waits for its reply.
    pub request_timeout: Duration,
    /// Heartbeat period (keeps WebSocket sessions inside the server's idle timeout).
    pub heartbeat: Duration,
    /// Test knobs.
    pub faults: Faults,
}

/// What the server pushed, and what happened to the connection.
#[derive(Debug, Clone)]
pub enum Event {
    /// The session is authenticated; `resumed` after a reconnect.
    Connected {
        /// The player.
        player_id: String,
        /// Whether this is a reconnect.
        resumed: bool,
    },
    /// The connection dropped.
    Disconnected {
        /// The server's close code, when it gave one.
        code: Option<u16>,
        /// The close reason.
        reason: String,
        /// Whether the client is reconnecting.
        reconnecting: bool,
    },
    /// A server push (state, events, matchmaking results, errors not tied to a request).
    Message(ServerMessage),
}

/// The event stream.
#[derive(Debug)]
pub struct Events(mpsc::UnboundedReceiver<Event>);

impl Events {
    /// The next event; `None` once the session has ended for good.
    pub async fn next(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// An event if one is ready (for game loops that poll).
    pub fn try_next(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

type Reply = oneshot::Sender<Result<ServerMessage, ClientError>>;

enum Command {
    Request {
        message: ClientMessage,
        reply: Reply,
    },
    Send {
        message: ClientMessage,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// The handle to a realtime session. Cloning shares the session.
#[derive(Clone)]
pub struct Realtime {
    cmds: mpsc::UnboundedSender<Command>,
    world: Arc<Mutex<WorldView>>,
}

impl Realtime {
    /// Connects and authenticates. The first connection's failure is returned; later drops
    /// are retried in the background and reported as events.
    pub async fn connect(
        config: RealtimeConfig,
        rest: Rest,
    ) -> Result<(Realtime, Events), ClientError> {
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let world = Arc::new(Mutex::new(WorldView::default()));
        let (first_tx, first_rx) = oneshot::channel();
        let driver = Driver {
            config,
            rest,
            cmds: cmd_rx,
            events,
            world: world.clone(),
            pending: HashMap::new(),
            next_cid: 1,
        };
        tokio::spawn(driver.run(first_tx));
        match first_rx.await {
            Ok(Ok(())) => Ok((Realtime { cmds, world }, Events(event_rx))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Sends a request and waits for its reply. An `error` reply is [`ClientError::Server`].
    pub async fn request(&self, message: ClientMessage) -> Result<ServerMessage, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.cmds
            .send(Command::Request { message, reply })
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Sends a message that has no reply (inputs).
    pub fn send(&self, message: ClientMessage) -> Result<(), ClientError> {
        self.cmds
            .send(Command::Send { message })
            .map_err(|_| ClientError::Closed)
    }

    /// The world view (zone tables, terrain, last ack).
    pub fn world(&self) -> MutexGuard<'_, WorldView> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the session (no reconnect).
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.cmds.send(Command::Close { done }).is_ok() {
            let _ = rx.await;
        }
    }
}

/// How a connection ended.
enum Ended {
    ByClient,
    Lost { code: Option<u16>, reason: String },
}

struct Driver {
    config: RealtimeConfig,
    rest: Rest,
    cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    world: Arc<Mutex<WorldView>>,
    pending: HashMap<u64, (Reply, Instant)>,
    next_cid: u64,
}

/// Closes after which reconnecting is pointless.
fn terminal(reason: &str) -> bool {
    matches!(reason, "session_revoked" | "client_closed")
}

impl Driver {
    fn world(&self) -> MutexGuard<'_, WorldView> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    async fn run(mut self, first: oneshot::Sender<Result<(), ClientError>>) {
        let mut first = Some(first);
        let mut attempt = 0u32;
        loop {
            match self.open().await {
                Ok((link, rx, player_id)) => {
                    attempt = 0;
                    if let Some(first) = first.take() {
                        let _ = first.send(Ok(()));
                        self.emit(Event::Connected {
                            player_id,
                            resumed: false,
                        });
                    } else {
                        self.emit(Event::Connected {
                            player_id,
                            resumed: true,
                        });
                    }
                    let ended = self.pump(link, rx).await;
                    for (_, (reply, _)) in self.pending.drain() {
                        let _ = reply.send(Err(ClientError::Disconnected));
                    }
                    self.world().connection_lost();
                    match ended {
                        Ended::ByClient => return,
                        Ended::Lost { code, reason } => {
                            let reconnecting = !terminal(&reason);
                            tracing::debug!(?code, %reason, reconnecting, "realtime connection lost");
                            self.emit(Event::Disconnected {
                                code,
                                reason,
                                reconnecting,
                            });
                            if !reconnecting {
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    if let Some(first) = first.take() {
                        let _ = first.send(Err(e));
                        return;
                    }
                    attempt += 1;
                    let give_up = matches!(e, ClientError::Server { .. })
                        || self
                            .config
                            .backoff
                            .max_attempts
                            .is_some_and(|m| attempt >= m);
                    if give_up {
                        self.emit(Event::Disconnected {
                            code: None,
                            reason: e.to_string(),
                            reconnecting: false,
                        });
                        return;
                    }
                }
            }
            if !self.wait(self.config.backoff.delay(attempt)).await {
                return;
            }
        }
    }

    /// Sleeps before a reconnect, answering commands meanwhile; `false` when closed.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                cmd = self.cmds.recv() => match cmd {
                    None => return false,
                    Some(Command::Close { done }) => {
                        let _ = done.send(());
                        return false;
                    }
                    Some(Command::Request { reply, .. }) => {
                        let _ = reply.send(Err(ClientError::Disconnected));
                    }
                    Some(Command::Send { .. }) => {}
                },
            }
        }
    }

    /// Connects and authenticates; refreshes the access token once if it was refused.
    async fn open(&mut self) -> Result<(Link, mpsc::Receiver<LinkEvent>, String), ClientError> {
        let mut refreshed = false;
        loop {
            let token = self
                .rest
                .tokens()
                .get()
                .ok_or(ClientError::NotSignedIn)?
                .access_token;
            let (mut link, mut rx) = transport::connect(
                &self.config.transport,
                self.config.pin.as_ref(),
                &self.config.tls_roots,
                self.config.faults,
            )
            .await?;
            let connect = ClientMessage::SessionConnect {
                token: Some(token),
                wire: None,
            };
            link.send(&connect, Some(0)).await?;
            let answer = tokio::time::timeout(self.config.request_timeout, async {
                while let Some(ev) = rx.recv().await {
                    match ev {
                        LinkEvent::Message {
                            cid: Some(0),
                            message,
                        } => return Ok(message),
                        LinkEvent::Message { .. } | LinkEvent::CompactTick(_) => {}
                        LinkEvent::Closed { reason, .. } => {
                            return Err(ClientError::Connect(reason));
                        }
                    }
                }
                Err(ClientError::Disconnected)
            })
            .await
            .map_err(|_| ClientError::Timeout)??;
            match answer {
                ServerMessage::SessionConnected(c) => return Ok((link, rx, c.player_id)),
                ServerMessage::Error(e) if e.reason == "invalid_token" && !refreshed => {
                    refreshed = true;
                    link.close().await;
                    self.rest.refresh().await?;
                }
                ServerMessage::Error(e) => {
                    link.close().await;
                    return Err(ClientError::from_payload(&e));
                }
                other => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected answer to session.connect: {}",
                        other.type_name()
                    )));
                }
            }
        }
    }

    async fn pump(&mut self, mut link: Link, mut rx: mpsc::Receiver<LinkEvent>) -> Ended {
        let mut housekeeping = tokio::time::interval(Duration::from_millis(50));
        let mut last_heartbeat = Instant::now();
        loop {
            tokio::select! {
                cmd = self.cmds.recv() => match cmd {
                    None => {
                        link.close().await;
                        return Ended::ByClient;
                    }
                    Some(Command::Close { done }) => {
                        link.close().await;
                        let _ = done.send(());
                        return Ended::ByClient;
                    }
                    Some(Command::Request { message, reply }) => {
                        let cid = self.next_cid;
                        self.next_cid += 1;
                        if link.send(&message, Some(cid)).await.is_err() {
                            let _ = reply.send(Err(ClientError::Disconnected));
                        } else {
                            self.pending.insert(cid, (reply, Instant::now()));
                        }
                    }
                    Some(Command::Send { message }) => {
                        let _ = link.send(&message, None).await;
                    }
                },
                ev = rx.recv() => match ev {
                    Some(LinkEvent::Message { cid, message }) => {
                        self.observe(&message);
                        match cid.and_then(|c| self.pending.remove(&c)) {
                            Some((reply, _)) => {
                                let result = match message {
                                    ServerMessage::Error(e) => Err(ClientError::from_payload(&e)),
                                    other => Ok(other),
                                };
                                let _ = reply.send(result);
                            }
                            None => self.emit(Event::Message(message)),
                        }
                    }
                    Some(LinkEvent::CompactTick(bytes)) => {
                        let applied = self.world().apply_compact(&bytes, Instant::now());
                        match applied {
                            Ok((_, ticks)) => {
                                for tick in ticks {
                                    self.emit(Event::Message(ServerMessage::WorldTick(tick)));
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "unreadable compact world.tick"),
                        }
                    }
                    Some(LinkEvent::Closed { code, reason }) => return Ended::Lost { code, reason },
                    None => return Ended::Lost { code: None, reason: "connection lost".into() },
                },
                _ = housekeeping.tick() => {
                    let now = Instant::now();
                    let due = self.world().resyncs_due(now);
                    for zone in due {
                        let _ = link.send(&ClientMessage::WorldResync { zone: Some(zone) }, None).await;
                    }
                    if now.duration_since(last_heartbeat) >= self.config.heartbeat {
                        last_heartbeat = now;
                        let _ = link.send(&ClientMessage::SessionHeartbeat, None).await;
                    }
                    let timeout = self.config.request_timeout;
                    let expired: Vec<u64> = self
                        .pending
                        .iter()
                        .filter(|(_, (_, at))| now.duration_since(*at) >= timeout)
                        .map(|(cid, _)| *cid)
                        .collect();
                    for cid in expired {
                        if let Some((reply, _)) = self.pending.remove(&cid) {
                            let _ = reply.send(Err(ClientError::Timeout));
                        }
                    }
                }
            }
        }
    }

    /// Keeps the world view current. Zones left waiting for a keyframe are asked for one by
    /// the housekeeping tick, once a reordered delta has had its chance to arrive.
    fn observe(&self, message: &ServerMessage) {
        let mut world = self.world();
        match message {
            ServerMessage::WorldTick(t) => {
                world.apply_tick(t, Instant::now());
            }
            ServerMessage::WorldTerrain(t) => world.apply_terrain(t),
            ServerMessage::WorldAck(a) => world.apply_ack(a),
            ServerMessage::WorldJoined(w) => world.joined(&w.world_id),
            ServerMessage::WorldLeft(_) | ServerMessage::WorldFinished(_) => world.left(),
            _ => {}
        }
    }
}
