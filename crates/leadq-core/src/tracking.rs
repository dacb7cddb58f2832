//! Website tracking, the pure part: what the tracking snippet may send
//! (visitor ids, event kinds, page paths, property sizes), site origins,
//! and the token-bucket arithmetic of the rate limits. The server does the
//! IO; everything here is deterministic over its inputs.

use crate::event::EventKind;
use std::collections::BTreeMap;
use thiserror::Error;

/// Most events one collect request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 20;
/// Longest page path (or URL) kept for an event.
pub const MAX_URL_LEN: usize = 2000;
/// Most properties on one event, and the longest property name and value.
pub const MAX_PROPERTIES: usize = 20;
pub const MAX_PROPERTY_NAME: usize = 64;
pub const MAX_PROPERTY_VALUE: usize = 1000;
/// How far back a client-stated event time is believed; older (or future)
/// times are replaced by the arrival time, so a page cannot back-date or
/// post-date engagement.
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// A refused piece of tracking input, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct TrackingError {
    /// JSON path of the problem, e.g. `events[2].kind`.
    pub field: String,
    pub message: String,
}

impl TrackingError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> TrackingError {
        TrackingError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks an anonymous visitor id (or a client event id): 8 to 64 letters,
/// digits, `-` or `_`. The snippet makes 32 hex digits; the bounds keep
/// keys short and free of characters that would need escaping anywhere.
pub fn check_id(field: &str, raw: &str) -> Result<String, TrackingError> {
    let ok = (8..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(TrackingError::new(
            field,
            "must be 8 to 64 letters, digits, '-' or '_'",
        ))
    }
}

/// The kind a website event is stored as. Page views and the kinds a site
/// can see happen (downloads, registrations, demo requests, sign-ups,
/// meetings, custom names) are accepted; email kinds are refused because a
/// web page cannot observe them, and `form_submit` because only the form
/// endpoint records it (once per real submission).
pub fn website_kind(field: &str, raw: &str) -> Result<String, TrackingError> {
    if raw.trim().is_empty() || raw.len() > 64 {
        return Err(TrackingError::new(field, "must be 1 to 64 characters"));
    }
    let kind = EventKind::parse(raw).ok_or_else(|| {
        TrackingError::new(
            field,
            format!("'{raw}' is not an event name (letters, digits, '_', '-', '.', spaces)"),
        )
    })?;
    match kind {
        EventKind::EmailOpen
        | EventKind::EmailClick
        | EventKind::EmailReply
        | EventKind::EmailBounce
        | EventKind::EmailUnsubscribe => Err(TrackingError::new(
            field,
            format!("'{raw}' is an email event; a web page cannot record it"),
        )),
        EventKind::FormSubmit => Err(TrackingError::new(
            field,
            "form_submit is recorded by the form endpoint (POST /t/form)",
        )),
        other => Ok(other.as_str().to_string()),
    }
}

/// A page path as events carry it: starts with `/`, at most
/// [`MAX_URL_LEN`] bytes, no control characters. A full URL is cut to its
/// path, and query strings and fragments are dropped: they often carry
/// personal data (emails, tokens) the score never needs.
pub fn page_path(field: &str, raw: &str) -> Result<String, TrackingError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(TrackingError::new(
            field,
            format!("longer than {MAX_URL_LEN} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(TrackingError::new(field, "contains control characters"));
    }
    let path = match raw.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => raw,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(TrackingError::new(
            field,
            "must be a path starting with '/' (or a full URL)",
        ));
    }
    Ok(path.to_string())
}

/// Checks event properties: at most [`MAX_PROPERTIES`] flat values
/// (strings, numbers, booleans) with bounded names and lengths.
pub fn check_properties(
    field: &str,
    props: &BTreeMap<String, PropValue>,
) -> Result<(), TrackingError> {
    if props.len() > MAX_PROPERTIES {
        return Err(TrackingError::new(
            field,
            format!("at most {MAX_PROPERTIES} properties"),
        ));
    }
    for (k, v) in props {
        if k.is_empty() || k.len() > MAX_PROPERTY_NAME {
            return Err(TrackingError::new(
                format!("{field}.{k}"),
                format!("property names must be 1 to {MAX_PROPERTY_NAME} characters"),
            ));
        }
        if let PropValue::Text(s) = v {
            if s.len() > MAX_PROPERTY_VALUE {
                return Err(TrackingError::new(
                    format!("{field}.{k}"),
                    format!("longer than {MAX_PROPERTY_VALUE} characters"),
                ));
            }
        }
    }
    Ok(())
}

/// A property value the snippet may send.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// The instant an event is recorded at: the time the page states when it
/// lies within [`MAX_CLOCK_SKEW_MS`] before arrival (beacons sent while a
/// page unloads may arrive late), else the arrival time.
pub fn event_time(stated: Option<i64>, received: i64) -> i64 {
    match stated {
        Some(t) if t <= received && received - t <= MAX_CLOCK_SKEW_MS => t,
        _ => received,
    }
}

/// A site origin as browsers send it in `Origin`: `scheme://host[:port]`,
/// lower-case, without path or trailing slash. Default ports are dropped so
/// `https://a.com:443` and `https://a.com` are the same origin.
pub fn normalize_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(format!(
            "'{raw}' is not an origin like https://www.example.com"
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("'{raw}': the scheme must be http or https"));
    }
    let host = rest.strip_suffix('/').unwrap_or(rest).to_ascii_lowercase();
    if host.is_empty()
        || host.contains(['/', '?', '#', '@', ' '])
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return Err(format!(
            "'{raw}' is not an origin: give scheme and host only, like https://www.example.com"
        ));
    }
    let host = match (scheme.as_str(), host.rsplit_once(':')) {
        ("https", Some((h, "443"))) | ("http", Some((h, "80"))) => h.to_string(),
        _ => host,
    };
    Ok(format!("{scheme}://{host}"))
}

/// Whether a request's `Origin` header is one of the allowed origins
/// (exact match after normalisation; `null` and missing never match).
pub fn origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    match origin.map(normalize_origin) {
        Some(Ok(o)) => allowed.contains(&o),
        _ => false,
    }
}

/// A token bucket: up to `burst` requests at once, refilled at `per_second`.
/// Times are Unix milliseconds handed in by the caller, so the arithmetic
/// is testable without a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: i64,
}

/// The shape of one rate limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(rate: Rate, now: i64) -> TokenBucket {
        TokenBucket {
            tokens: rate.burst,
            last_ms: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: i64) {
        // A clock that went backwards refills nothing rather than draining.
        let elapsed = (now - self.last_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.last_ms = self.last_ms.max(now);
    }

    /// Takes one token at `now`; when none is left, returns how many
    /// milliseconds until one is (at least 1).
    pub fn take(&mut self, rate: Rate, now: i64) -> Result<(), u64> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if rate.per_second <= 0.0 {
            return Err(u64::MAX);
        }
        let wait = ((1.0 - self.tokens) / rate.per_second * 1000.0).ceil();
        Err((wait as u64).max(1))
    }

    /// Whether the bucket has refilled completely by `now` (it can then be
    /// forgotten: a new full bucket behaves the same).
    pub fn is_full(&self, rate: Rate, now: i64) -> bool {
        let mut b = *self;
        b.refill(rate, now);
        b.tokens >= rate.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        burst: 3.0,
        per_second: 0.5,
    };

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_the_wait_until_the_next_token() {
        let mut b = TokenBucket::full(RATE, 0);
        for _ in 0..3 {
            assert_eq!(b.take(RATE, 0), Ok(()));
        }
        assert_eq!(b.take(RATE, 0), Err(2000));
        assert_eq!(b.take(RATE, 1500), Err(500));
        assert_eq!(b.take(RATE, 2000), Ok(()));
        assert_eq!(b.take(RATE, 2000), Err(2000));
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_burst() {
        let mut b = TokenBucket::full(RATE, 0);
        assert!(b.is_full(RATE, 0));
        b.take(RATE, 0).unwrap();
        assert!(!b.is_full(RATE, 1000));
        assert!(b.is_full(RATE, 2000));
        for _ in 0..3 {
            assert_eq!(b.take(RATE, 1_000_000), Ok(()));
        }
        assert!(b.take(RATE, 1_000_000).is_err());
    }

    #[test]
    fn a_clock_going_backwards_does_not_refill_a_bucket() {
        let mut b = TokenBucket::full(RATE, 10_000);
        for _ in 0..3 {
            b.take(RATE, 10_000).unwrap();
        }
        assert!(b.take(RATE, 0).is_err());
        assert!(b.take(RATE, 9_000).is_err());
    }

    #[test]
    fn visitor_ids_are_short_safe_tokens() {
        assert!(check_id("vid", "0123456789abcdef0123456789abcdef").is_ok());
        assert!(check_id("vid", "short").is_err());
        assert!(check_id("vid", &"a".repeat(65)).is_err());
        let e = check_id("vid", "abc'; DROP TABLE x").unwrap_err();
        assert_eq!(e.field, "vid");
    }

    #[test]
    fn website_kinds_map_to_known_kinds_and_refuse_email_and_form_submit() {
        assert_eq!(website_kind("k", "pageview").unwrap(), "page_view");
        assert_eq!(website_kind("k", "Demo Request").unwrap(), "demo_request");
        assert_eq!(website_kind("k", "video.played").unwrap(), "video_played");
        assert!(website_kind("k", "email_open").is_err());
        assert!(website_kind("k", "form_submit").is_err());
        assert!(website_kind("k", "").is_err());
        assert!(website_kind("k", "a/b").is_err());
        assert_eq!(
            website_kind("events[1].kind", "email_click")
                .unwrap_err()
                .field,
            "events[1].kind"
        );
    }

    #[test]
    fn page_paths_drop_the_query_and_the_origin() {
        assert_eq!(
            page_path("u", "/pricing?email=a@b.c#x").unwrap(),
            "/pricing"
        );
        assert_eq!(
            page_path("u", "https://www.example.com/docs/a").unwrap(),
            "/docs/a"
        );
        assert_eq!(page_path("u", "https://www.example.com").unwrap(), "/");
        assert!(page_path("u", "pricing").is_err());
        assert!(page_path("u", &format!("/{}", "a".repeat(MAX_URL_LEN))).is_err());
        assert!(page_path("u", "/a\nb").is_err());
    }

    #[test]
    fn properties_are_bounded_in_number_and_size() {
        let mut p = BTreeMap::new();
        p.insert("title".to_string(), PropValue::Text("Pricing".into()));
        assert!(check_properties("p", &p).is_ok());
        p.insert(
            "long".to_string(),
            PropValue::Text("x".repeat(MAX_PROPERTY_VALUE + 1)),
        );
        assert_eq!(check_properties("p", &p).unwrap_err().field, "p.long");
        let many: BTreeMap<String, PropValue> = (0..=MAX_PROPERTIES)
            .map(|i| (format!("k{i}"), PropValue::Bool(true)))
            .collect();
        assert!(check_properties("p", &many).is_err());
    }

    #[test]
    fn stated_event_times_are_believed_only_shortly_before_arrival() {
        assert_eq!(event_time(Some(9_000), 10_000), 9_000);
        assert_eq!(event_time(Some(11_000), 10_000), 10_000);
        assert_eq!(
            event_time(Some(10_000 - MAX_CLOCK_SKEW_MS - 1), 10_000),
            10_000
        );
        assert_eq!(event_time(None, 10_000), 10_000);
    }

    #[test]
    fn origins_are_normalised_and_matched_exactly() {
        assert_eq!(
            normalize_origin("HTTPS://WWW.Example.com/").unwrap(),
            "https://www.example.com"
        );
        assert_eq!(
            normalize_origin("https://example.com:443").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_origin("www.example.com").is_err());
        assert!(normalize_origin("ftp://example.com").is_err());
        assert!(normalize_origin("https://example.com/path").is_err());
        let allowed = vec!["https://www.example.com".to_string()];
        assert!(origin_allowed(Some("https://www.example.com"), &allowed));
        assert!(!origin_allowed(Some("https://example.com"), &allowed));
        assert!(!origin_allowed(
            Some("https://www.example.com.evil.net"),
            &allowed
        ));
        assert!(!origin_allowed(Some("null"), &allowed));
        assert!(!origin_allowed(None, &allowed));
    }
}
