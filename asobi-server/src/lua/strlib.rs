//! `string.find`, `string.match`, `string.gmatch` and `string.gsub` for the sandbox, over
//! [`super::patterns`], with Lua 5.4's argument rules and results.
//!
//! Lua's own versions run in C, out of the instruction hook's sight, and backtracking makes
//! them quadratic or worse: the trim idiom `s:match("^%s*(.-)%s*$")` on 30 KB of client text
//! ran 2.2 s inside a 50 ms budget. Here every call's matching work is bounded by what is left
//! of the running callback's budget (a step costs about `NS_PER_STEP`), capped at
//! `MAX_STEPS` per call; running out once the deadline has passed is the callback's
//! overrun (the host flag, [`Clock::check`]), running out before it is an ordinary error
//! the script may catch. Each call checks the deadline when it returns, so a
//! loop of expensive calls ends at the next one. `gsub`'s output counts against the VM's
//! memory cap before it is built.

use mlua::{Function, Integer, Lua, LuaString, MultiValue, Table, Value};

use super::patterns::{self, Budget, Capture, Match, PatternError};
use super::sandbox::{Clock, MemoryCap};

/// What one matcher step is reckoned to take (measured: 5–8 ns in a release build; a debug
/// build is several times slower).
const NS_PER_STEP: u64 = if cfg!(debug_assertions) { 40 } else { 5 };
/// The most steps one call takes, whatever time is left (~20 ms in a release build).
const MAX_STEPS: u64 = 4_000_000;
/// A call always gets this many, so short matches near the deadline still work.
const MIN_STEPS: u64 = 10_000;

/// Replaces the four pattern functions of the VM's `string` table (string methods go through
/// the same table).
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let string: Table = lua.globals().raw_get("string")?;
    string.raw_set("find", lua.create_function(find)?)?;
    string.raw_set("match", lua.create_function(str_match)?)?;
    string.raw_set("gmatch", lua.create_function(gmatch)?)?;
    string.raw_set("gsub", lua.create_function(gsub)?)?;
    Ok(())
}

/// One call's step budget: what is left of the callback's time at about [`NS_PER_STEP`] a
/// step, within [`MIN_STEPS`]..=[`MAX_STEPS`]; the overrun itself once the deadline passed.
fn call_budget(lua: &Lua) -> mlua::Result<Budget> {
    check_deadline(lua)?;
    let steps = lua
        .app_data_ref::<Clock>()
        .and_then(|c| c.remaining_ns())
        .map_or(MAX_STEPS, |ns| {
            (ns / NS_PER_STEP).clamp(MIN_STEPS, MAX_STEPS)
        });
    Ok(Budget::new(steps))
}

/// A matcher failure as the script sees it: out of steps past the deadline, the callback's
/// overrun; before it (the step budget is an estimate), an error the script may catch.
fn fail(lua: &Lua, e: PatternError) -> mlua::Error {
    if e == PatternError::Budget
        && let Err(overrun) = check_deadline(lua)
    {
        return overrun;
    }
    mlua::Error::RuntimeError(e.to_string())
}

/// Raises the overrun if the deadline passed while the call ran.
fn check_deadline(lua: &Lua) -> mlua::Result<()> {
    match lua.app_data_ref::<Clock>() {
        Some(clock) => clock.check(),
        None => Ok(()),
    }
}

/// Lua's `posrelatI`: a 1-based, possibly negative `init` as a 0-based offset; `None` when it
/// lies past the end of a subject of `len` bytes.
fn start_offset(init: Option<Integer>, len: usize) -> Option<usize> {
    let len = len as i128;
    let init = i128::from(init.unwrap_or(1));
    let pos = if init > 0 {
        init
    } else if init == 0 || init < -len {
        1
    } else {
        len + init + 1
    };
    (pos <= len + 1).then(|| (pos - 1) as usize)
}

fn capture_value(lua: &Lua, subject: &[u8], c: &Capture) -> mlua::Result<Value> {
    Ok(match c {
        Capture::Bytes(r) => {
            Value::String(lua.create_string(subject.get(r.clone()).unwrap_or(&[]))?)
        }
        Capture::Position(p) => Value::Integer(*p as Integer),
    })
}

/// The captures of `m`, or the whole match when the pattern has none (`push_captures`).
fn captures(lua: &Lua, subject: &[u8], m: &Match) -> mlua::Result<MultiValue> {
    if m.captures.is_empty() {
        return Ok(MultiValue::from_iter([capture_value(
            lua,
            subject,
            &Capture::Bytes(m.whole.clone()),
        )?]));
    }
    m.captures
        .iter()
        .map(|c| capture_value(lua, subject, c))
        .collect()
}

/// `string.find(s, pattern [, init [, plain]])`.
fn find(
    lua: &Lua,
    (s, p, init, plain): (LuaString, LuaString, Option<Integer>, Option<Value>),
) -> mlua::Result<MultiValue> {
    let plain = plain.is_some_and(|v| !matches!(v, Value::Nil | Value::Boolean(false)));
    find_or_match(lua, &s, &p, init, Some(plain))
}

/// `string.match(s, pattern [, init])`.
fn str_match(
    lua: &Lua,
    (s, p, init): (LuaString, LuaString, Option<Integer>),
) -> mlua::Result<MultiValue> {
    find_or_match(lua, &s, &p, init, None)
}

/// `str_find_aux`: `plain` is `Some` for `find` (positions first), `None` for `match`.
fn find_or_match(
    lua: &Lua,
    s: &LuaString,
    p: &LuaString,
    init: Option<Integer>,
    plain: Option<bool>,
) -> mlua::Result<MultiValue> {
    let (subject, pattern) = (s.as_bytes(), p.as_bytes());
    let Some(init) = start_offset(init, subject.len()) else {
        return Ok(MultiValue::from_iter([Value::Nil]));
    };
    let mut budget = call_budget(lua)?;
    if let Some(plain) = plain
        && (plain || !patterns::has_specials(&pattern))
    {
        let found = patterns::find_plain(&subject, &pattern, init, &mut budget)
            .map_err(|e| fail(lua, e))?;
        check_deadline(lua)?;
        return Ok(match found {
            Some(r) => MultiValue::from_iter([
                Value::Integer(r.start as Integer + 1),
                Value::Integer(r.end as Integer),
            ]),
            None => MultiValue::from_iter([Value::Nil]),
        });
    }
    let found = patterns::find(&subject, &pattern, init, &mut budget).map_err(|e| fail(lua, e))?;
    check_deadline(lua)?;
    let Some(m) = found else {
        return Ok(MultiValue::from_iter([Value::Nil]));
    };
    if plain.is_none() {
        return captures(lua, &subject, &m);
    }
    let mut out = MultiValue::from_iter([
        Value::Integer(m.whole.start as Integer + 1),
        Value::Integer(m.whole.end as Integer),
    ]);
    for c in &m.captures {
        out.push_back(capture_value(lua, &subject, c)?);
    }
    Ok(out)
}

/// `string.gmatch(s, pattern [, init])`: an iterator over the matches. It holds the subject
/// as a Lua reference, not a copy.
fn gmatch(
    lua: &Lua,
    (s, p, init): (LuaString, LuaString, Option<Integer>),
) -> mlua::Result<Function> {
    let len = s.as_bytes().len();
    let mut src = start_offset(init, len).unwrap_or(len + 1);
    let mut last_match: Option<usize> = None;
    lua.create_function_mut(move |lua, ()| {
        let (subject, pattern) = (s.as_bytes(), p.as_bytes());
        let mut budget = call_budget(lua)?;
        while src <= subject.len() {
            let m = patterns::match_here(&subject, &pattern, src, &mut budget)
                .map_err(|e| fail(lua, e))?;
            match m {
                Some(m) if Some(m.whole.end) != last_match => {
                    src = m.whole.end;
                    last_match = Some(m.whole.end);
                    check_deadline(lua)?;
                    return captures(lua, &subject, &m);
                }
                _ => src += 1,
            }
        }
        check_deadline(lua)?;
        Ok(MultiValue::from_iter([Value::Nil]))
    })
}

/// An upper bound of what [`patterns::expand_replacement`] writes for one match, computed
/// before anything is written (a short replacement of many `%0` can expand a long match a
/// thousand times over).
fn expansion_len(repl: &[u8], m: &Match) -> usize {
    let capture_len = |i: usize| match (i, m.captures.get(i.wrapping_sub(1))) {
        (0, _) | (1, None) => m.whole.len(),
        (_, Some(Capture::Bytes(r))) => r.len(),
        (_, Some(Capture::Position(_))) => 20,
        (_, None) => 0,
    };
    let mut total = 0usize;
    let mut bytes = repl.iter();
    while let Some(&b) = bytes.next() {
        total = total.saturating_add(match (b, bytes.clone().next()) {
            (b'%', Some(d)) if d.is_ascii_digit() => {
                bytes.next();
                capture_len(usize::from(d - b'0'))
            }
            (b'%', Some(_)) => {
                bytes.next();
                1
            }
            _ => 1,
        });
    }
    total
}

/// `string.gsub(s, pattern, repl [, n])`.
fn gsub(
    lua: &Lua,
    (s, p, repl, max_n): (LuaString, LuaString, Value, Option<Integer>),
) -> mlua::Result<(LuaString, Integer)> {
    let (subject, pattern) = (s.as_bytes(), p.as_bytes());
    if !matches!(
        repl,
        Value::Integer(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Function(_)
            | Value::Table(_)
    ) {
        return Err(mlua::Error::RuntimeError(format!(
            "bad argument #3 to 'gsub' (string/function/table expected, got {})",
            repl.type_name()
        )));
    }
    let repl_text = match &repl {
        Value::Integer(_) | Value::Number(_) | Value::String(_) => {
            lua.coerce_string(repl.clone())?
        }
        _ => None,
    };
    let max_n = max_n.unwrap_or(subject.len() as Integer + 1);
    let (anchor, pattern) = match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, &pattern[..]),
    };
    let room = lua
        .app_data_ref::<MemoryCap>()
        .map_or(usize::MAX, |c| c.0)
        .saturating_sub(lua.used_memory());
    let mut budget = call_budget(lua)?;
    let mut out: Vec<u8> = Vec::new();
    let (mut src, mut n, mut changed) = (0usize, 0 as Integer, false);
    let mut last_match: Option<usize> = None;
    while n < max_n {
        let m =
            patterns::match_here(&subject, pattern, src, &mut budget).map_err(|e| fail(lua, e))?;
        match m {
            Some(m) if Some(m.whole.end) != last_match => {
                n += 1;
                let whole = subject.get(m.whole.clone()).unwrap_or(&[]);
                let replacement = match (&repl_text, &repl) {
                    (Some(text), _) => {
                        let text = text.as_bytes();
                        if out.len().saturating_add(expansion_len(&text, &m)) > room {
                            return Err(mlua::Error::RuntimeError(
                                "resulting string too large".into(),
                            ));
                        }
                        patterns::expand_replacement(&text, &subject, &m, &mut out)
                            .map_err(|e| fail(lua, e))?;
                        changed = true;
                        None
                    }
                    (None, Value::Function(f)) => {
                        Some(f.call::<Value>(captures(lua, &subject, &m)?)?)
                    }
                    (None, Value::Table(t)) => {
                        let key = captures(lua, &subject, &m)?
                            .into_iter()
                            .next()
                            .unwrap_or(Value::Nil);
                        Some(t.get::<Value>(key)?)
                    }
                    _ => None,
                };
                match replacement {
                    None => {}
                    Some(Value::Nil | Value::Boolean(false)) => out.extend_from_slice(whole),
                    Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => {
                        changed = true;
                        if let Some(text) = lua.coerce_string(v)? {
                            out.extend_from_slice(&text.as_bytes());
                        }
                    }
                    Some(other) => {
                        return Err(mlua::Error::RuntimeError(format!(
                            "invalid replacement value (a {})",
                            other.type_name()
                        )));
                    }
                }
                src = m.whole.end;
                last_match = Some(m.whole.end);
            }
            _ if src < subject.len() => {
                out.push(subject[src]);
                src += 1;
            }
            _ => break,
        }
        if out.len() > room {
            return Err(mlua::Error::RuntimeError(
                "resulting string too large".into(),
            ));
        }
        if anchor {
            break;
        }
    }
    check_deadline(lua)?;
    if !changed {
        return Ok((s.clone(), n));
    }
    out.extend_from_slice(subject.get(src..).unwrap_or(&[]));
    if out.len() > room {
        return Err(mlua::Error::RuntimeError(
            "resulting string too large".into(),
        ));
    }
    Ok((lua.create_string(out)?, n))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::sandbox::{Sandbox, ScriptError};
    use mlua::Value;

    fn sandbox() -> Sandbox {
        Sandbox::new(&std::env::temp_dir(), 64 << 20).expect("sandbox")
    }

    fn eval(s: &Sandbox, code: &str) -> Result<Value, ScriptError> {
        s.call_fn(
            &s.lua().load(code).into_function().expect("compiles"),
            mlua::MultiValue::new(),
            Duration::from_millis(200),
        )
        .map(|mut v| v.pop_front().unwrap_or(Value::Nil))
    }

    fn truthy(s: &Sandbox, code: &str) {
        assert!(
            matches!(eval(s, code), Ok(Value::Boolean(true))),
            "{code}: {:?}",
            eval(s, code)
        );
    }

    #[test]
    fn the_pattern_functions_behave_as_lua_5_4() {
        let s = sandbox();
        for code in [
            "return select('#', string.find('hello', 'l')) == 2",
            "local a, b = ('hello'):find('l') return a == 3 and b == 3",
            "local a, b, c = ('key=val'):find('(%w+)=') return a == 1 and b == 4 and c == 'key'",
            "return ('a.b'):find('.', 1, true) == 2",
            "return ('abc'):find('b', -1) == nil and ('abc'):find('c', -1) == 3",
            "return ('abc'):find('', 10) == nil and ('abc'):find('', 4) == 4",
            "return ('  hello  '):match('^%s*(.-)%s*$') == 'hello'",
            "local k, v = ('x = 10'):match('(%w+)%s*=%s*(%d+)') return k == 'x' and v == '10'",
            "return ('abc'):match('()b()') == 2",
            "return string.match(12345, '%d%d') == '12'",
            "local t = {} for w in ('one two  three'):gmatch('%a+') do t[#t+1] = w end
             return table.concat(t, ',') == 'one,two,three'",
            "local n = 0 for k, v in ('a=1, b=2'):gmatch('(%w+)=(%w+)') do n = n + 1 end return n == 2",
            "local t = {} for w in ('abc'):gmatch('', 2) do t[#t+1] = w end return #t == 3",
            "return ('hello world'):gsub('o', '0') == 'hell0 w0rld'",
            "return select(2, ('hello world'):gsub('o', '0')) == 2",
            "return ('hello'):gsub('', '-') == '-h-e-l-l-o-'",
            "return ('abc'):gsub('%w', '%0%0', 2) == 'aabbc'",
            "return ('hello world'):gsub('(%w+)', '<%1>') == '<hello> <world>'",
            "return ('$name is $age'):gsub('%$(%w+)', {name = 'Bo', age = 3}) == 'Bo is 3'",
            "return ('$x'):gsub('%$(%w+)', {}) == '$x'",
            "return ('abc'):gsub('%w', function(c) return c:upper() end) == 'ABC'",
            "return ('abc'):gsub('^a', 'x') == 'xbc' and ('aaa'):gsub('^a', 'x') == 'xaa'",
            "return ('abc'):gsub('b', 7) == 'a7c'",
            "return not pcall(string.gsub, 'abc', '%w', '%2')",
            "return not pcall(string.gsub, 'abc', '%w', {a = {}})",
            "return not pcall(string.find, 'abc', '[a')",
            "return not pcall(string.gsub, 'abc', '%w', true)",
        ] {
            truthy(&s, code);
        }
    }

    /// Issue 15 §4: the trim idiom on long client text is stopped by the callback's budget,
    /// not run for seconds, and a loop of cheap-looking calls ends at the deadline.
    #[test]
    fn no_pattern_call_outlives_the_budget() {
        let s = sandbox();
        let text = format!("x{}x", " ".repeat(30_000));
        s.lua().globals().set("text", text).expect("set");
        for code in [
            "return text:match('^%s*(.-)%s*$')",
            "return text:gsub('%s*$', '')",
            "for w in text:gmatch('%s*y') do end",
            "while true do pcall(text.find, text, '%s*y') end",
            "while true do pcall(string.match, text, '^%s*(.-)%s*$') end",
        ] {
            let started = std::time::Instant::now();
            let e = eval(&s, code).unwrap_err();
            // A single call runs out of its own step cap (a catchable error) or of the
            // callback's time; a loop of them always ends as the callback's overrun.
            let capped = matches!(&e, ScriptError::Runtime(m) if m.contains("pattern too complex"));
            assert!(
                matches!(e, ScriptError::Timeout(_)) || (capped && !code.contains("while")),
                "{code}: {e}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{code}: {:?}",
                started.elapsed()
            );
        }
        truthy(&s, "return #text:match('^x(%s*)x$') == 30000");
        // A short replacement that would expand a long match into gigabytes is refused
        // before anything is built.
        let e = eval(
            &s,
            "local s = ('x'):rep(1 << 16) return s:gsub('.+', ('%0'):rep(1 << 15))",
        )
        .unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
    }
}
