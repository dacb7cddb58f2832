//! Cleaning of single values: categorical folding, numbers with thousands
//! separators or ranges, booleans, phone numbers to E.164, job titles to
//! seniority and department.

use leadq_core::lead::EmailKind;
use leadq_core::{Email, PhoneNumber};

use crate::refdata::RefData;

/// Lower-cases, trims and collapses inner whitespace: `"  Google  Ads"` and
/// `"google ads"` become one value.
pub fn fold(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    fold_into(&mut out, raw);
    out
}

/// [`fold`], appending to `out`. A space separates what `out` held from the
/// first word of `raw`, unless `out` was empty.
pub fn fold_into(out: &mut String, raw: &str) {
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            // Most values are ASCII; lower-casing them needs no per-character
            // Unicode lookup.
            let start = out.len();
            out.push_str(word);
            out[start..].make_ascii_lowercase();
        } else {
            for c in word.chars() {
                out.extend(c.to_lowercase());
            }
        }
    }
}

/// Whether `fold` would change nothing (saves an allocation on clean data).
pub fn is_folded(raw: &str) -> bool {
    !raw.starts_with(' ')
        && !raw.ends_with(' ')
        && !raw.contains("  ")
        && !raw
            .chars()
            .any(|c| c.is_uppercase() || (c.is_whitespace() && c != ' '))
}

/// Parses a number as exports write it: `1,234.5`, `1.234,5`, `1 234`,
/// `$1.5M`, `10k`, `51-200` (a range gives its midpoint), `10,000+`, `12%`.
pub fn parse_number(raw: &str) -> Option<f64> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let s: String = s
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '$' | '€' | '£' | '¥' | '+' | '%' | ' ' | '\u{a0}' | '_' | '\''
            )
        })
        .collect();
    // A range such as 51-200 or 51–200.
    if let Some((a, b)) = s.split_once(['-', '–']).filter(|(a, _)| !a.is_empty()) {
        let (a, b) = (parse_number(a)?, parse_number(b)?);
        return Some((a + b) / 2.0);
    }
    let lower = s.to_ascii_lowercase();
    let (body, scale) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1e3),
        'm' => (&lower[..lower.len() - 1], 1e6),
        'b' => (&lower[..lower.len() - 1], 1e9),
        _ => (lower.as_str(), 1.0),
    };
    let body = normalise_separators(body)?;
    let n: f64 = body.parse().ok()?;
    let n = n * scale;
    n.is_finite().then_some(n)
}

fn normalise_separators(s: &str) -> Option<String> {
    let commas = s.matches(',').count();
    let dots = s.matches('.').count();
    let after = |sep: char| s.rsplit(sep).next().map_or(0, |t| t.len());
    Some(match (commas, dots) {
        (0, _) => s.to_string(),
        // 1,234 or 1,234,567 (thousands) versus 1,5 (decimal comma).
        (_, 0) if commas > 1 || after(',') == 3 => s.replace(',', ""),
        (1, 0) => s.replace(',', "."),
        // Both: whichever comes last is the decimal separator.
        _ => {
            if s.rfind(',') > s.rfind('.') {
                s.replace('.', "").replace(',', ".")
            } else {
                s.replace(',', "")
            }
        }
    })
}

/// yes/no, true/false, y/n, 1/0, and the opt-in wording of CRM exports.
pub fn parse_bool(raw: &str) -> Option<bool> {
    const TRUE: &[&str] = &[
        "yes",
        "y",
        "true",
        "t",
        "1",
        "on",
        "opted in",
        "opt-in",
        "subscribed",
        "checked",
        "x",
    ];
    const FALSE: &[&str] = &[
        "no",
        "n",
        "false",
        "f",
        "0",
        "off",
        "opted out",
        "opt-out",
        "unsubscribed",
        "unchecked",
    ];
    let t = raw.trim();
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
        Some(false)
    } else if t.contains("  ") {
        parse_bool(&fold(t))
    } else {
        None
    }
}

/// Classifies an email's domain.
pub fn email_kind(email: &Email) -> EmailKind {
    let r = RefData::get();
    let d = email.domain();
    if r.is_disposable(d) {
        EmailKind::Disposable
    } else if r.is_free_mail(d) {
        EmailKind::Free
    } else {
        EmailKind::Business
    }
}

/// Parses a phone number to E.164 with `default_region` for numbers written
/// without a country code. Returns why it failed otherwise.
pub fn parse_phone(raw: &str, default_region: Region) -> Result<PhoneNumber, String> {
    use rlibphonenumber::{PhoneNumberFormat, PHONE_NUMBER_UTIL};
    let s = raw.trim();
    let parsed = PHONE_NUMBER_UTIL
        .parse(s, Some(default_region))
        .map_err(|e| format!("'{s}' is not a phone number ({e})"))?;
    if !parsed.is_valid() {
        return Err(format!("'{s}' is not a valid phone number for its country"));
    }
    let e164 = parsed.format_as(PhoneNumberFormat::E164);
    PhoneNumber::parse_e164(&e164).map_err(|e| e.to_string())
}

/// The numbering-plan region used for phone numbers without a country code.
pub use rlibphonenumber::Region;

/// A phone region from a two-letter code such as `US` or `GB`.
pub fn phone_region(code: &str) -> Option<Region> {
    Region::from_code(&code.trim().to_ascii_uppercase()).ok()
}

fn words(title: &str) -> Vec<String> {
    fold(title)
        .split(|c: char| !(c.is_alphanumeric() || c == '&'))
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

fn has_any(ws: &[String], text: &str, keys: &[&str]) -> bool {
    keys.iter().any(|k| {
        if k.contains(' ') {
            text.contains(k)
        } else {
            ws.iter().any(|w| w == k)
        }
    })
}

/// Seniority from a job title: `c_level`, `vp`, `director`, `manager`,
/// `senior`, `intern` or `individual`.
pub fn seniority(title: &str) -> Option<&'static str> {
    let ws = words(title);
    if ws.is_empty() {
        return None;
    }
    let text = format!(" {} ", ws.join(" "));
    let is_vp = has_any(
        &ws,
        &text,
        &["vp", "svp", "evp", "avp", " vice president ", " head of "],
    );
    Some(
        if !is_vp
            && has_any(
                &ws,
                &text,
                &[
                    "ceo",
                    "cto",
                    "cfo",
                    "coo",
                    "cmo",
                    "cio",
                    "ciso",
                    "cro",
                    "cpo",
                    "cdo",
                    "chief",
                    "founder",
                    "cofounder",
                    "co founder",
                    "owner",
                    "president",
                    "partner",
                    " managing director ",
                    "proprietor",
                ],
            )
        {
            "c_level"
        } else if is_vp {
            "vp"
        } else if has_any(&ws, &text, &["director", "directeur", "direktor"]) {
            "director"
        } else if has_any(
            &ws,
            &text,
            &[
                "manager",
                "supervisor",
                " team lead ",
                "gerente",
                "leiter",
                "superintendent",
            ],
        ) {
            "manager"
        } else if has_any(
            &ws,
            &text,
            &["intern", "trainee", "student", "apprentice", "werkstudent"],
        ) {
            "intern"
        } else if has_any(&ws, &text, &["senior", "sr", "principal", "staff", "lead"]) {
            "senior"
        } else {
            "individual"
        },
    )
}

/// Department from a job title, or `None` when no keyword says.
pub fn department(title: &str) -> Option<&'static str> {
    let mut ws = words(title);
    // A vice president is not the president: keep "president" for the
    // executive suite only.
    if ws.iter().any(|w| w == "vice") {
        ws.retain(|w| w != "president" && w != "vice");
    }
    let text = format!(" {} ", ws.join(" "));
    const TABLE: &[(&str, &[&str])] = &[
        (
            "executive",
            &[
                "ceo",
                "founder",
                "cofounder",
                " co founder ",
                "president",
                "owner",
                " managing director ",
                " general manager ",
            ],
        ),
        (
            "it",
            &[
                "cio",
                "ciso",
                "it",
                " information technology ",
                "sysadmin",
                "infrastructure",
                "security",
                "network",
                "helpdesk",
            ],
        ),
        (
            "engineering",
            &[
                "cto",
                "engineer",
                "engineering",
                "developer",
                "software",
                "devops",
                "architect",
                "programmer",
                "sre",
                "r&d",
            ],
        ),
        ("data", &["data", "analytics", "analyst", "bi", "scientist"]),
        (
            "sales",
            &[
                "cro",
                "sales",
                " account executive ",
                "ae",
                "sdr",
                "bdr",
                " business development ",
                " account manager ",
                "revenue",
            ],
        ),
        (
            "marketing",
            &[
                "cmo",
                "marketing",
                "growth",
                "brand",
                " demand generation ",
                " demand gen ",
                "content",
                "seo",
                "communications",
                "pr",
            ],
        ),
        (
            "finance",
            &[
                "cfo",
                "finance",
                "financial",
                "accounting",
                "accountant",
                "controller",
                "treasurer",
                "fp&a",
            ],
        ),
        (
            "hr",
            &[
                "hr",
                " human resources ",
                "people",
                "talent",
                "recruiter",
                "recruiting",
                "chro",
            ],
        ),
        (
            "operations",
            &[
                "coo",
                "operations",
                "ops",
                " supply chain ",
                "logistics",
                "procurement",
                "purchasing",
            ],
        ),
        ("product", &["cpo", "product"]),
        (
            "legal",
            &["legal", "counsel", "lawyer", "attorney", "compliance"],
        ),
        (
            "support",
            &["support", " customer success ", "service", "customer"],
        ),
        (
            "education",
            &["teacher", "professor", "lecturer", "principal", "tutor"],
        ),
    ];
    TABLE
        .iter()
        .find(|(_, keys)| has_any(&ws, &text, keys))
        .map(|(d, _)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_values_fold_case_and_whitespace() {
        assert_eq!(fold("  Google   Ads "), "google ads");
        assert_eq!(fold("GOOGLE"), fold("google"));
        assert!(is_folded("google ads"));
        assert!(!is_folded("Google"));
        assert!(!is_folded("a  b"));
    }

    #[test]
    fn numbers_parse_as_exports_write_them() {
        let cases = [
            ("1,234", 1234.0),
            ("1,234,567.5", 1_234_567.5),
            ("1.234,5", 1234.5),
            ("2,5", 2.5),
            ("$1.5M", 1_500_000.0),
            ("10k", 10_000.0),
            ("51-200", 125.5),
            ("10,000+", 10_000.0),
            ("12%", 12.0),
            ("-3", -3.0),
            ("1 000", 1000.0),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_number(raw), Some(want), "{raw}");
        }
        for bad in ["", "abc", "12x", "--"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn booleans_accept_crm_wording() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool(" opted out "), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn phones_become_e164_with_a_default_region() {
        let us = phone_region("US").unwrap();
        assert_eq!(
            parse_phone("(415) 555-2671", us).unwrap().as_str(),
            "+14155552671"
        );
        assert_eq!(
            parse_phone("+44 20 7946 0958", us).unwrap().as_str(),
            "+442079460958"
        );
        let gb = phone_region("gb").unwrap();
        assert_eq!(
            parse_phone("020 7946 0958", gb).unwrap().as_str(),
            "+442079460958"
        );
        assert!(parse_phone("12", us).is_err());
        assert!(parse_phone("not a phone", us).is_err());
    }

    #[test]
    fn titles_map_to_seniority_and_department() {
        let cases = [
            ("Chief Executive Officer", Some("c_level"), None),
            ("CEO & Co-Founder", Some("c_level"), Some("executive")),
            ("VP of Marketing", Some("vp"), Some("marketing")),
            ("Vice President, Sales", Some("vp"), Some("sales")),
            ("Head of Data", Some("vp"), Some("data")),
            (
                "Director of Engineering",
                Some("director"),
                Some("engineering"),
            ),
            ("IT Manager", Some("manager"), Some("it")),
            (
                "Senior Software Engineer",
                Some("senior"),
                Some("engineering"),
            ),
            ("Marketing Intern", Some("intern"), Some("marketing")),
            ("Accountant", Some("individual"), Some("finance")),
        ];
        for (title, s, d) in cases {
            assert_eq!(seniority(title), s, "seniority of {title}");
            if d.is_some() {
                assert_eq!(department(title), d, "department of {title}");
            }
        }
        assert_eq!(seniority("   "), None);
    }

    #[test]
    fn emails_are_classified_by_domain() {
        assert_eq!(
            email_kind(&Email::parse("a@gmail.com").unwrap()),
            EmailKind::Free
        );
        assert_eq!(
            email_kind(&Email::parse("a@mailinator.com").unwrap()),
            EmailKind::Disposable
        );
        assert_eq!(
            email_kind(&Email::parse("a@acme.io").unwrap()),
            EmailKind::Business
        );
    }
}
