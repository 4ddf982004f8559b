//! Lua game modes: Asobi's Lua API on a sandboxed Lua 5.4, hot-reloaded on the next tick
//! (`lua.md`).

pub mod api;
pub mod convert;
pub mod discovery;
pub mod fuzzing;
mod hook;
pub mod match_mode;
pub mod patterns;
pub mod reload;
pub mod sandbox;
mod services;
pub mod sign_in;
pub mod spawner;
pub mod strlib;
pub mod world_mode;

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

/// A game's modes, split by kind, and the scripts behind them.
pub struct LoadedModes {
    /// Match modes.
    pub matches: Vec<crate::game::MatchMode>,
    /// World modes.
    pub worlds: Vec<crate::worlds::WorldMode>,
    /// Every mode script (watched for changes).
    pub scripts: Vec<PathBuf>,
    /// What `config.lua` declares beside its modes (boards and tournaments are read at
    /// start; the catalogue also on reload). The operator's settings win.
    pub declared: discovery::Declarations,
}

/// Loads the game's modes.
pub fn load_modes(
    dir: &Path,
    settings: match_mode::LuaSettings,
) -> Result<LoadedModes, discovery::LoadError> {
    let game = discovery::load(dir, settings.memory_limit)?;
    let mut out = LoadedModes {
        matches: Vec::new(),
        worlds: Vec::new(),
        scripts: Vec::new(),
        declared: game.declared,
    };
    for def in game.modes {
        out.scripts.push(def.script.clone());
        match def.world.clone() {
            Some(w) => out.worlds.push(world_mode::mode(def, w, settings)),
            None => out.matches.push(match_mode::mode(def, settings)),
        }
    }
    Ok(out)
}

/// Re-reads the game's modes whenever its files change; new matches use the new modes,
/// running ones keep theirs; a failed re-read keeps the last good registry.
///
/// `catalog` re-syncs the economy's item definitions and listings from the new
/// `config.lua` (the operator's catalogue merged over it).
pub fn watch_modes(
    dir: PathBuf,
    settings: match_mode::LuaSettings,
    mut scripts: Vec<PathBuf>,
    matches: Arc<Matches>,
    worlds: Arc<crate::worlds::Worlds>,
    catalog: crate::economy_sync::CatalogSync,
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
                Ok(Ok(loaded)) => {
                    let names: Vec<String> = loaded
                        .matches
                        .iter()
                        .map(|m| m.descriptor.name.clone())
                        .chain(loaded.worlds.iter().map(|w| w.descriptor.name.clone()))
                        .collect();
                    matches.set_script_modes(loaded.matches);
                    worlds.set_script_modes(loaded.worlds);
                    catalog.sync(&loaded.declared.economy).await;
                    scripts = loaded.scripts;
                    seen = fingerprint(&dir, &scripts);
                    tracing::info!(?names, "Lua modes re-read; new matches and worlds use them");
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Lua modes not re-read; keeping the last good ones")
                }
                Err(e) => tracing::error!(error = %e, "Lua mode re-read task failed"),
            }
        }
    })
}
