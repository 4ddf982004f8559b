//! Notifications (`rest.md` §5.12): rows a player reads, marks read and deletes. Owns
//! `notifications`. Services write them inside their own transactions ([`insert_in`]), so a
//! reward and its notification commit together.

use asobi_core::protocol::ErrorCode;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

use crate::db::Db;
use crate::error::Coded;
use crate::time::iso8601;

/// Why a notification operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// No such notification.
    #[error("no such notification")]
    NotFound,
    /// It is another player's.
    #[error("the notification belongs to another player")]
    NotYours,
    /// The recipient names no player.
    #[error("no such player")]
    PlayerNotFound,
    /// A field out of bounds.
    #[error("invalid notification: {0}")]
    Invalid(&'static str),
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Stored content unreadable.
    #[error("stored content unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl Coded for NotificationError {
    fn code(&self) -> ErrorCode {
        match self {
            NotificationError::NotFound => ErrorCode::NotificationNotFound,
            NotificationError::NotYours => ErrorCode::Forbidden,
            NotificationError::PlayerNotFound => ErrorCode::PlayerNotFound,
            NotificationError::Invalid(_) => ErrorCode::InvalidPayload,
            NotificationError::Db(_) | NotificationError::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

/// A notification row `{id, player_id, type, subject, content, read, sent_at}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Id.
    pub id: String,
    /// Recipient.
    pub player_id: String,
    /// Kind (`tournament_reward`, …).
    pub kind: String,
    /// One line.
    pub subject: String,
    /// Structured content.
    pub content: Value,
    /// Whether the player marked it read.
    pub read: bool,
    /// Sent, Unix ms.
    pub sent_at: i64,
}

impl Notification {
    /// The REST row.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "player_id": self.player_id,
            "type": self.kind,
            "subject": self.subject,
            "content": self.content,
            "read": self.read,
            "sent_at": iso8601(self.sent_at),
        })
    }
}

macro_rules! columns {
    () => {
        "id, player_id, type, subject, content, read, sent_at"
    };
}

fn decode(r: &sqlx::any::AnyRow) -> Result<Notification, NotificationError> {
    let content: String = r.try_get(4)?;
    let read: i64 = r.try_get(5)?;
    Ok(Notification {
        id: r.try_get(0)?,
        player_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        subject: r.try_get(3)?,
        content: serde_json::from_str(&content)?,
        read: read != 0,
        sent_at: r.try_get(6)?,
    })
}

/// Told of each notification once its transaction committed: the server pushes it to the
/// player's live sessions as `notification.new`.
pub type Notifier = std::sync::Arc<dyn Fn(&Notification) + Send + Sync>;

/// Writes a notification inside `conn`; returns its id.
pub async fn insert_in(
    conn: &mut AnyConnection,
    player_id: &str,
    kind: &str,
    subject: &str,
    content: &Value,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = crate::new_id();
    sqlx::query(
        "INSERT INTO notifications (id, player_id, type, subject, content, read, sent_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6)",
    )
    .bind(&id)
    .bind(player_id)
    .bind(kind)
    .bind(subject)
    .bind(content.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Longest `type`, bytes.
pub const MAX_KIND_BYTES: usize = 64;
/// Longest `subject`, bytes.
pub const MAX_SUBJECT_BYTES: usize = 256;
/// Largest `content`, encoded JSON bytes.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;

/// The notifications service. Cheap to clone.
#[derive(Clone)]
pub struct Notifications {
    db: Db,
    clock: crate::clock::Clock,
    notifier: Option<Notifier>,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications").finish_non_exhaustive()
    }
}

impl Notifications {
    /// The service over `db`.
    pub fn new(db: Db, clock: crate::clock::Clock) -> Notifications {
        Notifications {
            db,
            clock,
            notifier: None,
        }
    }

    /// Tells `notifier` of each notification this service stores.
    pub fn with_notifier(mut self, notifier: Notifier) -> Notifications {
        self.notifier = Some(notifier);
        self
    }

    /// Stores a notification for `player_id` and pushes it (Lua's `game.notify`). `kind`
    /// 1–64 bytes, `subject` up to 256 (longer is cut), `content` up to 16 KiB encoded.
    pub async fn notify(
        &self,
        player_id: &str,
        kind: &str,
        subject: &str,
        content: &Value,
    ) -> Result<Notification, NotificationError> {
        if kind.is_empty() || kind.len() > MAX_KIND_BYTES || kind.contains('\0') {
            return Err(NotificationError::Invalid(
                "type must be 1-64 bytes without NUL",
            ));
        }
        if subject.contains('\0') {
            return Err(NotificationError::Invalid("subject has a NUL character"));
        }
        if content.to_string().len() > MAX_CONTENT_BYTES {
            return Err(NotificationError::Invalid("content is over 16 KiB"));
        }
        let mut end = subject.len().min(MAX_SUBJECT_BYTES);
        while !subject.is_char_boundary(end) {
            end -= 1;
        }
        let subject = &subject[..end];
        let now = self.clock.now_ms();
        let mut conn = self.db.pool().acquire().await?;
        let id = match insert_in(&mut conn, player_id, kind, subject, content, now).await {
            Err(e) if crate::error::is_foreign_key_violation(&e) => {
                return Err(NotificationError::PlayerNotFound);
            }
            r => r?,
        };
        let n = Notification {
            id,
            player_id: player_id.to_owned(),
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            content: content.clone(),
            read: false,
            sent_at: now,
        };
        if let Some(notify) = &self.notifier {
            notify(&n);
        }
        Ok(n)
    }

    /// The player's notifications, newest first, optionally only read or unread ones.
    pub async fn list(
        &self,
        player_id: &str,
        read: Option<bool>,
        limit: i64,
    ) -> Result<Vec<Notification>, NotificationError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM notifications WHERE player_id = $1 AND ($2 < 0 OR read = $2) \
             ORDER BY sent_at DESC, id DESC LIMIT $3"
        ))
        .bind(player_id)
        .bind(read.map_or(-1, i64::from))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(decode).collect()
    }

    /// Marks one read; returns the row.
    pub async fn mark_read(
        &self,
        player_id: &str,
        id: &str,
    ) -> Result<Notification, NotificationError> {
        let row = sqlx::query(concat!(
            "UPDATE notifications SET read = 1 WHERE id = $1 AND player_id = $2 RETURNING ",
            columns!(),
            ""
        ))
        .bind(id)
        .bind(player_id)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(r) => decode(&r),
            None => Err(self.missing(player_id, id).await),
        }
    }

    /// Deletes one.
    pub async fn delete(&self, player_id: &str, id: &str) -> Result<(), NotificationError> {
        let done = sqlx::query("DELETE FROM notifications WHERE id = $1 AND player_id = $2")
            .bind(id)
            .bind(player_id)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if done == 1 {
            Ok(())
        } else {
            Err(self.missing(player_id, id).await)
        }
    }

    /// Why `id` is not the player's: another's (403) or none (404).
    async fn missing(&self, player_id: &str, id: &str) -> NotificationError {
        match sqlx::query("SELECT player_id FROM notifications WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await
        {
            Err(e) => e.into(),
            Ok(None) => NotificationError::NotFound,
            Ok(Some(r)) => match r.try_get::<String, _>(0) {
                Ok(owner) if owner != player_id => NotificationError::NotYours,
                Ok(_) => NotificationError::NotFound,
                Err(e) => e.into(),
            },
        }
    }
}

/// A player's notifications, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[crate::export::PlayerData {
    section: "notifications",
    sql: "SELECT id, type, subject, content AS content_json, read, sent_at FROM notifications WHERE player_id = $1 ORDER BY sent_at, id",
}];
