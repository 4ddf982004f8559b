//! Name rules for game-defined `match.<name>` / `world.<name>` events (`websocket.md` §10).

/// The 16 leaf names Asobi reserves; a game may never broadcast them.
pub const RESERVED_EVENT_NAMES: [&str; 16] = [
    "state",
    "tick",
    "ack",
    "terrain",
    "list",
    "left",
    "joined",
    "finished",
    "phase_changed",
    "matched",
    "matchmaker_failed",
    "matchmaker_expired",
    "vote_start",
    "vote_tally",
    "vote_result",
    "vote_vetoed",
];

/// Why a game event name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventNameError {
    /// Empty or longer than 64 bytes.
    #[error("event name must be 1 to 64 bytes")]
    Length,
    /// A character outside `A-Z a-z 0-9 _ -`.
    #[error("event name may only contain A-Z, a-z, 0-9, '_' and '-'")]
    Charset,
    /// One of the 16 reserved names.
    #[error("event name is reserved")]
    Reserved,
}

/// Checks a game event leaf name.
pub fn validate_event_name(name: &str) -> Result<(), EventNameError> {
    if name.is_empty() || name.len() > 64 {
        return Err(EventNameError::Length);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(EventNameError::Charset);
    }
    if RESERVED_EVENT_NAMES.contains(&name) {
        return Err(EventNameError::Reserved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(validate_event_name("round_over"), Ok(()));
        assert_eq!(validate_event_name("boss-spawned2"), Ok(()));
        assert_eq!(validate_event_name(""), Err(EventNameError::Length));
        assert_eq!(
            validate_event_name(&"a".repeat(65)),
            Err(EventNameError::Length)
        );
        assert_eq!(validate_event_name("a.b"), Err(EventNameError::Charset));
        assert_eq!(validate_event_name("ack"), Err(EventNameError::Reserved));
        assert_eq!(validate_event_name("state"), Err(EventNameError::Reserved));
    }
}
