//! Administration: users, reps, routing, SLA, webhooks, tokens.

use super::{layout, Page, Viewer};
use crate::auth::Role;
use crate::AppState;
use axum::extract::State;
use maud::html;

pub async fn page(State(_state): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Manager])?;
    Ok(layout(
        &v,
        "Admin",
        "admin",
        html! { h1 { "Administration" } },
    ))
}
