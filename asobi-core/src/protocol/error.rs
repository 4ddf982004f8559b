//! The closed set of error codes (`rest.md` §3), the legacy WebSocket `reason` strings and
//! the reason → code table (`websocket.md` §3.1), and the error payloads built from them.
//!
//! Codes are a closed enum on purpose: a string from a client, a script or a provider never
//! becomes a code; it goes into `details`. Every code has a fixed HTTP status.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

macro_rules! error_codes {
    ($($variant:ident = $name:literal, $status:literal;)*) => {
        /// One code of the closed set in `rest.md` §3. The HTTP status is a function of the code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(#[doc = concat!("`", $name, "` (HTTP ", stringify!($status), ")")] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the contract's tables.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire string, e.g. `"match.full"`.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// The HTTP status this code is always answered with.
            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// Parses a wire string back into a code.
            pub fn parse(s: &str) -> Option<ErrorCode> {
                match s { $($name => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    Internal = "internal", 500;
    RateLimited = "rate_limited", 429;
    JoinRateLimited = "join_rate_limited", 429;
    PayloadTooLarge = "payload_too_large", 413;
    InvalidJson = "invalid_json", 400;
    InvalidMessage = "invalid_message", 400;
    InvalidPayload = "invalid_payload", 400;
    MissingField = "missing_field", 400;
    UnknownType = "unknown_type", 400;
    Unauthenticated = "unauthenticated", 401;
    Forbidden = "forbidden", 403;
    ValidationFailed = "validation_failed", 422;
    LengthRequired = "length_required", 411;
    ClientGateDenied = "client_gate_denied", 403;
    NotReady = "not_ready", 503;
    RpcUnknownMethod = "rpc.unknown_method", 404;
    DatagramUnavailable = "datagram_unavailable", 503;
    RpcInvalidCid = "rpc.invalid_cid", 400;
    RpcUnsupportedProtocol = "rpc.unsupported_protocol", 400;
    RpcInvalidParams = "rpc.invalid_params", 400;
    EventInvalidName = "event.invalid_name", 400;
    EventUnownedDomain = "event.unowned_domain", 403;
    EventInvalidData = "event.invalid_data", 400;
    EventPayloadTooLarge = "event.payload_too_large", 413;
    AuthRegistrationClosed = "auth.registration_closed", 403;
    AuthPasswordRegistrationDisabled = "auth.password_registration_disabled", 403;
    AuthUsernameTaken = "auth.username_taken", 409;
    AuthInvalidCredentials = "auth.invalid_credentials", 401;
    AuthUnsupportedProvider = "auth.unsupported_provider", 401;
    AuthProviderRejected = "auth.provider_rejected", 401;
    AuthProviderAlreadyLinked = "auth.provider_already_linked", 409;
    AuthAlreadyRegistering = "auth.already_registering", 409;
    AuthIdentityNotFound = "auth.identity_not_found", 404;
    AuthLastAuthMethod = "auth.last_auth_method", 422;
    AuthRegistrationFailed = "auth.registration_failed", 500;
    AuthLinkFailed = "auth.link_failed", 500;
    AuthTokenIssueFailed = "auth.token_issue_failed", 500;
    GuestDisabled = "guest.disabled", 403;
    GuestInvalidDeviceId = "guest.invalid_device_id", 400;
    GuestWeakDeviceSecret = "guest.weak_device_secret", 400;
    GuestInvalidDeviceSecret = "guest.invalid_device_secret", 401;
    GuestRevoked = "guest.revoked", 401;
    GuestAlreadyUpgraded = "guest.already_upgraded", 401;
    GuestRateLimited = "guest.rate_limited", 429;
    GuestCapacityReached = "guest.capacity_reached", 503;
    GuestUnavailable = "guest.unavailable", 503;
    GuestDeviceAlreadyRegistered = "guest.device_already_registered", 409;
    GuestNotUnclaimed = "guest.not_unclaimed", 409;
    GuestCreateFailed = "guest.create_failed", 500;
    PlayerNotFound = "player.not_found", 404;
    PlayerConfirmationFailed = "player.confirmation_failed", 403;
    PlayerCredentialsChanged = "player.credentials_changed", 409;
    PlayerEraseFailed = "player.erase_failed", 500;
    WorldPlayerLimitReached = "world.player_limit_reached", 429;
    WorldCapacityReached = "world.capacity_reached", 503;
    WorldCreateFailed = "world.create_failed", 400;
    WorldNotFound = "world.not_found", 404;
    WorldAlreadyJoined = "world.already_joined", 409;
    MatchmakerTicketNotFound = "matchmaker.ticket_not_found", 404;
    MatchmakerUnknownMode = "matchmaker.unknown_mode", 400;
    MatchmakerQueueFull = "matchmaker.queue_full", 503;
    VoteNotFound = "vote.not_found", 404;
    MatchNotFound = "match.not_found", 404;
    MatchNotInMatch = "match.not_in_match", 409;
    MatchFull = "match.full", 409;
    MatchLocked = "match.locked", 409;
    MatchJoinRefused = "match.join_refused", 403;
    ChatInvalidChannelId = "chat.invalid_channel_id", 400;
    ChatTooManyChannels = "chat.too_many_channels", 429;
    WsRequestFailed = "ws.request_failed", 400;
    LeaderboardClientSubmitDisabled = "leaderboard.client_submit_disabled", 403;
    LeaderboardCapacityReached = "leaderboard.capacity_reached", 503;
    EconomyInsufficientFunds = "economy.insufficient_funds", 402;
    EconomyListingInactive = "economy.listing_inactive", 400;
    EconomyPurchaseFailed = "economy.purchase_failed", 500;
    InventoryItemNotFound = "inventory.item_not_found", 404;
    InventoryInsufficientQuantity = "inventory.insufficient_quantity", 400;
    InventoryInvalidQuantity = "inventory.invalid_quantity", 400;
    IapVerificationFailed = "iap.verification_failed", 422;
    IapMissingTransactionId = "iap.missing_transaction_id", 422;
    IapTransactionAlreadyClaimed = "iap.transaction_already_claimed", 409;
    IapRecordFailed = "iap.record_failed", 500;
    SocialCannotFriendSelf = "social.cannot_friend_self", 400;
    SocialFriendNotFound = "social.friend_not_found", 404;
    SocialAlreadyFriend = "social.already_friend", 409;
    SocialFriendshipNotFound = "social.friendship_not_found", 404;
    SocialGroupNotFound = "social.group_not_found", 404;
    SocialGroupClosed = "social.group_closed", 403;
    SocialGroupFull = "social.group_full", 409;
    SocialAlreadyMember = "social.already_member", 409;
    SocialInvalidRole = "social.invalid_role", 400;
    SocialMemberNotFound = "social.member_not_found", 404;
    DmBlocked = "dm.blocked", 403;
    DmContentEmpty = "dm.content_empty", 400;
    DmContentTooLarge = "dm.content_too_large", 413;
    TournamentNotFound = "tournament.not_found", 404;
    TournamentFull = "tournament.full", 409;
    TournamentAlreadyJoined = "tournament.already_joined", 409;
    NotificationNotFound = "notification.not_found", 404;
    SaveNotFound = "save.not_found", 404;
    SaveTooLarge = "save.too_large", 413;
    SaveVersionConflict = "save.version_conflict", 409;
    SaveSlotLimitReached = "save.slot_limit_reached", 409;
    StorageNotFound = "storage.not_found", 404;
    StorageForbidden = "storage.forbidden", 403;
    StorageValueTooLarge = "storage.value_too_large", 413;
    StorageInvalidPerm = "storage.invalid_perm", 400;
    StorageInvalidRequest = "storage.invalid_request", 400;
    StorageConflict = "storage.conflict", 500;
    StorageQueryFailed = "storage.query_failed", 500;
    PartyNotFound = "party.not_found", 404;
    PartyFull = "party.full", 409;
    PartyAlreadyInParty = "party.already_in_party", 409;
    PartyNotLeader = "party.not_leader", 403;
    PartyNotInvited = "party.not_invited", 403;
    AccountBanned = "account.banned", 403;
    OpsInvalidBoardId = "ops.invalid_board_id", 400;
    OpsConfirmationMismatch = "ops.confirmation_mismatch", 400;
    OpsInvalidId = "ops.invalid_id", 400;
    OpsEraseFailed = "ops.erase_failed", 500;
    OpsInvalidFilter = "ops.invalid_filter", 400;
    OpsInvalidCutoff = "ops.invalid_cutoff", 400;
    OpsNotFound = "ops.not_found", 404;
    OpsPurgeCountMismatch = "ops.purge_count_mismatch", 409;
    OpsUnknownSortField = "ops.unknown_sort_field", 400;
    OpsPurgeFailed = "ops.purge_failed", 500;
    OpsUnknownSortOrder = "ops.unknown_sort_order", 400;
    OpsOrphanedExtensionRows = "ops.orphaned_extension_rows", 409;
    OpsQueryFailed = "ops.query_failed", 500;
    OpsExportIncomplete = "ops.export_incomplete", 500;
    OpsConfirmationRequired = "ops.confirmation_required", 400;
    ConsoleNotFound = "console.not_found", 404;
    ConsoleNotBuilt = "console.not_built", 503;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ErrorCode::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code `{s}`")))
    }
}

macro_rules! reasons {
    ($($variant:ident = $name:literal => $code:ident;)*) => {
        /// A legacy WebSocket error `reason` (`websocket.md` §3). Each maps to one [`ErrorCode`];
        /// reasons without a code of their own map to `ws.request_failed`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl Reason {
            /// Every reason this server can emit.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The wire string, e.g. `"match_full"`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $name,)* }
            }

            /// The code the reason maps to (`websocket.md` §3.1).
            pub const fn code(self) -> ErrorCode {
                match self { $(Reason::$variant => ErrorCode::$code,)* }
            }

            /// Parses a wire string back into a reason.
            pub fn parse(s: &str) -> Option<Reason> {
                match s { $($name => Some(Reason::$variant),)* _ => None }
            }
        }
    };
}

reasons! {
    PayloadTooLarge = "payload_too_large" => PayloadTooLarge;
    InvalidJson = "invalid_json" => InvalidJson;
    InvalidMessage = "invalid_message" => InvalidMessage;
    InvalidPayload = "invalid_payload" => InvalidPayload;
    MissingField = "missing_field" => MissingField;
    RateLimited = "rate_limited" => RateLimited;
    JoinRateLimited = "join_rate_limited" => JoinRateLimited;
    UnknownType = "unknown_type" => UnknownType;
    Internal = "internal" => Internal;
    InternalError = "internal_error" => Internal;
    InvalidToken = "invalid_token" => Unauthenticated;
    NotAuthorized = "not_authorized" => Forbidden;
    NotOwner = "not_owner" => Forbidden;
    MatchNotFound = "match_not_found" => MatchNotFound;
    MatchFull = "match_full" => MatchFull;
    MatchLocked = "match_locked" => MatchLocked;
    JoinRefused = "join_refused" => MatchJoinRefused;
    NotInMatch = "not_in_match" => MatchNotInMatch;
    WorldNotFound = "world_not_found" => WorldNotFound;
    AlreadyInWorld = "already_in_world" => WorldAlreadyJoined;
    InvalidChannelId = "invalid_channel_id" => ChatInvalidChannelId;
    TooManyChannels = "too_many_channels" => ChatTooManyChannels;
    UnknownMode = "unknown_mode" => MatchmakerUnknownMode;
    QueueFull = "queue_full" => MatchmakerQueueFull;
    Blocked = "blocked" => DmBlocked;
    ContentEmpty = "content_empty" => DmContentEmpty;
    ContentTooLarge = "content_too_large" => DmContentTooLarge;
    // Reasons without a code of their own (`websocket.md` §3.2) → `ws.request_failed`.
    BinaryUplinkUnsupported = "binary_uplink_unsupported" => WsRequestFailed;
    NotFound = "not_found" => WsRequestFailed;
    WorldFull = "world_full" => WsRequestFailed;
    WorldNotReady = "world_not_ready" => WsRequestFailed;
    ZoneUnavailable = "zone_unavailable" => WsRequestFailed;
    WorldCapacityReached = "world_capacity_reached" => WsRequestFailed;
    PlayerWorldLimitReached = "player_world_limit_reached" => WsRequestFailed;
    WorldServerNotStarted = "world_server_not_started" => WsRequestFailed;
    QuickPlayDisabled = "quick_play_disabled" => WsRequestFailed;
    WrongModeType = "wrong_mode_type" => WsRequestFailed;
    MatchCapacityReached = "match_capacity_reached" => WsRequestFailed;
    LuaRuntimeUnavailable = "lua_runtime_unavailable" => WsRequestFailed;
    MatchPaused = "match_paused" => WsRequestFailed;
    MatchNotStarted = "match_not_started" => WsRequestFailed;
    InvalidModeFilter = "invalid_mode_filter" => WsRequestFailed;
    InvalidHasCapacityFilter = "invalid_has_capacity_filter" => WsRequestFailed;
    InvalidJoinableFilter = "invalid_joinable_filter" => WsRequestFailed;
    InvalidJoinCtx = "invalid_join_ctx" => WsRequestFailed;
    InvalidJoinCtxKey = "invalid_join_ctx_key" => WsRequestFailed;
    JoinCtxTooManyKeys = "join_ctx_too_many_keys" => WsRequestFailed;
    JoinCtxKeyTooLong = "join_ctx_key_too_long" => WsRequestFailed;
    JoinCtxValueTooLong = "join_ctx_value_too_long" => WsRequestFailed;
    InvalidJoinCtxValue = "invalid_join_ctx_value" => WsRequestFailed;
    VoteNotFound = "vote_not_found" => WsRequestFailed;
    VoteClosed = "vote_closed" => WsRequestFailed;
    NotEligible = "not_eligible" => WsRequestFailed;
    InvalidOption = "invalid_option" => WsRequestFailed;
    VetoDisabled = "veto_disabled" => WsRequestFailed;
    NoVetoTokens = "no_veto_tokens" => WsRequestFailed;
    InvalidInput = "invalid_input" => WsRequestFailed;
    UnknownRequest = "unknown_request" => WsRequestFailed;
    Timeout = "timeout" => WsRequestFailed;
    HeapExhausted = "heap_exhausted" => WsRequestFailed;
    ReductionsExhausted = "reductions_exhausted" => WsRequestFailed;
    // Ours, for requests whose service is not part of this build yet. Behaves like any
    // other code-less reason: `ws.request_failed` with `details.reason`.
    NotImplemented = "not_implemented" => WsRequestFailed;
    // Ours, for the party extension of `matchmaker.add`.
    InvalidParty = "invalid_party" => WsRequestFailed;
    // Ours: a match or world input carries a string longer than the server's
    // `max_input_string_bytes`; the input is dropped.
    InputStringTooLong = "input_string_too_long" => WsRequestFailed;
    // Ours: `matchmaker.add` listed other players, who must accept a party first.
    PartyNotAccepted = "party_not_accepted" => WsRequestFailed;
    // Ours: the `asobi.party.*` requests.
    PartyNotFound = "party_not_found" => PartyNotFound;
    PartyFull = "party_full" => PartyFull;
    AlreadyInParty = "already_in_party" => PartyAlreadyInParty;
    NotPartyLeader = "not_party_leader" => PartyNotLeader;
    NotInvited = "not_invited" => PartyNotInvited;
    // Ours: `matchmaker.add` properties not an object, over 4 KiB or over 32 keys.
    InvalidProperties = "invalid_properties" => WsRequestFailed;
    // Ours: `session.connect` by a player already holding `max_sockets_per_player` sockets.
    TooManySessions = "too_many_sessions" => WsRequestFailed;
    PartyMemberQueued = "party_member_queued" => WsRequestFailed;
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `{code, message, details}` object used by REST error bodies, `error` frames and
/// `rpc.error` payloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The code. The server only builds these from [`ErrorCode`] (the closed set); a client
    /// may also read extension codes such as `quests.already_claimed`, hence a string.
    pub code: String,
    /// Prose for humans; never parsed by clients.
    pub message: String,
    /// Always an object; `{}` when empty.
    #[serde(default)]
    pub details: Map<String, Value>,
}

impl ErrorObject {
    /// An error object with the code's default message and empty details.
    pub fn new(code: ErrorCode) -> Self {
        ErrorObject {
            code: code.as_str().to_owned(),
            message: default_message(code).to_owned(),
            details: Map::new(),
        }
    }

    /// The code, when it is one of the closed set.
    pub fn known_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds one entry to `details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// The payload of an `error` frame: the legacy `reason`, the error object, and at most a few
/// extra top-level keys (`"type"` on matchmaker and input-hint errors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// The legacy flat reason string; the JS SDK still reads it.
    pub reason: String,
    /// The structured error.
    pub error: ErrorObject,
    /// Extra top-level key some errors carry (`matchmaker.add`, `matchmaker.remove`,
    /// `match.input`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
}

impl ErrorPayload {
    /// Builds the payload for a reason: its code, a default message, and for
    /// `ws.request_failed` the raw reason in `details.reason`.
    pub fn from_reason(reason: Reason) -> Self {
        let code = reason.code();
        let mut error = ErrorObject::new(code);
        if code == ErrorCode::WsRequestFailed {
            error
                .details
                .insert("reason".into(), Value::from(reason.as_str()));
        }
        ErrorPayload {
            reason: reason.as_str().to_owned(),
            error,
            request_type: None,
        }
    }

    /// Adds the extra top-level `"type"` key.
    pub fn with_request_type(mut self, ty: &str) -> Self {
        self.request_type = Some(ty.to_owned());
        self
    }

    /// Adds one entry to `error.details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.error.details.insert(key.to_owned(), value.into());
        self
    }
}

/// A short human message for each code. Free wording; clients never parse it.
pub fn default_message(code: ErrorCode) -> &'static str {
    use ErrorCode as C;
    match code {
        C::Internal => "Something went wrong on the server.",
        C::RateLimited => "Slow down.",
        C::JoinRateLimited => "Too many joins; wait a minute.",
        C::PayloadTooLarge => "The body or frame is too large.",
        C::InvalidJson => "The body or frame is not valid JSON.",
        C::InvalidMessage => "The message is missing a string `type` field.",
        C::InvalidPayload => "The payload has the wrong shape.",
        C::MissingField => "A required field is missing.",
        C::UnknownType => "Unknown message type.",
        C::Unauthenticated => "Credentials missing or invalid.",
        C::Forbidden => "Not allowed.",
        C::ValidationFailed => "Some fields are invalid; see details.",
        C::LengthRequired => "A body needs a Content-Length header.",
        C::NotReady => "The server is not ready yet.",
        C::RpcUnknownMethod => "No handler for that method.",
        C::DatagramUnavailable => "Datagram transport is not available.",
        C::AuthUsernameTaken => "That username is taken.",
        C::AuthInvalidCredentials => "Wrong username or password.",
        C::GuestDisabled => "Guest sign-in is disabled.",
        C::GuestInvalidDeviceId => "The device id must be 1 to 255 bytes.",
        C::GuestWeakDeviceSecret => "The device secret must be base64 of 32 to 128 random bytes.",
        C::GuestInvalidDeviceSecret => "The device secret does not match.",
        C::PlayerNotFound => "No such player.",
        C::PlayerConfirmationFailed => "The password confirmation is wrong.",
        C::MatchFull => "That match has no free slot.",
        C::MatchNotInMatch => "Not joined to a match.",
        C::MatchNotFound => "No such match.",
        C::WsRequestFailed => "The request failed; see details.reason.",
        _ => "The request failed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closed_set_has_127_unique_codes() {
        // The contract's 127, and our own `party.` and `account.` domains (parties and bans
        // are ours, as an extension's codes would be: `rest.md` §3).
        let contract = ErrorCode::ALL
            .iter()
            .filter(|c| !c.as_str().starts_with("party.") && !c.as_str().starts_with("account."))
            .count();
        assert_eq!(contract, 127);
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(ErrorCode::AuthUsernameTaken.http_status(), 409);
        assert_eq!(ErrorCode::EconomyInsufficientFunds.http_status(), 402);
        assert_eq!(ErrorCode::LengthRequired.http_status(), 411);
        assert_eq!(ErrorCode::ConsoleNotBuilt.http_status(), 503);
    }

    #[test]
    fn codeless_reasons_map_to_request_failed_with_the_reason_in_details() {
        let p = ErrorPayload::from_reason(Reason::WorldFull);
        assert_eq!(p.error.known_code(), Some(ErrorCode::WsRequestFailed));
        assert_eq!(p.error.details["reason"], "world_full");
        let p = ErrorPayload::from_reason(Reason::InvalidToken);
        assert_eq!(p.error.known_code(), Some(ErrorCode::Unauthenticated));
        assert!(p.error.details.is_empty());
        assert_eq!(Reason::InternalError.code(), ErrorCode::Internal);
    }
}
