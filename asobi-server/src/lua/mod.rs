//! Lua game modes: Asobi's Lua API on a sandboxed Lua 5.4, hot-reloaded on the next tick
//! (`lua.md`).

pub mod api;
pub mod convert;
pub mod discovery;
pub mod match_mode;
pub mod reload;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::matches::Matches;

/// How often the mode registry is re-read when files change (`lua.md` §8.2).
pub const MODE_WATCH_INTERVAL: Duration = Duration::from_millis(1500);

fn fingerprint(dir: &Path, scripts: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>)> {
    let mut files = vec![dir.join("config.lua"), dir.join("match.lua")];
    files.extend(scripts.iter().cloned());
    files
        .into_iter()
        .map(|f| {
            let t = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
            (f, t)
        })
        .collect()
}

/// Loads the game's match modes as [`crate::game::MatchMode`]s.
pub fn load_modes(
    dir: &Path,
    settings: match_mode::LuaSettings,
) -> Result<(Vec<crate::game::MatchMode>, Vec<PathBuf>), discovery::LoadError> {
    let game = discovery::load(dir, settings.memory_limit)?;
    let scripts = game.modes.iter().map(|d| d.script.clone()).collect();
    let modes = game
        .modes
        .into_iter()
        .map(|d| match_mode::mode(d, settings))
        .collect();
    Ok((modes, scripts))
}

/// Re-reads the game's modes whenever its files change; new matches use the new modes,
/// running ones keep theirs; a failed re-read keeps the last good registry.
pub fn watch_modes(
    dir: PathBuf,
    settings: match_mode::LuaSettings,
    mut scripts: Vec<PathBuf>,
    matches: Arc<Matches>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = fingerprint(&dir, &scripts);
        loop {
            tokio::time::sleep(MODE_WATCH_INTERVAL).await;
            let now = fingerprint(&dir, &scripts);
            if now == seen {
                continue;
            }
            seen = now;
            let loaded = tokio::task::spawn_blocking({
                let dir = dir.clone();
                move || load_modes(&dir, settings)
            })
            .await;
            match loaded {
                Ok(Ok((modes, new_scripts))) => {
                    let names: Vec<String> =
                        modes.iter().map(|m| m.descriptor.name.clone()).collect();
                    matches.set_script_modes(modes);
                    scripts = new_scripts;
                    seen = fingerprint(&dir, &scripts);
                    tracing::info!(?names, "Lua modes re-read; new matches use them");
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Lua modes not re-read; keeping the last good ones")
                }
                Err(e) => tracing::error!(error = %e, "Lua mode re-read task failed"),
            }
        }
    })
}
