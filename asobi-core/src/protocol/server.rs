//! Server → client messages: one typed payload per asobi-owned type of `websocket.md` §7 and
//! §9, plus the open `match.<name>` / `world.<name>` game-event namespace (§10).
//!
//! The table in [`server_messages!`] is the single source of truth: it gives each type its
//! wire name, its binary kind id (append-only, see [`super::binary`]) and its payload type.
//! JSON encoding and decoding are generated from it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{ErrorObject, ErrorPayload};
use super::event::{EventNameError, validate_event_name};

/// A JSON object, as used for free-form payload parts (game state, results, metadata).
pub type Object = Map<String, Value>;

/// Why a `(type, payload)` pair could not be read as a [`ServerMessage`].
#[derive(Debug, thiserror::Error)]
pub enum ServerDecodeError {
    /// The type is neither asobi-owned nor a valid game event.
    #[error("unknown server message type `{0}`")]
    UnknownType(String),
    /// The payload did not have the type's shape.
    #[error("payload of `{ty}` has the wrong shape: {source}")]
    Payload {
        /// The message type.
        ty: String,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
}

macro_rules! server_messages {
    ($($id:literal $variant:ident $name:literal $payload:ty;)*) => {
        /// A message the server sends to a client.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ServerMessage {
            $(#[doc = concat!("`", $name, "`")] $variant($payload),)*
            /// A game-defined `match.<name>` event.
            MatchEvent(GameEvent),
            /// A game-defined `world.<name>` event.
            WorldEvent(GameEvent),
        }

        impl ServerMessage {
            /// The wire type name, e.g. `"match.state"` or `"match.round_over"`.
            pub fn type_name(&self) -> std::borrow::Cow<'static, str> {
                match self {
                    $(ServerMessage::$variant(_) => std::borrow::Cow::Borrowed($name),)*
                    ServerMessage::MatchEvent(e) => format!("match.{}", e.name).into(),
                    ServerMessage::WorldEvent(e) => format!("world.{}", e.name).into(),
                }
            }

            /// The binary kind id. Ids are append-only: never renumber.
            pub fn kind(&self) -> u16 {
                match self {
                    $(ServerMessage::$variant(_) => $id,)*
                    ServerMessage::MatchEvent(_) => KIND_MATCH_EVENT,
                    ServerMessage::WorldEvent(_) => KIND_WORLD_EVENT,
                }
            }

            /// Serialises the payload as JSON into `out`.
            pub fn write_payload(&self, out: &mut Vec<u8>) {
                // Serialising these types into a Vec cannot fail: every map key is a string.
                let result = match self {
                    $(ServerMessage::$variant(p) => serde_json::to_writer(&mut *out, p),)*
                    ServerMessage::MatchEvent(e) | ServerMessage::WorldEvent(e) => {
                        serde_json::to_writer(&mut *out, &e.payload)
                    }
                };
                debug_assert!(result.is_ok(), "server payloads always serialise");
            }

            /// Reads a message from its wire type name and JSON payload.
            pub fn from_parts(ty: &str, payload: Value) -> Result<Self, ServerDecodeError> {
                let err = |source| ServerDecodeError::Payload { ty: ty.to_owned(), source };
                match ty {
                    $($name => serde_json::from_value(payload).map(ServerMessage::$variant).map_err(err),)*
                    _ => Self::event_from_parts(ty, payload),
                }
            }

            /// The wire type name for a binary kind id, for asobi-owned types.
            pub fn name_of_kind(kind: u16) -> Option<&'static str> {
                match kind {
                    $($id => Some($name),)*
                    _ => None,
                }
            }

            /// Every asobi-owned type name.
            pub const TYPE_NAMES: &'static [&'static str] = &[$($name,)*];
        }
    };
}

/// Binary kind of a `match.<name>` game event.
pub const KIND_MATCH_EVENT: u16 = 0x7f00;
/// Binary kind of a `world.<name>` game event.
pub const KIND_WORLD_EVENT: u16 = 0x7f01;

server_messages! {
    1 SessionConnected "session.connected" SessionConnected;
    2 Heartbeat "session.heartbeat" Heartbeat;
    3 Error "error" ErrorPayload;
    4 MatchJoined "match.joined" MatchInfo;
    5 MatchLeft "match.left" Success;
    6 MatchList "match.list" MatchList;
    7 MatchState "match.state" Object;
    8 MatchFinished "match.finished" MatchFinished;
    9 MatchMatched "match.matched" MatchMatched;
    10 MatchmakerExpired "match.matchmaker_expired" MatchmakerExpired;
    11 MatchmakerFailed "match.matchmaker_failed" MatchmakerFailed;
    12 MatchVoteStart "match.vote_start" VoteStart;
    13 MatchVoteTally "match.vote_tally" VoteTally;
    14 MatchVoteResult "match.vote_result" VoteResult;
    15 MatchVoteVetoed "match.vote_vetoed" VoteVetoed;
    16 WorldVoteStart "world.vote_start" VoteStart;
    17 WorldVoteTally "world.vote_tally" VoteTally;
    18 WorldVoteResult "world.vote_result" VoteResult;
    19 WorldVoteVetoed "world.vote_vetoed" VoteVetoed;
    20 VoteCastOk "vote.cast_ok" Success;
    21 VoteVetoOk "vote.veto_ok" Success;
    22 MatchmakerQueued "matchmaker.queued" MatchmakerQueued;
    23 MatchmakerRemoved "matchmaker.removed" Success;
    24 WorldJoined "world.joined" WorldInfo;
    25 WorldLeft "world.left" Success;
    26 WorldList "world.list" WorldList;
    27 WorldTick "world.tick" WorldTick;
    28 WorldAck "world.ack" WorldAck;
    29 WorldTerrain "world.terrain" WorldTerrain;
    30 WorldPhaseChanged "world.phase_changed" Object;
    31 WorldFinished "world.finished" WorldFinished;
    32 ChatJoined "chat.joined" Channel;
    33 ChatLeft "chat.left" Channel;
    34 ChatMessage "chat.message" ChatMessage;
    35 DmSent "dm.sent" Channel;
    36 DmMessage "dm.message" ChatMessage;
    37 PresenceUpdated "presence.updated" Presence;
    38 NotificationNew "notification.new" Notification;
    39 ModuleMessage "module.message" ModuleMessage;
    40 ModuleError "module.error" ModuleError;
    41 ModuleEvent "module.event" ModuleEvent;
    42 GameMessage "game.message" ModuleMessage;
    43 GameError "game.error" ModuleError;
    44 RpcOk "rpc.ok" RpcOk;
    45 RpcError "rpc.error" RpcError;
    46 PresenceSnapshot "asobi.presence.snapshot" PresenceSnapshot;
    47 PresenceChanged "asobi.presence.changed" FriendPresence;
    48 PartyInvited "asobi.party.invited" Object;
    49 PartyUpdated "asobi.party.updated" Object;
    50 PartyLeft "asobi.party.left" Object;
    51 PartyOk "asobi.party.ok" Success;
}

impl ServerMessage {
    fn event_from_parts(ty: &str, payload: Value) -> Result<Self, ServerDecodeError> {
        let (wrap, name): (fn(GameEvent) -> ServerMessage, &str) =
            if let Some(name) = ty.strip_prefix("match.") {
                (ServerMessage::MatchEvent, name)
            } else if let Some(name) = ty.strip_prefix("world.") {
                (ServerMessage::WorldEvent, name)
            } else {
                return Err(ServerDecodeError::UnknownType(ty.to_owned()));
            };
        let event = GameEvent::new(name, payload)
            .map_err(|_| ServerDecodeError::UnknownType(ty.to_owned()))?;
        Ok(wrap(event))
    }

    /// An `error` frame payload, as a message.
    pub fn error(payload: ErrorPayload) -> Self {
        ServerMessage::Error(payload)
    }
}

/// A game-defined event (`match.<name>` / `world.<name>`): a checked name and an object payload.
#[derive(Debug, Clone, PartialEq)]
pub struct GameEvent {
    name: String,
    /// The event's payload; always an object on the wire.
    pub payload: Object,
}

impl GameEvent {
    /// Builds an event, checking the name rules of `websocket.md` §10. A payload that is not
    /// an object becomes `{}`, as the contract says.
    pub fn new(name: &str, payload: Value) -> Result<Self, EventNameError> {
        validate_event_name(name)?;
        let payload = match payload {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Ok(GameEvent {
            name: name.to_owned(),
            payload,
        })
    }

    /// The leaf name, without the `match.` / `world.` prefix.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `session.connected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionConnected {
    /// The authenticated player.
    pub player_id: String,
    /// The granted wire: `"json"` or `"binary"`. Always present.
    pub wire: String,
}

/// `session.heartbeat` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Server wall clock, Unix milliseconds.
    pub ts: i64,
}

/// `{"success": true}` replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Success {
    /// Always `true`.
    pub success: bool,
}

impl Success {
    /// `{"success": true}`.
    pub const TRUE: Success = Success { success: true };
}

/// `match.joined`: full match info including the roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchInfo {
    /// Match id.
    pub match_id: String,
    /// Mode name.
    pub mode: Option<String>,
    /// `waiting` | `running` | `paused` | `finished`.
    pub status: String,
    /// Players in the match.
    pub player_count: u32,
    /// Capacity.
    pub max_players: u32,
    /// Roster.
    pub players: Vec<String>,
    /// Whether the mode is listed.
    pub listed: bool,
    /// Whether the match takes joins.
    pub joinable: bool,
    /// Phase state, only if the match has phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Object>,
}

/// `match.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchList {
    /// Listed live matches.
    pub matches: Vec<MatchListing>,
}

/// One match in `match.list` and `GET /matches/live`. Never the roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchListing {
    /// Match id.
    pub match_id: String,
    /// Mode name.
    pub mode: Option<String>,
    /// `waiting` | `running`.
    pub status: String,
    /// Players in the match.
    pub player_count: u32,
    /// Capacity.
    pub max_players: u32,
    /// Whether the match takes joins.
    pub joinable: bool,
    /// Phase state, only if the match has phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Object>,
}

/// `match.finished`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchFinished {
    /// Match id.
    pub match_id: String,
    /// The game's result table.
    pub result: Object,
}

/// `match.matched`: the match shape or the world shape (`websocket.md` §9.9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchMatched {
    /// World mode: `{match_id: <world id>, mode, player_ids}`. Listed first so a payload with
    /// `player_ids` never reads as the match shape.
    World {
        /// The world id.
        match_id: String,
        /// Mode name.
        mode: String,
        /// Players placed together.
        player_ids: Vec<String>,
    },
    /// Match mode: `{match_id, players}`.
    Match {
        /// Match id.
        match_id: String,
        /// Players placed together.
        players: Vec<String>,
    },
}

/// `match.matchmaker_expired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchmakerExpired {
    /// The expired ticket.
    pub ticket_id: String,
}

/// `match.matchmaker_failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchmakerFailed {
    /// `match_start_failed` | `no_game_module`.
    pub reason: String,
}

/// `*.vote_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteStart {
    /// Vote id.
    pub vote_id: String,
    /// Options, each `{id, label, ...}`.
    pub options: Vec<Object>,
    /// Voting window.
    pub window_ms: u64,
    /// Counting method.
    pub method: String,
}

/// `*.vote_tally`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteTally {
    /// Vote id.
    pub vote_id: String,
    /// Votes per option.
    pub tallies: Object,
    /// Time left.
    pub time_remaining_ms: i64,
    /// Votes cast.
    pub total_votes: u64,
}

/// `*.vote_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteResult {
    /// Vote id.
    pub vote_id: String,
    /// Winning option, if any.
    pub winner: Option<String>,
    /// Votes per option.
    pub counts: Object,
    /// Share per option.
    pub distribution: Object,
    /// Votes cast.
    pub total_votes: u64,
    /// Share of eligible voters who voted.
    pub turnout: f64,
}

/// `*.vote_vetoed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteVetoed {
    /// Vote id.
    pub vote_id: String,
    /// The vetoing player.
    pub vetoed_by: String,
}

/// `matchmaker.queued`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchmakerQueued {
    /// The ticket.
    pub ticket_id: String,
    /// Always `"pending"`.
    pub status: String,
    /// The mode's `match_size`, or `null`.
    pub players_needed: Option<u32>,
    /// True when this (player, mode) already had a live ticket.
    pub already_queued: bool,
}

/// `world.joined`: full world info including the roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldInfo {
    /// World id.
    pub world_id: String,
    /// Mode name.
    pub mode: Option<String>,
    /// Normally `running`.
    pub status: String,
    /// Players in the world.
    pub player_count: u32,
    /// Capacity.
    pub max_players: u32,
    /// Zones per side.
    pub grid_size: u32,
    /// Start time, Unix ms.
    pub started_at: Option<i64>,
    /// Whether the mode is listed.
    pub listed: bool,
    /// Whether the mode takes quick-play joins.
    pub quick_play: bool,
    /// Roster.
    pub players: Vec<String>,
    /// Phase state, only if the world has phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Object>,
}

/// `world.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldList {
    /// Listed live worlds.
    pub worlds: Vec<WorldListing>,
}

/// One world in `world.list` and `GET /worlds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldListing {
    /// World id.
    pub world_id: String,
    /// Mode name.
    pub mode: Option<String>,
    /// `loading` | `running`.
    pub status: String,
    /// Players in the world.
    pub player_count: u32,
    /// Capacity.
    pub max_players: u32,
    /// Zones per side.
    pub grid_size: u32,
    /// Start time, Unix ms, `null` while loading.
    pub started_at: Option<i64>,
    /// Phase state, only if the world has phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Object>,
}

/// `world.tick`: one zone's delta, keyframe or removal frame (`websocket.md` §12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldTick {
    /// Zone coordinates.
    pub zone: [i64; 2],
    /// Contiguous per-zone sequence; absent on removal frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_seq: Option<u64>,
    /// Keyframe flag; absent on removal frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kf: Option<bool>,
    /// World tick of a delta; 0 on keyframes and removal frames.
    pub tick: u64,
    /// Entity records: `{op, id, ...fields}`.
    pub updates: Vec<Object>,
}

/// `world.ack`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldAck {
    /// World tick.
    pub tick: u64,
    /// Highest consumed input sequence.
    pub seq: u64,
}

/// `world.terrain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldTerrain {
    /// Chunk (= zone) coordinates.
    pub coords: [i64; 2],
    /// Standard base64 of the chunk bytes.
    pub data: String,
}

/// `world.finished`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldFinished {
    /// World id.
    pub world_id: String,
    /// The world's result.
    pub result: Object,
}

/// `chat.joined`, `chat.left`, `dm.sent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Channel id, echoed.
    pub channel_id: Value,
}

/// `chat.message` and `dm.message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Channel id.
    pub channel_id: String,
    /// Sender.
    pub sender_id: String,
    /// Text.
    pub content: String,
    /// Unix ms.
    pub sent_at: i64,
}

/// `presence.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    /// Any JSON value the client sent.
    pub status: Value,
}

/// One friend's presence (`asobi.presence.*`, our namespace: the original pushes none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FriendPresence {
    /// The friend.
    pub player_id: String,
    /// Whether they have a session open.
    pub online: bool,
    /// Their last `presence.update` status (`"online"` by default, null when offline).
    pub status: Value,
}

/// `asobi.presence.snapshot`: the answer to `asobi.presence.subscribe`, every accepted
/// friend's presence now; `asobi.presence.changed` follows for each change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceSnapshot {
    /// Accepted friends.
    pub friends: Vec<FriendPresence>,
}

/// `notification.new`: the stored notification row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Notification id.
    pub id: String,
    /// Recipient.
    pub player_id: String,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// Subject line.
    pub subject: String,
    /// Body.
    pub content: Value,
    /// Read flag.
    pub read: bool,
    /// ISO-8601 timestamp.
    pub sent_at: String,
}

/// `module.message` / `game.message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleMessage {
    /// `"lua"` for script messages.
    pub module: String,
    /// Any JSON value.
    pub message: Value,
}

/// `module.error` / `game.error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleError {
    /// `"lua"`.
    pub module: String,
    /// The failing callback.
    pub callback: String,
    /// Script basename.
    pub script: String,
    /// Error text, at most 500 characters.
    pub message: String,
}

/// `module.event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleEvent {
    /// Emitting extension.
    pub module: String,
    /// `<domain>.<name>`.
    pub event: String,
    /// Event data.
    pub data: Value,
}

/// `rpc.ok`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcOk {
    /// Always an object.
    pub result: Object,
}

/// `rpc.error`: the error object only, no `reason`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// The error.
    pub error: ErrorObject,
}
