//! Hot reload of one VM (`lua.md` §8.1): at most every 200 ms, look at the script's mtime; when
//! it changed, evaluate the file into the live VM (state tables untouched, `init` not re-run).
//! A file that fails keeps the previous code: the globals are restored to what they were.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use mlua::Value;

use super::sandbox::Sandbox;

/// How often a VM looks at its script's mtime.
pub const RELOAD_POLL: Duration = Duration::from_millis(200);
/// Budget for re-evaluating a script.
pub const RELOAD_BUDGET: Duration = Duration::from_millis(5000);

/// Watches one script for one VM.
#[derive(Debug)]
pub struct Reloader {
    script: PathBuf,
    rel: String,
    mtime: Option<SystemTime>,
    last_check: Instant,
    enabled: bool,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Reloader {
    /// Starts watching `script` (cited as `rel` in logs) from its current mtime.
    pub fn new(script: &Path, rel: &str, enabled: bool) -> Reloader {
        Reloader {
            script: script.to_owned(),
            rel: rel.to_owned(),
            mtime: mtime(script),
            last_check: Instant::now(),
            enabled,
        }
    }

    /// Reloads `sandbox` if the file changed. Returns whether new code was loaded.
    pub fn poll(&mut self, sandbox: &Sandbox) -> bool {
        if !self.enabled || self.last_check.elapsed() < RELOAD_POLL {
            return false;
        }
        self.last_check = Instant::now();
        let now = mtime(&self.script);
        if now.is_none() || now == self.mtime {
            return false;
        }
        self.mtime = now;
        let Ok(source) = std::fs::read(&self.script) else {
            return false;
        };
        let lua = sandbox.lua();
        let saved: Vec<(Value, Value)> = lua.globals().pairs::<Value, Value>().flatten().collect();
        let _ = sandbox.clear_require_cache();
        match sandbox.exec(&source, &self.rel, RELOAD_BUDGET) {
            Ok(()) => {
                tracing::info!(script = %self.rel, "script reloaded; state kept");
                true
            }
            Err(e) => {
                let g = lua.globals();
                let keys: Vec<Value> = g
                    .pairs::<Value, Value>()
                    .flatten()
                    .map(|(k, _)| k)
                    .collect();
                for k in keys {
                    let _ = g.raw_set(k, Value::Nil);
                }
                for (k, v) in saved {
                    let _ = g.raw_set(k, v);
                }
                tracing::warn!(script = %self.rel, error = %e, "reload failed; previous code kept");
                false
            }
        }
    }
}
