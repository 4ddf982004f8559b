//! What the social services need from the realtime layer: direct messages pushed to the
//! recipient's sessions (and to connections joined to the pair's `dm:` channel). One
//! function for `POST /dm` and the socket's `dm.send`.

use asobi_core::protocol::server::ChatMessage;
use asobi_core::protocol::{Reason, ServerMessage};
use asobi_services::chat::{ChatError, Message};

use crate::session::OutFrame;
use crate::state::AppState;

/// Sends a direct message: stored, then `dm.message` to the recipient's sessions (not the
/// sender's).
pub async fn send_dm(
    app: &AppState,
    sender: &str,
    recipient: &str,
    content: &str,
) -> Result<Message, ChatError> {
    let m = app.chat().send_dm(sender, recipient, content).await?;
    let push = ServerMessage::DmMessage(ChatMessage {
        channel_id: m.channel_id.clone(),
        sender_id: m.sender_id.clone(),
        content: m.content.clone(),
        sent_at: m.sent_at,
    });
    app.sessions()
        .push_to_player(recipient, &OutFrame::new(push, None));
    // Connections that joined the pair's `dm:` channel see it as chat too.
    crate::chat::publish(app.channels(), &m);
    Ok(m)
}

/// The socket's reason for a chat failure (`websocket.md` §3.1).
pub fn reason(e: &ChatError) -> Reason {
    match e {
        ChatError::InvalidChannel => Reason::InvalidChannelId,
        ChatError::NotAuthorized => Reason::NotAuthorized,
        ChatError::Empty => Reason::ContentEmpty,
        ChatError::TooLarge(_) => Reason::ContentTooLarge,
        ChatError::Blocked => Reason::Blocked,
        ChatError::RecipientNotFound => Reason::NotFound,
        ChatError::Nul => Reason::InvalidInput,
        ChatError::Db(_) | ChatError::Corrupt(_) => Reason::Internal,
    }
}
