//! Reset schedules: five-field cron expressions (`minute hour day-of-month month day-of-week`)
//! in UTC, with `*`, lists, ranges, steps, month and day names, and the `@hourly`, `@daily`,
//! `@weekly`, `@monthly`, `@yearly` shorthands. As in Vixie cron, when both day fields are
//! restricted a day matches either.
//!
//! A board's period is the time between two fires: [`Schedule::last_at_or_before`] gives the
//! start of the period holding an instant, [`Schedule::first_after`] its end.

use crate::time::{civil_from_days, days_from_civil};

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five fields (nor a known shorthand).
    #[error("a schedule has five fields (minute hour day month weekday) or is @daily etc.: {0:?}")]
    Fields(String),
    /// A field does not parse or is out of range.
    #[error("invalid {field} field {text:?}")]
    Field {
        /// Which field.
        field: &'static str,
        /// Its text.
        text: String,
    },
    /// It never fires (e.g. 31 February).
    #[error("schedule {0:?} never fires")]
    Never(String),
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Day-of-month was `*`.
    any_day: bool,
    /// Day-of-week was `*`.
    any_weekday: bool,
}

const MINUTE_MS: i64 = 60_000;
const DAY_MINUTES: i64 = 1440;
/// Steps a search may take: enough for a leap-day schedule eight years away.
const SEARCH_LIMIT: usize = 200_000;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Schedule, CronError> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(CronError::Fields(text.to_owned()));
        };
        let mut weekdays = field(weekday, "weekday", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        let schedule = Schedule {
            minutes: field(minute, "minute", 0, 59, &[])?,
            hours: field(hour, "hour", 0, 23, &[])?,
            days: field(day, "day", 1, 31, &[])?,
            months: field(month, "month", 1, 12, &MONTHS)?,
            weekdays,
            any_day: day == "*",
            any_weekday: weekday == "*",
        };
        if schedule.first_after(0).is_none() {
            return Err(CronError::Never(text.to_owned()));
        }
        Ok(schedule)
    }

    /// The latest fire at or before `ms` (Unix ms), if one is within reach.
    pub fn last_at_or_before(&self, ms: i64) -> Option<i64> {
        let mut m = ms.div_euclid(MINUTE_MS);
        for _ in 0..SEARCH_LIMIT {
            let (day, minute_of_day) = (m.div_euclid(DAY_MINUTES), m.rem_euclid(DAY_MINUTES));
            let (y, mo, d) = civil_from_days(day);
            if !bit(self.months, mo) {
                m = days_from_civil(y, mo, 1) * DAY_MINUTES - 1;
            } else if !self.day_matches(day, d) {
                m = day * DAY_MINUTES - 1;
            } else if !bit(self.hours, (minute_of_day / 60) as u32) {
                m = day * DAY_MINUTES + minute_of_day / 60 * 60 - 1;
            } else if !bit(self.minutes, (minute_of_day % 60) as u32) {
                m -= 1;
            } else {
                return Some(m * MINUTE_MS);
            }
        }
        None
    }

    /// The first fire strictly after `ms` (Unix ms), if one is within reach.
    pub fn first_after(&self, ms: i64) -> Option<i64> {
        let mut m = ms.div_euclid(MINUTE_MS) + 1;
        for _ in 0..SEARCH_LIMIT {
            let (day, minute_of_day) = (m.div_euclid(DAY_MINUTES), m.rem_euclid(DAY_MINUTES));
            let (y, mo, d) = civil_from_days(day);
            if !bit(self.months, mo) {
                let (ny, nm) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
                m = days_from_civil(ny, nm, 1) * DAY_MINUTES;
            } else if !self.day_matches(day, d) {
                m = (day + 1) * DAY_MINUTES;
            } else if !bit(self.hours, (minute_of_day / 60) as u32) {
                m = day * DAY_MINUTES + (minute_of_day / 60 + 1) * 60;
            } else if !bit(self.minutes, (minute_of_day % 60) as u32) {
                m += 1;
            } else {
                return Some(m * MINUTE_MS);
            }
        }
        None
    }

    fn day_matches(&self, day: i64, dom: u32) -> bool {
        let weekday = (day + 4).rem_euclid(7) as u32;
        let (by_dom, by_dow) = (bit(self.days, dom), bit(self.weekdays, weekday));
        match (self.any_day, self.any_weekday) {
            (false, false) => by_dom || by_dow,
            _ => by_dom && by_dow,
        }
    }
}

fn bit(set: u64, i: u32) -> bool {
    set & (1 << i) != 0
}

/// One field as a bit set over `lo..=hi`.
fn field(
    text: &str,
    name: &'static str,
    lo: u32,
    hi: u32,
    names: &[&str],
) -> Result<u64, CronError> {
    let bad = || CronError::Field {
        field: name,
        text: text.to_owned(),
    };
    let value = |s: &str| -> Result<u32, CronError> {
        let lower = s.to_ascii_lowercase();
        let v = match names.iter().position(|n| *n == lower) {
            Some(i) => i as u32 + if lo == 1 { 1 } else { 0 },
            None => s.parse::<u32>().map_err(|_| bad())?,
        };
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(bad())
        }
    };
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(bad)?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if part.contains('/') => (value(r)?, hi),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if from > to {
            return Err(bad());
        }
        let mut v = from;
        while v <= to {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::iso8601;

    fn at(iso: &str) -> i64 {
        // "YYYY-MM-DDTHH:MM"
        let y: i64 = iso[0..4].parse().unwrap();
        let mo: u32 = iso[5..7].parse().unwrap();
        let d: u32 = iso[8..10].parse().unwrap();
        let h: i64 = iso[11..13].parse().unwrap();
        let mi: i64 = iso[14..16].parse().unwrap();
        (days_from_civil(y, mo, d) * DAY_MINUTES + h * 60 + mi) * MINUTE_MS
    }

    fn around(expr: &str, now: &str) -> (String, String) {
        let s = Schedule::parse(expr).unwrap();
        let t = at(now) + 30_000;
        (
            iso8601(s.last_at_or_before(t).unwrap()),
            iso8601(s.first_after(t).unwrap()),
        )
    }

    #[test]
    fn periods_of_common_schedules() {
        assert_eq!(
            around("@daily", "2026-12-04T13:05"),
            ("2026-12-04T00:00:00Z".into(), "2026-12-05T00:00:00Z".into())
        );
        // 2026-12-04 is a Friday; weekly on Monday 00:00.
        assert_eq!(
            around("0 0 * * mon", "2026-12-04T13:05"),
            ("2026-11-30T00:00:00Z".into(), "2026-12-07T00:00:00Z".into())
        );
        assert_eq!(
            around("@monthly", "2026-12-04T13:05"),
            ("2026-12-01T00:00:00Z".into(), "2027-01-01T00:00:00Z".into())
        );
        assert_eq!(
            around("*/15 9-17 * * 1-5", "2026-12-04T17:50"),
            ("2026-12-04T17:45:00Z".into(), "2026-12-07T09:00:00Z".into())
        );
        assert_eq!(
            around("0 12 29 feb *", "2026-12-04T00:00"),
            ("2024-02-29T12:00:00Z".into(), "2028-02-29T12:00:00Z".into())
        );
        // Both day fields restricted: either matches (the 1st, or any Sunday).
        assert_eq!(
            around("0 0 1 * 0", "2026-12-04T00:00"),
            ("2026-12-01T00:00:00Z".into(), "2026-12-06T00:00:00Z".into())
        );
    }

    #[test]
    fn a_fire_instant_starts_its_own_period() {
        let s = Schedule::parse("0 * * * *").unwrap();
        let t = at("2026-12-04T13:00");
        assert_eq!(s.last_at_or_before(t), Some(t));
        assert_eq!(s.first_after(t), Some(t + 3_600_000));
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "0 0 0 * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "0 0 * * funday",
            "@sometimes",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            Schedule::parse("0 0 31 2 *"),
            Err(CronError::Never(_))
        ));
        assert!(Schedule::parse("0 0 * * 7").is_ok());
    }
}
