//! `game.storage.*`, `game.leaderboard.*`, `game.economy.*`, `game.notify`/`notify_many`
//! and `game.chat.send`
//! (`lua.md` §6.2–6.3): the same service functions
//! REST calls, reached from a callback through [`GameServices::wait`]. Results follow the
//! contract's conventions: wrapped (`{ok = …}` / `{error = reason}`) for reads and storage
//! writes, plain `true`/`false` for `leaderboard.submit`. `game.storage` is absent when
//! storage is off.

use asobi_services::Coded;
use asobi_services::leaderboards::{Entry, Period};
use mlua::{Lua, Table, Value};
use serde_json::Value as Json;

use super::api::error;
use super::convert::{Nulls, object_to_lua, to_json, to_lua};
use crate::game::GameServices;

/// `{ok = value}`.
fn ok(lua: &Lua, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("ok", value)?;
    Ok(Value::Table(t))
}

/// A service result as a wrapped value.
fn wrapped<T, E: Coded>(
    lua: &Lua,
    result: Option<Result<T, E>>,
    to_value: impl FnOnce(&Lua, T) -> mlua::Result<Value>,
) -> mlua::Result<Value> {
    match result {
        None => error(lua, "timeout"),
        Some(Ok(v)) => ok(lua, to_value(lua, v)?),
        Some(Err(e)) => error(lua, e.reason()),
    }
}

fn string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => s.to_str().ok().map(|s| s.to_owned()),
        _ => None,
    }
}

/// A Lua number truncated to an integer.
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) if n.is_finite() => Some(n.trunc() as i64),
        _ => None,
    }
}

fn json_value(lua: &Lua, v: &Value) -> mlua::Result<Json> {
    to_json(lua, v).map_err(mlua::Error::external)
}

/// Installs `game.storage` (when storage is on) and `game.leaderboard` into `game`.
pub fn install(lua: &Lua, game: &Table, services: &GameServices) -> mlua::Result<()> {
    if let Some(storage) = services.storage.clone() {
        let t = lua.create_table()?;
        let (s, st) = (services.clone(), storage.clone());
        t.raw_set(
            "get",
            lua.create_function(move |lua, (c, k): (Value, Value)| {
                let (Some(c), Some(k)) = (string(&c), string(&k)) else {
                    return error(lua, "get(collection: string, key: string)");
                };
                let st = st.clone();
                let r = s.wait(async move { st.value(None, &c, &k).await });
                wrapped(lua, r, |lua, v| to_lua(lua, &v, Nulls::AsNil))
            })?,
        )?;
        let (s, st) = (services.clone(), storage.clone());
        t.raw_set(
            "set",
            lua.create_function(move |lua, (c, k, v): (Value, Value, Value)| {
                let (Some(c), Some(k)) = (string(&c), string(&k)) else {
                    return error(lua, "set(collection: string, key: string, value)");
                };
                let value = json_value(lua, &v)?;
                let st = st.clone();
                let r = s.wait(async move { st.set_value(None, &c, &k, &value).await });
                wrapped(lua, r, |lua, o| {
                    object_to_lua(lua, &o.fields(), Nulls::AsNil).map(Value::Table)
                })
            })?,
        )?;
        let (s, st) = (services.clone(), storage.clone());
        t.raw_set(
            "player_get",
            lua.create_function(move |lua, (p, c, k): (Value, Value, Value)| {
                let (Some(p), Some(c), Some(k)) = (string(&p), string(&c), string(&k)) else {
                    return error(
                        lua,
                        "player_get(player_id: string, collection: string, key: string)",
                    );
                };
                let st = st.clone();
                let r = s.wait(async move { st.value(Some(&p), &c, &k).await });
                wrapped(lua, r, |lua, v| to_lua(lua, &v, Nulls::AsNil))
            })?,
        )?;
        let (s, st) = (services.clone(), storage);
        t.raw_set(
            "player_set",
            lua.create_function(move |lua, (p, c, k, v): (Value, Value, Value, Value)| {
                let (Some(p), Some(c), Some(k)) = (string(&p), string(&c), string(&k)) else {
                    return error(
                        lua,
                        "player_set(player_id: string, collection: string, key: string, value)",
                    );
                };
                let value = json_value(lua, &v)?;
                let st = st.clone();
                let r = s.wait(async move { st.set_value(Some(&p), &c, &k, &value).await });
                wrapped(lua, r, |lua, o| {
                    object_to_lua(lua, &o.fields(), Nulls::AsNil).map(Value::Table)
                })
            })?,
        )?;
        game.raw_set("storage", t)?;
    }

    let t = lua.create_table()?;
    let s = services.clone();
    t.raw_set(
        "top",
        lua.create_function(move |lua, (b, n): (Value, Value)| {
            let (Some(b), Some(n)) = (string(&b), integer(&n)) else {
                return error(lua, "top(board_id: string, count: integer)");
            };
            let boards = s.leaderboards.clone();
            let limit = n.clamp(0, 1000) as usize;
            let r = s.wait(async move { boards.top(&b, limit, Period::Current).await });
            wrapped(lua, r, entries)
        })?,
    )?;
    let s = services.clone();
    t.raw_set(
        "around",
        lua.create_function(move |lua, (b, p, n): (Value, Value, Value)| {
            let (Some(b), Some(p), Some(n)) = (string(&b), string(&p), integer(&n)) else {
                return error(
                    lua,
                    "around(board_id: string, player_id: string, count: integer)",
                );
            };
            let boards = s.leaderboards.clone();
            let range = n.clamp(0, 100) as usize;
            let r = s.wait(async move { boards.around(&b, &p, range, Period::Current).await });
            wrapped(lua, r, entries)
        })?,
    )?;
    let s = services.clone();
    t.raw_set(
        "rank",
        lua.create_function(move |lua, (b, p): (Value, Value)| {
            let (Some(b), Some(p)) = (string(&b), string(&p)) else {
                return error(lua, "rank(board_id: string, player_id: string)");
            };
            let boards = s.leaderboards.clone();
            let r = s.wait(async move {
                boards
                    .rank(&b, &p, Period::Current)
                    .await
                    .and_then(|e| e.ok_or(asobi_services::leaderboards::LeaderboardError::NotFound))
            });
            wrapped(lua, r, |_, e| Ok(Value::Integer(e.rank as i64)))
        })?,
    )?;
    let s = services.clone();
    t.raw_set(
        "submit",
        lua.create_function(move |lua, (b, p, score): (Value, Value, Value)| {
            let (Some(b), Some(p), Some(score)) = (string(&b), string(&p), integer(&score)) else {
                return error(
                    lua,
                    "submit(board_id: string, player_id: string, score: number)",
                );
            };
            let boards = s.leaderboards.clone();
            let r = s.wait(async move { boards.submit(&b, &p, score, 0).await });
            Ok(Value::Boolean(matches!(r, Some(Ok(_)))))
        })?,
    )?;
    game.raw_set("leaderboard", t)?;
    install_economy(lua, game, services)?;
    install_notify(lua, game, services)?;
    install_chat(lua, game, services)
}

/// `game.chat.send(channel_id, sender_id, content)` (`lua.md` §6.3, plain): stored and
/// delivered to the channel's joined connections as `sender_id` (not checked). `true`, as
/// the contract says, even when refused (malformed channel, content over 2,000 bytes).
fn install_chat(lua: &Lua, game: &Table, services: &GameServices) -> mlua::Result<()> {
    let t = lua.create_table()?;
    let s = services.clone();
    t.raw_set(
        "send",
        lua.create_function(move |lua, (c, p, m): (Value, Value, Value)| {
            let (Some(c), Some(p), Some(m)) = (string(&c), string(&p), string(&m)) else {
                return error(
                    lua,
                    "send(channel_id: string, sender_id: string, content: string)",
                );
            };
            let (chat, channels) = s.chat.clone();
            let r = s.wait(async move { crate::chat::send(&chat, &channels, &c, &p, &m).await });
            if let Some(Err(e)) = r {
                tracing::debug!(error = %e, "game.chat.send refused");
            }
            // Plain `true` whatever happened (lua.md §6.3); a refusal is logged.
            Ok(Value::Boolean(true))
        })?,
    )?;
    game.raw_set("chat", t)
}

/// A notification's `data`: absent → `{}`, a table → its JSON; anything else is the
/// `{error = …}` the call returns.
fn notify_data(lua: &Lua, data: &Value) -> Result<Json, mlua::Result<Value>> {
    match data {
        Value::Nil => Ok(Json::Object(Default::default())),
        Value::Table(_) => {
            to_json(lua, data).map_err(|_| error(lua, "data must be convertible to JSON"))
        }
        _ => Err(error(lua, "data must be a table")),
    }
}

/// The most players one `game.notify_many` reaches.
const MAX_NOTIFY_MANY: usize = 100;

/// `game.notify` (wrapped: the stored notification's fields without `id`) and
/// `game.notify_many` (plain: the ids reached), `lua.md` §6.2. Each is stored and pushed as
/// `notification.new` to the player's sessions.
fn install_notify(lua: &Lua, game: &Table, services: &GameServices) -> mlua::Result<()> {
    let s = services.clone();
    game.raw_set(
        "notify",
        lua.create_function(
            move |lua, (p, k, subj, data): (Value, Value, Value, Value)| {
                let (Some(p), Some(k), Some(subj)) = (string(&p), string(&k), string(&subj)) else {
                    return error(
                        lua,
                        "notify(player_id: string, type: string, subject: string[, data: table])",
                    );
                };
                let content = match notify_data(lua, &data) {
                    Ok(c) => c,
                    Err(e) => return e,
                };
                let n = s.notifications.clone();
                let r = s.wait(async move { n.notify(&p, &k, &subj, &content).await });
                wrapped(lua, r, |lua, n| {
                    let mut row = match n.to_json() {
                        Json::Object(m) => m,
                        _ => serde_json::Map::new(),
                    };
                    row.remove("id");
                    object_to_lua(lua, &row, Nulls::AsNil).map(Value::Table)
                })
            },
        )?,
    )?;
    let s = services.clone();
    game.raw_set(
        "notify_many",
        lua.create_function(move |lua, (ps, k, subj, data): (Value, Value, Value, Value)| {
            let players: Option<Vec<String>> = match &ps {
                Value::Table(t) => t
                    .clone()
                    .sequence_values::<Value>()
                    .map(|v| v.ok().as_ref().and_then(string))
                    .collect(),
                _ => None,
            };
            let (Some(players), Some(k), Some(subj)) = (players, string(&k), string(&subj))
            else {
                return error(
                    lua,
                    "notify_many(player_ids: {string}, type: string, subject: string[, data: table])",
                );
            };
            let content = match notify_data(lua, &data) {
                    Ok(c) => c,
                    Err(e) => return e,
                };
            let mut unique: Vec<String> = Vec::new();
            for p in players {
                if !unique.contains(&p) {
                    unique.push(p);
                }
            }
            unique.truncate(MAX_NOTIFY_MANY);
            // Filled as they are reached, so a call cut short by the wait still reports
            // who was reached (partial failure = a shorter list).
            let reached = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let n = s.notifications.clone();
            let sink = reached.clone();
            s.wait(async move {
                for p in unique {
                    if n.notify(&p, &k, &subj, &content).await.is_ok() {
                        sink.lock().unwrap_or_else(|e| e.into_inner()).push(p);
                    }
                }
            });
            let reached = std::mem::take(&mut *reached.lock().unwrap_or_else(|e| e.into_inner()));
            let out = lua.create_table()?;
            for (i, p) in reached.into_iter().enumerate() {
                out.raw_set(i + 1, p)?;
            }
            Ok(Value::Table(out))
        })?,
    )
}

/// `game.economy.grant/debit/balance/purchase` (`lua.md` §6.2), wrapped.
fn install_economy(lua: &Lua, game: &Table, services: &GameServices) -> mlua::Result<()> {
    let t = lua.create_table()?;
    for (name, debit) in [("grant", false), ("debit", true)] {
        let s = services.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, (p, c, a, r): (Value, Value, Value, Value)| {
                let reason = match &r {
                    Value::Nil => Some(if debit { "debit" } else { "grant" }.to_owned()),
                    other => string(other),
                };
                let (Some(p), Some(c), Some(a), Some(reason)) =
                    (string(&p), string(&c), integer(&a), reason)
                else {
                    let shape = if debit { "debit" } else { "grant" };
                    return error(
                        lua,
                        &format!(
                            "{shape}(player_id: string, currency: string, amount: number[, reason: string])"
                        ),
                    );
                };
                let economy = s.economy.clone();
                let r = s.wait(async move {
                    let note = asobi_services::economy::Note::reason(reason);
                    if debit {
                        economy.debit(&p, &c, a, &note, None).await
                    } else {
                        economy.grant(&p, &c, a, &note, None).await
                    }
                });
                wrapped(lua, r, |lua, w| to_lua(lua, &w.to_json(), Nulls::AsNil))
            })?,
        )?;
    }
    let s = services.clone();
    t.raw_set(
        "balance",
        lua.create_function(move |lua, p: Value| {
            let Some(p) = string(&p) else {
                return error(lua, "balance(player_id: string)");
            };
            let economy = s.economy.clone();
            let r = s.wait(async move { economy.wallets(&p).await });
            wrapped(lua, r, |lua, wallets| {
                let out = lua.create_table_with_capacity(wallets.len(), 0)?;
                for (i, w) in wallets.into_iter().enumerate() {
                    let row = lua.create_table_with_capacity(0, 2)?;
                    row.raw_set("currency", w.currency)?;
                    row.raw_set("balance", w.balance)?;
                    out.raw_set(i + 1, row)?;
                }
                Ok(Value::Table(out))
            })
        })?,
    )?;
    let s = services.clone();
    t.raw_set(
        "purchase",
        lua.create_function(move |lua, (p, l): (Value, Value)| {
            let (Some(p), Some(l)) = (string(&p), string(&l)) else {
                return error(lua, "purchase(player_id: string, listing_id: string)");
            };
            let economy = s.economy.clone();
            let r = s.wait(async move { economy.purchase(&p, &l, None).await });
            wrapped(lua, r, |lua, item| {
                // Wrapped rows drop `id` and `updated_at`; `acquired_at` stays (lua.md §6.2).
                let mut row = match item.to_json() {
                    Json::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                row.remove("id");
                row.remove("updated_at");
                object_to_lua(lua, &row, Nulls::AsNil).map(Value::Table)
            })
        })?,
    )?;
    game.raw_set("economy", t)
}

/// `{player_id, score, rank}` per entry.
fn entries(lua: &Lua, list: Vec<Entry>) -> mlua::Result<Value> {
    let out = lua.create_table_with_capacity(list.len(), 0)?;
    for (i, e) in list.into_iter().enumerate() {
        let row = lua.create_table_with_capacity(0, 3)?;
        row.raw_set("player_id", e.player_id)?;
        row.raw_set("score", e.score)?;
        row.raw_set("rank", e.rank as i64)?;
        out.raw_set(i + 1, row)?;
    }
    Ok(Value::Table(out))
}
