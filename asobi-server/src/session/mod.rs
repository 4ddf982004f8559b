//! The realtime session: one per connection, whatever the transport.
//!
//! A gateway hands the session each inbound frame; the session enforces the per-connection
//! limits (frame size, the fixed 60-frames-per-second window), applies the
//! pre-authentication rule, authenticates `session.connect`, routes requests, and answers
//! through its outbound queue. It knows nothing of sockets: the gateway owns the connection
//! and the timers (`websocket.md` §2.1, §4, §5).

pub mod registry;

use std::time::{Duration, Instant};

use asobi_core::protocol::binary::Frame;
use asobi_core::protocol::client::validate_join_ctx;
use asobi_core::protocol::envelope::{InboundError, parse_envelope};
use asobi_core::protocol::server::{
    Channel, Heartbeat, MatchList, MatchmakerQueued, Presence, RpcError, SessionConnected, Success,
    WorldList,
};
use asobi_core::protocol::{
    Cid, ClientMessage, ClientType, Envelope, ErrorCode, ErrorObject, ErrorPayload, Inbound,
    MAX_TEXT_FRAME, Reason, ServerMessage,
};
use serde_json::Value;

use crate::auth::Principal;
use crate::matches::{JoinError, MatchError};
use crate::matchmaker::MatchmakerError;
use crate::ratelimit::Bucket;
use crate::state::AppState;
use crate::time::now_ms;
use crate::worlds::{WorldError, WorldJoinError};
pub use registry::{CloseReason, OutFrame, Responder, SessionHandle, SessionInbox, Sessions};

/// What services call once a notification committed: `notification.new` (the stored row) to
/// the player's live sessions on this node.
pub fn notification_push(
    sessions: std::sync::Arc<Sessions>,
) -> asobi_services::notifications::Notifier {
    std::sync::Arc::new(move |n| {
        let msg = ServerMessage::NotificationNew(asobi_core::protocol::server::Notification {
            id: n.id.clone(),
            player_id: n.player_id.clone(),
            kind: n.kind.clone(),
            subject: n.subject.clone(),
            content: n.content.clone(),
            read: n.read,
            sent_at: asobi_services::time::iso8601(n.sent_at),
        });
        sessions.push_to_player(&n.player_id, &OutFrame::new(msg, None));
    })
}

/// The not-in-match hint is pushed at most this often per connection.
const NOT_IN_MATCH_HINT_EVERY: Duration = Duration::from_secs(5);

/// Which gateway a session came through. Only the wire name, the transport's framing and the
/// resync budget differ; every other rule is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// JSON text frames over WebSocket (`websocket.md`).
    WebSocket,
    /// Binary frames over QUIC (`asobi/1`): a control stream, datagrams, terrain streams.
    Quic,
}

impl Transport {
    /// The name in logs and in `session.connected.wire`.
    pub fn wire(self) -> &'static str {
        match self {
            Transport::WebSocket => "json",
            Transport::Quic => "binary",
        }
    }

    /// `world.resync` requests allowed per 10 s. The WebSocket budget is the contract's;
    /// QUIC deltas travel as datagrams, which may be lost, so its clients resync more often.
    fn resync_budget(self) -> usize {
        match self {
            Transport::WebSocket => 2,
            Transport::Quic => 50,
        }
    }
}

/// One connection's session state.
pub struct Session {
    app: AppState,
    handle: SessionHandle,
    transport: Transport,
    principal: Option<Principal>,
    window_start: Option<Instant>,
    window_count: u32,
    last_hint: Option<Instant>,
    span: tracing::Span,
}

/// Which world a join goes to.
enum WorldTarget {
    Id(String),
    Create(String),
    FindOrCreate(String),
}

impl Session {
    /// A new, unauthenticated session.
    pub fn new(
        app: AppState,
        handle: SessionHandle,
        transport: Transport,
        span: tracing::Span,
    ) -> Self {
        Session {
            app,
            handle,
            transport,
            principal: None,
            window_start: None,
            window_count: 0,
            last_hint: None,
            span,
        }
    }

    /// Whether `session.connect` succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.principal.is_some()
    }

    /// The session's tracing span (carries its correlation id).
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// An inbound text frame (`websocket.md` §2.1).
    pub async fn on_text(&mut self, text: &str) {
        // An oversized frame spends budget like any other (Asobi lets it skip the window,
        // so a flood of them cost nothing).
        if !self.admit_frame() {
            self.reply_error(&InboundError::bare(Reason::RateLimited));
            return;
        }
        if text.len() > MAX_TEXT_FRAME {
            self.reply_error(&InboundError::bare(Reason::PayloadTooLarge));
            return;
        }
        match parse_envelope(text) {
            Ok(envelope) => self.dispatch(envelope).await,
            Err(e) => self.reply_error(&e),
        }
    }

    /// An inbound binary frame of the native path (its length already checked by the
    /// gateway's framing against [`MAX_TEXT_FRAME`]).
    pub async fn on_frame(&mut self, frame: Frame) {
        if !self.admit_frame() {
            self.reply_error(&InboundError::bare(Reason::RateLimited));
            return;
        }
        match frame.to_envelope() {
            Ok(envelope) => self.dispatch(envelope).await,
            Err(e) => self.reply_error(&e),
        }
    }

    /// An inbound frame the gateway could not use (a binary frame on the JSON WebSocket path,
    /// a frame the native framing refused): counted against the rate window, then answered
    /// with `reason`.
    pub fn on_unusable(&mut self, reason: Reason) {
        let reason = if self.admit_frame() {
            reason
        } else {
            Reason::RateLimited
        };
        self.reply_error(&InboundError::bare(reason));
    }

    /// The message-rate budget: once authenticated, the player's, shared by all their
    /// sockets (N sockets must not buy N × the inputs); before that, this socket's fixed
    /// window, which opens on the first frame after the previous one elapsed.
    fn admit_frame(&mut self) -> bool {
        if let Some(p) = &self.principal {
            return self
                .app
                .limiter()
                .check(Bucket::Frames, &p.player_id)
                .is_ok();
        }
        let limit = self.app.config().rate_limits.ws_messages;
        let now = Instant::now();
        match self.window_start {
            Some(start) if now.duration_since(start) < limit.window() => {}
            _ => {
                self.window_start = Some(now);
                self.window_count = 0;
            }
        }
        self.window_count += 1;
        self.window_count <= limit.count
    }

    async fn dispatch(&mut self, envelope: Envelope) {
        let pre_auth = matches!(
            envelope.ty,
            ClientType::SessionConnect
                | ClientType::SessionHeartbeat
                | ClientType::RpcCall
                | ClientType::ChatLeave
        );
        if !self.is_authenticated() && !pre_auth {
            self.reply_error(&InboundError {
                reason: Reason::UnknownType,
                cid: envelope.cid,
                request_type: None,
            });
            return;
        }
        if envelope.ty == ClientType::RpcCall {
            self.rpc_call(envelope);
            return;
        }
        match envelope.decode() {
            Ok(inbound) => self.handle(inbound).await,
            Err(e) => self.reply_error(&e),
        }
    }

    async fn handle(&mut self, Inbound { cid, message }: Inbound) {
        use ClientMessage as M;
        match message {
            M::SessionConnect { token, wire: _ } => self.connect(cid, token).await,
            M::SessionHeartbeat => {
                self.reply(cid, ServerMessage::Heartbeat(Heartbeat { ts: now_ms() }))
            }
            M::ChatLeave { channel_id } => {
                if let Some(c) = channel_id.as_str() {
                    self.app.channels().leave(c, self.handle.id());
                }
                self.reply(cid, ServerMessage::ChatLeft(Channel { channel_id }))
            }
            M::ChatJoin { channel_id } => self.chat_join(cid, channel_id).await,
            M::ChatSend {
                channel_id,
                content,
            } => self.chat_send(cid, channel_id, content).await,
            M::PresenceUpdate { status } => {
                let changed = self.app.presence().set_status(self.player_id(), &status);
                self.reply(cid, ServerMessage::PresenceUpdated(Presence { status }));
                if changed {
                    crate::presence::announce(&self.app, self.player_id()).await;
                }
            }
            M::PartyCreate { .. }
            | M::PartyInvite { .. }
            | M::PartyAccept { .. }
            | M::PartyDecline { .. }
            | M::PartyLeave
            | M::PartyKick { .. }
            | M::PartyDisband { .. }
            | M::PartyReady { .. } => self.party(cid, message).await,
            M::PresenceSubscribe => {
                self.app
                    .presence()
                    .subscribe(self.player_id(), &self.handle);
                let snapshot = crate::presence::snapshot(&self.app, self.player_id()).await;
                self.reply(cid, ServerMessage::PresenceSnapshot(snapshot));
            }
            M::DmSend {
                recipient_id,
                content,
            } => {
                let sent =
                    crate::social::send_dm(&self.app, self.player_id(), &recipient_id, &content)
                        .await;
                match sent {
                    Ok(m) => self.reply(
                        cid,
                        ServerMessage::DmSent(Channel {
                            channel_id: Value::String(m.channel_id),
                        }),
                    ),
                    Err(e) => self.reply_error(&InboundError {
                        reason: crate::social::reason(&e),
                        cid,
                        // `payload.type` is the matchmaker's and the input hint's only (§3).
                        request_type: None,
                    }),
                }
            }
            M::MatchJoin { match_id, ctx } => self.match_join(cid, match_id, ctx).await,
            M::MatchFindOrCreate { mode, ctx } => self.match_find_or_create(cid, mode, ctx).await,
            M::MatchLeave => {
                self.app.matches().leave(self.player_id());
                self.reply(cid, ServerMessage::MatchLeft(Success::TRUE));
            }
            // Current match, else current world zone (as `world.input` without seq), else hint.
            M::MatchInput(input) if !self.input_strings_fit(&input) => {
                self.refuse_input(cid, ClientType::MatchInput);
            }
            M::WorldInput { input, .. } if !self.input_strings_fit(&input) => {
                self.refuse_input(cid, ClientType::WorldInput);
            }
            M::MatchInput(input) => {
                if self.app.matches().current(self.player_id()).is_some() {
                    self.app.matches().input(self.player_id(), input);
                } else if !self.app.worlds().input(self.player_id(), input, None) {
                    self.not_in_match_hint();
                }
            }
            M::MatchmakerAdd {
                mode,
                properties,
                party,
            } => {
                let added =
                    crate::parties::queue(&self.app, self.player_id(), &mode, properties, &party)
                        .await;
                match added {
                    Ok(q) => self.reply(
                        cid,
                        ServerMessage::MatchmakerQueued(MatchmakerQueued {
                            ticket_id: q.ticket_id,
                            status: "pending".into(),
                            players_needed: Some(q.players_needed),
                            already_queued: q.already_queued,
                        }),
                    ),
                    Err(e) => self.matchmaker_error(cid, &e, ClientType::MatchmakerAdd),
                }
            }
            M::MatchmakerRemove { ticket_id } => {
                match self
                    .app
                    .matchmaker()
                    .remove(self.player_id(), &ticket_id)
                    .await
                {
                    Ok(()) => self.reply(cid, ServerMessage::MatchmakerRemoved(Success::TRUE)),
                    Err(e) => self.matchmaker_error(cid, &e, ClientType::MatchmakerRemove),
                }
            }
            M::MatchList(filter) => {
                let matches = self.app.matches().list(&filter);
                self.reply(cid, ServerMessage::MatchList(MatchList { matches }));
            }
            M::WorldList(filter) => {
                let worlds = self.app.worlds().list(&filter);
                self.reply(cid, ServerMessage::WorldList(WorldList { worlds }));
            }
            M::WorldCreate { mode } => self.world_join(cid, WorldTarget::Create(mode), None).await,
            M::WorldFindOrCreate { mode } => {
                self.world_join(cid, WorldTarget::FindOrCreate(mode), None)
                    .await
            }
            M::WorldJoin { world_id, ctx } => {
                self.world_join(cid, WorldTarget::Id(world_id), ctx).await
            }
            // Leaving always succeeds; the removal frames follow the reply.
            M::WorldLeave => {
                if let Some(w) = self.app.worlds().current(self.player_id()) {
                    self.app.channels().leave_world(self.handle.id(), &w.id);
                }
                let frames = self.app.worlds().leave(self.player_id()).await;
                self.reply(cid, ServerMessage::WorldLeft(Success::TRUE));
                for f in frames {
                    self.handle.send(f);
                }
            }
            // Not in a world: silently dropped (`websocket.md` §8.15).
            M::WorldInput { input, seq } => {
                self.app.worlds().input(self.player_id(), input, seq);
            }
            M::WorldResync { zone: Some(zone) } => {
                if self.admit_resync() {
                    self.app.worlds().resync(self.player_id(), zone);
                }
            }
            M::WorldResync { zone: None } => {}
            other => {
                tracing::debug!(parent: &self.span, ty = other.client_type().as_str(), "service not available yet");
                self.reply_error(&InboundError {
                    reason: Reason::NotImplemented,
                    cid,
                    request_type: None,
                });
            }
        }
    }

    /// `world.resync`: the transport's budget per 10 s, per player across their sockets;
    /// over budget is silently ignored.
    fn admit_resync(&mut self) -> bool {
        let limit = crate::config::Limit::new(self.transport.resync_budget() as u32, 10_000);
        self.app
            .limiter()
            .check_with(Bucket::Resync, self.player_id(), limit)
            .is_ok()
    }

    async fn world_join(&mut self, cid: Option<Cid>, target: WorldTarget, ctx: Option<Value>) {
        let worlds = self.app.worlds();
        let player = self.player_id().to_owned();
        // Order (websocket.md §8.11–8.13): an unknown world first, then the join rate limit.
        if let WorldTarget::Id(id) = &target
            && worlds.get(id).is_none()
        {
            return self.world_fail(cid, &WorldError::NotFound);
        }
        let Some(ctx) = self.admit_join(&cid, ctx) else {
            return;
        };
        // The world queues `world.joined` and the ring's keyframes to this session itself.
        let respond = Some(Responder {
            handle: self.handle.clone(),
            cid: cid.clone(),
        });
        let joined = match target {
            WorldTarget::Id(id) => match worlds.get(&id) {
                Some(w) => worlds.join(&w, &player, ctx, respond).await,
                None => Err(WorldError::NotFound),
            },
            WorldTarget::Create(mode) => match worlds.create(&mode, Some(&player)).await {
                Ok(w) => {
                    worlds
                        .join(&w, &player, serde_json::Map::new(), respond)
                        .await
                }
                Err(e) => Err(e),
            },
            WorldTarget::FindOrCreate(mode) => worlds.find_or_create(&mode, &player, respond).await,
        };
        if let Err(e) = joined {
            self.world_fail(cid, &e);
        }
    }

    fn world_fail(&self, cid: Option<Cid>, e: &WorldError) {
        let mut payload = ErrorPayload::from_reason(e.reason());
        if let WorldError::Join(WorldJoinError::Refused(why)) = e
            && !why.is_empty()
        {
            payload = payload.with_detail("refused_reason", why.clone());
        }
        self.reply(cid, ServerMessage::Error(payload));
    }

    fn player_id(&self) -> &str {
        self.principal
            .as_ref()
            .map(|p| p.player_id.as_str())
            .unwrap_or_default()
    }

    /// The join rate limit, then the `ctx` rules (`websocket.md` §8.4–8.5). On failure the
    /// error is answered here and `None` returned.
    fn admit_join(
        &self,
        cid: &Option<Cid>,
        ctx: Option<Value>,
    ) -> Option<serde_json::Map<String, Value>> {
        let admitted = if self
            .app
            .limiter()
            .check(Bucket::Join, self.player_id())
            .is_err()
        {
            Err(Reason::JoinRateLimited)
        } else {
            match ctx {
                None => Ok(serde_json::Map::new()),
                Some(ctx) => validate_join_ctx(&ctx).cloned(),
            }
        };
        match admitted {
            Ok(ctx) => Some(ctx),
            Err(reason) => {
                self.reply_error(&InboundError {
                    reason,
                    cid: cid.clone(),
                    request_type: None,
                });
                None
            }
        }
    }

    async fn match_join(&mut self, cid: Option<Cid>, match_id: String, ctx: Option<Value>) {
        let Some(handle) = self.app.matches().get(&match_id) else {
            return self.fail(cid, &MatchError::NotFound);
        };
        let Some(ctx) = self.admit_join(&cid, ctx) else {
            return;
        };
        // The match queues `match.joined` to this session itself, before any state.
        let respond = Some(Responder {
            handle: self.handle.clone(),
            cid: cid.clone(),
        });
        let joined = self
            .app
            .matches()
            .join(&handle, self.player_id(), ctx, respond)
            .await;
        if let Err(e) = joined {
            self.fail(cid, &e);
        }
    }

    async fn match_find_or_create(&mut self, cid: Option<Cid>, mode: String, ctx: Option<Value>) {
        let Some(ctx) = self.admit_join(&cid, ctx) else {
            return;
        };
        let player = self.player_id().to_owned();
        let respond = Some(Responder {
            handle: self.handle.clone(),
            cid: cid.clone(),
        });
        if let Err(e) = self
            .app
            .matches()
            .find_or_create(&mode, &player, ctx, respond)
            .await
        {
            self.fail(cid, &e);
        }
    }

    fn matchmaker_error(&self, cid: Option<Cid>, e: &MatchmakerError, ty: ClientType) {
        if let MatchmakerError::Db(db) = e {
            tracing::error!(parent: &self.span, error = %db, "matchmaker storage failed");
        }
        self.reply_error(&InboundError {
            reason: e.reason(),
            cid,
            request_type: Some(ty),
        });
    }

    /// `asobi.party.*`: the same functions as `/api/v1/parties*`; a change answers with the
    /// party (`asobi.party.updated`), a departure with `asobi.party.ok`.
    async fn party(&mut self, cid: Option<Cid>, request: ClientMessage) {
        use crate::parties as p;
        use ClientMessage as M;

        let app = self.app.clone();
        let me = self.player_id().to_owned();
        let done: Result<Option<asobi_services::parties::PartyView>, _> = match request {
            M::PartyCreate { max_size } => app.parties().create(&me, max_size).await.map(Some),
            M::PartyInvite {
                party_id,
                player_id,
            } => p::invite(&app, &me, &party_id, &player_id).await.map(Some),
            M::PartyAccept { party_id } => p::accept(&app, &me, &party_id).await.map(Some),
            M::PartyDecline { party_id } => p::decline(&app, &me, &party_id).await.map(|()| None),
            M::PartyLeave => p::leave(&app, &me).await.map(|()| None),
            M::PartyKick {
                party_id,
                player_id,
            } => p::kick(&app, &me, &party_id, &player_id)
                .await
                .map(|()| None),
            M::PartyDisband { party_id } => p::disband(&app, &me, &party_id).await.map(|()| None),
            M::PartyReady { ready } => p::ready(&app, &me, ready).await.map(Some),
            _ => return,
        };
        match done {
            Ok(Some(view)) => {
                let body = match view.to_json() {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                self.reply(cid, ServerMessage::PartyUpdated(body));
            }
            Ok(None) => self.reply(cid, ServerMessage::PartyOk(Success::TRUE)),
            Err(e) => self.reply_error(&InboundError {
                reason: p::reason(&e),
                cid,
                request_type: None,
            }),
        }
    }

    /// `chat.join`: a well-formed channel the player may use, within the connection's cap.
    async fn chat_join(&mut self, cid: Option<Cid>, channel_id: String) {
        let refused = |reason| InboundError {
            reason,
            cid: cid.clone(),
            request_type: None,
        };
        if let Err(e) = crate::chat::authorize(&self.app, self.player_id(), &channel_id).await {
            return self.reply_error(&refused(crate::social::reason(&e)));
        }
        match self.app.channels().join(&channel_id, &self.handle) {
            Ok(()) => self.reply(
                cid,
                ServerMessage::ChatJoined(Channel {
                    channel_id: Value::String(channel_id),
                }),
            ),
            Err(crate::chat::JoinRefused::TooMany) => {
                self.reply_error(&refused(Reason::TooManyChannels))
            }
        }
    }

    /// `chat.send`: content that is not a string or over 2,000 bytes is dropped without a
    /// reply (`websocket.md` §8.19); success has no reply frame either.
    async fn chat_send(&mut self, cid: Option<Cid>, channel_id: Value, content: Value) {
        let Value::String(content) = content else {
            return;
        };
        if content.len() > asobi_services::chat::MAX_CONTENT_BYTES || content.contains('\0') {
            return;
        }
        let channel = channel_id.as_str().unwrap_or_default().to_owned();
        let sent = match crate::chat::authorize(&self.app, self.player_id(), &channel).await {
            Ok(()) => crate::chat::send(
                self.app.chat(),
                self.app.channels(),
                &channel,
                self.player_id(),
                &content,
            )
            .await
            .map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            // A malformed id is as unauthorised as a foreign one here (§8.19).
            let reason = match e {
                asobi_services::chat::ChatError::InvalidChannel => Reason::NotAuthorized,
                e => crate::social::reason(&e),
            };
            self.reply_error(&InboundError {
                reason,
                cid,
                request_type: None,
            });
        }
    }

    fn fail(&self, cid: Option<Cid>, e: &MatchError) {
        let mut payload = ErrorPayload::from_reason(e.reason());
        if let MatchError::Join(JoinError::Refused(why)) = e
            && !why.is_empty()
        {
            payload = payload.with_detail("refused_reason", why.clone());
        }
        if let MatchError::StartFailed(why) = e {
            tracing::error!(parent: &self.span, error = %why, "match failed to start");
        }
        self.reply(cid, ServerMessage::Error(payload));
    }

    async fn connect(&mut self, cid: Option<Cid>, token: Option<String>) {
        let principal = match token {
            Some(t) => self.app.accounts().authenticate(&t).await,
            None => Ok(None),
        };
        let principal = match principal {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.reply_error(&InboundError {
                    reason: Reason::InvalidToken,
                    cid,
                    request_type: None,
                });
                return;
            }
            Err(e) => {
                tracing::error!(parent: &self.span, error = %e, "token lookup failed");
                self.reply_error(&InboundError {
                    reason: Reason::InternalError,
                    cid,
                    request_type: None,
                });
                return;
            }
        };
        // A repeat connect re-acknowledges; a different player replaces the binding. Either
        // way the socket is bound once, so pushes are never delivered twice. A player already
        // holding `max_sockets_per_player` other sockets is refused.
        let max = self.app.config().max_sockets_per_player;
        let was_online = self.app.sessions().is_online(&principal.player_id);
        if let Some(old) = self
            .principal
            .as_ref()
            .filter(|old| old.player_id != principal.player_id)
            .map(|old| old.player_id.clone())
        {
            // Another player takes this socket: the old one's channels and presence
            // subscription are not the new one's to keep.
            self.app.channels().leave_all(self.handle.id());
            self.app.presence().unsubscribe(&old, self.handle.id());
        }
        if !self.app.sessions().bind(
            self.handle.id(),
            &principal.player_id,
            &principal.family_id,
            max,
        ) {
            self.reply_error(&InboundError {
                reason: Reason::TooManySessions,
                cid,
                request_type: None,
            });
            return;
        }
        tracing::info!(parent: &self.span, player = %principal.player_id, "session authenticated");
        if !was_online {
            // The first socket: the player's friends see them arrive.
            let (app, player) = (self.app.clone(), principal.player_id.clone());
            tokio::spawn(async move { crate::presence::announce(&app, &player).await });
        }
        let player_id = principal.player_id.clone();
        self.principal = Some(principal);
        let wire = self.transport.wire().to_owned();
        self.reply(
            cid,
            ServerMessage::SessionConnected(SessionConnected {
                player_id: player_id.clone(),
                wire,
            }),
        );
        // A player held by a world (reconnect grace) is re-bound; its keyframes follow the
        // reply, never precede it.
        self.app.worlds().player_online(&player_id);
    }

    /// `rpc.call` (`websocket.md` §8.24): the cid rule first, then authentication, then the
    /// payload. There is no extension plane yet; the built-in datagram methods answer
    /// `datagram_unavailable`, which SDKs read as "stay on WebSocket".
    fn rpc_call(&mut self, envelope: Envelope) {
        let cid_ok = matches!(&envelope.cid, Some(Value::String(s))
            if (1..=64).contains(&s.len()) && s.bytes().all(|b| (0x20..0x7f).contains(&b)));
        let cid = if cid_ok { envelope.cid } else { None };
        let fail = |code: ErrorCode| ErrorObject::new(code);
        let error = if !cid_ok {
            fail(ErrorCode::RpcInvalidCid)
        } else if !self.is_authenticated() {
            fail(ErrorCode::Unauthenticated)
        } else {
            match envelope.payload {
                Some(Value::Object(p)) => {
                    let method = p.get("method").and_then(Value::as_str);
                    if p.get("protocol").and_then(Value::as_i64) != Some(1) {
                        fail(ErrorCode::RpcUnsupportedProtocol).with_detail("supported", vec![1])
                    } else if !matches!(
                        method,
                        Some("asobi.datagram.open" | "asobi.datagram.close")
                    ) {
                        fail(ErrorCode::RpcUnknownMethod)
                    } else if !p.get("params").is_some_and(Value::is_object) {
                        fail(ErrorCode::RpcInvalidParams)
                    } else {
                        fail(ErrorCode::DatagramUnavailable)
                    }
                }
                _ => fail(ErrorCode::InvalidPayload),
            }
        };
        self.reply(cid, ServerMessage::RpcError(RpcError { error }));
    }

    fn not_in_match_hint(&mut self) {
        let now = Instant::now();
        if self
            .last_hint
            .is_some_and(|t| now.duration_since(t) < NOT_IN_MATCH_HINT_EVERY)
        {
            return;
        }
        self.last_hint = Some(now);
        let payload = ErrorPayload::from_reason(Reason::NotInMatch)
            .with_request_type(ClientType::MatchInput.as_str());
        self.reply(None, ServerMessage::Error(payload));
    }

    /// Whether every string of a client's input (keys and values, at any depth) is within
    /// `max_input_string_bytes`: scripts never see a longer one.
    fn input_strings_fit(&self, input: &serde_json::Map<String, serde_json::Value>) -> bool {
        asobi_core::protocol::longest_string(input) <= self.app.config().max_input_string_bytes
    }

    fn refuse_input(&self, cid: Option<Cid>, ty: ClientType) {
        let payload =
            ErrorPayload::from_reason(Reason::InputStringTooLong).with_request_type(ty.as_str());
        self.reply(cid, ServerMessage::Error(payload));
    }

    fn reply(&self, cid: Option<Cid>, message: ServerMessage) {
        self.handle.send(OutFrame::new(message, cid));
    }

    fn reply_error(&self, e: &InboundError) {
        if e.reason.code() == ErrorCode::Internal {
            tracing::error!(parent: &self.span, reason = e.reason.as_str(), "request failed");
        } else {
            tracing::debug!(parent: &self.span, reason = e.reason.as_str(), "request refused");
        }
        self.reply(e.cid.clone(), ServerMessage::Error(e.to_payload()));
    }
}

/// Builds the session span with a correlation id.
pub fn session_span(id: u64, transport: &'static str, peer: std::net::IpAddr) -> tracing::Span {
    tracing::info_span!("session", id = %format!("s-{id}"), transport, %peer)
}
