//! A business-hours clock for SLAs ("first touch within 2 working hours").
//!
//! SLAs are promises made in the rep's or the team's local working time, so
//! "2 hours" handed in on Friday afternoon is due on Monday morning, and a
//! week in which clocks change still has to count real elapsed minutes. All
//! arithmetic is therefore done on absolute instants: each working day is
//! turned into one `[open, close)` interval of real time through the jiff
//! time-zone database, and business time is the real time spent inside those
//! intervals.
//!
//! Wall-clock edges that fall into a daylight-saving gap (02:30 on the
//! spring-forward night in Berlin does not exist) are moved to the moment the
//! clocks jumped; edges in a repeated hour use its first occurrence. Both
//! rules keep the intervals in order, which is what the arithmetic needs.

use crate::time::Timestamp;
use jiff::civil::Date;
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use thiserror::Error;

/// Minutes in a civil day; the largest allowed end of a working window.
pub const MINUTES_PER_DAY: u16 = 1440;

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const FULL_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Why a working-hours definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SlaError {
    #[error("invalid working hours: {0}")]
    BadHours(String),
    #[error("unknown time zone '{0}' (use an IANA name such as Europe/Berlin, or UTC)")]
    BadTimezone(String),
}

/// Weekly working hours in a time zone. Days Mon..Sun; each day either closed
/// or [start, end) in minutes since local midnight (start < end <= 1440).
///
/// One window per day is enough for SLA clocks in practice and keeps the
/// textual form (`"Mon-Fri 09:00-17:00"`) unambiguous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingHours {
    pub days: [Option<(u16, u16)>; 7],
    pub timezone: String,
}

impl WorkingHours {
    /// Reads a schedule such as `"Mon-Fri 09:00-17:00"`,
    /// `"Mon-Thu 08:30-17:00, Fri 08:30-12:00"` or `"always"` (24x7).
    ///
    /// Day names are the English three-letter abbreviations or full names in
    /// any case; a range may wrap around the week (`"Fri-Mon"`). `24:00` ends a
    /// window at midnight. Windows cannot cross midnight and a day may appear
    /// only once, so that every day has exactly one meaning. The time zone is
    /// an IANA name or `UTC`.
    pub fn parse(spec: &str, timezone: &str) -> Result<WorkingHours, SlaError> {
        lookup_zone(timezone)?;
        let timezone = normalize_zone_name(timezone);
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("always") {
            return Ok(WorkingHours {
                days: [Some((0, MINUTES_PER_DAY)); 7],
                timezone,
            });
        }
        if spec.is_empty() {
            return Err(SlaError::BadHours(
                "no working days given (expected e.g. \"Mon-Fri 09:00-17:00\" or \"always\")"
                    .into(),
            ));
        }
        let mut days: [Option<(u16, u16)>; 7] = [None; 7];
        for part in spec.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(SlaError::BadHours(format!("empty entry in '{spec}'")));
            }
            let Some(split_at) = part.find(|c: char| c.is_ascii_digit()) else {
                return Err(SlaError::BadHours(format!(
                    "'{part}' has no times (expected e.g. \"Mon-Fri 09:00-17:00\")"
                )));
            };
            let (day_text, time_text) = part.split_at(split_at);
            let day_text: String = day_text.split_whitespace().collect();
            let time_text: String = time_text.split_whitespace().collect();
            let window = parse_window(&time_text)?;
            for day in parse_days(&day_text, part)? {
                if days[day].is_some() {
                    return Err(SlaError::BadHours(format!(
                        "{} is given more than once in '{spec}'",
                        DAY_NAMES[day]
                    )));
                }
                days[day] = Some(window);
            }
        }
        Ok(WorkingHours { days, timezone })
    }

    /// Around the clock, every day, in UTC: for queues that are always
    /// staffed, and as a neutral default where no hours are configured.
    pub fn always() -> WorkingHours {
        WorkingHours {
            days: [Some((0, MINUTES_PER_DAY)); 7],
            timezone: "UTC".into(),
        }
    }

    /// Monday to Friday, 09:00 to 17:00 local time.
    pub fn office(timezone: &str) -> Result<WorkingHours, SlaError> {
        WorkingHours::parse("Mon-Fri 09:00-17:00", timezone)
    }

    /// Checks a value that did not come through [`WorkingHours::parse`] (for
    /// example one deserialized from storage). The clock methods never fail:
    /// on such values they treat malformed days as closed and an unknown zone
    /// as UTC, so call this where a mistake should be reported instead.
    pub fn validate(&self) -> Result<(), SlaError> {
        lookup_zone(&self.timezone)?;
        for (i, day) in self.days.iter().enumerate() {
            if let Some((start, end)) = *day {
                if !(start < end && end <= MINUTES_PER_DAY) {
                    return Err(SlaError::BadHours(format!(
                        "{} has the window {start}-{end} (minutes); it must satisfy start < end <= 1440",
                        DAY_NAMES[i]
                    )));
                }
            }
        }
        if !self.has_hours() {
            return Err(SlaError::BadHours("no working days".into()));
        }
        Ok(())
    }

    /// Whether `at` falls inside working hours (opening instant included,
    /// closing instant excluded).
    pub fn is_working(&self, at: Timestamp) -> bool {
        if !self.has_hours() {
            return false;
        }
        let at = clamp_second(at.0);
        for (open, close) in self.windows_from(at) {
            if open > at {
                return false;
            }
            if at < close {
                return true;
            }
        }
        false
    }

    /// The instant that is `minutes` business minutes after `start` (if start
    /// is outside hours, the clock starts at the next opening). minutes >= 0.
    /// Must handle DST transitions via jiff's tz database.
    ///
    /// Negative `minutes` count as zero. A result that lands exactly on a
    /// closing time is returned as that closing time (the deadline is "by
    /// 17:00 on Friday", not "09:00 on Monday"). With no usable working day
    /// the clock never runs and `start` is returned; results beyond the year
    /// 9999 saturate there.
    pub fn add_business_minutes(&self, start: Timestamp, minutes: i64) -> Timestamp {
        if !self.has_hours() {
            return start;
        }
        let start = clamp_second(start.0);
        let mut remaining = minutes.max(0).saturating_mul(60);
        // Business time never runs faster than real time.
        if remaining > max_second() - start {
            return Timestamp(max_second());
        }
        for (open, close) in self.windows_from(start) {
            if close <= start {
                continue;
            }
            let from = open.max(start);
            let available = close - from;
            if remaining <= available {
                return Timestamp(from + remaining);
            }
            remaining -= available;
        }
        Timestamp(max_second())
    }

    /// The instant `days` business days after `start`: the same local time
    /// of day on the `days`-th following working day, or that day's opening
    /// when the time of day is outside its window. This is
    /// how people read "wait 2 business days": sent on Friday 10:00, due on
    /// Tuesday 10:00, not 16 working hours later. With no working day,
    /// `start` is returned.
    pub fn add_business_days(&self, start: Timestamp, days: u32) -> Timestamp {
        if !self.has_hours() || days == 0 {
            return start;
        }
        let tz = lookup_zone(&self.timezone).unwrap_or(TimeZone::UTC);
        let instant =
            jiff::Timestamp::from_second(clamp_second(start.0)).unwrap_or(jiff::Timestamp::MAX);
        let local = tz.to_datetime(instant);
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let mut date = local.date();
        let mut left = days;
        while left > 0 {
            date = match date.tomorrow() {
                Ok(d) => d,
                Err(_) => return Timestamp(max_second()),
            };
            if self
                .window(date.weekday().to_monday_zero_offset() as usize)
                .is_some()
            {
                left -= 1;
            }
        }
        let (open, close) = self
            .window(date.weekday().to_monday_zero_offset() as usize)
            .unwrap_or((0, MINUTES_PER_DAY));
        let second_in_minute = local.second() as i64;
        if minute < open || minute >= close {
            return Timestamp(local_instant(&tz, date, open));
        }
        Timestamp(local_instant(&tz, date, minute) + second_in_minute)
    }

    /// Business minutes between a and b (0 if b <= a). Partial minutes are
    /// dropped, so an SLA is never reported as breached early.
    pub fn business_minutes_between(&self, a: Timestamp, b: Timestamp) -> i64 {
        self.business_seconds_between(a, b) / 60
    }

    /// Business seconds between `a` and `b` (0 if `b <= a`); exact, so sums
    /// over consecutive spans add up.
    pub fn business_seconds_between(&self, a: Timestamp, b: Timestamp) -> i64 {
        let (a, b) = (clamp_second(a.0), clamp_second(b.0));
        if b <= a || !self.has_hours() {
            return 0;
        }
        let mut total = 0;
        for (open, close) in self.windows_from(a) {
            if open >= b {
                break;
            }
            let from = open.max(a);
            let to = close.min(b);
            if to > from {
                total += to - from;
            }
        }
        total
    }

    /// The schedule in the form [`WorkingHours::parse`] reads, with runs of
    /// consecutive days that share hours collapsed: `"Mon-Fri 09:00-17:00"`,
    /// `"Mon-Thu 08:30-17:00, Fri 08:30-12:00"`, or `"always"`. The time zone
    /// is not part of it (it is a separate setting).
    pub fn describe(&self) -> String {
        if self.days.iter().all(|d| *d == Some((0, MINUTES_PER_DAY))) {
            return "always".into();
        }
        let mut out = String::new();
        let mut i = 0;
        while i < 7 {
            let Some((start, end)) = self.days[i] else {
                i += 1;
                continue;
            };
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == self.days[i] {
                j += 1;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(DAY_NAMES[i]);
            if j > i {
                out.push('-');
                out.push_str(DAY_NAMES[j]);
            }
            let _ = write!(out, " {}-{}", hhmm(start), hhmm(end));
            i = j + 1;
        }
        out
    }

    fn window(&self, weekday: usize) -> Option<(u16, u16)> {
        self.days[weekday].filter(|&(start, end)| start < end && end <= MINUTES_PER_DAY)
    }

    fn has_hours(&self) -> bool {
        (0..7).any(|d| self.window(d).is_some())
    }

    /// Working intervals in real time, in order, starting with those of the
    /// local day before `at` (so an interval containing `at` is never missed).
    fn windows_from(&self, at: i64) -> Windows<'_> {
        let tz = lookup_zone(&self.timezone).unwrap_or(TimeZone::UTC);
        let instant = jiff::Timestamp::from_second(at).unwrap_or(jiff::Timestamp::MAX);
        let date = tz.to_datetime(instant).date();
        Windows {
            hours: self,
            next_date: Some(date.yesterday().unwrap_or(date)),
            tz,
            floor: i64::MIN,
        }
    }
}

struct Windows<'h> {
    hours: &'h WorkingHours,
    tz: TimeZone,
    next_date: Option<Date>,
    /// End of the last interval handed out; later intervals never start
    /// before it, so the sequence stays ordered whatever the zone does.
    floor: i64,
}

impl Iterator for Windows<'_> {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        loop {
            let date = self.next_date?;
            self.next_date = date.tomorrow().ok();
            let weekday = date.weekday().to_monday_zero_offset() as usize;
            let Some((start, end)) = self.hours.window(weekday) else {
                continue;
            };
            let open = local_instant(&self.tz, date, start).max(self.floor);
            let close = local_instant(&self.tz, date, end);
            if close > open {
                self.floor = close;
                return Some((open, close));
            }
        }
    }
}

/// The real instant (in seconds) of `minute` minutes after local midnight on
/// `date`. Wall-clock times skipped by a DST gap map to the instant of the
/// jump; repeated ones map to their first occurrence.
fn local_instant(tz: &TimeZone, date: Date, minute: u16) -> i64 {
    let (date, minute) = if minute >= MINUTES_PER_DAY {
        match date.tomorrow() {
            Ok(next) => (next, 0),
            Err(_) => return max_second(),
        }
    } else {
        (date, minute)
    };
    let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
    let instant = match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt),
        AmbiguousOffset::Gap { after, .. } => after.to_timestamp(dt).map(|just_before_jump| {
            tz.following(just_before_jump)
                .next()
                .map_or(just_before_jump, |transition| transition.timestamp())
        }),
    };
    match instant {
        Ok(t) => t.as_second(),
        Err(_) if date.year() < 0 => min_second(),
        Err(_) => max_second(),
    }
}

fn min_second() -> i64 {
    jiff::Timestamp::MIN.as_second()
}

fn max_second() -> i64 {
    jiff::Timestamp::MAX.as_second()
}

/// Instants outside jiff's range (years -9999 to 9999) are treated as its
/// ends; no SLA is measured in millennia.
fn clamp_second(s: i64) -> i64 {
    s.clamp(min_second(), max_second())
}

fn normalize_zone_name(name: &str) -> String {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") {
        "UTC".into()
    } else {
        name.into()
    }
}

fn lookup_zone(name: &str) -> Result<TimeZone, SlaError> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    if name.is_empty() {
        return Err(SlaError::BadTimezone(String::new()));
    }
    TimeZone::get(name).map_err(|_| SlaError::BadTimezone(name.into()))
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn parse_day(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    (0..7).find(|&i| DAY_NAMES[i].eq_ignore_ascii_case(&lower) || FULL_DAY_NAMES[i] == lower)
}

/// `"Mon"` or `"Mon-Fri"` (wrapping allowed) to weekday indices.
fn parse_days(text: &str, part: &str) -> Result<Vec<usize>, SlaError> {
    let bad_day = |name: &str| {
        SlaError::BadHours(format!(
            "'{name}' in '{part}' is not a day (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
        ))
    };
    if text.is_empty() {
        return Err(SlaError::BadHours(format!(
            "'{part}' names no days (expected e.g. \"Mon-Fri 09:00-17:00\")"
        )));
    }
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let first_day = parse_day(first).ok_or_else(|| bad_day(first))?;
    let last_day = parse_day(last).ok_or_else(|| bad_day(last))?;
    let count = (last_day + 7 - first_day) % 7 + 1;
    Ok((0..count).map(|k| (first_day + k) % 7).collect())
}

/// `"09:00-17:00"` to minutes since midnight.
fn parse_window(text: &str) -> Result<(u16, u16), SlaError> {
    let Some((a, b)) = text.split_once('-') else {
        return Err(SlaError::BadHours(format!(
            "'{text}' is not a time range (expected HH:MM-HH:MM)"
        )));
    };
    let start = parse_time(a)?;
    let end = parse_time(b)?;
    if start >= MINUTES_PER_DAY || start >= end {
        return Err(SlaError::BadHours(format!(
            "'{text}': the end must be after the start (a window cannot cross midnight)"
        )));
    }
    Ok((start, end))
}

fn parse_time(text: &str) -> Result<u16, SlaError> {
    let bad = || {
        SlaError::BadHours(format!(
            "'{text}' is not a time of day (expected HH:MM, 00:00 to 24:00)"
        ))
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || h.len() > 2 || !digits(m) || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        let zoned: jiff::Zoned = text.parse().unwrap();
        Timestamp(zoned.timestamp().as_second())
    }

    fn berlin_office() -> WorkingHours {
        WorkingHours::office("Europe/Berlin").unwrap()
    }

    #[test]
    fn two_business_days_from_friday_morning_is_tuesday_morning() {
        let h = berlin_office();
        let friday = at("2026-11-27T10:15:00[Europe/Berlin]");
        assert_eq!(
            h.add_business_days(friday, 2),
            at("2026-12-01T10:15:00[Europe/Berlin]")
        );
        assert_eq!(h.add_business_days(friday, 0), friday);
    }

    #[test]
    fn a_business_day_wait_from_outside_hours_lands_on_the_opening() {
        let h = berlin_office();
        let friday_night = at("2026-11-27T21:30:00[Europe/Berlin]");
        assert_eq!(
            h.add_business_days(friday_night, 1),
            at("2026-11-30T09:00:00[Europe/Berlin]")
        );
        let saturday = at("2026-11-28T11:00:00[Europe/Berlin]");
        assert_eq!(
            h.add_business_days(saturday, 1),
            at("2026-11-30T11:00:00[Europe/Berlin]")
        );
    }

    #[test]
    fn a_single_range_sets_only_those_days() {
        let h = WorkingHours::parse("Mon-Fri 09:00-17:00", "UTC").unwrap();
        assert_eq!(
            h.days,
            [
                Some((540, 1020)),
                Some((540, 1020)),
                Some((540, 1020)),
                Some((540, 1020)),
                Some((540, 1020)),
                None,
                None
            ]
        );
        assert_eq!(h.timezone, "UTC");
    }

    #[test]
    fn several_entries_each_set_their_own_days() {
        let h =
            WorkingHours::parse("Mon-Thu 08:30-17:00, Fri 08:30-12:00", "Europe/Berlin").unwrap();
        assert_eq!(h.days[3], Some((510, 1020)));
        assert_eq!(h.days[4], Some((510, 720)));
        assert_eq!(h.days[5], None);
    }

    #[test]
    fn day_names_ignore_case_accept_full_names_and_ranges_may_wrap() {
        let h = WorkingHours::parse("friday-MON 10:00 - 24:00", "utc").unwrap();
        assert_eq!(h.days[4], Some((600, 1440)));
        assert_eq!(h.days[5], Some((600, 1440)));
        assert_eq!(h.days[6], Some((600, 1440)));
        assert_eq!(h.days[0], Some((600, 1440)));
        assert_eq!(h.days[1], None);
        assert_eq!(h.timezone, "UTC");
    }

    #[test]
    fn always_means_every_minute_of_every_day() {
        let h = WorkingHours::parse(" Always ", "UTC").unwrap();
        assert_eq!(h, WorkingHours::always());
    }

    #[test]
    fn errors_name_the_part_that_is_wrong() {
        let err = |spec: &str| WorkingHours::parse(spec, "UTC").unwrap_err().to_string();
        assert!(
            err("Mon-Fry 09:00-17:00").contains("'Fry'"),
            "{}",
            err("Mon-Fry 09:00-17:00")
        );
        assert!(
            err("Mon-Fri 9-17").contains("'9'"),
            "{}",
            err("Mon-Fri 9-17")
        );
        assert!(err("Mon-Fri 17:00-09:00").contains("'17:00-09:00'"));
        assert!(err("Mon-Fri 09:00-24:30").contains("'24:30'"));
        assert!(err("Mon-Fri 09:60-17:00").contains("'09:60'"));
        assert!(err("Mon-Fri 09:00").contains("'09:00'"));
        assert!(err("Mon-Fri").contains("'Mon-Fri' has no times"));
        assert!(err("09:00-17:00").contains("names no days"));
        assert!(err("Mon-Fri 09:00-17:00, Fri 10:00-12:00").contains("Fri is given more than once"));
        assert!(err("Mon 09:00-17:00,").contains("empty entry"));
        assert!(err("").contains("no working days"));
    }

    #[test]
    fn an_unknown_time_zone_is_refused_by_name() {
        let err = WorkingHours::parse("always", "Europe/Atlantis").unwrap_err();
        assert_eq!(err, SlaError::BadTimezone("Europe/Atlantis".into()));
        assert!(err.to_string().contains("'Europe/Atlantis'"));
        assert!(matches!(
            WorkingHours::office(""),
            Err(SlaError::BadTimezone(_))
        ));
    }

    #[test]
    fn describe_collapses_runs_of_equal_days() {
        for spec in [
            "Mon-Fri 09:00-17:00",
            "Mon-Thu 08:30-17:00, Fri 08:30-12:00",
            "Mon 00:00-24:00, Wed 09:15-10:45, Sat-Sun 10:00-14:00",
            "always",
        ] {
            assert_eq!(WorkingHours::parse(spec, "UTC").unwrap().describe(), spec);
        }
    }

    #[test]
    fn a_wrapping_range_is_described_as_two_runs_that_parse_back() {
        let h = WorkingHours::parse("Sat-Mon 10:00-12:00", "UTC").unwrap();
        assert_eq!(h.describe(), "Mon 10:00-12:00, Sat-Sun 10:00-12:00");
        assert_eq!(WorkingHours::parse(&h.describe(), "UTC").unwrap(), h);
    }

    #[test]
    fn validate_catches_what_deserialization_lets_through() {
        let mut h = WorkingHours::always();
        assert_eq!(h.validate(), Ok(()));
        h.days[2] = Some((600, 600));
        assert!(matches!(h.validate(), Err(SlaError::BadHours(m)) if m.contains("Wed")));
        h.days = [None; 7];
        assert!(
            matches!(h.validate(), Err(SlaError::BadHours(m)) if m.contains("no working days"))
        );
        let h = WorkingHours {
            timezone: "Mars/Olympus".into(),
            ..WorkingHours::always()
        };
        assert_eq!(
            h.validate(),
            Err(SlaError::BadTimezone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn opening_is_working_and_closing_is_not() {
        let h = berlin_office();
        assert!(h.is_working(at("2026-03-27T09:00:00[Europe/Berlin]")));
        assert!(h.is_working(at("2026-03-27T16:59:59[Europe/Berlin]")));
        assert!(!h.is_working(at("2026-03-27T17:00:00[Europe/Berlin]")));
        assert!(!h.is_working(at("2026-03-27T08:59:59[Europe/Berlin]")));
        assert!(!h.is_working(at("2026-03-28T12:00:00[Europe/Berlin]")));
    }

    #[test]
    fn working_hours_follow_the_local_clock_not_utc() {
        let h = berlin_office();
        // 08:30 UTC is 09:30 in Berlin in winter and 10:30 in summer.
        assert!(h.is_working(at("2026-01-05T08:30:00+00:00[UTC]")));
        assert!(!h.is_working(at("2026-01-05T16:30:00+00:00[UTC]")));
        assert!(!h.is_working(at("2026-07-06T15:30:00+00:00[UTC]")));
        assert!(h.is_working(at("2026-07-06T07:30:00+00:00[UTC]")));
    }

    #[test]
    fn friday_afternoon_plus_two_hours_is_monday_morning() {
        let h = berlin_office();
        let due = h.add_business_minutes(at("2026-11-06T16:00:00[Europe/Berlin]"), 120);
        assert_eq!(due, at("2026-11-09T10:00:00[Europe/Berlin]"));
    }

    #[test]
    fn the_clock_starts_at_the_next_opening_when_started_outside_hours() {
        let h = berlin_office();
        let saturday = at("2026-11-07T11:00:00[Europe/Berlin]");
        assert_eq!(
            h.add_business_minutes(saturday, 0),
            at("2026-11-09T09:00:00[Europe/Berlin]")
        );
        assert_eq!(
            h.add_business_minutes(saturday, 30),
            at("2026-11-09T09:30:00[Europe/Berlin]")
        );
    }

    #[test]
    fn a_deadline_that_lands_on_closing_time_stays_there() {
        let h = berlin_office();
        let due = h.add_business_minutes(at("2026-11-06T16:00:00[Europe/Berlin]"), 60);
        assert_eq!(due, at("2026-11-06T17:00:00[Europe/Berlin]"));
    }

    #[test]
    fn negative_minutes_count_as_none() {
        let h = berlin_office();
        let start = at("2026-11-06T10:00:00[Europe/Berlin]");
        assert_eq!(h.add_business_minutes(start, -30), start);
    }

    #[test]
    fn office_hours_span_the_spring_forward_weekend_unchanged() {
        // Clocks in Berlin jump on Sunday 2026-03-29; Friday 16:00 CET plus
        // two business hours is Monday 10:00 CEST: 66 wall-clock hours later
        // but only 65 real ones.
        let h = berlin_office();
        let start = at("2026-03-27T16:00:00[Europe/Berlin]");
        let due = h.add_business_minutes(start, 120);
        assert_eq!(due, at("2026-03-30T10:00:00[Europe/Berlin]"));
        assert_eq!(due.0 - start.0, 65 * 3600);
    }

    #[test]
    fn a_round_the_clock_sunday_is_23_hours_when_clocks_spring_forward() {
        let h = WorkingHours::parse("Sun 00:00-24:00", "Europe/Berlin").unwrap();
        let minutes = h.business_minutes_between(
            at("2026-03-28T12:00:00[Europe/Berlin]"),
            at("2026-03-30T12:00:00[Europe/Berlin]"),
        );
        assert_eq!(minutes, 23 * 60);
    }

    #[test]
    fn a_round_the_clock_sunday_is_25_hours_when_clocks_fall_back() {
        let h = WorkingHours::parse("Sun 00:00-24:00", "America/New_York").unwrap();
        let minutes = h.business_minutes_between(
            at("2026-10-31T12:00:00[America/New_York]"),
            at("2026-11-02T12:00:00[America/New_York]"),
        );
        assert_eq!(minutes, 25 * 60);
    }

    #[test]
    fn a_window_edge_inside_the_skipped_hour_moves_to_the_jump() {
        // 02:30 does not exist in Berlin on 2026-03-29; the window opens at
        // 03:00 CEST, so 02:30-04:00 is one real hour.
        let h = WorkingHours::parse("Sun 02:30-04:00", "Europe/Berlin").unwrap();
        let day_start = at("2026-03-29T00:00:00[Europe/Berlin]");
        assert_eq!(
            h.add_business_minutes(day_start, 0),
            at("2026-03-29T03:00:00+02:00[Europe/Berlin]")
        );
        assert_eq!(
            h.business_minutes_between(day_start, at("2026-03-30T00:00:00[Europe/Berlin]")),
            60
        );
    }

    #[test]
    fn a_window_across_the_repeated_hour_counts_it_twice() {
        // 02:00 CEST to 04:00 CET on 2026-10-25 is three real hours.
        let h = WorkingHours::parse("Sun 02:00-04:00", "Europe/Berlin").unwrap();
        let minutes = h.business_minutes_between(
            at("2026-10-24T12:00:00[Europe/Berlin]"),
            at("2026-10-26T12:00:00[Europe/Berlin]"),
        );
        assert_eq!(minutes, 180);
    }

    #[test]
    fn business_minutes_between_is_zero_when_the_end_is_not_later() {
        let h = WorkingHours::always();
        assert_eq!(
            h.business_minutes_between(Timestamp(1_000), Timestamp(1_000)),
            0
        );
        assert_eq!(
            h.business_minutes_between(Timestamp(5_000), Timestamp(1_000)),
            0
        );
        assert_eq!(h.business_minutes_between(Timestamp(0), Timestamp(119)), 1);
    }

    #[test]
    fn a_schedule_without_hours_never_starts_the_clock() {
        let h = WorkingHours {
            days: [None; 7],
            timezone: "UTC".into(),
        };
        assert!(!h.is_working(Timestamp(0)));
        assert_eq!(h.add_business_minutes(Timestamp(42), 60), Timestamp(42));
        assert_eq!(
            h.business_minutes_between(Timestamp(0), Timestamp(86_400)),
            0
        );
    }

    #[test]
    fn huge_durations_saturate_instead_of_overflowing() {
        let h = berlin_office();
        let end = h.add_business_minutes(Timestamp(0), i64::MAX);
        assert_eq!(end, Timestamp(jiff::Timestamp::MAX.as_second()));
        assert!(!h.is_working(Timestamp(i64::MAX)));
    }

    #[test]
    fn working_hours_serialize_as_days_and_zone() {
        // TOML has no null, so only a schedule without closed days fits it.
        let h = WorkingHours::parse("Mon-Sun 09:00-17:00", "Europe/Berlin").unwrap();
        let text = toml::to_string(&h).unwrap();
        assert!(text.contains("timezone = \"Europe/Berlin\""), "{text}");
        let back: WorkingHours = toml::from_str(&text).unwrap();
        assert_eq!(back, h);
    }
}
