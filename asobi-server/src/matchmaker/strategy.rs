//! Matchmaking strategies (`matchmaker.md` §4) as pure functions over queued units and a time.
//!
//! A unit is one ticket, or the tickets of a party, which are placed together or not at all.
//! Units arrive in strict FIFO order (`submitted_at`, then ticket id). With single tickets only,
//! both strategies are exactly Asobi's: `fill` cuts consecutive groups of `match_size`;
//! `skill_based` sorts by skill and accepts `size` consecutive tickets whose spread fits
//! `window + floor(wait_s / 5) × expand_rate`, the wait being that of the group's first ticket.

/// Skill of a ticket without an integer `properties.skill`.
pub const DEFAULT_SKILL: i64 = 1000;
/// Skills are clamped to ±this, so no sum, mean or spread of them can overflow.
pub const MAX_SKILL: i64 = 1_000_000_000;
/// Base skill window.
pub const SKILL_WINDOW: i64 = 200;
/// Window growth per 5 s of waiting.
pub const SKILL_EXPAND_RATE: i64 = 50;

/// One queued unit: a ticket, or a party's tickets.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Ticket ids in the unit.
    pub tickets: Vec<String>,
    /// Skill used for sorting and the window (a party's mean).
    pub skill: i64,
    /// Earliest `submitted_at` in the unit, Unix ms.
    pub submitted_at: i64,
}

impl Unit {
    fn size(&self) -> usize {
        self.tickets.len()
    }
}

/// `fill`: greedy groups of exactly `size` players, in FIFO order; a unit that does not fit
/// the group being built waits for a later one.
pub fn fill(units: &[Unit], size: usize) -> Vec<Vec<usize>> {
    let mut remaining: Vec<usize> = (0..units.len()).collect();
    let mut groups = Vec::new();
    loop {
        let mut group = Vec::new();
        let mut filled = 0;
        for &i in &remaining {
            if filled + units[i].size() <= size {
                group.push(i);
                filled += units[i].size();
                if filled == size {
                    break;
                }
            }
        }
        if filled != size || group.is_empty() {
            return groups;
        }
        remaining.retain(|i| !group.contains(i));
        groups.push(group);
    }
}

/// `skill_based`: sort by skill (stable), walk consecutive candidates.
pub fn skill_based(units: &[Unit], size: usize, now_ms: i64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by_key(|&i| units[i].skill);
    let mut groups = Vec::new();
    let mut start = 0;
    while start < order.len() {
        // Consecutive units from `start` that add up to exactly `size`.
        let mut filled = 0;
        let mut end = start;
        while end < order.len() && filled < size {
            filled += units[order[end]].size();
            end += 1;
        }
        if filled < size {
            break;
        }
        let first = &units[order[start]];
        let last = &units[order[end - 1]];
        let wait_s = now_ms.saturating_sub(first.submitted_at).max(0) / 1000;
        let window = SKILL_WINDOW.saturating_add((wait_s / 5).saturating_mul(SKILL_EXPAND_RATE));
        if filled == size && last.skill.abs_diff(first.skill) <= window.unsigned_abs() {
            groups.push(order[start..end].to_vec());
            start = end;
        } else {
            start += 1;
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(id: &str, skill: i64, at: i64) -> Unit {
        Unit {
            tickets: vec![id.into()],
            skill,
            submitted_at: at,
        }
    }

    #[test]
    fn fill_cuts_consecutive_groups_and_leaves_the_remainder() {
        let units: Vec<Unit> = (0..5).map(|i| single(&format!("t{i}"), 1000, i)).collect();
        assert_eq!(fill(&units, 2), vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(fill(&units, 5), vec![vec![0, 1, 2, 3, 4]]);
        assert!(fill(&units, 6).is_empty());
    }

    #[test]
    fn fill_never_splits_a_party() {
        let party = Unit {
            tickets: vec!["b".into(), "c".into()],
            skill: 1000,
            submitted_at: 1,
        };
        let units = vec![single("a", 1000, 0), party, single("d", 1000, 2)];
        // Size 2: the party cannot join `a`; `a` and `d` pair up, the party fills its own.
        assert_eq!(fill(&units, 2), vec![vec![0, 2], vec![1]]);
        // Size 3: `a` + the party.
        assert_eq!(fill(&units, 3), vec![vec![0, 1]]);
        // A party larger than a match never matches.
        let big = Unit {
            tickets: vec!["x".into(), "y".into(), "z".into()],
            skill: 1000,
            submitted_at: 0,
        };
        assert!(fill(&[big], 2).is_empty());
    }

    #[test]
    fn skill_window_widens_by_50_every_5_seconds_of_the_first_tickets_wait() {
        let units = vec![single("low", 1000, 0), single("high", 1240, 0)];
        assert!(
            skill_based(&units, 2, 4_999).is_empty(),
            "spread 240 > window 200"
        );
        assert_eq!(
            skill_based(&units, 2, 5_000),
            vec![vec![0, 1]],
            "window 250 after 5 s"
        );
        let far = vec![single("low", 1000, 0), single("high", 1300, 0)];
        assert!(skill_based(&far, 2, 9_999).is_empty());
        assert_eq!(
            skill_based(&far, 2, 10_000).len(),
            1,
            "window 300 after 10 s"
        );
    }

    /// Issue 15 §9: extreme skills and times never overflow (a debug build panicked).
    #[test]
    fn extreme_skills_and_times_do_not_overflow() {
        let units = vec![
            single("a", i64::MIN, i64::MIN),
            single("b", i64::MAX, i64::MAX),
        ];
        assert!(skill_based(&units, 2, i64::MAX).len() <= 1);
        assert!(skill_based(&units, 2, i64::MIN).is_empty());
    }

    #[test]
    fn skill_walk_skips_the_first_ticket_when_the_spread_is_too_wide() {
        let units = vec![
            single("a", 500, 0),
            single("b", 1000, 0),
            single("c", 1100, 0),
        ];
        assert_eq!(skill_based(&units, 2, 0), vec![vec![1, 2]]);
        // Only the lowest and highest of the candidate are compared.
        let units = vec![
            single("a", 1000, 0),
            single("b", 1500, 0),
            single("c", 1200, 0),
        ];
        assert_eq!(skill_based(&units, 3, 0), Vec::<Vec<usize>>::new());
        assert_eq!(skill_based(&units, 2, 0), vec![vec![0, 2]]);
    }
}
