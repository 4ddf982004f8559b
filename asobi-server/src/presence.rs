//! Presence beyond the contract (`asobi.presence.*`, our namespace): a player's accepted
//! friends learn when they come online (first socket), go offline (last socket closed) or
//! change their `presence.update` status — but only connections that asked, with
//! `asobi.presence.subscribe`, which answers with a snapshot. Clients that never ask see the
//! original's behaviour (`presence.updated` to the sender only). Per node: a player's
//! sessions on other nodes are the cluster issue's.

use std::collections::HashMap;
use std::sync::Mutex;

use asobi_core::protocol::ServerMessage;
use asobi_core::protocol::server::{FriendPresence, PresenceSnapshot};
use serde_json::Value;

use crate::session::{OutFrame, SessionHandle};
use crate::state::AppState;

/// Friends a presence change is told to, at most.
const MAX_FRIENDS: i64 = 1000;
/// The largest status kept and pushed, encoded bytes.
pub const MAX_STATUS_BYTES: usize = 256;

/// Statuses and subscribed connections on this node.
#[derive(Default)]
pub struct PresenceHub {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The last `presence.update` status of each online player who sent one.
    statuses: HashMap<String, Value>,
    /// Subscribed connections by player.
    subscribers: HashMap<String, HashMap<u64, SessionHandle>>,
}

impl PresenceHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes one of `player`'s connections.
    pub fn subscribe(&self, player: &str, handle: &SessionHandle) {
        self.lock()
            .subscribers
            .entry(player.to_owned())
            .or_default()
            .insert(handle.id(), handle.clone());
    }

    /// Forgets a closed connection.
    pub fn unsubscribe(&self, player: &str, session: u64) {
        let mut g = self.lock();
        if let Some(s) = g.subscribers.get_mut(player) {
            s.remove(&session);
            if s.is_empty() {
                g.subscribers.remove(player);
            }
        }
    }

    /// Records `player`'s status; true if it changed (and so is worth telling). A status
    /// over [`MAX_STATUS_BYTES`] encoded is answered to its sender as the contract says but
    /// neither kept nor pushed.
    pub fn set_status(&self, player: &str, status: &Value) -> bool {
        if status.to_string().len() > MAX_STATUS_BYTES {
            return false;
        }
        let mut g = self.lock();
        let before = g.statuses.insert(player.to_owned(), status.clone());
        before.as_ref() != Some(status) && !(before.is_none() && status.as_str() == Some("online"))
    }

    /// Forgets an offline player's status.
    pub fn clear(&self, player: &str) {
        self.lock().statuses.remove(player);
    }

    fn status(&self, player: &str) -> Value {
        self.lock()
            .statuses
            .get(player)
            .cloned()
            .unwrap_or_else(|| Value::from("online"))
    }

    fn subscribed(&self, players: &[String]) -> Vec<SessionHandle> {
        let g = self.lock();
        players
            .iter()
            .filter_map(|p| g.subscribers.get(p))
            .flat_map(|s| s.values().cloned())
            .collect()
    }
}

/// `player`'s presence as their friends see it.
pub fn presence_of(app: &AppState, player: &str) -> FriendPresence {
    let online = app.sessions().is_online(player);
    FriendPresence {
        player_id: player.to_owned(),
        online,
        status: if online {
            app.presence().status(player)
        } else {
            Value::Null
        },
    }
}

async fn accepted_friends(app: &AppState, player: &str) -> Vec<String> {
    match app
        .social()
        .friends(player, Some("accepted"), MAX_FRIENDS)
        .await
    {
        Ok(rows) => rows.into_iter().map(|f| f.friend_id).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "presence: friends not read");
            Vec::new()
        }
    }
}

/// Tells `player`'s subscribed friends of their presence now.
pub async fn announce(app: &AppState, player: &str) {
    let friends = accepted_friends(app, player).await;
    let handles = app.presence().subscribed(&friends);
    if handles.is_empty() {
        return;
    }
    let frame = OutFrame::new(
        ServerMessage::PresenceChanged(presence_of(app, player)),
        None,
    );
    for h in handles {
        h.send(frame.clone());
    }
}

/// The snapshot `asobi.presence.subscribe` answers with.
pub async fn snapshot(app: &AppState, player: &str) -> PresenceSnapshot {
    let friends = accepted_friends(app, player).await;
    PresenceSnapshot {
        friends: friends.iter().map(|f| presence_of(app, f)).collect(),
    }
}
