//! The model list and editor.

use super::{layout, Page, Viewer};
use crate::auth::Role;
use crate::AppState;
use axum::extract::{Path, State};
use maud::html;

pub async fn list(State(_state): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Marketing, Role::Manager])?;
    Ok(layout(
        &v,
        "Models",
        "models",
        html! { h1 { "Scoring models" } },
    ))
}

pub async fn editor(State(_state): State<AppState>, v: Viewer, Path(id): Path<String>) -> Page {
    v.require(&[Role::Marketing, Role::Manager])?;
    Ok(layout(
        &v,
        "Model",
        "models",
        html! { h1 { "Model " (id) } },
    ))
}

pub async fn diff(State(_state): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Marketing, Role::Manager])?;
    Ok(layout(&v, "Model diff", "models", html! { h1 { "Model diff" } }))
}
