//! Keeps the economy's catalogue in step with the game: the game's `config.lua` declarations
//! with the operator's `[economy]` merged over them, synced at start (an invalid catalogue
//! refuses to start) and after every reload of the game (an invalid one is logged and the
//! last good catalogue stays).

use asobi_services::economy::{Catalog, Economy};

/// The merged catalogue, checked: listings must sell declared items.
pub fn merged(game: &Catalog, operator: &Catalog) -> Result<Catalog, String> {
    let mut catalog = game.clone();
    catalog.extend(operator.clone());
    catalog.validate()?;
    Ok(catalog)
}

/// Re-syncs the catalogue when the game reloads.
#[derive(Clone, Debug)]
pub struct CatalogSync {
    economy: Economy,
    operator: Catalog,
}

impl CatalogSync {
    /// Syncs over `economy`, with `operator`'s entries winning.
    pub fn new(economy: Economy, operator: Catalog) -> CatalogSync {
        CatalogSync { economy, operator }
    }

    /// Syncs the start-up catalogue; an invalid one is an error.
    pub async fn start(&self, game: &Catalog) -> Result<(), String> {
        let catalog = merged(game, &self.operator)?;
        self.economy
            .sync_catalog(&catalog)
            .await
            .map_err(|e| format!("cannot sync the economy catalogue: {e}"))
    }

    /// Syncs after a reload; failures are logged and the previous catalogue stays.
    pub async fn sync(&self, game: &Catalog) {
        match merged(game, &self.operator) {
            Ok(catalog) => match self.economy.sync_catalog(&catalog).await {
                Ok(()) => tracing::info!(
                    items = catalog.items.len(),
                    listings = catalog.listings.len(),
                    "economy catalogue re-synced"
                ),
                Err(e) => tracing::error!(error = %e, "economy catalogue not re-synced"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "economy catalogue invalid; keeping the last good one")
            }
        }
    }
}
