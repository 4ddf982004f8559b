//! A Lua game's own sign-in: `auth.lua` in the game directory returns a table of functions
//! by provider name, each taking the client's token and returning `{id = "…", display_name =
//! "…"}` to accept it, or `nil, "why"` to refuse it. Each becomes a
//! [`SignInHook`] of that name, exactly as a Rust game's would (`POST /auth/oauth` with
//! `provider = <name>`). Calls run one at a time on a blocking thread, each under a budget.
//!
//! ```lua
//! return {
//!   studio = function(token)
//!     local id = string.match(token, "^studio:(%w+)$")
//!     if not id then return nil, "not a studio token" end
//!     return { id = id, display_name = "Player " .. id }
//!   end,
//! }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asobi_services::signin::{HookFuture, SignInHook, Verified};
use mlua::{MultiValue, Value};

use super::sandbox::Sandbox;

/// Budget for `auth.lua`'s top level and for each verification.
const BUDGET: Duration = Duration::from_millis(250);
/// The global the returned table is kept in.
const HOOKS: &str = "_ASOBI_SIGN_IN";

/// How long a verification waits for the script's turn before it is refused: calls run
/// one at a time, and a flood must not tie up the blocking threads password hashing uses.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

struct LuaSignIn {
    sandbox: Arc<Mutex<Sandbox>>,
    /// The script's turn, taken before a blocking thread is.
    turn: Arc<tokio::sync::Mutex<()>>,
    provider: String,
}

/// The hooks `dir/auth.lua` defines (none when there is no such file).
pub fn load(
    dir: &Path,
    memory_limit: usize,
) -> Result<HashMap<String, Arc<dyn SignInHook>>, String> {
    let path = dir.join("auth.lua");
    let Ok(source) = std::fs::read(&path) else {
        return Ok(HashMap::new());
    };
    let sandbox = Sandbox::new(dir, memory_limit).map_err(|e| format!("auth.lua: {e}"))?;
    let value = sandbox
        .eval(&source, "auth.lua", BUDGET)
        .map_err(|e| format!("auth.lua: {e}"))?;
    let Value::Table(table) = value else {
        return Err("auth.lua must return a table of {provider = function(token) … end}".into());
    };
    let mut names = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| format!("auth.lua: {e}"))?;
        match (k, v) {
            (Value::String(name), Value::Function(_)) => {
                let name = name
                    .to_str()
                    .map_err(|e| format!("auth.lua: {e}"))?
                    .to_owned();
                if !asobi_services::signin::valid_name(&name) {
                    return Err(format!(
                        "auth.lua: provider {name:?}: names are 1–16 characters of a-z, 0-9, '-'"
                    ));
                }
                names.push(name);
            }
            _ => return Err("auth.lua: every entry is provider = function(token) … end".into()),
        }
    }
    sandbox
        .lua()
        .globals()
        .raw_set(HOOKS, table)
        .map_err(|e| format!("auth.lua: {e}"))?;
    let sandbox = Arc::new(Mutex::new(sandbox));
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    Ok(names
        .into_iter()
        .map(|provider| {
            let hook: Arc<dyn SignInHook> = Arc::new(LuaSignIn {
                sandbox: sandbox.clone(),
                turn: turn.clone(),
                provider: provider.clone(),
            });
            (provider, hook)
        })
        .collect())
}

impl SignInHook for LuaSignIn {
    fn verify<'a>(&'a self, token: &'a str) -> HookFuture<'a> {
        let sandbox = self.sandbox.clone();
        let provider = self.provider.clone();
        let token = token.to_owned();
        Box::pin(async move {
            let Ok(turn) = tokio::time::timeout(QUEUE_WAIT, self.turn.clone().lock_owned()).await
            else {
                return Err("the sign-in script is busy".to_owned());
            };
            tokio::task::spawn_blocking(move || {
                let _turn = turn;
                let sandbox = sandbox.lock().unwrap_or_else(|p| p.into_inner());
                call(&sandbox, &provider, &token)
            })
            .await
            .map_err(|e| format!("sign-in hook task failed: {e}"))?
        })
    }
}

fn call(sandbox: &Sandbox, provider: &str, token: &str) -> Result<Verified, String> {
    let lua = sandbox.lua();
    let script = |e: &dyn std::fmt::Display| {
        tracing::warn!(provider, error = %e, "auth.lua failed");
        "the sign-in script failed".to_owned()
    };
    let f: mlua::Function = lua
        .globals()
        .raw_get::<mlua::Table>(HOOKS)
        .and_then(|t| t.raw_get(provider))
        .map_err(|e| script(&e))?;
    let token = lua.create_string(token).map_err(|e| script(&e))?;
    let out = sandbox
        .call_fn(&f, MultiValue::from_iter([Value::String(token)]), BUDGET)
        .map_err(|e| script(&e))?;
    let mut out = out.into_iter();
    match (out.next(), out.next()) {
        (Some(Value::Table(t)), _) => {
            let uid = match t.raw_get::<Value>("id").map_err(|e| script(&e))? {
                Value::String(s) => s.to_str().map_err(|e| script(&e))?.to_owned(),
                Value::Integer(i) => i.to_string(),
                _ => return Err("the sign-in script returned no id".into()),
            };
            let display_name = match t.raw_get::<Value>("display_name") {
                Ok(Value::String(s)) => s.to_str().ok().map(|s| s.to_owned()),
                _ => None,
            };
            Ok(Verified { uid, display_name })
        }
        (_, Some(Value::String(why))) => Err(why.to_string_lossy()),
        _ => Err("refused by the sign-in script".into()),
    }
}
