//! Parties on the realtime side: telling members of changes (`asobi.party.invited`,
//! `asobi.party.updated`, `asobi.party.left`) and queueing a party as one matchmaking unit.
//! The REST routes (`/api/v1/parties*`) and the socket (`asobi.party.*`) both call these;
//! the rules are [`asobi_services::parties`]'.

use asobi_core::protocol::ServerMessage;
use asobi_services::parties::{Change, PartyError, PartyView};
use serde_json::{Map, Value, json};

use crate::matchmaker::{MatchmakerError, Queued};
use crate::session::OutFrame;
use crate::state::AppState;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `asobi.party.updated` (the party now) to every member's sessions.
pub fn tell_members(app: &AppState, party: &PartyView) {
    let frame = OutFrame::new(ServerMessage::PartyUpdated(object(party.to_json())), None);
    app.sessions()
        .push_to_players(party.member_ids().iter(), &frame);
}

/// A change's news: the party to those still in it, `asobi.party.left` to those gone. The
/// party's matchmaking tickets are withdrawn: it is not the unit that queued any more.
pub async fn tell_change(app: &AppState, party_id: &str, change: &Change, reason: &str) {
    match app.matchmaker().remove_party(party_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            party = party_id,
            tickets = n,
            "party changed: its tickets withdrawn"
        ),
        Err(e) => tracing::warn!(party = party_id, error = %e, "party tickets not withdrawn"),
    }
    if let Some(p) = &change.party {
        tell_members(app, p);
    }
    let frame = OutFrame::new(
        ServerMessage::PartyLeft(object(json!({"party_id": party_id, "reason": reason}))),
        None,
    );
    app.sessions().push_to_players(change.gone.iter(), &frame);
}

/// The leader invites `target`: stored, `asobi.party.invited` and a `party_invite`
/// notification to the target, the party to its members.
pub async fn invite(
    app: &AppState,
    leader: &str,
    party: &str,
    target: &str,
) -> Result<PartyView, PartyError> {
    let (view, fresh) = app.parties().invite(leader, party, target).await?;
    if !fresh {
        // Already pending: nothing new to tell anyone.
        return Ok(view);
    }
    let content = json!({"party_id": party, "from": leader});
    let frame = OutFrame::new(
        ServerMessage::PartyInvited(object(
            json!({"party_id": party, "from": leader, "party": view.to_json()}),
        )),
        None,
    );
    app.sessions().push_to_player(target, &frame);
    if let Err(e) = app
        .notifications()
        .notify(target, "party_invite", "Party invitation", &content)
        .await
    {
        tracing::warn!(error = %e, "party invitation notification not stored");
    }
    tell_members(app, &view);
    Ok(view)
}

/// `player` accepts: the party to its members.
pub async fn accept(app: &AppState, player: &str, party: &str) -> Result<PartyView, PartyError> {
    let view = app.parties().accept(player, party).await?;
    tell_members(app, &view);
    Ok(view)
}

/// `player` declines: the party (with the declined invitation) to its members.
pub async fn decline(app: &AppState, player: &str, party: &str) -> Result<(), PartyError> {
    let view = app.parties().decline(player, party).await?;
    tell_members(app, &view);
    Ok(())
}

/// `player` leaves their party.
pub async fn leave(app: &AppState, player: &str) -> Result<(), PartyError> {
    let (party, change) = app.parties().leave(player).await?;
    tell_change(app, &party, &change, "left").await;
    Ok(())
}

/// The leader removes `target`.
pub async fn kick(
    app: &AppState,
    leader: &str,
    party: &str,
    target: &str,
) -> Result<(), PartyError> {
    let change = app.parties().kick(leader, party, target).await?;
    tell_change(app, party, &change, "kicked").await;
    Ok(())
}

/// The leader disbands the party.
pub async fn disband(app: &AppState, leader: &str, party: &str) -> Result<(), PartyError> {
    let change = app.parties().disband(leader, party).await?;
    tell_change(app, party, &change, "disbanded").await;
    Ok(())
}

/// A member's ready state: the party to its members.
pub async fn ready(app: &AppState, player: &str, ready: bool) -> Result<PartyView, PartyError> {
    let view = app.parties().set_ready(player, ready).await?;
    tell_members(app, &view);
    Ok(view)
}

/// The socket's reason for a party failure.
pub fn reason(e: &PartyError) -> asobi_core::protocol::Reason {
    use asobi_core::protocol::Reason;
    match e {
        PartyError::NotFound => Reason::PartyNotFound,
        PartyError::Full => Reason::PartyFull,
        PartyError::AlreadyInParty => Reason::AlreadyInParty,
        PartyError::NotLeader => Reason::NotPartyLeader,
        PartyError::NotInvited => Reason::NotInvited,
        PartyError::Blocked => Reason::NotAuthorized,
        PartyError::Invalid(_) => Reason::InvalidPayload,
        PartyError::Db(_) => Reason::Internal,
    }
}

/// `matchmaker.add` and `POST /matchmaker`: a party's leader queues the party's accepted
/// members as one unit (a `party` list, if given, may name only them); a member who does
/// not lead cannot queue while in a party; anyone else queues alone, as before.
pub async fn queue(
    app: &AppState,
    player: &str,
    mode: &str,
    properties: Value,
    party_list: &[String],
) -> Result<Queued, MatchmakerError> {
    let party = match app.parties().mine(player).await {
        Ok(p) if p.members.len() > 1 => Some(p),
        Ok(_) | Err(PartyError::NotFound) => None,
        Err(e) => return Err(MatchmakerError::Db(sqlx::Error::Protocol(e.to_string()))),
    };
    let Some(party) = party else {
        return app
            .matchmaker()
            .add(
                app.matches(),
                app.worlds(),
                player,
                mode,
                properties,
                party_list,
            )
            .await;
    };
    let members = party.member_ids();
    if party.leader_id != player || party_list.iter().any(|p| !members.contains(p)) {
        return Err(MatchmakerError::PartyNotAccepted);
    }
    let others: Vec<String> = members.into_iter().filter(|m| m != player).collect();
    app.matchmaker()
        .add_unit(
            app.matches(),
            app.worlds(),
            player,
            mode,
            properties,
            &others,
            Some(&party.id),
        )
        .await
}
