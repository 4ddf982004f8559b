//! Lua 5.4 pattern matching (Lua 5.4 reference manual §6.4.1) over byte strings, with a step
//! budget, so no single `string.find`/`match`/`gmatch`/`gsub` call outlives a script's time
//! budget.
//!
//! Lua's own C matcher (`lstrlib.c`) runs to completion without ever reaching the
//! instruction-count hook, and backtracking makes it quadratic or worse:
//! `("x" .. (" "):rep(30000) .. "x"):match("^%s*(.-)%s*$")` takes seconds. This module owns a
//! re-implementation of that matcher which charges a [`Budget`] for every step it takes (each
//! single-character test, each recursive call, each backtracking iteration, each start position
//! tried, each byte scanned in a set, a `%b` or a back-reference) and gives up with
//! [`PatternError::Budget`] once the budget is spent. The work of any call is therefore
//! O(budget), whatever the subject and pattern. Recursion is capped at [`MAX_DEPTH`] nested
//! calls, as in Lua ("pattern too complex"), so the stack use is bounded too.
//!
//! Semantics are those of `lstrlib.c` in Lua 5.4: the character classes use the "C" locale
//! (ASCII only), subject and pattern are arbitrary bytes (NUL and bytes ≥ 0x80 included),
//! errors carry Lua's messages. The Lua-facing wrappers (argument checking, clamping `init`,
//! the `gmatch`/`gsub` loops and the plain-search shortcut of `string.find`) belong to the
//! callers:
//!
//! * `string.find`: when `plain` is true or [`has_specials`] is false, [`find_plain`];
//!   otherwise [`find`].
//! * `string.match`: [`find`]; with no captures the result is the whole match.
//! * `string.gmatch`: [`match_here`] at each position from `init` to the subject's length
//!   inclusive, skipping a match that ends where the previous one ended; a leading `^` is an
//!   ordinary character there, exactly as in Lua 5.4.
//! * `string.gsub`: strip a leading `^` (then try only the first position), call
//!   [`match_here`] as `gmatch` does, and expand string replacements with
//!   [`expand_replacement`].
//!
//! All of these share one [`Budget`] per Lua-level call.

use std::ops::Range;

/// Maximum number of captures in one pattern (`LUA_MAXCAPTURES`).
pub const MAX_CAPTURES: usize = 32;

/// Maximum number of nested matcher calls (`MAXCCALLS`); a pattern needing more fails with
/// "pattern too complex".
pub const MAX_DEPTH: usize = 200;

/// The escape character of patterns and replacement strings (`L_ESC`).
const L_ESC: u8 = b'%';

/// The bytes that make a pattern more than a plain string (`SPECIALS`).
const SPECIALS: &[u8] = b"^$*+?.([%-";

/// One capture of a successful match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    /// A substring capture `(...)`: a byte range of the subject.
    Bytes(Range<usize>),
    /// A position capture `()`: the 1-based position, as Lua returns it.
    Position(usize),
}

/// A successful match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The byte range of the subject that the whole pattern matched.
    pub whole: Range<usize>,
    /// The captures in pattern order; empty when the pattern has none.
    pub captures: Vec<Capture>,
}

/// How many matcher steps a caller may still spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
    remaining: u64,
}

impl Budget {
    /// A budget of `steps` matcher steps.
    pub fn new(steps: u64) -> Self {
        Self {
            limit: steps,
            remaining: steps,
        }
    }

    /// Steps spent so far (all of them once the budget has run out).
    pub fn used(&self) -> u64 {
        self.limit - self.remaining
    }

    /// Steps still available.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Spends `steps`, or fails (leaving nothing) when fewer remain.
    fn charge(&mut self, steps: u64) -> Result<(), PatternError> {
        match self.remaining.checked_sub(steps) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => {
                self.remaining = 0;
                Err(PatternError::Budget)
            }
        }
    }

    /// Spends one step per byte of `len`, plus one.
    fn charge_len(&mut self, len: usize) -> Result<(), PatternError> {
        self.charge(u64::try_from(len).unwrap_or(u64::MAX).saturating_add(1))
    }
}

/// Why a pattern operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern or replacement string is invalid; the text is Lua's error message.
    #[error("{0}")]
    Malformed(String),
    /// The step budget ran out before the operation finished.
    #[error("pattern too complex for the time budget")]
    Budget,
}

fn malformed(message: impl Into<String>) -> PatternError {
    PatternError::Malformed(message.into())
}

/// The state of a capture slot (`capture[i].len` in `lstrlib.c`).
#[derive(Debug, Clone, Copy)]
enum CapLen {
    /// Opened but not yet closed (`CAP_UNFINISHED`).
    Unfinished,
    /// A position capture (`CAP_POSITION`).
    Position,
    /// A closed substring capture of this many bytes.
    Len(usize),
}

/// The matcher's state (`MatchState`); positions are byte offsets into `src` and `pat`, and a
/// read at or past the end of either yields NUL, like the terminator of a Lua string.
struct MatchState<'a, 'b> {
    src: &'a [u8],
    pat: &'a [u8],
    budget: &'b mut Budget,
    /// Nested calls still allowed (`matchdepth`).
    depth: usize,
    /// Captures opened so far, finished or not (`level`).
    level: usize,
    /// Start offset and state of each capture.
    capture: [(usize, CapLen); MAX_CAPTURES],
}

impl<'a, 'b> MatchState<'a, 'b> {
    fn new(src: &'a [u8], pat: &'a [u8], budget: &'b mut Budget) -> Self {
        Self {
            src,
            pat,
            budget,
            depth: MAX_DEPTH,
            level: 0,
            capture: [(0, CapLen::Unfinished); MAX_CAPTURES],
        }
    }

    /// Resets the per-attempt state (`reprepstate`).
    fn reprepare(&mut self) {
        self.depth = MAX_DEPTH;
        self.level = 0;
    }

    fn pat_at(&self, p: usize) -> u8 {
        self.pat.get(p).copied().unwrap_or(0)
    }

    fn src_at(&self, s: usize) -> u8 {
        self.src.get(s).copied().unwrap_or(0)
    }

    /// Index of capture `%d` where `digit` is the ASCII digit (`check_capture`).
    fn check_capture(&self, digit: u8) -> Result<usize, PatternError> {
        let index = i32::from(digit) - i32::from(b'1');
        let valid = usize::try_from(index)
            .ok()
            .filter(|&i| i < self.level)
            .filter(|&i| !matches!(self.capture[i].1, CapLen::Unfinished));
        valid.ok_or_else(|| malformed(format!("invalid capture index %{}", index + 1)))
    }

    /// The most recently opened capture that is still open (`capture_to_close`).
    fn capture_to_close(&self) -> Result<usize, PatternError> {
        self.capture[..self.level]
            .iter()
            .rposition(|(_, len)| matches!(len, CapLen::Unfinished))
            .ok_or_else(|| malformed("invalid pattern capture"))
    }

    /// The end of the single-character class starting at `p` (`classend`).
    fn class_end(&mut self, p: usize) -> Result<usize, PatternError> {
        let len = self.pat.len();
        match self.pat_at(p) {
            L_ESC => {
                if p + 1 >= len {
                    return Err(malformed("malformed pattern (ends with '%')"));
                }
                Ok(p + 2)
            }
            b'[' => {
                let mut q = p + 1;
                if self.pat_at(q) == b'^' {
                    q += 1;
                }
                // The first member is taken as is, so `[]]` and `[^]]` are sets holding ']'.
                loop {
                    if q >= len {
                        return Err(malformed("malformed pattern (missing ']')"));
                    }
                    let c = self.pat_at(q);
                    q += 1;
                    if c == L_ESC && q < len {
                        q += 1; // skip escapes such as '%]'
                    }
                    if self.pat_at(q) == b']' {
                        break;
                    }
                }
                self.budget.charge_len(q - p)?;
                Ok(q + 1)
            }
            _ => Ok(p + 1),
        }
    }

    /// Whether `c` is in the set `[...]` spanning `p` (the '[') to `ec` (the ']')
    /// (`matchbracketclass`).
    fn match_bracket_class(&mut self, c: u8, p: usize, ec: usize) -> Result<bool, PatternError> {
        let mut p = p;
        let mut sig = true;
        if self.pat_at(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= ec {
                return Ok(!sig);
            }
            self.budget.charge(1)?;
            let pc = self.pat_at(p);
            if pc == L_ESC {
                p += 1;
                if match_class(c, self.pat_at(p)) {
                    return Ok(sig);
                }
            } else if self.pat_at(p + 1) == b'-' && p + 2 < ec {
                p += 2;
                if pc <= c && c <= self.pat_at(p) {
                    return Ok(sig);
                }
            } else if pc == c {
                return Ok(sig);
            }
        }
    }

    /// Whether the subject byte at `s` matches the class spanning `p..ep` (`singlematch`).
    fn single_match(&mut self, s: usize, p: usize, ep: usize) -> Result<bool, PatternError> {
        self.budget.charge(1)?;
        let Some(&c) = self.src.get(s) else {
            return Ok(false);
        };
        Ok(match self.pat_at(p) {
            b'.' => true,
            L_ESC => match_class(c, self.pat_at(p + 1)),
            b'[' => self.match_bracket_class(c, p, ep.saturating_sub(1))?,
            pc => pc == c,
        })
    }

    /// `%bxy` with `p` at `x` (`matchbalance`): the end of the balanced run starting at `s`.
    fn match_balance(&mut self, s: usize, p: usize) -> Result<Option<usize>, PatternError> {
        if p + 1 >= self.pat.len() {
            return Err(malformed("malformed pattern (missing arguments to '%b')"));
        }
        let (open, close) = (self.pat_at(p), self.pat_at(p + 1));
        if s >= self.src.len() || self.src_at(s) != open {
            return Ok(None);
        }
        let mut depth: usize = 1;
        for i in s + 1..self.src.len() {
            self.budget.charge(1)?;
            let c = self.src_at(i);
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
        }
        Ok(None)
    }

    /// Greedy repetition (`max_expand`): `*`, and `+` after its first match.
    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Result<Option<usize>, PatternError> {
        let mut count = 0;
        while self.single_match(s + count, p, ep)? {
            count += 1;
        }
        loop {
            if let Some(end) = self.do_match(s + count, ep + 1)? {
                return Ok(Some(end));
            }
            if count == 0 {
                return Ok(None);
            }
            count -= 1;
        }
    }

    /// Lazy repetition (`min_expand`): `-`.
    fn min_expand(&mut self, s: usize, p: usize, ep: usize) -> Result<Option<usize>, PatternError> {
        let mut s = s;
        loop {
            if let Some(end) = self.do_match(s, ep + 1)? {
                return Ok(Some(end));
            }
            if self.single_match(s, p, ep)? {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    /// Opens a capture at `s` and matches the rest (`start_capture`).
    fn start_capture(
        &mut self,
        s: usize,
        p: usize,
        what: CapLen,
    ) -> Result<Option<usize>, PatternError> {
        let level = self.level;
        if level >= MAX_CAPTURES {
            return Err(malformed("too many captures"));
        }
        self.capture[level] = (s, what);
        self.level = level + 1;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.level -= 1;
        }
        Ok(res)
    }

    /// Closes the innermost open capture at `s` and matches the rest (`end_capture`).
    fn end_capture(&mut self, s: usize, p: usize) -> Result<Option<usize>, PatternError> {
        let l = self.capture_to_close()?;
        let init = self.capture[l].0;
        self.capture[l].1 = CapLen::Len(s.saturating_sub(init));
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.capture[l].1 = CapLen::Unfinished;
        }
        Ok(res)
    }

    /// A back-reference `%1`-`%9` at `s` (`match_capture`).
    fn match_capture(&mut self, s: usize, digit: u8) -> Result<Option<usize>, PatternError> {
        let l = self.check_capture(digit)?;
        let (init, len) = self.capture[l];
        // A position capture never matches: Lua compares against its length as a huge size_t.
        let CapLen::Len(len) = len else {
            return Ok(None);
        };
        if self.src.len().saturating_sub(s) < len {
            return Ok(None);
        }
        self.budget.charge_len(len)?;
        let (Some(captured), Some(here)) =
            (self.src.get(init..init + len), self.src.get(s..s + len))
        else {
            return Ok(None);
        };
        Ok((captured == here).then_some(s + len))
    }

    /// Matches pattern offset `p` onwards against subject offset `s` onwards; the end of the
    /// match, if any (`match`).
    fn do_match(&mut self, s: usize, p: usize) -> Result<Option<usize>, PatternError> {
        if self.depth == 0 {
            return Err(malformed("pattern too complex"));
        }
        self.depth -= 1;
        let res = self.match_body(s, p);
        self.depth += 1;
        res
    }

    fn match_body(&mut self, mut s: usize, mut p: usize) -> Result<Option<usize>, PatternError> {
        // Each iteration is one tail call of Lua's `match` (its `goto init`).
        loop {
            self.budget.charge(1)?;
            if p >= self.pat.len() {
                return Ok(Some(s));
            }
            match self.pat_at(p) {
                b'(' => {
                    return if self.pat_at(p + 1) == b')' {
                        self.start_capture(s, p + 2, CapLen::Position)
                    } else {
                        self.start_capture(s, p + 1, CapLen::Unfinished)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == self.pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                L_ESC => match self.pat_at(p + 1) {
                    b'b' => match self.match_balance(s, p + 2)? {
                        Some(end) => {
                            s = end;
                            p += 4;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    b'f' => {
                        p += 2;
                        if self.pat_at(p) != b'[' {
                            return Err(malformed("missing '[' after '%f' in pattern"));
                        }
                        let ep = self.class_end(p)?;
                        let previous = if s == 0 { 0 } else { self.src_at(s - 1) };
                        let current = self.src_at(s);
                        if !self.match_bracket_class(previous, p, ep - 1)?
                            && self.match_bracket_class(current, p, ep - 1)?
                        {
                            p = ep;
                            continue;
                        }
                        return Ok(None);
                    }
                    digit @ b'0'..=b'9' => match self.match_capture(s, digit)? {
                        Some(end) => {
                            s = end;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    _ => {}
                },
                _ => {}
            }
            // A single-character class with an optional repetition suffix.
            let ep = self.class_end(p)?;
            let suffix = self.pat_at(ep);
            if !self.single_match(s, p, ep)? {
                if matches!(suffix, b'*' | b'?' | b'-') {
                    p = ep + 1; // accept the empty match
                    continue;
                }
                return Ok(None);
            }
            match suffix {
                b'?' => {
                    if let Some(end) = self.do_match(s + 1, ep + 1)? {
                        return Ok(Some(end));
                    }
                    p = ep + 1;
                }
                b'+' => return self.max_expand(s + 1, p, ep),
                b'*' => return self.max_expand(s, p, ep),
                b'-' => return self.min_expand(s, p, ep),
                _ => {
                    s += 1;
                    p = ep;
                }
            }
        }
    }

    /// The result of a successful attempt from `start` to `end`; an unclosed capture is
    /// Lua's "unfinished capture" error.
    fn finish(&self, start: usize, end: usize) -> Result<Match, PatternError> {
        let captures = self.capture[..self.level]
            .iter()
            .map(|&(init, len)| match len {
                CapLen::Unfinished => Err(malformed("unfinished capture")),
                CapLen::Position => Ok(Capture::Position(init + 1)),
                CapLen::Len(n) => Ok(Capture::Bytes(init..init + n)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Match {
            whole: start..end,
            captures,
        })
    }
}

/// Whether byte `c` belongs to the class letter `cl` of `%cl`, or equals `cl` when that is no
/// class letter (`match_class`, "C" locale).
fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        // isspace: unlike `u8::is_ascii_whitespace`, this includes the vertical tab.
        b's' => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0, // deprecated in Lua 5.2+, still accepted by 5.4
        _ => return cl == c,
    };
    if cl.is_ascii_lowercase() { res } else { !res }
}

/// Finds the first match of `pattern` in `subject` starting at byte offset `init` (0-based,
/// already clamped by the caller; past the end there is no match), honouring a leading `^`
/// (anchor: try only at `init`). This is `string.find`/`string.match` without the plain-search
/// shortcut.
pub fn find(
    subject: &[u8],
    pattern: &[u8],
    init: usize,
    budget: &mut Budget,
) -> Result<Option<Match>, PatternError> {
    if init > subject.len() {
        return Ok(None);
    }
    let (anchor, pattern) = match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    let mut ms = MatchState::new(subject, pattern, budget);
    let mut start = init;
    loop {
        ms.budget.charge(1)?;
        ms.reprepare();
        if let Some(end) = ms.do_match(start, 0)? {
            return ms.finish(start, end).map(Some);
        }
        if anchor || start >= subject.len() {
            return Ok(None);
        }
        start += 1;
    }
}

/// One attempt to match `pattern` at exactly byte offset `at` (for `gmatch`/`gsub`, which
/// iterate themselves). A leading `^` is not special here: callers strip it where Lua does
/// (`gsub`) and keep it where Lua 5.4 treats it literally (`gmatch`).
pub fn match_here(
    subject: &[u8],
    pattern: &[u8],
    at: usize,
    budget: &mut Budget,
) -> Result<Option<Match>, PatternError> {
    if at > subject.len() {
        return Ok(None);
    }
    let mut ms = MatchState::new(subject, pattern, budget);
    ms.budget.charge(1)?;
    match ms.do_match(at, 0)? {
        Some(end) => ms.finish(at, end).map(Some),
        None => Ok(None),
    }
}

/// Whether `pattern` contains any of Lua's special characters `^$*+?.([%-`; when it does not,
/// `string.find` does a plain search (Lua's `nospecials` is the negation of this).
pub fn has_specials(pattern: &[u8]) -> bool {
    pattern.iter().any(|b| SPECIALS.contains(b))
}

/// Plain substring search (`string.find` with `plain`, or a pattern without specials,
/// `lmemfind`): the byte range of the first occurrence of `needle` at or after `init`. An
/// empty needle is found at `init`; nothing is found when `init` is past the end. Charges the
/// budget for every byte compared.
pub fn find_plain(
    subject: &[u8],
    needle: &[u8],
    init: usize,
    budget: &mut Budget,
) -> Result<Option<Range<usize>>, PatternError> {
    let Some(hay) = subject.get(init..) else {
        return Ok(None);
    };
    let Some((&first, rest)) = needle.split_first() else {
        return Ok(Some(init..init));
    };
    if needle.len() > hay.len() {
        return Ok(None);
    }
    let last_start = hay.len() - needle.len();
    let mut from = 0;
    while from <= last_start {
        // Locate the next candidate first byte; scanning costs one step per byte.
        let Some(offset) = hay[from..=last_start].iter().position(|&b| b == first) else {
            budget.charge_len(last_start - from)?;
            return Ok(None);
        };
        budget.charge_len(offset)?;
        let at = from + offset;
        let tail = &hay[at + 1..at + needle.len()];
        let same = tail.iter().zip(rest).take_while(|(a, b)| a == b).count();
        budget.charge_len(same)?;
        if same == rest.len() {
            return Ok(Some(init + at..init + at + needle.len()));
        }
        from = at + 1;
    }
    Ok(None)
}

/// Appends `gsub`'s expansion of the replacement string `repl` for match `m` of `subject` to
/// `out`: `%0` is the whole match, `%1`-`%9` the captures (`%1` is the whole match when the
/// pattern has no captures; a position capture expands to its number in decimal), `%%` is a
/// percent sign, and any other `%` (including a trailing one) is the error "invalid use of '%'
/// in replacement string". Output length is not limited here; callers should cap it.
pub fn expand_replacement(
    repl: &[u8],
    subject: &[u8],
    m: &Match,
    out: &mut Vec<u8>,
) -> Result<(), PatternError> {
    let slice = |range: &Range<usize>| {
        subject
            .get(range.clone())
            .ok_or_else(|| malformed("match does not belong to this subject"))
    };
    let mut rest = repl;
    while let Some(esc) = rest.iter().position(|&b| b == L_ESC) {
        out.extend_from_slice(&rest[..esc]);
        let code = rest.get(esc + 1).copied();
        match code {
            Some(L_ESC) => out.push(L_ESC),
            Some(b'0') => out.extend_from_slice(slice(&m.whole)?),
            Some(digit @ b'1'..=b'9') => {
                let index = usize::from(digit - b'1');
                match m.captures.get(index) {
                    Some(Capture::Bytes(range)) => out.extend_from_slice(slice(range)?),
                    Some(Capture::Position(pos)) => {
                        out.extend_from_slice(pos.to_string().as_bytes())
                    }
                    None if index == 0 && m.captures.is_empty() => {
                        out.extend_from_slice(slice(&m.whole)?)
                    }
                    None => return Err(malformed(format!("invalid capture index %{}", index + 1))),
                }
            }
            _ => return Err(malformed("invalid use of '%' in replacement string")),
        }
        rest = rest.get(esc + 2..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Enough for every table case; none of them comes near it.
    const BIG: u64 = 10_000_000;

    /// Bytes as the Lua oracle printed them: printable ASCII as is, `\` and `"` escaped,
    /// everything else as `\xHH`.
    fn show(bytes: &[u8]) -> String {
        let mut out = String::from("\"");
        for &b in bytes {
            match b {
                b'\\' | b'"' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x20..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\x{b:02X}")),
            }
        }
        out.push('"');
        out
    }

    fn show_capture(subject: &[u8], capture: &Capture) -> String {
        match capture {
            Capture::Bytes(range) => show(&subject[range.clone()]),
            Capture::Position(pos) => pos.to_string(),
        }
    }

    /// The values `string.match`/`gmatch` return: the captures, or the whole match.
    fn match_values(subject: &[u8], m: &Match) -> Vec<String> {
        if m.captures.is_empty() {
            vec![show(&subject[m.whole.clone()])]
        } else {
            m.captures
                .iter()
                .map(|c| show_capture(subject, c))
                .collect()
        }
    }

    /// `string.find(s, p, init)` for a positive `init`.
    fn lua_find(s: &[u8], p: &[u8], init: usize) -> String {
        let mut budget = Budget::new(BIG);
        if !has_specials(p) {
            return match find_plain(s, p, init - 1, &mut budget) {
                Ok(Some(r)) => format!("{} {}", r.start + 1, r.end),
                Ok(None) => "nil".to_owned(),
                Err(e) => format!("error: {e}"),
            };
        }
        match find(s, p, init - 1, &mut budget) {
            Ok(Some(m)) => {
                let mut parts = vec![(m.whole.start + 1).to_string(), m.whole.end.to_string()];
                parts.extend(m.captures.iter().map(|c| show_capture(s, c)));
                parts.join(" ")
            }
            Ok(None) => "nil".to_owned(),
            Err(e) => format!("error: {e}"),
        }
    }

    /// `string.match(s, p, init)` for a positive `init`.
    fn lua_match(s: &[u8], p: &[u8], init: usize) -> String {
        match find(s, p, init - 1, &mut Budget::new(BIG)) {
            Ok(Some(m)) => match_values(s, &m).join(" "),
            Ok(None) => "nil".to_owned(),
            Err(e) => format!("error: {e}"),
        }
    }

    /// All iterations of `string.gmatch(s, p, init)`, as `lstrlib.c`'s `gmatch_aux` runs them.
    fn lua_gmatch(s: &[u8], p: &[u8], init: usize) -> String {
        let mut budget = Budget::new(BIG);
        let mut out = Vec::new();
        let mut src = (init - 1).min(s.len() + 1);
        let mut last_end = None;
        'calls: loop {
            while src <= s.len() {
                match match_here(s, p, src, &mut budget) {
                    Err(e) => {
                        out.push(format!("error: {e}"));
                        break 'calls;
                    }
                    Ok(Some(m)) if Some(m.whole.end) != last_end => {
                        src = m.whole.end;
                        last_end = Some(src);
                        out.push(format!("{{{}}}", match_values(s, &m).join(" ")));
                        continue 'calls;
                    }
                    Ok(_) => src += 1,
                }
            }
            break;
        }
        out.join(" ")
    }

    /// `string.gsub(s, p, repl, max)` with a string replacement, as `lstrlib.c`'s `str_gsub`.
    fn lua_gsub(s: &[u8], p: &[u8], max: usize, repl: &[u8]) -> String {
        let mut budget = Budget::new(BIG);
        let (anchor, p) = match p.split_first() {
            Some((b'^', rest)) => (true, rest),
            _ => (false, p),
        };
        let mut out = Vec::new();
        let mut src = 0;
        let mut last_end = None;
        let mut n = 0;
        while n < max {
            match match_here(s, p, src, &mut budget) {
                Err(e) => return format!("error: {e}"),
                Ok(Some(m)) if Some(m.whole.end) != last_end => {
                    n += 1;
                    if let Err(e) = expand_replacement(repl, s, &m, &mut out) {
                        return format!("error: {e}");
                    }
                    src = m.whole.end;
                    last_end = Some(src);
                }
                Ok(_) if src < s.len() => {
                    out.push(s[src]);
                    src += 1;
                }
                Ok(_) => break,
            }
            if anchor {
                break;
            }
        }
        out.extend_from_slice(&s[src..]);
        format!("{} {n}", show(&out))
    }

    /// (operation, subject, pattern, init or max, replacement, what Lua returns).
    type Case = (
        &'static str,
        &'static [u8],
        &'static [u8],
        usize,
        &'static [u8],
        &'static str,
    );

    /// The expectations were produced by running the same calls through Lua 5.4.9.
    #[rustfmt::skip]
    const CASES: &[Case] = &[
        ("find", b"hello world", b"o w", 1, b"", "5 7"),
        ("find", b"hello world", b"o", 6, b"", "8 8"),
        ("find", b"hello", b"", 1, b"", "1 0"),
        ("find", b"hello", b"", 6, b"", "6 5"),
        ("find", b"hello", b"", 7, b"", "nil"),
        ("find", b"hello", b"lo", 5, b"", "nil"),
        ("find", b"a)b", b")", 1, b"", "2 2"),
        ("find", b"a]b", b"]", 1, b"", "2 2"),
        ("find", b"a\x00b", b"\x00", 1, b"", "2 2"),
        ("match", b"hello", b"", 1, b"", "\"\""),
        ("match", b"hello", b"", 6, b"", "\"\""),
        ("match", b"", b"", 1, b"", "\"\""),
        ("find", b"", b".", 1, b"", "nil"),
        ("find", b"hello", b"o$", 1, b"", "5 5"),
        ("find", b"hello", b"()$", 1, b"", "6 5 6"),
        ("match", b"hello", b".$", 1, b"", "\"o\""),
        ("match", b"hello", b"%a*$", 3, b"", "\"llo\""),
        ("find", b"a.b", b"%.", 1, b"", "2 2"),
        ("find", b"a.b", b".", 2, b"", "2 2"),
        ("match", b"Hello World 42!", b"%a+", 1, b"", "\"Hello\""),
        ("match", b"Hello World 42!", b"%d+", 1, b"", "\"42\""),
        ("match", b"Hello World 42!", b"%l+", 1, b"", "\"ello\""),
        ("match", b"Hello World 42!", b"%u+", 2, b"", "\"W\""),
        ("match", b"Hello World 42!", b"%p", 1, b"", "\"!\""),
        ("match", b"Hello World 42!", b"%s+", 1, b"", "\" \""),
        ("match", b"Hello World 42!", b"%w+", 6, b"", "\"World\""),
        ("match", b"Hello World 42!", b"%g+", 12, b"", "\"42!\""),
        ("match", b"zz 0x1Fg", b"%x+", 4, b"", "\"0\""),
        ("match", b"ab\x01\x1F\x7Fc", b"%c+", 1, b"", "\"\\x01\\x1F\\x7F\""),
        ("match", b"a\x0B\x0C\x0D\x0A\x09 b", b"%s+", 1, b"", "\"\\x0B\\x0C\\x0D\\x0A\\x09 \""),
        ("match", b"abc123", b"%D+", 1, b"", "\"abc\""),
        ("match", b"abc123", b"%A+", 1, b"", "\"123\""),
        ("match", b"abc 123", b"%S+", 4, b"", "\"123\""),
        ("match", b"ab\x00cd", b"%z", 1, b"", "\"\\x00\""),
        ("match", b"ab\x00cd", b"%Z+", 1, b"", "\"ab\""),
        ("match", b"abcDEF", b"%L+", 1, b"", "\"DEF\""),
        ("match", b"abcDEF", b"%U+", 1, b"", "\"abc\""),
        ("match", b"a b!c", b"%P+", 1, b"", "\"a b\""),
        ("match", b"a b!c", b"%W", 1, b"", "\" \""),
        ("match", b"xyz\x00", b"%C+", 1, b"", "\"xyz\""),
        ("match", b"0x1Fg", b"%X", 1, b"", "\"x\""),
        ("match", b"a b", b"%G", 1, b"", "\" \""),
        ("match", b"\xC8\xFFabc", b"%A+", 1, b"", "\"\\xC8\\xFF\""),
        ("match", b"\xC8\xFFabc", b".", 1, b"", "\"\\xC8\""),
        ("match", b"\xC8\xFFabc", b"\xFF", 1, b"", "\"\\xFF\""),
        ("match", b"a%b", b"%%", 1, b"", "\"%\""),
        ("match", b"a+b", b"a%+b", 1, b"", "\"a+b\""),
        ("match", b"[x]", b"%[(.)%]", 1, b"", "\"x\""),
        ("match", b"hello123", b"[a-z]+", 1, b"", "\"hello\""),
        ("match", b"HELLO123", b"[^a-z]+", 1, b"", "\"HELLO123\""),
        ("match", b"x5_y", b"[%d_]+", 2, b"", "\"5_\""),
        ("match", b"a]b", b"[]]", 1, b"", "\"]\""),
        ("match", b"a]b", b"[^]]+", 1, b"", "\"a\""),
        ("match", b"a-b", b"[a-]+", 1, b"", "\"a-\""),
        ("match", b"a-b", b"[-a]+", 1, b"", "\"a-\""),
        ("match", b"a-b", b"[%-]", 1, b"", "\"-\""),
        ("match", b"a^b", b"[b^]+", 1, b"", "\"^b\""),
        ("match", b"a^b", b"[%^]", 1, b"", "\"^\""),
        ("match", b"a]b", b"[%]]", 1, b"", "\"]\""),
        ("match", b"z]a-", b"[]-a]+", 1, b"", "\"]a\""),
        ("match", b"%a", b"[%%]", 1, b"", "\"%\""),
        ("match", b"abc", b"[]", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"abc", b"[^]", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"abc", b"[a", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"abc", b"[a%", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"abc", b"[%", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"abc", b"[", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"abc", b"[^", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"a\x00b", b"[\x00]", 1, b"", "\"\\x00\""),
        ("match", b"a\xFFb", b"[\x80-\xFF]", 1, b"", "\"\\xFF\""),
        ("match", b"aZ9", b"[%a%d]+", 1, b"", "\"aZ9\""),
        ("match", b"aZ9", b"[^%u]+", 2, b"", "\"9\""),
        ("find", b"hello", b"l+", 1, b"", "3 4"),
        ("find", b"hello", b"l*", 1, b"", "1 0"),
        ("find", b"hello", b"xl*", 1, b"", "nil"),
        ("match", b"hello", b"h.-l", 1, b"", "\"hel\""),
        ("match", b"hello", b"h.*l", 1, b"", "\"hell\""),
        ("match", b"hello", b"h.-o", 1, b"", "\"hello\""),
        ("match", b"aaa", b"a-b", 1, b"", "nil"),
        ("match", b"aaab", b"a-b", 1, b"", "\"aaab\""),
        ("match", b"aaa", b"^a-$", 1, b"", "\"aaa\""),
        ("match", b"<a><b>", b"<(.-)>", 1, b"", "\"a\""),
        ("match", b"<a><b>", b"<(.*)>", 1, b"", "\"a><b\""),
        ("match", b"abc", b"a?b?c?d?", 1, b"", "\"abc\""),
        ("match", b"ac", b"ab?c", 1, b"", "\"ac\""),
        ("match", b"xyz", b"x*y+z?", 1, b"", "\"xyz\""),
        ("match", b"aaa", b"a+?", 1, b"", "nil"),
        ("match", b"a+", b"a++", 1, b"", "\"a+\""),
        ("match", b"color colour", b"colou?r", 7, b"", "\"colour\""),
        ("match", b"  hello  ", b"^%s*(.-)%s*$", 1, b"", "\"hello\""),
        ("match", b"", b"^%s*(.-)%s*$", 1, b"", "\"\""),
        ("match", b"x", b"*", 1, b"", "nil"),
        ("match", b"*x", b"*", 1, b"", "\"*\""),
        ("match", b"-x", b"-", 1, b"", "\"-\""),
        ("find", b"abc", b"^b", 1, b"", "nil"),
        ("find", b"abc", b"^b", 2, b"", "2 2"),
        ("find", b"abc", b"^", 4, b"", "4 3"),
        ("find", b"abc", b"b$", 1, b"", "nil"),
        ("find", b"ab$c", b"b$c", 1, b"", "2 4"),
        ("find", b"a$", b"$$", 1, b"", "2 2"),
        ("find", b"a^b", b"a^b", 1, b"", "1 3"),
        ("find", b"abc", b"^abc$", 1, b"", "1 3"),
        ("find", b"abcd", b"^abc$", 1, b"", "nil"),
        ("match", b"^^", b"^^", 1, b"", "\"^\""),
        ("find", b"hello", b"(h)(e)", 1, b"", "1 2 \"h\" \"e\""),
        ("find", b"hello", b"()ll()", 1, b"", "3 4 3 5"),
        ("match", b"hello", b"()", 1, b"", "1"),
        ("match", b"hello", b"()", 6, b"", "6"),
        ("match", b"key = value", b"(%w+)%s*=%s*(%w+)", 1, b"", "\"key\" \"value\""),
        ("match", b"abc", b"((a)(b))", 1, b"", "\"ab\" \"a\" \"b\""),
        ("match", b"abc", b"(a(b)())", 1, b"", "\"ab\" \"b\" 3"),
        ("find", b"abc", b"()", 4, b"", "4 3 4"),
        ("match", b"date: 2024-01-31", b"(%d+)-(%d+)-(%d+)", 1, b"", "\"2024\" \"01\" \"31\""),
        ("find", b"hello", b"(l)%1", 1, b"", "3 4 \"l\""),
        ("match", b"abcabc", b"(abc)%1", 1, b"", "\"abc\""),
        ("match", b"say \"hi\" now", b"([\"'])(.-)%1", 1, b"", "\"\\\"\" \"hi\""),
        ("match", b"it's 'x'", b"([\"'])(.-)%1", 1, b"", "\"'\" \"s \""),
        ("match", b"aXbXc", b"(X).-%1", 1, b"", "\"X\""),
        ("match", b"abab", b"(a)(b)%1%2", 1, b"", "\"a\" \"b\""),
        ("match", b"aa", b"()a%1", 1, b"", "nil"),
        ("match", b"abc", b"(a%1)", 1, b"", "error: invalid capture index %1"),
        ("match", b"abc", b"%1", 1, b"", "error: invalid capture index %1"),
        ("match", b"abc", b"%0", 1, b"", "error: invalid capture index %0"),
        ("match", b"abc", b"(a)%2", 1, b"", "error: invalid capture index %2"),
        ("match", b"abc", b"(a)%9", 1, b"", "error: invalid capture index %9"),
        ("find", b"THE (quick) fox", b"%b()", 1, b"", "5 11"),
        ("match", b"f(a(b)c)d", b"%b()", 1, b"", "\"(a(b)c)\""),
        ("match", b"f(a(b)c d", b"%b()", 1, b"", "\"(b)\""),
        ("match", b"x[[a]b]y", b"%b[]", 1, b"", "\"[[a]b]\""),
        ("match", b"say \"hi\" now", b"%b\"\"", 1, b"", "\"\\\"hi\\\"\""),
        ("match", b"a(b)c", b"%b()c", 1, b"", "\"(b)c\""),
        ("match", b"abc", b"%b", 1, b"", "error: malformed pattern (missing arguments to '%b')"),
        ("match", b"abc", b"%ba", 1, b"", "error: malformed pattern (missing arguments to '%b')"),
        ("match", b"(a)", b"%b()*", 1, b"", "nil"),
        ("find", b"THE (quick) fox", b"%f[%a]%a+", 5, b"", "6 10"),
        ("match", b"if x then", b"%f[%w]%w+", 3, b"", "\"x\""),
        ("find", b"hello", b"%f[%l]", 1, b"", "1 0"),
        ("find", b"hello", b"%f[%z]", 1, b"", "6 5"),
        ("find", b"hello", b"%f[^%l]", 1, b"", "6 5"),
        ("match", b"THE (quick) fox", b"%f[%a]%a+%f[%A]", 6, b"", "\"quick\""),
        ("match", b"hello world", b"%f[%w]%w+$", 1, b"", "\"world\""),
        ("match", b"abc", b"%f", 1, b"", "error: missing '[' after '%f' in pattern"),
        ("match", b"abc", b"%fa", 1, b"", "error: missing '[' after '%f' in pattern"),
        ("match", b"abc", b"%f[a", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"ab", b"%f[]", 1, b"", "error: malformed pattern (missing ']')"),
        ("match", b"abc", b"%", 1, b"", "error: malformed pattern (ends with '%')"),
        ("match", b"abc", b"a%", 1, b"", "error: malformed pattern (ends with '%')"),
        ("match", b"abc", b"a)", 1, b"", "error: invalid pattern capture"),
        ("match", b"abc", b")", 1, b"", "error: invalid pattern capture"),
        ("find", b"abc", b"(a", 1, b"", "error: unfinished capture"),
        ("match", b"abc", b"(a", 1, b"", "error: unfinished capture"),
        ("match", b"abc", b"(x", 1, b"", "nil"),
        ("match", b"abc", b"()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()", 1, b"", "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
        ("match", b"abc", b"()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()", 1, b"", "error: too many captures"),
        ("match", b"abc", b"(((((((((((((((((((((((((((((((((", 1, b"", "error: too many captures"),
        ("gmatch", b"one two three", b"%a+", 1, b"", "{\"one\"} {\"two\"} {\"three\"}"),
        ("gmatch", b"one two three", b"%a+", 5, b"", "{\"two\"} {\"three\"}"),
        ("gmatch", b"abc", b"", 1, b"", "{\"\"} {\"\"} {\"\"} {\"\"}"),
        ("gmatch", b"a,b,,c", b"([^,]*)", 1, b"", "{\"a\"} {\"b\"} {\"\"} {\"c\"}"),
        ("gmatch", b"k1=v1, k2=v2", b"(%w+)=(%w+)", 1, b"", "{\"k1\" \"v1\"} {\"k2\" \"v2\"}"),
        ("gmatch", b"hello", b"^h", 1, b"", ""),
        ("gmatch", b"^h^h", b"^h", 1, b"", "{\"^h\"} {\"^h\"}"),
        ("gmatch", b"abc", b"()", 1, b"", "{1} {2} {3} {4}"),
        ("gmatch", b"abc", b".-", 1, b"", "{\"\"} {\"\"} {\"\"} {\"\"}"),
        ("gmatch", b"abc", b"x*", 1, b"", "{\"\"} {\"\"} {\"\"} {\"\"}"),
        ("gmatch", b"abc", b"%", 1, b"", "error: malformed pattern (ends with '%')"),
        ("gmatch", b"abc", b"b", 10, b"", ""),
        ("gsub", b"hello world", b"o", 10, b"0", "\"hell0 w0rld\" 2"),
        ("gsub", b"hello world", b"o", 1, b"0", "\"hell0 world\" 1"),
        ("gsub", b"hello world", b"(%w+)", 10, b"<%1>", "\"<hello> <world>\" 2"),
        ("gsub", b"hello world", b"%w+", 10, b"%0 %0", "\"hello hello world world\" 2"),
        ("gsub", b"hello world", b"(%w+) (%w+)", 10, b"%2 %1", "\"world hello\" 1"),
        ("gsub", b"abc", b"", 10, b"-", "\"-a-b-c-\" 4"),
        ("gsub", b"abc", b"x*", 10, b"-", "\"-a-b-c-\" 4"),
        ("gsub", b"abc", b"b*", 10, b"-", "\"-a-c-\" 3"),
        ("gsub", b"abc", b"b", 10, b"%%", "\"a%c\" 1"),
        ("gsub", b"abc", b"b", 10, b"%1", "\"abc\" 1"),
        ("gsub", b"abc", b"b", 10, b"%2", "error: invalid capture index %2"),
        ("gsub", b"abc", b"(b)", 10, b"%2", "error: invalid capture index %2"),
        ("gsub", b"abc", b"b", 10, b"%x", "error: invalid use of '%' in replacement string"),
        ("gsub", b"abc", b"b", 10, b"%", "error: invalid use of '%' in replacement string"),
        ("gsub", b"abc", b"x", 10, b"%", "\"abc\" 0"),
        ("gsub", b"abc", b"()b", 10, b"%1", "\"a2c\" 1"),
        ("gsub", b"abc", b"(b)()", 10, b"[%2%1]", "\"a[3b]c\" 1"),
        ("gsub", b"hello", b"^h", 10, b"J", "\"Jello\" 1"),
        ("gsub", b"hhh", b"^h", 10, b"J", "\"Jhh\" 1"),
        ("gsub", b"  x  ", b"^%s+", 10, b"", "\"x  \" 1"),
        ("gsub", b"  x  ", b"%s+$", 10, b"", "\"  x\" 1"),
        ("gsub", b"abc", b"^", 10, b">", "\">abc\" 1"),
        ("gsub", b"abc", b"$", 10, b"<", "\"abc<\" 1"),
        ("gsub", b"a.b.c", b"%.", 10, b"%%", "\"a%b%c\" 2"),
        ("gsub", b"abc", b"%w", 0, b"x", "\"abc\" 0"),
        ("gsub", b"a\x00b", b"%z", 10, b"\xFF", "\"a\\xFFb\" 1"),
    ];

    #[test]
    fn behaves_like_lua_5_4() {
        let mut failures = Vec::new();
        for &(op, s, p, arg, repl, want) in CASES {
            let got = match op {
                "find" => lua_find(s, p, arg),
                "match" => lua_match(s, p, arg),
                "gmatch" => lua_gmatch(s, p, arg),
                "gsub" => lua_gsub(s, p, arg, repl),
                _ => format!("unknown operation {op}"),
            };
            if got != want {
                failures.push(format!(
                    "{op}({}, {}, {arg}, {}): got {got}, want {want}",
                    show(s),
                    show(p),
                    show(repl)
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatches:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    fn capture_text<'s>(subject: &'s [u8], m: &Match, i: usize) -> &'s [u8] {
        match &m.captures[i] {
            Capture::Bytes(r) => &subject[r.clone()],
            Capture::Position(_) => panic!("capture {i} is a position"),
        }
    }

    const TRIM: &[u8] = b"^%s*(.-)%s*$";

    #[test]
    fn trim_idiom_trims() {
        let subject = b"  hello  ";
        let mut budget = Budget::new(1_000_000);
        let m = find(subject, TRIM, 0, &mut budget)
            .expect("valid pattern")
            .expect("matches");
        assert_eq!(m.whole, 0..subject.len());
        assert_eq!(capture_text(subject, &m, 0), b"hello");
        assert!(budget.used() > 0 && budget.used() < 1_000);
    }

    #[test]
    fn trim_idiom_runs_out_of_budget_fast() {
        // Quadratic in Lua (seconds for this subject): `.-` grows one byte at a time and each
        // time `%s*` re-scans the 30 000 spaces before `$` fails on the final "x".
        let mut subject = b"x".to_vec();
        subject.extend(std::iter::repeat_n(b' ', 30_000));
        subject.push(b'x');
        let started = Instant::now();
        let mut budget = Budget::new(1_000_000);
        assert_eq!(
            find(&subject, TRIM, 0, &mut budget),
            Err(PatternError::Budget)
        );
        assert_eq!(budget.remaining(), 0);
        assert_eq!(budget.used(), 1_000_000);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn trim_idiom_on_leading_spaces_is_cheap() {
        // 30 000 spaces then "x" is linear in Lua too: `^%s*` takes every space at once.
        let mut subject = vec![b' '; 30_000];
        subject.push(b'x');
        let mut budget = Budget::new(1_000_000);
        let m = find(&subject, TRIM, 0, &mut budget)
            .expect("within budget")
            .expect("matches");
        assert_eq!(capture_text(&subject, &m, 0), b"x");
        let spaces = vec![b' '; 30_000];
        let m = find(&spaces, TRIM, 0, &mut budget)
            .expect("within budget")
            .expect("matches");
        assert_eq!(m.captures, vec![Capture::Bytes(30_000..30_000)]);
    }

    #[test]
    fn budget_is_shared_and_exhaustible() {
        let mut budget = Budget::new(0);
        assert_eq!(
            find(b"abc", b"a", 0, &mut budget),
            Err(PatternError::Budget)
        );
        assert_eq!(
            match_here(b"abc", b"a", 0, &mut budget),
            Err(PatternError::Budget)
        );
        assert_eq!(
            find_plain(b"abc", b"b", 0, &mut budget),
            Err(PatternError::Budget)
        );

        let mut budget = Budget::new(100);
        let mut calls = 0;
        while find(b"abc", b"b", 0, &mut budget).is_ok() {
            calls += 1;
            assert!(calls < 100, "every call must cost something");
        }
        assert!(calls > 1);
        assert_eq!(budget.used(), 100);
        assert_eq!(
            PatternError::Budget.to_string(),
            "pattern too complex for the time budget"
        );
    }

    #[test]
    fn recursion_depth_is_capped_like_lua() {
        // Every `?` that matches recurses; Lua allows 200 nested calls (MAXCCALLS).
        for (n, ok) in [(199, true), (200, false)] {
            let subject = vec![b'a'; n];
            let pattern = b"a?".repeat(n);
            let res = find(&subject, &pattern, 0, &mut Budget::new(BIG));
            if ok {
                assert_eq!(res.map(|m| m.map(|m| m.whole)), Ok(Some(0..n)));
            } else {
                assert_eq!(
                    res,
                    Err(PatternError::Malformed("pattern too complex".into()))
                );
            }
        }
        // `*` backtracking is iteration, not recursion.
        let subject = vec![b'a'; 1000];
        let pattern = b"a*".repeat(300);
        let res = find(&subject, &pattern, 0, &mut Budget::new(BIG));
        assert_eq!(res.map(|m| m.map(|m| m.whole)), Ok(Some(0..1000)));
    }

    #[test]
    fn anchored_find_tries_only_init() {
        let mut budget = Budget::new(BIG);
        assert_eq!(find(b"xab", b"^ab", 0, &mut budget), Ok(None));
        let m = find(b"xab", b"^ab", 1, &mut budget)
            .expect("valid")
            .expect("matches");
        assert_eq!(m.whole, 1..3);
        let m = find(b"xab", b"ab", 0, &mut budget)
            .expect("valid")
            .expect("matches");
        assert_eq!(m.whole, 1..3);
        // `init` past the end never matches, not even the empty pattern.
        assert_eq!(find(b"ab", b"", 3, &mut budget), Ok(None));
        assert_eq!(match_here(b"ab", b"", 3, &mut budget), Ok(None));
        // match_here treats '^' literally.
        let m = match_here(b"^a", b"^a", 0, &mut budget)
            .expect("valid")
            .expect("matches");
        assert_eq!(m.whole, 0..2);
    }

    #[test]
    fn has_specials_matches_lua_nospecials() {
        for p in [
            &b"^a"[..],
            b"a$",
            b"a*",
            b"a+",
            b"a?",
            b".",
            b"(",
            b"[",
            b"%",
            b"a-b",
        ] {
            assert!(has_specials(p), "{}", show(p));
        }
        for p in [&b""[..], b"abc", b")", b"]", b"a\0b", b"\xff{}"] {
            assert!(!has_specials(p), "{}", show(p));
        }
    }

    #[test]
    fn expand_replacement_rules() {
        let subject = b"hello world";
        let m = Match {
            whole: 0..5,
            captures: vec![Capture::Bytes(1..3), Capture::Position(4)],
        };
        let expand = |repl: &[u8], m: &Match| {
            let mut out = b">".to_vec();
            expand_replacement(repl, subject, m, &mut out).map(|()| out)
        };
        assert_eq!(
            expand(b"[%0|%1|%2|%%]", &m),
            Ok(b">[hello|el|4|%]".to_vec())
        );
        assert_eq!(expand(b"", &m), Ok(b">".to_vec()));
        assert_eq!(
            expand(b"%3", &m),
            Err(PatternError::Malformed("invalid capture index %3".into()))
        );
        let invalid = Err(PatternError::Malformed(
            "invalid use of '%' in replacement string".into(),
        ));
        assert_eq!(expand(b"%a", &m), invalid);
        assert_eq!(expand(b"abc%", &m), invalid);
        let plain = Match {
            whole: 6..11,
            captures: Vec::new(),
        };
        assert_eq!(expand(b"<%1>", &plain), Ok(b"><world>".to_vec()));
        assert_eq!(
            expand(b"%2", &plain),
            Err(PatternError::Malformed("invalid capture index %2".into()))
        );
        let foreign = Match {
            whole: 6..50,
            captures: Vec::new(),
        };
        assert!(expand(b"%0", &foreign).is_err());
    }

    #[test]
    fn expensive_single_steps_are_charged() {
        // A long set: each test scans it, so the charge must grow with its length.
        let mut pattern = b"[".to_vec();
        pattern.extend(std::iter::repeat_n(b'b', 20_000));
        pattern.extend_from_slice(b"]*c");
        let subject = vec![b'a'; 20_000];
        let mut budget = Budget::new(1_000_000);
        let started = Instant::now();
        assert_eq!(
            find(&subject, &pattern, 0, &mut budget),
            Err(PatternError::Budget)
        );
        assert!(started.elapsed() < Duration::from_secs(2));

        // %b scanning and back-references over long runs.
        let subject = vec![b'('; 50_000];
        assert_eq!(
            find(&subject, b"%b()", 0, &mut Budget::new(1_000_000)),
            Err(PatternError::Budget)
        );
        let subject = vec![b'a'; 50_000];
        assert_eq!(
            find(&subject, b"(a*)%1b", 0, &mut Budget::new(1_000_000)),
            Err(PatternError::Budget)
        );

        // Plain search with many near-misses.
        let mut needle = vec![b'a'; 5_000];
        needle.push(b'b');
        assert_eq!(
            find_plain(&subject, &needle, 0, &mut Budget::new(1_000_000)),
            Err(PatternError::Budget)
        );
        let mut haystack = vec![b'x'; 50_000];
        haystack.extend_from_slice(&needle);
        let found = find_plain(&haystack, &needle, 0, &mut Budget::new(BIG));
        assert_eq!(found, Ok(Some(50_000..55_001)));
    }

    /// xorshift64: deterministic pseudo-random numbers without a crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
        }

        fn bytes(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    fn check_match(subject: &[u8], from: usize, m: &Match) {
        assert!(
            m.whole.start >= from && m.whole.start <= m.whole.end && m.whole.end <= subject.len()
        );
        for c in &m.captures {
            match c {
                Capture::Bytes(r) => assert!(r.start <= r.end && r.end <= subject.len()),
                Capture::Position(p) => assert!(*p >= 1 && *p <= subject.len() + 1),
            }
        }
    }

    #[test]
    fn fuzz_never_panics_and_respects_the_budget() {
        const PATTERN_BYTES: &[u8] = b"%%%[[]]^^$$(()).*+-?abbfxs1209-\0\xff ";
        const SUBJECT_BYTES: &[u8] = b"aabb()[]% x0\0\xff";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..4_000 {
            let pattern = rng.bytes(PATTERN_BYTES, 14);
            let subject = rng.bytes(SUBJECT_BYTES, 40);
            let init = rng.below(subject.len() + 2);
            let limit = u64::try_from(rng.below(3_000)).unwrap_or(0);

            let mut budget = Budget::new(limit);
            let small = find(&subject, &pattern, init, &mut budget);
            assert!(budget.used() <= limit);
            let mut big = Budget::new(BIG);
            let full = find(&subject, &pattern, init, &mut big);
            // Running out is the only way a bigger budget can change the answer.
            if small != Err(PatternError::Budget) {
                assert_eq!(small, full);
            }
            if let Ok(Some(m)) = &full {
                check_match(&subject, init, m);
                let repl = rng.bytes(b"%%0129ab", 6);
                let mut out = Vec::new();
                let _ = expand_replacement(&repl, &subject, m, &mut out);
            }

            let mut budget = Budget::new(limit);
            if let Ok(Some(m)) = match_here(&subject, &pattern, init, &mut budget) {
                assert_eq!(m.whole.start, init);
                check_match(&subject, init, &m);
            }
            assert!(budget.used() <= limit);

            let mut budget = Budget::new(limit);
            if let Ok(Some(r)) = find_plain(&subject, &pattern, init, &mut budget) {
                assert_eq!(&subject[r], &pattern[..]);
            }
            assert!(budget.used() <= limit);
        }
    }

    #[test]
    fn fuzz_work_is_bounded_by_the_budget() {
        // Backtracking-heavy patterns over long subjects: each call must stop within budget.
        const PIECES: &[&[u8]] = &[
            b".-", b".*", b"%s*", b"(", b")", b"a-", b"a*", b"[ab]*", b"%1", b"()", b"$",
        ];
        let mut rng = Rng(42);
        let subject: Vec<u8> = (0..5_000)
            .map(|i| if i % 97 == 0 { b'b' } else { b'a' })
            .collect();
        let started = Instant::now();
        for _ in 0..200 {
            let pattern: Vec<u8> = (0..rng.below(10))
                .flat_map(|_| PIECES[rng.below(PIECES.len())].to_vec())
                .collect();
            let mut budget = Budget::new(20_000);
            let _ = find(&subject, &pattern, 0, &mut budget);
            assert!(budget.used() <= 20_000);
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }
}
