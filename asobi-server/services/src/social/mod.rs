//! Friends and groups (`rest.md` §5.10). Owns `friendships`, `social_groups` and
//! `social_group_members`.
//!
//! - **Friendships** are a row per direction. A request is the requester's `pending` row;
//!   accepting it makes both directions `accepted`, so both players list the friendship (the
//!   original left the accepter without a row). Two players who request each other are
//!   friends at once.
//! - **Blocks** have one representation whichever route sets them: the blocker's row to the
//!   blocked player, status `blocked` (any request the blocked player had sent is deleted).
//!   [`Social::blocks`] reads only that row, and both friend requests and direct messages
//!   from the blocked player are refused with it (the original's PUT-based blocks did not
//!   stop DMs).
//! - **Groups**: roles rank owner 100 > admin 75 > moderator 50 > member 0; updating needs
//!   admin, promoting needs admin and a rank above the new role (never to owner), kicking
//!   needs moderator and a rank above the target's. Joins run in [`Db::serialized`] on the
//!   group, so `max_members` holds under concurrent joins. When the owner leaves, the
//!   longest-standing highest-ranked member becomes owner; the last member out deletes the
//!   group.

mod friends;
mod groups;

pub use friends::Friendship;
pub use groups::{Group, GroupPatch, Member, Role};

use asobi_core::protocol::ErrorCode;
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::db::Db;
use crate::error::Coded;

/// Why a social operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// A player befriending themselves.
    #[error("cannot befriend yourself")]
    CannotFriendSelf,
    /// The friend id names no player.
    #[error("no such player")]
    FriendNotFound,
    /// Already friends.
    #[error("already friends")]
    AlreadyFriend,
    /// No such friendship row.
    #[error("no such friendship")]
    FriendshipNotFound,
    /// The other player blocked this one.
    #[error("blocked by that player")]
    Blocked,
    /// No such group.
    #[error("no such group")]
    GroupNotFound,
    /// The group is not open to joins.
    #[error("group is not open")]
    GroupClosed,
    /// The group is at `max_members`.
    #[error("group is full")]
    GroupFull,
    /// Already a member.
    #[error("already a member")]
    AlreadyMember,
    /// A role that is not owner/admin/moderator/member.
    #[error("role must be owner, admin, moderator or member")]
    InvalidRole,
    /// The actor or the target is not a member.
    #[error("not a member")]
    MemberNotFound,
    /// The actor's role does not allow it.
    #[error("not allowed")]
    Forbidden,
    /// Fields failed validation: field → messages.
    #[error("validation failed")]
    Invalid(Map<String, Value>),
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored column could not be read.
    #[error("stored value unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl SocialError {
    /// One field's validation failure.
    pub(crate) fn field(field: &str, message: &str) -> SocialError {
        let mut m = Map::new();
        m.insert(field.to_owned(), json!([message]));
        SocialError::Invalid(m)
    }
}

impl Coded for SocialError {
    fn code(&self) -> ErrorCode {
        match self {
            SocialError::CannotFriendSelf => ErrorCode::SocialCannotFriendSelf,
            SocialError::FriendNotFound => ErrorCode::SocialFriendNotFound,
            SocialError::AlreadyFriend => ErrorCode::SocialAlreadyFriend,
            SocialError::FriendshipNotFound => ErrorCode::SocialFriendshipNotFound,
            SocialError::Blocked | SocialError::Forbidden => ErrorCode::Forbidden,
            SocialError::GroupNotFound => ErrorCode::SocialGroupNotFound,
            SocialError::GroupClosed => ErrorCode::SocialGroupClosed,
            SocialError::GroupFull => ErrorCode::SocialGroupFull,
            SocialError::AlreadyMember => ErrorCode::SocialAlreadyMember,
            SocialError::InvalidRole => ErrorCode::SocialInvalidRole,
            SocialError::MemberNotFound => ErrorCode::SocialMemberNotFound,
            SocialError::Invalid(_) => ErrorCode::ValidationFailed,
            SocialError::Db(_) | SocialError::Corrupt(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            SocialError::Blocked => {
                d.insert("reason".into(), json!("blocked"));
            }
            SocialError::Invalid(errors) => {
                d.insert("errors".into(), Value::Object(errors.clone()));
            }
            _ => {}
        }
        d
    }
}

/// The social service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Social {
    db: Db,
    clock: Clock,
}

impl Social {
    /// The service over `db`.
    pub fn new(db: Db, clock: Clock) -> Social {
        Social { db, clock }
    }
}

/// A player's friendships (either side) and group memberships, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[
    crate::export::PlayerData {
        section: "friendships",
        sql: "SELECT player_id, friend_id, status, inserted_at, updated_at FROM friendships WHERE player_id = $1 OR friend_id = $1 ORDER BY inserted_at, id",
    },
    crate::export::PlayerData {
        section: "groups",
        sql: "SELECT m.group_id, g.name, m.role, m.joined_at FROM social_group_members m JOIN social_groups g ON g.id = m.group_id WHERE m.player_id = $1 ORDER BY m.joined_at",
    },
];
