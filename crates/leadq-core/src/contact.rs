//! Newtypes for the identity fields of a lead. Each is built by a `parse`
//! function, so holding one means the value has already been checked.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContactError {
    #[error("'{0}' is not a valid email address: {1}")]
    Email(String, &'static str),
    #[error("'{0}' is not a valid domain name")]
    Domain(String),
    #[error("'{0}' is not a phone number in E.164 form (+ and 8 to 15 digits)")]
    Phone(String),
    #[error("'{0}' is not a two-letter ISO 3166 country code")]
    Country(String),
}

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, ContactError> {
        let s = raw
            .trim()
            .trim_matches(|c| c == '<' || c == '>')
            .to_lowercase();
        let bad = |why| ContactError::Email(raw.trim().to_string(), why);
        if s.len() > 254 {
            return Err(bad("longer than 254 characters"));
        }
        if s.matches('@').count() > 1 {
            return Err(bad("more than one '@'"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| bad("no '@'"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("empty or overlong local part"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("misplaced dot in local part"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !local_ok {
            return Err(bad("forbidden character in local part"));
        }
        // `s` is lower-cased already: check the host without a copy.
        if !valid_host(host_of(domain.trim())) || !domain.contains('.') {
            return Err(bad("invalid domain"));
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A company web domain, lower-cased, without scheme, `www.`, path or port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Domain(String);

impl Domain {
    /// Accepts bare domains and website URLs (`https://www.acme.com/about`).
    pub fn parse(raw: &str) -> Result<Domain, ContactError> {
        let trimmed = raw.trim();
        // Most values arrive lower-case; only the others are copied.
        let unchanged_by_lowercasing = |c: char| {
            let mut lower = c.to_lowercase();
            lower.next() == Some(c) && lower.next().is_none()
        };
        let lower: std::borrow::Cow<'_, str> = if trimmed.chars().all(unchanged_by_lowercasing) {
            trimmed.into()
        } else {
            trimmed.to_lowercase().into()
        };
        let host = host_of(&lower);
        if !valid_host(host) {
            return Err(ContactError::Domain(trimmed.to_string()));
        }
        Ok(Domain(host.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The host of a lower-cased domain or website URL: without scheme, path,
/// query, fragment, port, `www.` and trailing dots.
fn host_of(lower: &str) -> &str {
    let mut s = lower;
    for scheme in ["https://", "http://"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            s = rest;
        }
    }
    let s = s.split(['/', '?', '#']).next().unwrap_or("");
    let s = s.split(':').next().unwrap_or("");
    s.strip_prefix("www.").unwrap_or(s).trim_end_matches('.')
}

/// Whether `host` is a dotted name of valid labels.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+` then 8 to 15 digits). Turning a local
/// number into this form needs numbering-plan metadata and happens in the
/// ingest crate; this type only guarantees the shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse_e164(raw: &str) -> Result<PhoneNumber, ContactError> {
        let s = raw.trim();
        let digits = s.strip_prefix('+').unwrap_or("");
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(ContactError::Phone(s.to_string()));
        }
        Ok(PhoneNumber(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code, upper-case. Mapping country names to
/// codes is done by the ingest crate's country table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<CountryCode, ContactError> {
        let s = raw.trim();
        let b = s.as_bytes();
        if b.len() != 2 || !b.iter().all(|c| c.is_ascii_alphabetic()) {
            return Err(ContactError::Country(s.to_string()));
        }
        Ok(CountryCode([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
        ]))
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CountryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lowercased() {
        let e = Email::parse("  Jane.Doe@Acme.COM ").unwrap();
        assert_eq!(e.as_str(), "jane.doe@acme.com");
        assert_eq!(e.domain(), "acme.com");
        assert_eq!(e.local_part(), "jane.doe");
    }

    #[test]
    fn malformed_emails_are_rejected_with_the_reason() {
        for bad in [
            "jane",
            "jane@",
            "@acme.com",
            "jane@@acme.com",
            "ja ne@acme.com",
            "jane@acme",
            "jane..d@acme.com",
            ".j@acme.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
        let err = Email::parse("jane.acme.com").unwrap_err().to_string();
        assert!(err.contains("no '@'"), "{err}");
    }

    #[test]
    fn a_domain_is_extracted_from_a_website_url() {
        assert_eq!(
            Domain::parse("https://www.Acme.com/about?x=1")
                .unwrap()
                .as_str(),
            "acme.com"
        );
        assert_eq!(
            Domain::parse("shop.acme.co.uk:8080").unwrap().as_str(),
            "shop.acme.co.uk"
        );
        assert!(Domain::parse("localhost").is_err());
        assert!(Domain::parse("-bad-.com").is_err());
        // Upper case anywhere, scheme included, is folded before anything is cut.
        assert_eq!(
            Domain::parse("  HTTP://WWW.ACME.DE./  ").unwrap().as_str(),
            "acme.de"
        );
        assert_eq!(Domain::parse("Müller.DE").unwrap().as_str(), "müller.de");
        assert_eq!(
            Email::parse("Jane@Mail.ACME.com").unwrap().domain(),
            "mail.acme.com"
        );
        assert!(Email::parse("jane@acme").is_err());
        assert!(Email::parse("jane@acme..com").is_err());
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!(PhoneNumber::parse_e164("+14155550123").is_ok());
        assert!(PhoneNumber::parse_e164("4155550123").is_err());
        assert!(PhoneNumber::parse_e164("+0123456789").is_err());
        assert!(PhoneNumber::parse_e164("+1415555012345678").is_err());
    }

    #[test]
    fn country_codes_are_two_letters_upper_cased() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert!(CountryCode::parse("DEU").is_err());
        assert!(CountryCode::parse("1A").is_err());
    }
}
