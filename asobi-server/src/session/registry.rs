//! Every open realtime session on this node, indexed by id and by player.
//!
//! A session is addressed through its [`SessionHandle`]: a bounded queue of reliable frames, a
//! one-frame state slot, and a close signal that bypasses both. Pushing to a player reaches
//! every socket of that player. State frames (`match.state`) coalesce in the slot: a client that
//! reads slowly gets the newest state, never a backlog. A full reliable queue means the client
//! stopped reading: the session is closed with a reason rather than letting the queue grow or
//! silently dropping reliable messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use asobi_core::protocol::binary::Frame;
use asobi_core::protocol::envelope::encode_text;
use asobi_core::protocol::{Cid, ServerMessage};
use tokio::sync::{mpsc, watch};

/// A WebSocket close code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// RFC 6455 close code.
    pub code: u16,
    /// Short reason text.
    pub reason: &'static str,
}

impl CloseReason {
    /// 1008: a revoked session (logout, erase).
    pub const REVOKED: CloseReason = CloseReason {
        code: 1008,
        reason: "session_revoked",
    };
    /// 1008: the player was banned.
    pub const BANNED: CloseReason = CloseReason {
        code: 1008,
        reason: "banned",
    };
    /// 1013: the client stopped reading and its queue overflowed.
    pub const SLOW_CONSUMER: CloseReason = CloseReason {
        code: 1013,
        reason: "slow_consumer",
    };
    /// 1001: the server is shutting down.
    pub const SHUTDOWN: CloseReason = CloseReason {
        code: 1001,
        reason: "server_shutdown",
    };
}

/// A server message encoded at most once per wire, however many sessions it goes to.
#[derive(Debug)]
pub struct OutFrame {
    message: ServerMessage,
    cid: Option<Cid>,
    json: OnceLock<String>,
    binary: OnceLock<bytes::Bytes>,
    /// Where the writers add the bytes they wrote of this frame (per-feature traffic figures
    /// counted in each session's own wire form, without encoding a form nobody reads).
    tally: Option<Arc<AtomicU64>>,
    /// A repeat of a delta that may have been lost as a datagram: only the native path sends
    /// it, on its reliable stream (a WebSocket client already got the original).
    repeat: bool,
}

impl OutFrame {
    /// Wraps a message (with the request's `cid` for replies).
    pub fn new(message: ServerMessage, cid: Option<Cid>) -> Arc<OutFrame> {
        Arc::new(OutFrame {
            message,
            cid,
            json: OnceLock::new(),
            binary: OnceLock::new(),
            tally: None,
            repeat: false,
        })
    }

    /// Wraps a message whose native-path bytes were already encoded (a compact
    /// `world.tick`, which needs the zone's baseline to encode). `None` leaves the default
    /// binary form. The writers add the bytes they write of it to `tally`.
    pub fn with_native(
        message: ServerMessage,
        native: Option<Vec<u8>>,
        tally: Arc<AtomicU64>,
    ) -> Arc<OutFrame> {
        let binary = OnceLock::new();
        if let Some(bytes) = native {
            let _ = binary.set(bytes::Bytes::from(bytes));
        }
        Arc::new(OutFrame {
            message,
            cid: None,
            json: OnceLock::new(),
            binary,
            tally: Some(tally),
            repeat: false,
        })
    }

    /// The same message and bytes, marked as a reliable repeat for the native path (see
    /// [`OutFrame::is_repeat`]).
    pub fn repeat(&self) -> Arc<OutFrame> {
        Arc::new(OutFrame {
            message: self.message.clone(),
            cid: self.cid.clone(),
            json: OnceLock::new(),
            binary: self.binary.clone(),
            tally: self.tally.clone(),
            repeat: true,
        })
    }

    /// Whether this frame repeats one already sent: WebSocket writers skip it, the QUIC
    /// writer sends it on the control stream, where it cannot be lost. Applying a delta
    /// twice changes nothing (its records carry values, not changes), and a client that has
    /// it already drops it by its `frame_seq`.
    pub fn is_repeat(&self) -> bool {
        self.repeat
    }

    /// Called by a writer with the bytes it wrote of this frame.
    pub fn written(&self, bytes: usize) {
        if let Some(t) = &self.tally {
            t.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// The JSON text, encoded on first use.
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| encode_text(&self.message, self.cid.as_ref()))
    }

    /// The binary frame of the native path, encoded on first use. A `cid` that is not an
    /// integer (only JSON clients send those) is left out.
    pub fn binary(&self) -> &bytes::Bytes {
        self.binary.get_or_init(|| {
            let cid = self.cid.as_ref().and_then(serde_json::Value::as_u64);
            Frame::from_server(&self.message, cid).encode().into()
        })
    }

    /// The message.
    pub fn message(&self) -> &ServerMessage {
        &self.message
    }
}

/// The newest state frame not yet written, and the wake-up for the writer.
#[derive(Debug, Default)]
pub struct StateSlot {
    frame: Mutex<Option<Arc<OutFrame>>>,
    ready: tokio::sync::Notify,
}

impl StateSlot {
    /// Replaces any unwritten state frame with `frame`.
    fn put(&self, frame: Arc<OutFrame>) {
        *self.frame.lock().unwrap_or_else(|p| p.into_inner()) = Some(frame);
        self.ready.notify_one();
    }

    /// Waits for a state frame and takes it.
    pub async fn take(&self) -> Arc<OutFrame> {
        loop {
            if let Some(frame) = self.frame.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return frame;
            }
            self.ready.notified().await;
        }
    }
}

/// The sending side of one session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    id: u64,
    tx: mpsc::Sender<Arc<OutFrame>>,
    state: Arc<StateSlot>,
    close: Arc<watch::Sender<Option<CloseReason>>>,
}

impl SessionHandle {
    /// The session id (unique per node).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues a frame. A full queue closes the session as a slow consumer.
    pub fn send(&self, frame: Arc<OutFrame>) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    session = self.id,
                    "outbound queue full: closing slow consumer"
                );
                self.close(CloseReason::SLOW_CONSUMER);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Offers a state frame; it replaces any state frame the client has not read yet.
    pub fn send_state(&self, frame: Arc<OutFrame>) {
        self.state.put(frame);
    }

    /// Asks the session to close with a reason; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        self.close.send_if_modified(|slot| {
            if slot.is_none() {
                *slot = Some(reason);
                true
            } else {
                false
            }
        });
    }
}

/// Where a join reply goes: the requesting session and the request's cid. A match or world
/// that accepts a join queues its reply (and what must follow it) straight to this session,
/// so nothing it sends afterwards can overtake the reply.
#[derive(Debug, Clone)]
pub struct Responder {
    /// The requesting session.
    pub handle: SessionHandle,
    /// The request's cid.
    pub cid: Option<Cid>,
}

/// What the connection task reads from.
#[derive(Debug)]
pub struct SessionInbox {
    /// Reliable frames to write, in order.
    pub frames: mpsc::Receiver<Arc<OutFrame>>,
    /// The newest state frame.
    pub state: Arc<StateSlot>,
    /// Set when the session must close.
    pub close: watch::Receiver<Option<CloseReason>>,
}

#[derive(Debug)]
struct Entry {
    handle: SessionHandle,
    binding: Option<Binding>,
    /// The client address's rate-limit key ([`crate::ratelimit::client_key`]).
    address: String,
}

#[derive(Debug, Clone)]
struct Binding {
    player_id: String,
    family_id: String,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<u64, Entry>,
    by_player: HashMap<String, Vec<u64>>,
    by_address: HashMap<String, usize>,
}

/// The registry of sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    next_id: AtomicU64,
    inner: Mutex<Inner>,
    empty: tokio::sync::Notify,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new, unauthenticated session from the client address `address` (its
    /// rate-limit key).
    pub fn open(&self, queue: usize, address: String) -> (SessionHandle, SessionInbox) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, frames) = mpsc::channel(queue);
        let (close_tx, close) = watch::channel(None);
        let state = Arc::new(StateSlot::default());
        let handle = SessionHandle {
            id,
            tx,
            state: state.clone(),
            close: Arc::new(close_tx),
        };
        let mut inner = self.lock();
        *inner.by_address.entry(address.clone()).or_default() += 1;
        inner.sessions.insert(
            id,
            Entry {
                handle: handle.clone(),
                binding: None,
                address,
            },
        );
        drop(inner);
        (
            handle,
            SessionInbox {
                frames,
                state,
                close,
            },
        )
    }

    /// Sockets open from a client address.
    pub fn address_count(&self, address: &str) -> usize {
        self.lock().by_address.get(address).copied().unwrap_or(0)
    }

    /// Binds a session to a player (after `session.connect`), replacing an earlier binding;
    /// `false`, and nothing bound, when the player already holds `max` other sockets.
    pub fn bind(&self, id: u64, player_id: &str, family_id: &str, max: usize) -> bool {
        let mut inner = self.lock();
        let others = inner
            .by_player
            .get(player_id)
            .map_or(0, |ids| ids.iter().filter(|s| **s != id).count());
        if others >= max {
            return false;
        }
        Self::unbind_locked(&mut inner, id);
        let Some(entry) = inner.sessions.get_mut(&id) else {
            return false;
        };
        entry.binding = Some(Binding {
            player_id: player_id.to_owned(),
            family_id: family_id.to_owned(),
        });
        inner
            .by_player
            .entry(player_id.to_owned())
            .or_default()
            .push(id);
        true
    }

    fn unbind_locked(inner: &mut Inner, id: u64) {
        let Some(binding) = inner.sessions.get_mut(&id).and_then(|e| e.binding.take()) else {
            return;
        };
        if let Some(ids) = inner.by_player.get_mut(&binding.player_id) {
            ids.retain(|s| *s != id);
            if ids.is_empty() {
                inner.by_player.remove(&binding.player_id);
            }
        }
    }

    /// Forgets a session whose connection ended. Returns the player when this was their last
    /// socket (they are now offline).
    pub fn remove(&self, id: u64) -> Option<String> {
        let mut inner = self.lock();
        let player = inner
            .sessions
            .get(&id)
            .and_then(|e| e.binding.as_ref())
            .map(|b| b.player_id.clone());
        Self::unbind_locked(&mut inner, id);
        if let Some(entry) = inner.sessions.remove(&id)
            && let Some(n) = inner.by_address.get_mut(&entry.address)
        {
            *n -= 1;
            if *n == 0 {
                inner.by_address.remove(&entry.address);
            }
        }
        if inner.sessions.is_empty() {
            self.empty.notify_waiters();
        }
        player.filter(|p| !inner.by_player.contains_key(p))
    }

    /// Sends one frame to every socket of a player. Returns how many accepted it.
    pub fn push_to_player(&self, player_id: &str, frame: &Arc<OutFrame>) -> usize {
        self.handles_of_player(player_id)
            .iter()
            .filter(|h| h.send(frame.clone()))
            .count()
    }

    /// Sends one frame to every socket of each of `players`, looking them all up under one
    /// lock of the registry (a zone's delta goes to dozens of subscribers every tick).
    pub fn push_to_players<'a>(
        &self,
        players: impl IntoIterator<Item = &'a String>,
        frame: &Arc<OutFrame>,
    ) {
        let handles: Vec<SessionHandle> = {
            let inner = self.lock();
            players
                .into_iter()
                .filter_map(|p| inner.by_player.get(p))
                .flatten()
                .filter_map(|id| inner.sessions.get(id))
                .map(|e| e.handle.clone())
                .collect()
        };
        for h in handles {
            h.send(frame.clone());
        }
    }

    /// Offers one state frame to every socket of a player (coalescing).
    pub fn push_state_to_player(&self, player_id: &str, frame: &Arc<OutFrame>) {
        for h in self.handles_of_player(player_id) {
            h.send_state(frame.clone());
        }
    }

    /// The ids of a player's sessions on this node.
    pub fn session_ids_of(&self, player_id: &str) -> Vec<u64> {
        self.handles_of_player(player_id)
            .iter()
            .map(SessionHandle::id)
            .collect()
    }

    /// Whether a player has at least one authenticated socket.
    pub fn is_online(&self, player_id: &str) -> bool {
        self.lock().by_player.contains_key(player_id)
    }

    /// Closes every socket of a player.
    pub fn close_player(&self, player_id: &str, reason: CloseReason) {
        for h in self.handles_of_player(player_id) {
            h.close(reason.clone());
        }
    }

    /// Closes every socket authenticated through a token family.
    pub fn close_family(&self, family_id: &str, reason: CloseReason) {
        for h in self.handles_of(|b| b.family_id == family_id) {
            h.close(reason.clone());
        }
    }

    /// Closes every socket.
    pub fn close_all(&self, reason: CloseReason) {
        let handles: Vec<_> = self
            .lock()
            .sessions
            .values()
            .map(|e| e.handle.clone())
            .collect();
        for h in handles {
            h.close(reason.clone());
        }
    }

    /// The handles of a player's sessions on this node.
    pub fn handles_of_player(&self, player_id: &str) -> Vec<SessionHandle> {
        let inner = self.lock();
        let Some(ids) = inner.by_player.get(player_id) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| inner.sessions.get(id))
            .map(|e| e.handle.clone())
            .collect()
    }

    fn handles_of(&self, pred: impl Fn(&Binding) -> bool) -> Vec<SessionHandle> {
        self.lock()
            .sessions
            .values()
            .filter(|e| e.binding.as_ref().is_some_and(&pred))
            .map(|e| e.handle.clone())
            .collect()
    }

    /// Open sessions.
    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Players with at least one authenticated session.
    pub fn player_count(&self) -> usize {
        self.lock().by_player.len()
    }

    /// Waits until no session is open.
    pub async fn drained(&self) {
        loop {
            let notified = self.empty.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}
