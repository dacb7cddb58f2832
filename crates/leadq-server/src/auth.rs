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

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
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
