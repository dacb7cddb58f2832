//! Bearer tokens and roles. A token is shown once when created; only its
//! SHA-256 is stored, so a copy of the database does not hand out access.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Marketing,
    Manager,
    Rep,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "marketing" => Some(Role::Marketing),
            "manager" => Some(Role::Manager),
            "rep" => Some(Role::Rep),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketing => "marketing",
            Role::Manager => "manager",
            Role::Rep => "rep",
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    /// The rep a `rep` token acts as.
    pub rep_id: Option<String>,
}

impl Principal {
    /// Refuses unless the caller has one of `roles` (admins always pass).
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Admin || roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!(
                "this needs the role {}; the token has role {}",
                if names.is_empty() {
                    "admin".to_string()
                } else {
                    format!("admin or {}", names.join(" or "))
                },
                self.role.as_str()
            )))
        }
    }
    /// How the caller appears in audit records (`system:<name>` for the
    /// service acting on its own, e.g. an SLA reassignment).
    pub fn actor(&self) -> String {
        if self.token_id == "system" {
            return format!("system:{}", self.name);
        }
        format!("{}:{}", self.role.as_str(), self.name)
    }
}

/// A fresh random token: `lq_` and 40 hex digits (160 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    format!("lq_{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// An id that sorts by creation time: 12 hex digits of milliseconds since
/// the Unix epoch, then 8 random ones (collisions within one millisecond
/// are as unlikely as in [`new_id`]'s 16 random digits at any rate below
/// millions a second).
///
/// Why ordered: a lead's id keys its rows in half a dozen indexes (the
/// lead, its ledger, transitions, assignments, prediction). Random ids put
/// each new lead's entries on a different page of each index, so every
/// lead written dirtied that many pages, which SQLite writes whole to its
/// WAL and then again to the database file. Ids that grow with time append
/// to the same last pages, shared by every lead of a commit.
pub fn new_ordered_id(prefix: &str, now_ms: i64) -> String {
    let mut bytes = [0u8; 4];
    rand::rng().fill_bytes(&mut bytes);
    let ms = now_ms.clamp(0, 0xffff_ffff_ffff);
    format!("{prefix}_{ms:012x}{}", hex::encode(bytes))
}

/// Recently verified tokens, so a busy client does not cost a database read
/// per request. Entries live a few seconds; revocation also evicts.
#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<String, (Principal, Instant)>>,
}

const TOKEN_TTL: Duration = Duration::from_secs(5);

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Principal> {
        let map = self.entries.read().ok()?;
        let (p, at) = map.get(hash)?;
        (at.elapsed() < TOKEN_TTL).then(|| p.clone())
    }
    fn put(&self, hash: String, p: Principal) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(hash, (p, Instant::now()));
        }
    }
    pub fn evict_all(&self) {
        if let Ok(mut map) = self.entries.write() {
            map.clear();
        }
    }
}

/// The cookie that carries a browser session id.
pub const SESSION_COOKIE: &str = "leadq_session";
/// The header a browser sends its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a browser session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// Argon2id hash of a password, in PHC string form (salt included).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes)
        .map_err(|e| ApiError::internal(format!("cannot make a salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches a stored PHC hash. A malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(stored).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The live session named by the request's session cookie, if any.
pub async fn session_of(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<leadq_store::SessionRow>, ApiError> {
    let Some(id) = cookie(parts, SESSION_COOKIE).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let hash = hash_token(id);
    let now = state.clock.now_ms();
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.session(&hash, now))
        .await
        .map_err(|_| ApiError::internal("session lookup failed"))?
        .map_err(ApiError::from)
}

impl Principal {
    /// The caller a browser session stands for.
    pub fn of_session(s: &leadq_store::SessionRow) -> Option<Principal> {
        Some(Principal {
            token_id: format!("session:{}", &s.hash[..12.min(s.hash.len())]),
            name: s.name.clone(),
            role: Role::parse(&s.role)?,
            rep_id: s.rep_id.clone(),
        })
    }
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// A bearer token, or else a browser session. A session's cookie is sent
    /// by the browser on its own, so every unsafe request made with one must
    /// also carry the session's CSRF token in `X-CSRF-Token`.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            let session = session_of(parts, state)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            if !parts.method.is_safe() {
                let sent = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !same_secret(sent, &session.csrf) {
                    return Err(ApiError::forbidden(
                        "this request comes with a browser session but without its CSRF token (X-CSRF-Token)",
                    )
                    .with_code("csrf_failed"));
                }
            }
            return Principal::of_session(&session).ok_or_else(ApiError::unauthorized);
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let hash = hash_token(token);
        if let Some(p) = state.tokens.get(&hash) {
            return Ok(p);
        }
        let store = state.store.clone();
        let h = hash.clone();
        let row = tokio::task::spawn_blocking(move || store.token_by_hash(&h))
            .await
            .map_err(|_| ApiError::internal("token lookup failed"))??;
        let row = row
            .filter(|t| !t.revoked)
            .ok_or_else(ApiError::unauthorized)?;
        let role = Role::parse(&row.role).ok_or_else(ApiError::unauthorized)?;
        let p = Principal {
            token_id: row.id,
            name: row.name,
            role,
            rep_id: row.rep_id,
        };
        state.tokens.put(hash, p.clone());
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_ids_sort_by_the_millisecond_they_were_made_in() {
        let times = [
            0_i64,
            1,
            255,
            1_764_000_000_000,
            1_764_000_000_001,
            0xffff_ffff_ffff,
        ];
        let ids: Vec<String> = times.iter().map(|t| new_ordered_id("ld", *t)).collect();
        for id in &ids {
            let digits = id.strip_prefix("ld_").expect("the prefix");
            assert_eq!(digits.len(), 20, "{id}");
            assert!(digits.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        assert!(new_ordered_id("ld", -5).starts_with("ld_000000000000"));
    }

    #[test]
    fn ordered_ids_made_in_the_same_millisecond_differ() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| new_ordered_id("ld", 42)).collect();
        assert_eq!(ids.len(), 1000);
    }
}
