//! Everything we hold about a player, as one JSON document (`GET /api/v1/ops/players/:id/export`):
//! every module that owns tables declares the queries reading a player's rows of them (an
//! `EXPORT` constant beside its code), and [`asobi_services::export`] renders them. A module
//! that adds player tables adds its constant to `PARTS` here.

use asobi_services::export::PlayerData;
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::state::AppState;

/// Every module's part of the export, in document order.
const PARTS: &[&[PlayerData]] = &[
    crate::auth::EXPORT,
    crate::matches::record::EXPORT,
    crate::matchmaker::EXPORT,
    asobi_services::saves::EXPORT,
    asobi_services::storage::EXPORT,
    asobi_services::leaderboards::EXPORT,
    asobi_services::economy::EXPORT,
    asobi_services::tournaments::EXPORT,
    asobi_services::notifications::EXPORT,
    asobi_services::social::EXPORT,
    asobi_services::chat::EXPORT,
    asobi_services::parties::EXPORT,
];

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No such player.
    #[error("player not found")]
    NotFound,
    /// A query failed: the document would be incomplete, so none is sent.
    #[error("export incomplete: {0}")]
    Incomplete(#[from] sqlx::Error),
}

impl From<AuthError> for ExportError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Db(e) => ExportError::Incomplete(e),
            _ => ExportError::NotFound,
        }
    }
}

/// The export of `player`: `{"player_id", "exported_at", <section>: [rows], …}`.
pub async fn export(app: &AppState, player: &str) -> Result<Value, ExportError> {
    if app.accounts().player(player).await?.is_none() {
        return Err(ExportError::NotFound);
    }
    let mut doc = asobi_services::export::collect(app.db(), player, PARTS).await?;
    doc.insert("player_id".into(), json!(player));
    doc.insert(
        "exported_at".into(),
        json!(crate::time::iso8601(crate::time::now_ms())),
    );
    Ok(Value::Object(doc))
}
