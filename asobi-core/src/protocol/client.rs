//! Client → server messages: the 24 types of `websocket.md` §7–8, decoded from a JSON payload
//! with the contract's rules (defaults, normalisation, which errors a bad shape earns), and
//! encoded back for Rust clients.
//!
//! Decoding checks the payload's *shape*. Checks that need server state (authentication, rate
//! limits, whether a match exists) and checks the contract orders after a rate limit (join
//! `ctx`) are left to the server; the raw values they need are kept here.

use serde_json::{Map, Value, json};

use super::error::Reason;

/// Largest accepted `seq` and input sequence: 2^53 − 1.
pub const MAX_SEQ: u64 = (1 << 53) - 1;

macro_rules! client_types {
    ($($id:literal $variant:ident $name:literal;)*) => {
        /// The type of a client message, without its payload.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ClientType {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl ClientType {
            /// All 24 client types.
            pub const ALL: &'static [ClientType] = &[$(ClientType::$variant,)*];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $(ClientType::$variant => $name,)* }
            }

            /// Looks a wire name up.
            pub fn parse(s: &str) -> Option<ClientType> {
                match s { $($name => Some(ClientType::$variant),)* _ => None }
            }

            /// The binary kind id (append-only).
            pub const fn kind(self) -> u16 {
                match self { $(ClientType::$variant => $id,)* }
            }

            /// The type for a binary kind id.
            pub fn from_kind(kind: u16) -> Option<ClientType> {
                match kind { $($id => Some(ClientType::$variant),)* _ => None }
            }
        }
    };
}

client_types! {
    101 SessionConnect "session.connect";
    102 SessionHeartbeat "session.heartbeat";
    103 MatchList "match.list";
    104 MatchFindOrCreate "match.find_or_create";
    105 MatchJoin "match.join";
    106 MatchLeave "match.leave";
    107 MatchInput "match.input";
    108 MatchmakerAdd "matchmaker.add";
    109 MatchmakerRemove "matchmaker.remove";
    110 WorldList "world.list";
    111 WorldCreate "world.create";
    112 WorldFindOrCreate "world.find_or_create";
    113 WorldJoin "world.join";
    114 WorldLeave "world.leave";
    115 WorldInput "world.input";
    116 WorldResync "world.resync";
    117 ChatJoin "chat.join";
    118 ChatLeave "chat.leave";
    119 ChatSend "chat.send";
    120 DmSend "dm.send";
    121 PresenceUpdate "presence.update";
    122 VoteCast "vote.cast";
    123 VoteVeto "vote.veto";
    124 RpcCall "rpc.call";
    125 PresenceSubscribe "asobi.presence.subscribe";
    126 PartyCreate "asobi.party.create";
    127 PartyInvite "asobi.party.invite";
    128 PartyAccept "asobi.party.accept";
    129 PartyDecline "asobi.party.decline";
    130 PartyLeave "asobi.party.leave";
    131 PartyKick "asobi.party.kick";
    132 PartyDisband "asobi.party.disband";
    133 PartyReady "asobi.party.ready";
}

/// A decoded client message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `session.connect`. `token` is `None` when absent or not a string (answered `invalid_token`).
    SessionConnect {
        /// The access token.
        token: Option<String>,
        /// The requested wire (`"binary"` asks for binary `world.tick`).
        wire: Option<String>,
    },
    /// `session.heartbeat`.
    SessionHeartbeat,
    /// `match.list`.
    MatchList(ListFilter),
    /// `match.find_or_create`.
    MatchFindOrCreate {
        /// Mode name.
        mode: String,
        /// Raw join context, validated by the server after the join rate limit.
        ctx: Option<Value>,
    },
    /// `match.join`.
    MatchJoin {
        /// Match id.
        match_id: String,
        /// Raw join context.
        ctx: Option<Value>,
    },
    /// `match.leave`.
    MatchLeave,
    /// `match.input`: the normalised input object.
    MatchInput(Map<String, Value>),
    /// `matchmaker.add`.
    MatchmakerAdd {
        /// Mode, default `"default"`.
        mode: String,
        /// Free-form properties, default `{}`.
        properties: Value,
        /// Players queued together with the sender (our party extension; Asobi ignores it).
        party: Vec<String>,
    },
    /// `matchmaker.remove`.
    MatchmakerRemove {
        /// The ticket.
        ticket_id: String,
    },
    /// `world.list`.
    WorldList(ListFilter),
    /// `world.create`.
    WorldCreate {
        /// Mode name.
        mode: String,
    },
    /// `world.find_or_create`.
    WorldFindOrCreate {
        /// Mode name.
        mode: String,
    },
    /// `world.join`.
    WorldJoin {
        /// World id.
        world_id: String,
        /// Raw join context.
        ctx: Option<Value>,
    },
    /// `world.leave`.
    WorldLeave,
    /// `world.input`: the normalised input and the envelope's optional `seq`.
    WorldInput {
        /// The input object.
        input: Map<String, Value>,
        /// Client input sequence, when valid.
        seq: Option<u64>,
    },
    /// `world.resync`; `zone` is `None` when malformed (silently ignored by the server).
    WorldResync {
        /// Zone coordinates.
        zone: Option<[i64; 2]>,
    },
    /// `chat.join`.
    ChatJoin {
        /// Channel id.
        channel_id: String,
    },
    /// `chat.leave`; the channel id is echoed as sent.
    ChatLeave {
        /// Channel id, any JSON value.
        channel_id: Value,
    },
    /// `chat.send`; non-string content is dropped by the server.
    ChatSend {
        /// Channel id.
        channel_id: Value,
        /// Content.
        content: Value,
    },
    /// `dm.send`.
    DmSend {
        /// Recipient.
        recipient_id: String,
        /// Text.
        content: String,
    },
    /// `asobi.presence.subscribe` (our namespace): from now on this connection is told of its
    /// accepted friends' presence.
    PresenceSubscribe,
    /// `asobi.party.create` `{max_size?}`.
    PartyCreate {
        /// 2–16; absent: the default.
        max_size: Option<i64>,
    },
    /// `asobi.party.invite` `{party_id, player_id}`.
    PartyInvite {
        /// The party.
        party_id: String,
        /// Who is invited.
        player_id: String,
    },
    /// `asobi.party.accept` `{party_id}`.
    PartyAccept {
        /// The party.
        party_id: String,
    },
    /// `asobi.party.decline` `{party_id}`.
    PartyDecline {
        /// The party.
        party_id: String,
    },
    /// `asobi.party.leave`.
    PartyLeave,
    /// `asobi.party.kick` `{party_id, player_id}`.
    PartyKick {
        /// The party.
        party_id: String,
        /// Who is removed.
        player_id: String,
    },
    /// `asobi.party.disband` `{party_id}`.
    PartyDisband {
        /// The party.
        party_id: String,
    },
    /// `asobi.party.ready` `{ready}` (default true).
    PartyReady {
        /// Ready or not.
        ready: bool,
    },
    /// `presence.update`.
    PresenceUpdate {
        /// Any JSON value, default `"online"`.
        status: Value,
    },
    /// `vote.cast`.
    VoteCast {
        /// Vote id.
        vote_id: String,
        /// A string or a list of strings (checked by the vote).
        option_id: Value,
    },
    /// `vote.veto`.
    VoteVeto {
        /// Vote id.
        vote_id: String,
    },
    /// `rpc.call`, validated by the server in the contract's order (`websocket.md` §8.24).
    RpcCall {
        /// The raw payload.
        payload: Value,
    },
}

/// Filters of `match.list` and `world.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this mode.
    pub mode: Option<String>,
    /// Only entries with free capacity when `Some(true)`.
    pub has_capacity: Option<bool>,
    /// Only entries with this joinable flag (matches only).
    pub joinable: Option<bool>,
}

impl ClientMessage {
    /// The message's type.
    pub fn client_type(&self) -> ClientType {
        use ClientMessage as M;
        use ClientType as T;
        match self {
            M::SessionConnect { .. } => T::SessionConnect,
            M::SessionHeartbeat => T::SessionHeartbeat,
            M::MatchList(_) => T::MatchList,
            M::MatchFindOrCreate { .. } => T::MatchFindOrCreate,
            M::MatchJoin { .. } => T::MatchJoin,
            M::MatchLeave => T::MatchLeave,
            M::MatchInput(_) => T::MatchInput,
            M::MatchmakerAdd { .. } => T::MatchmakerAdd,
            M::MatchmakerRemove { .. } => T::MatchmakerRemove,
            M::WorldList(_) => T::WorldList,
            M::WorldCreate { .. } => T::WorldCreate,
            M::WorldFindOrCreate { .. } => T::WorldFindOrCreate,
            M::WorldJoin { .. } => T::WorldJoin,
            M::WorldLeave => T::WorldLeave,
            M::WorldInput { .. } => T::WorldInput,
            M::WorldResync { .. } => T::WorldResync,
            M::ChatJoin { .. } => T::ChatJoin,
            M::ChatLeave { .. } => T::ChatLeave,
            M::ChatSend { .. } => T::ChatSend,
            M::DmSend { .. } => T::DmSend,
            M::PresenceUpdate { .. } => T::PresenceUpdate,
            M::PresenceSubscribe => T::PresenceSubscribe,
            M::PartyCreate { .. } => T::PartyCreate,
            M::PartyInvite { .. } => T::PartyInvite,
            M::PartyAccept { .. } => T::PartyAccept,
            M::PartyDecline { .. } => T::PartyDecline,
            M::PartyLeave => T::PartyLeave,
            M::PartyKick { .. } => T::PartyKick,
            M::PartyDisband { .. } => T::PartyDisband,
            M::PartyReady { .. } => T::PartyReady,
            M::VoteCast { .. } => T::VoteCast,
            M::VoteVeto { .. } => T::VoteVeto,
            M::RpcCall { .. } => T::RpcCall,
        }
    }

    /// Decodes the payload of a message of type `ty`. `payload` is `None` when the envelope
    /// had no `payload` key; `seq` is the envelope's top-level `seq` (used by `world.input`).
    pub fn decode(
        ty: ClientType,
        payload: Option<Value>,
        seq: Option<&Value>,
    ) -> Result<Self, DecodeFailure> {
        use ClientType as T;
        let msg = match ty {
            T::SessionConnect => {
                let p = Fields::required(payload)?;
                ClientMessage::SessionConnect {
                    token: p.opt_str("token"),
                    wire: p.opt_str("wire"),
                }
            }
            T::SessionHeartbeat => ClientMessage::SessionHeartbeat,
            T::MatchList => ClientMessage::MatchList(list_filter(payload)?),
            T::WorldList => ClientMessage::WorldList(list_filter(payload)?),
            T::MatchFindOrCreate => {
                let p = Fields::required(payload)?;
                ClientMessage::MatchFindOrCreate {
                    mode: p.str("mode")?,
                    ctx: p.raw("ctx"),
                }
            }
            T::MatchJoin => {
                let p = Fields::required(payload)?;
                ClientMessage::MatchJoin {
                    match_id: p.str("match_id")?,
                    ctx: p.raw("ctx"),
                }
            }
            T::MatchLeave => ClientMessage::MatchLeave,
            T::PresenceSubscribe => ClientMessage::PresenceSubscribe,
            T::PartyCreate => {
                let p = Fields::optional(payload)?;
                let max_size = match p.raw("max_size") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_i64().ok_or(Reason::InvalidPayload)?),
                };
                ClientMessage::PartyCreate { max_size }
            }
            T::PartyInvite | T::PartyKick => {
                let p = Fields::required(payload)?;
                let (party_id, player_id) = (p.str("party_id")?, p.str("player_id")?);
                if ty == T::PartyInvite {
                    ClientMessage::PartyInvite {
                        party_id,
                        player_id,
                    }
                } else {
                    ClientMessage::PartyKick {
                        party_id,
                        player_id,
                    }
                }
            }
            T::PartyAccept | T::PartyDecline | T::PartyDisband => {
                let party_id = Fields::required(payload)?.str("party_id")?;
                match ty {
                    T::PartyAccept => ClientMessage::PartyAccept { party_id },
                    T::PartyDecline => ClientMessage::PartyDecline { party_id },
                    _ => ClientMessage::PartyDisband { party_id },
                }
            }
            T::PartyLeave => ClientMessage::PartyLeave,
            T::PartyReady => {
                let p = Fields::optional(payload)?;
                let ready = match p.raw("ready") {
                    None | Some(Value::Null) => true,
                    Some(Value::Bool(b)) => b,
                    Some(_) => return Err(Reason::InvalidPayload.into()),
                };
                ClientMessage::PartyReady { ready }
            }
            T::MatchInput => ClientMessage::MatchInput(normalise_input(payload, true)?),
            T::MatchmakerAdd => {
                let p = Fields::optional(payload)?;
                let unknown_mode = DecodeFailure::with_type(Reason::UnknownMode, T::MatchmakerAdd);
                let mode = match p.raw("mode") {
                    None => "default".to_owned(),
                    Some(Value::String(s)) if s.len() <= 64 => s,
                    Some(_) => return Err(unknown_mode),
                };
                let party = match p.raw("party") {
                    Some(Value::Array(items)) => items
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                ClientMessage::MatchmakerAdd {
                    mode,
                    properties: p.raw("properties").unwrap_or_else(|| json!({})),
                    party,
                }
            }
            T::MatchmakerRemove => {
                let p = Fields::required(payload)?;
                ClientMessage::MatchmakerRemove {
                    ticket_id: p.str("ticket_id")?,
                }
            }
            T::WorldCreate => {
                let p = Fields::required(payload)?;
                ClientMessage::WorldCreate {
                    mode: p.str("mode")?,
                }
            }
            T::WorldFindOrCreate => {
                let p = Fields::required(payload)?;
                ClientMessage::WorldFindOrCreate {
                    mode: p.str("mode")?,
                }
            }
            T::WorldJoin => {
                let p = Fields::required(payload)?;
                ClientMessage::WorldJoin {
                    world_id: p.str("world_id")?,
                    ctx: p.raw("ctx"),
                }
            }
            T::WorldLeave => ClientMessage::WorldLeave,
            T::WorldInput => ClientMessage::WorldInput {
                input: normalise_input(payload, false)?,
                seq: seq.and_then(Value::as_u64).filter(|s| *s <= MAX_SEQ),
            },
            T::WorldResync => {
                let zone = payload
                    .as_ref()
                    .and_then(|p| p.get("zone"))
                    .and_then(Value::as_array)
                    .and_then(|a| match a.as_slice() {
                        [x, y] => Some([zone_coord(x)?, zone_coord(y)?]),
                        _ => None,
                    });
                ClientMessage::WorldResync { zone }
            }
            T::ChatJoin => {
                let p = Fields::required(payload)?;
                ClientMessage::ChatJoin {
                    channel_id: p.str("channel_id")?,
                }
            }
            T::ChatLeave => {
                let p = Fields::optional(payload)?;
                ClientMessage::ChatLeave {
                    channel_id: p.raw("channel_id").unwrap_or(Value::Null),
                }
            }
            T::ChatSend => {
                let p = Fields::required(payload)?;
                let missing = DecodeFailure::from(Reason::InvalidPayload);
                ClientMessage::ChatSend {
                    channel_id: p.raw("channel_id").ok_or(missing)?,
                    content: p.raw("content").ok_or(missing)?,
                }
            }
            T::DmSend => {
                let p = Fields::required(payload)?;
                let (Some(recipient), Some(content)) = (p.raw("recipient_id"), p.raw("content"))
                else {
                    return Err(Reason::InvalidPayload.into());
                };
                match (recipient, content) {
                    (Value::String(recipient_id), Value::String(content)) => {
                        ClientMessage::DmSend {
                            recipient_id,
                            content,
                        }
                    }
                    _ => return Err(Reason::InvalidInput.into()),
                }
            }
            T::PresenceUpdate => {
                let p = Fields::required(payload)?;
                ClientMessage::PresenceUpdate {
                    status: p.raw("status").unwrap_or_else(|| Value::from("online")),
                }
            }
            T::VoteCast => {
                let p = Fields::required(payload)?;
                let option_id = p.raw("option_id").ok_or(Reason::MissingField)?;
                ClientMessage::VoteCast {
                    vote_id: p.str("vote_id")?,
                    option_id,
                }
            }
            T::VoteVeto => {
                let p = Fields::required(payload)?;
                ClientMessage::VoteVeto {
                    vote_id: p.str("vote_id")?,
                }
            }
            T::RpcCall => ClientMessage::RpcCall {
                payload: payload.unwrap_or(Value::Null),
            },
        };
        Ok(msg)
    }

    /// The JSON payload of this message (what a client puts under `payload`).
    pub fn payload(&self) -> Value {
        use ClientMessage as M;
        fn opt(map: &mut Map<String, Value>, key: &str, v: Option<Value>) {
            if let Some(v) = v {
                map.insert(key.to_owned(), v);
            }
        }
        match self {
            M::SessionConnect { token, wire } => {
                let mut m = Map::new();
                opt(&mut m, "token", token.clone().map(Value::from));
                opt(&mut m, "wire", wire.clone().map(Value::from));
                Value::Object(m)
            }
            M::SessionHeartbeat
            | M::MatchLeave
            | M::WorldLeave
            | M::PresenceSubscribe
            | M::PartyLeave => json!({}),
            M::PartyCreate { max_size } => match max_size {
                Some(n) => json!({ "max_size": n }),
                None => json!({}),
            },
            M::PartyInvite {
                party_id,
                player_id,
            }
            | M::PartyKick {
                party_id,
                player_id,
            } => {
                json!({ "party_id": party_id, "player_id": player_id })
            }
            M::PartyAccept { party_id }
            | M::PartyDecline { party_id }
            | M::PartyDisband { party_id } => json!({ "party_id": party_id }),
            M::PartyReady { ready } => json!({ "ready": ready }),
            M::MatchList(f) | M::WorldList(f) => {
                let mut m = Map::new();
                opt(&mut m, "mode", f.mode.clone().map(Value::from));
                opt(&mut m, "has_capacity", f.has_capacity.map(Value::from));
                opt(&mut m, "joinable", f.joinable.map(Value::from));
                Value::Object(m)
            }
            M::MatchFindOrCreate { mode, ctx } => {
                let mut m = Map::new();
                m.insert("mode".into(), mode.clone().into());
                opt(&mut m, "ctx", ctx.clone());
                Value::Object(m)
            }
            M::MatchJoin { match_id, ctx } => {
                let mut m = Map::new();
                m.insert("match_id".into(), match_id.clone().into());
                opt(&mut m, "ctx", ctx.clone());
                Value::Object(m)
            }
            M::WorldJoin { world_id, ctx } => {
                let mut m = Map::new();
                m.insert("world_id".into(), world_id.clone().into());
                opt(&mut m, "ctx", ctx.clone());
                Value::Object(m)
            }
            M::MatchInput(input) | M::WorldInput { input, .. } => Value::Object(input.clone()),
            M::MatchmakerAdd {
                mode,
                properties,
                party,
            } => {
                let mut m = Map::new();
                m.insert("mode".into(), mode.clone().into());
                m.insert("properties".into(), properties.clone());
                if !party.is_empty() {
                    m.insert("party".into(), party.clone().into());
                }
                Value::Object(m)
            }
            M::MatchmakerRemove { ticket_id } => json!({ "ticket_id": ticket_id }),
            M::WorldCreate { mode } | M::WorldFindOrCreate { mode } => json!({ "mode": mode }),
            M::WorldResync { zone } => match zone {
                Some(z) => json!({ "zone": z }),
                None => json!({}),
            },
            M::ChatJoin { channel_id } => json!({ "channel_id": channel_id }),
            M::ChatLeave { channel_id } => json!({ "channel_id": channel_id }),
            M::ChatSend {
                channel_id,
                content,
            } => {
                json!({ "channel_id": channel_id, "content": content })
            }
            M::DmSend {
                recipient_id,
                content,
            } => {
                json!({ "recipient_id": recipient_id, "content": content })
            }
            M::PresenceUpdate { status } => json!({ "status": status }),
            M::VoteCast { vote_id, option_id } => {
                json!({ "vote_id": vote_id, "option_id": option_id })
            }
            M::VoteVeto { vote_id } => json!({ "vote_id": vote_id }),
            M::RpcCall { payload } => payload.clone(),
        }
    }

    /// The envelope-level `seq` this message carries (only `world.input`).
    pub fn seq(&self) -> Option<u64> {
        match self {
            ClientMessage::WorldInput { seq, .. } => *seq,
            _ => None,
        }
    }
}

/// A payload that could not be decoded: the reason to answer with, and the extra `"type"`
/// key some errors carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeFailure {
    /// The error reason.
    pub reason: Reason,
    /// Set for errors that carry `"type": "<request type>"` (`matchmaker.add` …).
    pub request_type: Option<ClientType>,
}

impl DecodeFailure {
    fn with_type(reason: Reason, ty: ClientType) -> Self {
        DecodeFailure {
            reason,
            request_type: Some(ty),
        }
    }
}

impl From<Reason> for DecodeFailure {
    fn from(reason: Reason) -> Self {
        DecodeFailure {
            reason,
            request_type: None,
        }
    }
}

/// Validates a join `ctx` (`websocket.md` §8.5): an object of at most 8 keys, keys ≤ 64 bytes,
/// values strings ≤ 256 bytes, integers or booleans.
pub fn validate_join_ctx(ctx: &Value) -> Result<&Map<String, Value>, Reason> {
    let Value::Object(map) = ctx else {
        return Err(Reason::InvalidJoinCtx);
    };
    if map.len() > 8 {
        return Err(Reason::JoinCtxTooManyKeys);
    }
    for (key, value) in map {
        if key.is_empty() {
            return Err(Reason::InvalidJoinCtxKey);
        }
        if key.len() > 64 {
            return Err(Reason::JoinCtxKeyTooLong);
        }
        match value {
            Value::String(s) if s.len() > 256 => return Err(Reason::JoinCtxValueTooLong),
            Value::String(_) | Value::Bool(_) => {}
            Value::Number(n) if n.is_i64() || n.is_u64() => {}
            _ => return Err(Reason::InvalidJoinCtxValue),
        }
    }
    Ok(map)
}

fn zone_coord(v: &Value) -> Option<i64> {
    const LIMIT: i64 = (1 << 32) - 1;
    v.as_i64().filter(|c| c.abs() <= LIMIT)
}

fn list_filter(payload: Option<Value>) -> Result<ListFilter, DecodeFailure> {
    let p = Fields::optional(payload)?;
    let mode = match p.raw("mode") {
        None => None,
        Some(Value::String(s)) if s.len() <= 64 => Some(s),
        Some(_) => return Err(Reason::InvalidModeFilter.into()),
    };
    let flag = |key: &str, reason: Reason| match p.raw(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(DecodeFailure::from(reason)),
    };
    Ok(ListFilter {
        mode,
        has_capacity: flag("has_capacity", Reason::InvalidHasCapacityFilter)?,
        joinable: flag("joinable", Reason::InvalidJoinableFilter)?,
    })
}

/// `match.input` / `world.input` normalisation (`websocket.md` §8.7, §8.15): a payload whose
/// only key is an object `data` is unwrapped; for `match.input` a string `data` is decoded as
/// JSON and must be an object.
fn normalise_input(
    payload: Option<Value>,
    string_data: bool,
) -> Result<Map<String, Value>, DecodeFailure> {
    let Some(Value::Object(mut map)) = payload else {
        return Err(Reason::InvalidPayload.into());
    };
    if map.len() == 1 {
        match map.remove("data") {
            Some(Value::Object(inner)) => return Ok(inner),
            Some(Value::String(s)) if string_data => {
                return match serde_json::from_str::<Value>(&s) {
                    Ok(Value::Object(inner)) => Ok(inner),
                    _ => Err(Reason::InvalidPayload.into()),
                };
            }
            Some(other) => {
                map.insert("data".into(), other);
            }
            None => {}
        }
    }
    Ok(map)
}

/// The longest string, key or value, anywhere in an input object, in bytes (a server caps
/// what a script is handed from a client). Iterative: depth costs no stack.
pub fn longest_string(input: &Map<String, Value>) -> usize {
    let mut longest = 0;
    let mut stack: Vec<&Value> = Vec::new();
    for (k, v) in input {
        longest = longest.max(k.len());
        stack.push(v);
    }
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => longest = longest.max(s.len()),
            Value::Array(items) => stack.extend(items),
            Value::Object(m) => {
                for (k, v) in m {
                    longest = longest.max(k.len());
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    longest
}

/// Field access over a payload object, with the contract's error reasons.
struct Fields(Map<String, Value>);

impl Fields {
    /// The payload must be present and an object.
    fn required(payload: Option<Value>) -> Result<Self, DecodeFailure> {
        match payload {
            Some(Value::Object(m)) => Ok(Fields(m)),
            None => Err(Reason::MissingField.into()),
            Some(_) => Err(Reason::InvalidPayload.into()),
        }
    }

    /// The payload may be absent (read as `{}`) but, if present, must be an object.
    fn optional(payload: Option<Value>) -> Result<Self, DecodeFailure> {
        match payload {
            Some(Value::Object(m)) => Ok(Fields(m)),
            None | Some(Value::Null) => Ok(Fields(Map::new())),
            Some(_) => Err(Reason::InvalidPayload.into()),
        }
    }

    fn raw(&self, key: &str) -> Option<Value> {
        self.0.get(key).cloned()
    }

    fn opt_str(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(Value::as_str).map(str::to_owned)
    }

    fn str(&self, key: &str) -> Result<String, DecodeFailure> {
        match self.0.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            None => Err(Reason::MissingField.into()),
            Some(_) => Err(Reason::InvalidPayload.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(ty: ClientType, payload: Value) -> Result<ClientMessage, DecodeFailure> {
        ClientMessage::decode(ty, Some(payload), None)
    }

    #[test]
    fn longest_string_looks_at_every_key_and_value() {
        let input = json!({"a": 1, "bb": [{"ccc": "dddd"}, ["eeeee"]], "f": {"gggggg": null}});
        let Value::Object(map) = input else { panic!() };
        assert_eq!(longest_string(&map), 6);
        assert_eq!(longest_string(&Map::new()), 0);
    }

    #[test]
    fn input_normalisation_follows_the_contract() {
        let m = decode(ClientType::MatchInput, json!({"data": {"fire": true}})).unwrap();
        assert_eq!(
            m,
            ClientMessage::MatchInput(json!({"fire": true}).as_object().unwrap().clone())
        );
        let m = decode(ClientType::MatchInput, json!({"data": "{\"x\":1}"})).unwrap();
        assert_eq!(m.payload(), json!({"x": 1}));
        assert_eq!(
            decode(ClientType::MatchInput, json!({"data": "not json"}))
                .unwrap_err()
                .reason,
            Reason::InvalidPayload
        );
        let kept = decode(ClientType::MatchInput, json!({"data": 1, "x": 2})).unwrap();
        assert_eq!(kept.payload(), json!({"data": 1, "x": 2}));
        // world.input does not decode string data
        let w = decode(ClientType::WorldInput, json!({"data": "{\"x\":1}"})).unwrap();
        assert_eq!(w.payload(), json!({"data": "{\"x\":1}"}));
        assert_eq!(
            decode(ClientType::WorldInput, json!([1]))
                .unwrap_err()
                .reason,
            Reason::InvalidPayload
        );
    }

    #[test]
    fn world_input_seq_is_range_checked() {
        let ok = ClientMessage::decode(ClientType::WorldInput, Some(json!({})), Some(&json!(412)));
        assert_eq!(ok.unwrap().seq(), Some(412));
        let too_big = json!(MAX_SEQ + 1);
        let m = ClientMessage::decode(ClientType::WorldInput, Some(json!({})), Some(&too_big));
        assert_eq!(m.unwrap().seq(), None);
        let m = ClientMessage::decode(ClientType::WorldInput, Some(json!({})), Some(&json!(-1)));
        assert_eq!(m.unwrap().seq(), None);
    }

    #[test]
    fn list_filters_are_type_checked() {
        let bad = |p| decode(ClientType::MatchList, p).unwrap_err().reason;
        assert_eq!(bad(json!({"mode": null})), Reason::InvalidModeFilter);
        assert_eq!(
            bad(json!({"mode": "x".repeat(65)})),
            Reason::InvalidModeFilter
        );
        assert_eq!(
            bad(json!({"has_capacity": "yes"})),
            Reason::InvalidHasCapacityFilter
        );
        assert_eq!(
            bad(json!({"joinable": null})),
            Reason::InvalidJoinableFilter
        );
        assert_eq!(bad(json!("x")), Reason::InvalidPayload);
        let ok = decode(ClientType::MatchList, json!({"joinable": false})).unwrap();
        assert_eq!(
            ok,
            ClientMessage::MatchList(ListFilter {
                joinable: Some(false),
                ..Default::default()
            })
        );
    }

    #[test]
    fn matchmaker_add_defaults_and_errors() {
        let m = ClientMessage::decode(ClientType::MatchmakerAdd, None, None).unwrap();
        assert_eq!(
            m,
            ClientMessage::MatchmakerAdd {
                mode: "default".into(),
                properties: json!({}),
                party: vec![]
            }
        );
        let e = decode(ClientType::MatchmakerAdd, json!({"mode": 3})).unwrap_err();
        assert_eq!(e.reason, Reason::UnknownMode);
        assert_eq!(e.request_type, Some(ClientType::MatchmakerAdd));
    }

    #[test]
    fn missing_and_mistyped_fields() {
        assert_eq!(
            decode(ClientType::MatchJoin, json!({})).unwrap_err().reason,
            Reason::MissingField
        );
        assert_eq!(
            decode(ClientType::MatchJoin, json!({"match_id": 1}))
                .unwrap_err()
                .reason,
            Reason::InvalidPayload
        );
        assert_eq!(
            ClientMessage::decode(ClientType::SessionConnect, None, None)
                .unwrap_err()
                .reason,
            Reason::MissingField
        );
        assert_eq!(
            decode(
                ClientType::DmSend,
                json!({"recipient_id": 1, "content": "x"})
            )
            .unwrap_err()
            .reason,
            Reason::InvalidInput
        );
        assert_eq!(
            decode(ClientType::ChatSend, json!({"content": "x"}))
                .unwrap_err()
                .reason,
            Reason::InvalidPayload
        );
        let t = decode(ClientType::SessionConnect, json!({"token": 5})).unwrap();
        assert_eq!(
            t,
            ClientMessage::SessionConnect {
                token: None,
                wire: None
            }
        );
    }

    #[test]
    fn resync_zone_is_parsed_or_ignored() {
        let ok = decode(ClientType::WorldResync, json!({"zone": [1, -2]})).unwrap();
        assert_eq!(
            ok,
            ClientMessage::WorldResync {
                zone: Some([1, -2])
            }
        );
        for bad in [
            json!({"zone": [1]}),
            json!({"zone": "x"}),
            json!({"zone": [1.5, 2]}),
            json!({"zone": [1i64 << 33, 0]}),
        ] {
            assert_eq!(
                decode(ClientType::WorldResync, bad).unwrap(),
                ClientMessage::WorldResync { zone: None }
            );
        }
    }

    #[test]
    fn join_ctx_rules() {
        assert!(validate_join_ctx(&json!({"team": "red", "lvl": 3, "vip": true})).is_ok());
        assert_eq!(validate_join_ctx(&json!(null)), Err(Reason::InvalidJoinCtx));
        assert_eq!(
            validate_join_ctx(&json!({"f": 1.5})),
            Err(Reason::InvalidJoinCtxValue)
        );
        assert_eq!(
            validate_join_ctx(&json!({"n": {"a": 1}})),
            Err(Reason::InvalidJoinCtxValue)
        );
        assert_eq!(
            validate_join_ctx(&json!({"s": "x".repeat(257)})),
            Err(Reason::JoinCtxValueTooLong)
        );
        let long_key = json!({ "k".repeat(65): 1 });
        assert_eq!(validate_join_ctx(&long_key), Err(Reason::JoinCtxKeyTooLong));
        let many: Map<String, Value> = (0..9).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(
            validate_join_ctx(&Value::Object(many)),
            Err(Reason::JoinCtxTooManyKeys)
        );
    }

    #[test]
    fn kinds_round_trip() {
        assert_eq!(ClientType::ALL.len(), 33);
        for t in ClientType::ALL {
            assert_eq!(ClientType::from_kind(t.kind()), Some(*t));
            assert_eq!(ClientType::parse(t.as_str()), Some(*t));
        }
    }
}
