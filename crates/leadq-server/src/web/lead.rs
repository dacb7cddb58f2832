//! The lead page.

use super::{layout, Page, Viewer};
use crate::AppState;
use axum::extract::{Path, State};
use maud::html;

pub async fn page(State(_state): State<AppState>, v: Viewer, Path(id): Path<String>) -> Page {
    Ok(layout(&v, "Lead", "queue", html! { h1 { "Lead " (id) } }))
}
