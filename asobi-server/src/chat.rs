//! Chat channels on this node (`websocket.md` §8.17–8.19): which connections joined which
//! channel, who may use a channel, and delivery of `chat.message` to every joined
//! connection. Messages are stored by [`asobi_services::chat`]; this module is the realtime
//! half. One function ([`send`]) serves `chat.send`, Lua's `game.chat.send` and the `dm:`
//! echo of direct messages.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use asobi_core::protocol::ServerMessage;
use asobi_core::protocol::server::ChatMessage;
use asobi_services::chat::{Chat, ChatError, Message, channel_kind};

use crate::session::{OutFrame, SessionHandle};
use crate::state::AppState;

/// Channels one connection may have joined (`websocket.md` §8.17).
pub const MAX_CHANNELS_PER_CONNECTION: usize = 32;

/// Why a join was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JoinRefused {
    /// Already in [`MAX_CHANNELS_PER_CONNECTION`] channels.
    TooMany,
}

/// Joined connections per channel.
#[derive(Default)]
pub struct Channels {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    members: HashMap<String, HashMap<u64, SessionHandle>>,
    joined: HashMap<u64, HashSet<String>>,
}

impl Channels {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection to a channel (joining twice is one membership).
    pub fn join(&self, channel: &str, handle: &SessionHandle) -> Result<(), JoinRefused> {
        let mut g = self.lock();
        let mine = g.joined.entry(handle.id()).or_default();
        if !mine.contains(channel) {
            if mine.len() >= MAX_CHANNELS_PER_CONNECTION {
                return Err(JoinRefused::TooMany);
            }
            mine.insert(channel.to_owned());
        }
        g.members
            .entry(channel.to_owned())
            .or_default()
            .insert(handle.id(), handle.clone());
        Ok(())
    }

    /// Removes a connection from a channel.
    pub fn leave(&self, channel: &str, session: u64) {
        let mut g = self.lock();
        if let Some(mine) = g.joined.get_mut(&session) {
            mine.remove(channel);
        }
        if let Some(m) = g.members.get_mut(channel) {
            m.remove(&session);
            if m.is_empty() {
                g.members.remove(channel);
            }
        }
    }

    /// Removes a connection from one world's channels (`world:<id>`, `zone:<id>:…`,
    /// `prox:<id>:…`) when it leaves that world.
    pub fn leave_world(&self, session: u64, world: &str) {
        let joined: Vec<String> = self
            .lock()
            .joined
            .get(&session)
            .map(|j| {
                j.iter()
                    .filter(|c| {
                        *c == &format!("world:{world}")
                            || c.starts_with(&format!("zone:{world}:"))
                            || c.starts_with(&format!("prox:{world}:"))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for c in joined {
            self.leave(&c, session);
        }
    }

    /// Removes every connection of the sessions in `sessions` from `channel` (a player
    /// who left or was kicked from the group behind a `room:`).
    pub fn leave_sessions(&self, channel: &str, sessions: &[u64]) {
        for s in sessions {
            self.leave(channel, *s);
        }
    }

    /// Puts every session of `player` in `channel` (a world's automatic channels); a
    /// connection already at its cap is skipped.
    pub fn join_player(&self, channel: &str, sessions: &[SessionHandle]) {
        for h in sessions {
            if self.join(channel, h).is_err() {
                tracing::debug!(
                    session = h.id(),
                    channel,
                    "automatic chat join skipped: channel cap"
                );
            }
        }
    }

    /// Removes a closed connection from every channel.
    pub fn leave_all(&self, session: u64) {
        let mut g = self.lock();
        for channel in g.joined.remove(&session).unwrap_or_default() {
            if let Some(m) = g.members.get_mut(&channel) {
                m.remove(&session);
                if m.is_empty() {
                    g.members.remove(&channel);
                }
            }
        }
    }

    /// Sends `frame` to every connection joined to `channel`; returns how many.
    pub fn publish(&self, channel: &str, frame: &std::sync::Arc<OutFrame>) -> usize {
        let handles: Vec<SessionHandle> = self
            .lock()
            .members
            .get(channel)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for h in &handles {
            h.send(frame.clone());
        }
        handles.len()
    }
}

/// Whether `player` may use `channel` (join it, send to it, read its history):
/// [`ChatError::InvalidChannel`] for a malformed id, [`ChatError::NotAuthorized`] otherwise.
pub async fn authorize(app: &AppState, player: &str, channel: &str) -> Result<(), ChatError> {
    let kind = channel_kind(channel).ok_or(ChatError::InvalidChannel)?;
    let rest = &channel[kind.len() + 1..];
    let allowed = match kind {
        "global" => {
            let config = app.config();
            config.chat_global_channels.iter().any(|c| c == rest)
                || config
                    .world_chat
                    .values()
                    .any(|w| w.global.iter().any(|c| c == rest))
        }
        "dm" => match rest.split_once(':') {
            // The canonical id only (lower id first), and not with someone who blocked you.
            Some((a, b)) if a.as_bytes() < b.as_bytes() && (a == player || b == player) => {
                let other = if a == player { b } else { a };
                app.chat().player_exists(other).await?
                    && !app
                        .social()
                        .blocks(other, player)
                        .await
                        .map_err(ChatError::from)?
            }
            _ => false,
        },
        "world" => in_world(app, player, rest),
        // zone:<world_id>:<x>,<y> and prox:<world_id>:<x>,<y>
        _ if kind == "zone" || kind == "prox" => rest
            .split_once(':')
            .is_some_and(|(world, _)| in_world(app, player, world)),
        "room" => {
            asobi_services::is_canonical_id(rest)
                && app
                    .social()
                    .is_member(rest, player)
                    .await
                    .map_err(ChatError::from)?
        }
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ChatError::NotAuthorized)
    }
}

fn in_world(app: &AppState, player: &str, world: &str) -> bool {
    app.worlds().current(player).is_some_and(|w| w.id == world)
}

/// Stores a message on `channel` and delivers `chat.message` to its joined connections.
pub async fn send(
    chat: &Chat,
    channels: &Channels,
    channel: &str,
    sender: &str,
    content: &str,
) -> Result<Message, ChatError> {
    let m = chat.record(channel, sender, content).await?;
    publish(channels, &m);
    Ok(m)
}

/// Delivers a stored message to the channel's joined connections.
pub fn publish(channels: &Channels, m: &Message) {
    let frame = OutFrame::new(
        ServerMessage::ChatMessage(ChatMessage {
            channel_id: m.channel_id.clone(),
            sender_id: m.sender_id.clone(),
            content: m.content.clone(),
            sent_at: m.sent_at,
        }),
        None,
    );
    channels.publish(&m.channel_id, &frame);
}
