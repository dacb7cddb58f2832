//! The import page.

use super::{layout, Page, Viewer};
use crate::auth::Role;
use crate::AppState;
use axum::extract::State;
use maud::html;

pub async fn page(State(_state): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Marketing])?;
    Ok(layout(
        &v,
        "Import",
        "import",
        html! { h1 { "Import leads" } },
    ))
}
