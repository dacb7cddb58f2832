//! Parsing timestamps from files: a fast path for the ISO 8601 shapes that
//! exports use, `jiff` for everything else.

use leadq_core::Timestamp;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |n, d| n * 10 + (d - b'0') as u32))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM]` without allocating.
fn fast_iso(s: &[u8]) -> Option<i64> {
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (y, m, d) = (
        digits(&s[0..4])? as i64,
        digits(&s[5..7])?,
        digits(&s[8..10])?,
    );
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    let mut rest = &s[10..];
    if rest.is_empty() {
        return Some(secs);
    }
    if rest[0] != b'T' && rest[0] != b' ' && rest[0] != b't' {
        return None;
    }
    rest = &rest[1..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let (hh, mm) = (digits(&rest[0..2])?, digits(&rest[3..5])?);
    let mut ss = 0;
    rest = &rest[5..];
    if rest.first() == Some(&b':') {
        ss = digits(rest.get(1..3)?)?;
        rest = &rest[3..];
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if rest.first() == Some(&b'.') || rest.first() == Some(&b',') {
        let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &rest[1 + n..];
    }
    secs += (hh * 3600 + mm * 60 + ss) as i64;
    match rest {
        [] | [b'Z'] | [b'z'] => Some(secs),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let off = (digits(&[*h1, *h2])? * 3600 + digits(&[*m1, *m2])? * 60) as i64;
            Some(if *sign == b'+' {
                secs - off
            } else {
                secs + off
            })
        }
        _ => None,
    }
}

/// Parses a timestamp: ISO 8601 / RFC 3339 (a missing offset means UTC),
/// `DD/MM/YYYY` or `MM/DD/YYYY` (day first when the first number is over
/// 12, month first otherwise), or Unix seconds / milliseconds.
pub fn parse_timestamp(raw: &str) -> Option<Timestamp> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(t) = fast_iso(s.as_bytes()) {
        return Some(Timestamp(t));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) && s.len() >= 9 {
        let n: i64 = s.parse().ok()?;
        // Thirteen digits are milliseconds (any date after 2001).
        return Some(Timestamp(if s.len() >= 13 { n / 1000 } else { n }));
    }
    if let Some((date, time)) = slash_date(s) {
        return Some(Timestamp(date * 86_400 + time));
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(Timestamp(ts.as_second()));
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| Timestamp(z.timestamp().as_second()));
    }
    None
}

fn slash_date(s: &str) -> Option<(i64, i64)> {
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let mut it = date.split(['/', '.']);
    let (a, b, c) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || c.len() != 4 {
        return None;
    }
    let (a, b, y) = (
        a.parse::<u32>().ok()?,
        b.parse::<u32>().ok()?,
        c.parse::<i64>().ok()?,
    );
    let (d, m) = if a > 12 { (a, b) } else { (b, a) };
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let secs = match time {
        None => 0,
        Some(t) => {
            let mut p = t.split(':');
            let h: i64 = p.next()?.parse().ok()?;
            let mi: i64 = p.next()?.parse().ok()?;
            let se: i64 = p.next().map_or(Some(0), |x| x.parse().ok())?;
            if h > 23 || mi > 59 || se > 60 {
                return None;
            }
            h * 3600 + mi * 60 + se
        }
    };
    Some((days_from_civil(y, m, d), secs))
}

/// Formats a timestamp as RFC 3339 in UTC.
pub fn format_timestamp(t: Timestamp) -> String {
    jiff::Timestamp::from_second(t.0)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_parse_with_and_without_offsets() {
        let z = parse_timestamp("2026-03-01T12:00:00Z").unwrap().0;
        assert_eq!(z, 1_772_366_400);
        assert_eq!(parse_timestamp("2026-03-01T14:00:00+02:00").unwrap().0, z);
        assert_eq!(parse_timestamp("2026-03-01 12:00:00").unwrap().0, z);
        assert_eq!(parse_timestamp("2026-03-01T12:00:00.250Z").unwrap().0, z);
        assert_eq!(parse_timestamp("2026-03-01").unwrap().0, z - 12 * 3600);
        assert_eq!(parse_timestamp("1772366400").unwrap().0, z);
        assert_eq!(parse_timestamp("1772366400000").unwrap().0, z);
    }

    #[test]
    fn the_fast_path_agrees_with_jiff_over_many_dates() {
        for days in (-20_000i64..40_000).step_by(37) {
            let secs = days * 86_400 + 3_723;
            let text = jiff::Timestamp::from_second(secs).unwrap().to_string();
            assert_eq!(fast_iso(text.as_bytes()), Some(secs), "{text}");
        }
    }

    #[test]
    fn slash_dates_pick_day_first_only_when_unambiguous() {
        let march_1 = parse_timestamp("2026-03-01").unwrap();
        assert_eq!(parse_timestamp("03/01/2026"), Some(march_1));
        assert_eq!(parse_timestamp("13/01/2026"), parse_timestamp("2026-01-13"));
        assert_eq!(parse_timestamp("31/02/2026"), None);
    }

    #[test]
    fn nonsense_is_not_a_timestamp() {
        for s in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-01-01T25:00:00Z",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }
}
