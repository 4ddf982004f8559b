//! Chat messages and direct messages, persisted (`rest.md` §5.11, `websocket.md` §8.19–8.20).
//! Owns `chat_messages`. Channel ids and who may use them are checked by the caller (the
//! realtime layer knows worlds and sessions); this module checks what it can see: the
//! channel id's shape, DM content, and blocks.
//!
//! DM history is served from these rows (the original answered from a 60-second in-memory
//! buffer), oldest first, so it survives restarts.

use asobi_core::protocol::ErrorCode;
use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::Coded;
use crate::social::{Social, SocialError};
use crate::time::iso8601;

/// Longest message, bytes.
pub const MAX_CONTENT_BYTES: usize = 2000;
/// Longest channel id, bytes.
pub const MAX_CHANNEL_BYTES: usize = 256;
/// The channel kinds, by prefix.
pub const CHANNEL_KINDS: [&str; 6] = ["global", "dm", "world", "zone", "prox", "room"];

/// Why a message was not sent or read.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A channel id of no known kind, or too long.
    #[error("invalid channel id")]
    InvalidChannel,
    /// The player may not use the channel.
    #[error("not authorised for this channel")]
    NotAuthorized,
    /// An empty direct message.
    #[error("empty message")]
    Empty,
    /// Over [`MAX_CONTENT_BYTES`].
    #[error("message is {0} bytes; the limit is {MAX_CONTENT_BYTES}")]
    TooLarge(usize),
    /// The recipient blocked the sender.
    #[error("the recipient blocked you")]
    Blocked,
    /// The recipient names no player.
    #[error("no such player")]
    RecipientNotFound,
    /// Content with a NUL character (no text column can hold one).
    #[error("content has a NUL character")]
    Nul,
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored column could not be read.
    #[error("stored value unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl From<SocialError> for ChatError {
    fn from(e: SocialError) -> Self {
        match e {
            SocialError::Db(e) => ChatError::Db(e),
            other => ChatError::Db(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl Coded for ChatError {
    fn code(&self) -> ErrorCode {
        match self {
            ChatError::InvalidChannel => ErrorCode::ChatInvalidChannelId,
            ChatError::NotAuthorized => ErrorCode::Forbidden,
            ChatError::Empty => ErrorCode::DmContentEmpty,
            ChatError::TooLarge(_) => ErrorCode::DmContentTooLarge,
            ChatError::Blocked => ErrorCode::DmBlocked,
            ChatError::RecipientNotFound => ErrorCode::PlayerNotFound,
            ChatError::Nul => ErrorCode::InvalidPayload,
            ChatError::Db(_) | ChatError::Corrupt(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        if let ChatError::TooLarge(n) = self {
            d.insert("bytes".into(), json!(n));
            d.insert("max_bytes".into(), json!(MAX_CONTENT_BYTES));
        }
        d
    }

    /// The WebSocket reason (`websocket.md` §3.1).
    fn reason(&self) -> &'static str {
        match self {
            ChatError::InvalidChannel => "invalid_channel_id",
            ChatError::NotAuthorized => "not_authorized",
            ChatError::Empty => "content_empty",
            ChatError::TooLarge(_) => "content_too_large",
            ChatError::Blocked => "blocked",
            ChatError::RecipientNotFound => "not_found",
            ChatError::Nul => "invalid_input",
            ChatError::Db(_) | ChatError::Corrupt(_) => "internal",
        }
    }
}

/// A stored message `{id, channel_type, channel_id, sender_id, content, metadata, sent_at}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Id.
    pub id: String,
    /// The channel id's kind.
    pub channel_type: String,
    /// Channel.
    pub channel_id: String,
    /// Sender.
    pub sender_id: String,
    /// Text.
    pub content: String,
    /// Free-form.
    pub metadata: Value,
    /// Sent, Unix ms.
    pub sent_at: i64,
}

impl Message {
    /// The REST chat message row (`sent_at` ISO-8601).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "channel_type": self.channel_type,
            "channel_id": self.channel_id,
            "sender_id": self.sender_id,
            "content": self.content,
            "metadata": self.metadata,
            "sent_at": iso8601(self.sent_at),
        })
    }

    /// A DM history item `{sender_id, content, sent_at}` (`sent_at` Unix ms).
    pub fn to_dm_json(&self) -> Value {
        json!({"sender_id": self.sender_id, "content": self.content, "sent_at": self.sent_at})
    }
}

/// The DM channel of two players: `dm:<lower>:<higher>` by byte order.
pub fn dm_channel(a: &str, b: &str) -> String {
    if a.as_bytes() <= b.as_bytes() {
        format!("dm:{a}:{b}")
    } else {
        format!("dm:{b}:{a}")
    }
}

/// A channel id's kind, if it is well-formed (1–256 bytes, a known prefix).
pub fn channel_kind(channel: &str) -> Option<&'static str> {
    if channel.is_empty() || channel.len() > MAX_CHANNEL_BYTES || channel.contains('\0') {
        return None;
    }
    let (prefix, _) = channel.split_once(':')?;
    CHANNEL_KINDS.iter().copied().find(|k| *k == prefix)
}

/// The chat service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Chat {
    db: Db,
    clock: Clock,
    social: Social,
}

impl Chat {
    /// The service over `db`; blocks come from `social`.
    pub fn new(db: Db, clock: Clock, social: Social) -> Chat {
        Chat { db, clock, social }
    }

    /// Stores a message on `channel` (whose use the caller authorised).
    pub async fn record(
        &self,
        channel: &str,
        sender: &str,
        content: &str,
    ) -> Result<Message, ChatError> {
        let kind = channel_kind(channel).ok_or(ChatError::InvalidChannel)?;
        if content.len() > MAX_CONTENT_BYTES {
            return Err(ChatError::TooLarge(content.len()));
        }
        if content.contains('\0') || sender.contains('\0') {
            return Err(ChatError::Nul);
        }
        let m = Message {
            id: crate::new_id(),
            channel_type: kind.to_owned(),
            channel_id: channel.to_owned(),
            sender_id: sender.to_owned(),
            content: content.to_owned(),
            metadata: json!({}),
            sent_at: self.clock.now_ms(),
        };
        sqlx::query(
            "INSERT INTO chat_messages (id, channel_type, channel_id, sender_id, content, metadata, sent_at) \
             VALUES ($1, $2, $3, $4, $5, '{}', $6)",
        )
        .bind(&m.id)
        .bind(&m.channel_type)
        .bind(&m.channel_id)
        .bind(&m.sender_id)
        .bind(&m.content)
        .bind(m.sent_at)
        .execute(self.db.pool())
        .await?;
        Ok(m)
    }

    /// A direct message: content 1–2,000 bytes, the recipient a player who has not blocked
    /// the sender. Stored on the pair's `dm:` channel.
    pub async fn send_dm(
        &self,
        sender: &str,
        recipient: &str,
        content: &str,
    ) -> Result<Message, ChatError> {
        if content.is_empty() {
            return Err(ChatError::Empty);
        }
        if content.len() > MAX_CONTENT_BYTES {
            return Err(ChatError::TooLarge(content.len()));
        }
        if !self.player_exists(recipient).await? {
            return Err(ChatError::RecipientNotFound);
        }
        if self.social.blocks(recipient, sender).await? {
            return Err(ChatError::Blocked);
        }
        self.record(&dm_channel(sender, recipient), sender, content)
            .await
    }

    /// Deletes every message `player` sent (an erased player's words go with them).
    pub async fn forget_player(&self, player: &str) -> Result<u64, ChatError> {
        Ok(
            sqlx::query("DELETE FROM chat_messages WHERE sender_id = $1")
                .bind(player)
                .execute(self.db.pool())
                .await?
                .rows_affected(),
        )
    }

    /// Whether `id` names a player (a `dm:` channel's other party must).
    pub async fn player_exists(&self, id: &str) -> Result<bool, ChatError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(false);
        }
        let r = sqlx::query("SELECT 1 FROM players WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(r.is_some())
    }

    /// The newest `limit` messages of `channel`, oldest first.
    pub async fn history(&self, channel: &str, limit: i64) -> Result<Vec<Message>, ChatError> {
        let rows = sqlx::query(
            "SELECT id, channel_type, channel_id, sender_id, content, metadata, sent_at \
             FROM chat_messages WHERE channel_id = $1 ORDER BY sent_at DESC, id DESC LIMIT $2",
        )
        .bind(channel)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let metadata: String = r.try_get(5)?;
                Ok(Message {
                    id: r.try_get(0)?,
                    channel_type: r.try_get(1)?,
                    channel_id: r.try_get(2)?,
                    sender_id: r.try_get(3)?,
                    content: r.try_get(4)?,
                    metadata: serde_json::from_str(&metadata)?,
                    sent_at: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, ChatError>>()?;
        out.reverse();
        Ok(out)
    }
}

/// A player's messages sent, and direct messages received, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[crate::export::PlayerData {
    section: "messages",
    sql: "SELECT id, channel_id, sender_id, content, sent_at FROM chat_messages WHERE sender_id = $1 OR channel_id LIKE 'dm:' || $1 || ':%' OR channel_id LIKE 'dm:%:' || $1 ORDER BY sent_at, id",
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_channels_order_ids_by_bytes() {
        assert_eq!(dm_channel("b", "a"), "dm:a:b");
        assert_eq!(dm_channel("a", "b"), "dm:a:b");
    }

    #[test]
    fn channel_kinds_are_prefixes() {
        assert_eq!(channel_kind("global:lobby"), Some("global"));
        assert_eq!(channel_kind("room:x"), Some("room"));
        assert_eq!(channel_kind("lobby"), None);
        assert_eq!(channel_kind("party:x"), None);
        assert_eq!(channel_kind(&format!("global:{}", "x".repeat(300))), None);
    }
}
