//! Signed links in emails: one-click unsubscribe, the open pixel and click
//! redirects. Each carries an HMAC-SHA256 of what it names under a secret
//! only the server knows, so nobody can unsubscribe someone else, fake an
//! open, or turn the redirect into an open redirect to any site.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The settings key of the link secret (never shown by the settings API).
pub const SECRET_SETTING: &str = "mail_link_secret";

/// The secret links are signed with; created on first use.
pub fn secret(state: &AppState) -> ApiResult<Vec<u8>> {
    if let Some(s) = state.store.setting(SECRET_SETTING)? {
        if let Ok(bytes) = hex::decode(s.trim()) {
            if bytes.len() >= 32 {
                return Ok(bytes);
            }
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    state
        .store
        .set_setting(SECRET_SETTING, &hex::encode(bytes))?;
    // Another server may have raced us: use what is stored.
    let stored = state
        .store
        .setting(SECRET_SETTING)?
        .and_then(|s| hex::decode(s.trim()).ok())
        .unwrap_or_else(|| bytes.to_vec());
    Ok(stored)
}

fn mac(secret: &[u8], purpose: &str, parts: &[&str]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(purpose.as_bytes());
    for p in parts {
        m.update(b"\x1f");
        m.update(p.as_bytes());
    }
    m
}

/// The signature of `parts` for `purpose` (`unsubscribe`, `open`, `click`).
pub fn sign(secret: &[u8], purpose: &str, parts: &[&str]) -> String {
    hex::encode(mac(secret, purpose, parts).finalize().into_bytes())
}

/// Checks a signature in constant time.
pub fn verify(secret: &[u8], purpose: &str, parts: &[&str], signature: &str) -> ApiResult<()> {
    let bad = || ApiError::forbidden("the link's signature does not match");
    let given = hex::decode(signature).map_err(|_| bad())?;
    mac(secret, purpose, parts)
        .verify_slice(&given)
        .map_err(|_| bad())
}

fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The links of one email.
pub struct Links<'a> {
    pub base: &'a str,
    pub secret: &'a [u8],
    pub email_id: &'a str,
}

impl Links<'_> {
    pub fn unsubscribe(&self) -> String {
        let sig = sign(self.secret, "unsubscribe", &[self.email_id]);
        format!("{}/e/u/{}/{sig}", self.base, self.email_id)
    }

    pub fn open_pixel(&self) -> String {
        let sig = sign(self.secret, "open", &[self.email_id]);
        format!("{}/e/o/{}/{sig}", self.base, self.email_id)
    }

    pub fn click(&self, url: &str) -> String {
        let sig = sign(self.secret, "click", &[self.email_id, url]);
        format!(
            "{}/e/c/{}/{sig}?u={}",
            self.base,
            self.email_id,
            encode_query(url)
        )
    }
}

/// The `http(s)://` links in a text, in order (as written, trailing
/// punctuation left out).
pub fn find_urls(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find("http") {
        let start = from + rel;
        let rest = &text[start..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            from = start + 4;
            continue;
        }
        let mut end = start
            + rest
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
                .unwrap_or(rest.len());
        while end > start && text[..end].ends_with(['.', ',', ')', ';', ':', '!', '?']) {
            end -= 1;
        }
        out.push((start, end));
        from = end.max(start + 4);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_what_it_signed() {
        let key = [7u8; 32];
        let sig = sign(&key, "unsubscribe", &["em_1"]);
        assert!(verify(&key, "unsubscribe", &["em_1"], &sig).is_ok());
        assert!(verify(&key, "unsubscribe", &["em_2"], &sig).is_err());
        assert!(verify(&key, "open", &["em_1"], &sig).is_err());
        assert!(verify(&[8u8; 32], "unsubscribe", &["em_1"], &sig).is_err());
        assert!(verify(&key, "unsubscribe", &["em_1"], "zz").is_err());
    }

    #[test]
    fn urls_are_found_without_trailing_punctuation() {
        let t = "See https://example.com/a?b=1. Or (http://x.io/y), not httpfoo.";
        let found: Vec<&str> = find_urls(t).into_iter().map(|(a, b)| &t[a..b]).collect();
        assert_eq!(found, vec!["https://example.com/a?b=1", "http://x.io/y"]);
    }
}
