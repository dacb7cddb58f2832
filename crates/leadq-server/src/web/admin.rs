//! Administration: reps, routing rules and SLA policies (managers), plus
//! users, API tokens, webhooks with their delivery log and service settings
//! (admins only; a manager does not see those sections at all).
//!
//! Every change is a form sent to the JSON API, so the API's validation
//! and authorisation apply unchanged; the page only reads the store.

use super::{blocking, layout, when, Page, Viewer};
use crate::auth::Role;
use crate::service::WEBHOOK_EVENTS;
use crate::AppState;
use axum::extract::State;
use leadq_core::lifecycle::Stage;
use leadq_store::{DeliveryRow, RepRow, SlaPolicyRow, TokenRow, UserRow, WebhookRow};
use maud::{html, Markup, PreEscaped};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Deliveries shown per webhook.
const DELIVERIES_SHOWN: usize = 10;

/// What only an admin may see.
struct AdminOnly {
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    webhooks: Vec<(WebhookRow, Vec<DeliveryRow>)>,
    reps_see_all: bool,
    sql_framework: String,
    tracking_origins: Vec<String>,
}

struct Data {
    reps: Vec<RepRow>,
    open: HashMap<String, i64>,
    rules: Vec<Json>,
    policies: Vec<SlaPolicyRow>,
    admin: Option<AdminOnly>,
}

/// Percent-encodes one path segment (unlike `encode`, also `/`).
fn segment(s: &str) -> String {
    super::encode(s).replace('/', "%2F")
}

fn territory(r: &RepRow) -> Vec<String> {
    serde_json::from_str(&r.territory).unwrap_or_default()
}

pub async fn page(State(state): State<AppState>, v: Viewer) -> Page {
    v.require(&[Role::Manager])?;
    // `require(&[])` lets only admins through.
    let is_admin = v.is(&[]);
    let d = blocking(&state, move |s| {
        let admin = if is_admin {
            let hooks = s.store.list_webhooks()?;
            let mut webhooks = Vec::with_capacity(hooks.len());
            for h in hooks {
                let deliveries = s.store.deliveries_of(&h.id, DELIVERIES_SHOWN)?;
                webhooks.push((h, deliveries));
            }
            Some(AdminOnly {
                users: s.store.list_users()?,
                tokens: s.store.list_tokens()?,
                webhooks,
                reps_see_all: s
                    .store
                    .setting("reps_see_all")?
                    .is_some_and(|v| v == "true"),
                sql_framework: s
                    .store
                    .setting("sql_framework")?
                    .unwrap_or_else(|| "BANT".into()),
                tracking_origins: crate::tracking::origins(s)?,
            })
        } else {
            None
        };
        Ok(Data {
            reps: s.store.list_reps()?,
            open: s.store.open_leads_by_owner()?.into_iter().collect(),
            rules: s
                .store
                .routing_rules()?
                .iter()
                .filter_map(|r| serde_json::from_str(r).ok())
                .collect(),
            policies: s.store.list_sla_policies()?,
            admin,
        })
    })
    .await?;
    let body = html! {
        h1 { "Administration" }
        nav aria-label="Admin sections" {
            p {
                a href="#reps" { "Reps" } " · "
                a href="#routing" { "Routing rules" } " · "
                a href="#sla" { "SLA policies" }
                @if d.admin.is_some() {
                    " · " a href="#users" { "Users" }
                    " · " a href="#tokens" { "API tokens" }
                    " · " a href="#webhooks" { "Webhooks" }
                    " · " a href="#settings" { "Settings" }
                }
            }
        }
        (reps_section(&d.reps, &d.open))
        (routing_section(&d.rules, &d.reps))
        (sla_section(&d.policies))
        @if let Some(a) = &d.admin {
            (users_section(&a.users, &d.reps))
            (tokens_section(&a.tokens, &d.reps))
            (webhooks_section(&a.webhooks))
            (settings_section(a))
        }
        (script())
    };
    Ok(layout(&v, "Admin", "admin", body))
}

/// Fills `{name}` in a form's `data-api-template` from its `data-path`
/// fields before app.js sends it (capture phase runs first), and shows a
/// secret from the API's answer once (`data-show` names the answer's key,
/// `data-show-in` the element to reveal).
fn script() -> Markup {
    html! {
        script {
            (PreEscaped(r#"
document.addEventListener("submit", (ev) => {
  const f = ev.target;
  if (!(f instanceof HTMLFormElement) || !f.dataset.apiTemplate) return;
  f.dataset.api = f.dataset.apiTemplate.replace(/\{(\w+)\}/g, (_, k) => {
    const el = f.querySelector('[data-path="' + k + '"]');
    return encodeURIComponent(el ? el.value.trim() : "");
  });
}, true);
document.addEventListener("api:done", (ev) => {
  const f = ev.target;
  if (!f.dataset || !f.dataset.show) return;
  const box = document.getElementById(f.dataset.showIn);
  if (!box) return;
  box.querySelector("code").textContent = (ev.detail && ev.detail[f.dataset.show]) || "";
  box.hidden = false;
  box.querySelector("code").focus();
});
"#))
        }
    }
}

fn rep_fields(r: Option<&RepRow>) -> Markup {
    html! {
        label { "Name" input name="name" required value=[r.map(|r| r.name.as_str())]; }
        label { "Email" input name="email" type="email" value=[r.and_then(|r| r.email.as_deref())]; }
        label { "Capacity (open leads)" input name="capacity" type="number" min="0" data-type="int" required value=(r.map_or(20, |r| r.capacity)); }
        label { "Working hours" input name="working_hours" placeholder="Mon-Fri 09:00-17:00 or always" value=(r.map_or("Mon-Fri 09:00-17:00", |r| r.working_hours.as_str())); }
        label { "Time zone" input name="timezone" placeholder="Europe/Berlin" value=(r.map_or("UTC", |r| r.timezone.as_str())); }
        label { "Territory (comma separated)" input name="territory" data-type="list" placeholder="US, CA, EMEA" value=(r.map(|r| territory(r).join(", ")).unwrap_or_default()); }
        label { "Active" input name="active" type="checkbox" checked[r.is_none_or(|r| r.active)]; }
    }
}

fn reps_section(reps: &[RepRow], open: &HashMap<String, i64>) -> Markup {
    html! {
        section #reps aria-labelledby="h-reps" {
            h2 #h-reps { "Reps" }
            div.table-wrap {
                table #rep-list {
                    thead { tr {
                        th scope="col" { "Id" } th scope="col" { "Name" } th scope="col" class="num" { "Open / capacity" }
                        th scope="col" { "Working hours" } th scope="col" { "Time zone" } th scope="col" { "Territory" }
                        th scope="col" { "Active" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for r in reps {
                            @let path = format!("/api/v1/reps/{}", segment(&r.id));
                            @let terr = territory(r).join(", ");
                            tr {
                                td { code { (r.id) } }
                                td { (r.name) @if let Some(e) = &r.email { br; small.muted { (e) } } }
                                td.num { (open.get(&r.id).copied().unwrap_or(0)) " / " (r.capacity) }
                                td { (r.working_hours) }
                                td { (r.timezone) }
                                td { @if terr.is_empty() { span.muted { "any" } } @else { (terr) } }
                                td { @if r.active { "yes" } @else { span.muted { "no (inactive)" } } }
                                td {
                                    div.actions {
                                        // The whole rep is sent back with only `active` flipped (PUT replaces).
                                        form data-api=(path) data-method="PUT" {
                                            input type="hidden" name="name" value=(r.name);
                                            @if let Some(e) = &r.email { input type="hidden" name="email" value=(e); }
                                            input type="hidden" name="capacity" data-type="int" value=(r.capacity);
                                            input type="hidden" name="working_hours" value=(r.working_hours);
                                            input type="hidden" name="timezone" value=(r.timezone);
                                            input type="hidden" name="territory" data-type="list" value=(terr);
                                            input type="hidden" name="active" data-type="bool" value=(if r.active { "false" } else { "true" });
                                            @if r.active {
                                                button.secondary type="submit" aria-label={"Deactivate " (r.name)} { "Deactivate" }
                                            } @else {
                                                button.secondary type="submit" aria-label={"Activate " (r.name)} { "Activate" }
                                            }
                                            p role="alert" {}
                                        }
                                        form data-api=(path) data-method="DELETE" data-confirm={"Delete rep " (r.name) "? Their leads keep them as owner."} {
                                            button.danger type="submit" aria-label={"Delete " (r.name)} { "Delete" }
                                            p role="alert" {}
                                        }
                                    }
                                }
                            }
                        }
                        @if reps.is_empty() { tr { td colspan="8" { "No reps yet." } } }
                    }
                }
            }
            @for r in reps {
                details {
                    summary { "Edit " (r.name) }
                    form.inline data-api=(format!("/api/v1/reps/{}", segment(&r.id))) data-method="PUT" aria-label={"Edit rep " (r.name)} {
                        (rep_fields(Some(r)))
                        button type="submit" aria-label={"Save " (r.name)} { "Save " (r.name) }
                        p role="alert" {}
                    }
                }
            }
            h3 { "Add a rep" }
            form.inline #new-rep data-api="/api/v1/reps/" data-api-template="/api/v1/reps/{id}" data-method="PUT" aria-label="Add a rep" {
                // No name: the id goes into the path, not the body.
                label { "Id" input data-path="id" required pattern="[A-Za-z0-9._-]+" placeholder="rep-7"; }
                (rep_fields(None))
                button type="submit" { "Add rep" }
                p role="alert" {}
            }
        }
    }
}

fn rule_summary(r: &Json) -> String {
    let list = |k: &str| -> Vec<String> {
        r[k].as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().map_or(x.to_string(), String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut conds = Vec::new();
    for (k, name) in [
        ("countries", "country"),
        ("regions", "region"),
        ("industries", "industry"),
        ("sources", "source"),
        ("grades", "grade"),
    ] {
        let v = list(k);
        if !v.is_empty() {
            conds.push(format!("{name} in {}", v.join(", ")));
        }
    }
    if let Some(n) = r["min_employees"].as_f64() {
        conds.push(format!("employees ≥ {n}"));
    }
    if let Some(n) = r["max_employees"].as_f64() {
        conds.push(format!("employees ≤ {n}"));
    }
    let strategy = match &r["strategy"] {
        Json::String(s) => s.clone(),
        Json::Null => "default".into(),
        other => other.to_string(),
    };
    format!(
        "when {} → {} ({strategy})",
        if conds.is_empty() {
            "any lead".into()
        } else {
            conds.join(" and ")
        },
        list("reps").join(", ")
    )
}

fn routing_section(rules: &[Json], reps: &[RepRow]) -> Markup {
    let text =
        serde_json::to_string_pretty(&Json::Array(rules.to_vec())).unwrap_or_else(|_| "[]".into());
    html! {
        section #routing aria-labelledby="h-routing" {
            h2 #h-routing { "Routing rules" }
            p.muted { "In order: the first rule that matches a lead and has an eligible rep (active, under capacity, within working hours) wins." }
            @if rules.is_empty() {
                p { "No rules: leads are not routed automatically." }
            } @else {
                ol #rules {
                    @for r in rules {
                        li { strong { (r["name"].as_str().unwrap_or("(unnamed)")) } ": " (rule_summary(r)) }
                    }
                }
            }
            form.stack data-api="/api/v1/routing/rules" data-method="PUT" aria-label="Edit routing rules" {
                label {
                    "Rules as JSON (an ordered array)"
                    textarea.code name="rules" data-type="json" data-keep-empty rows="14" spellcheck="false" { (text) }
                }
                p.muted {
                    "Fields: name, countries, regions, industries, sources, grades, min_employees, max_employees, reps, strategy. "
                    "Rep ids: "
                    @if reps.is_empty() { "none yet" } @else { (reps.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")) }
                    "."
                }
                div { button type="submit" { "Save rules" } }
                p role="alert" {}
            }
        }
    }
}

fn sla_section(policies: &[SlaPolicyRow]) -> Markup {
    html! {
        section #sla aria-labelledby="h-sla" {
            h2 #h-sla { "SLA policies" }
            div.table-wrap {
                table #sla-list {
                    thead { tr {
                        th scope="col" { "Id" } th scope="col" { "Stage" } th scope="col" class="num" { "First response within" }
                        th scope="col" { "On breach" } th scope="col" { "Escalate to" } th scope="col" { "Active" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for p in policies {
                            tr {
                                td { code { (p.id) } }
                                td { (p.stage) }
                                td.num { (p.minutes) " business min" }
                                td { (p.action) }
                                td { (p.escalate_to.as_deref().unwrap_or("—")) }
                                td { @if p.active { "yes" } @else { "no" } }
                                td {
                                    form data-api=(format!("/api/v1/sla/policies/{}", segment(&p.id))) data-method="DELETE" data-confirm={"Delete SLA policy " (p.id) "?"} {
                                        button.danger type="submit" aria-label={"Delete SLA policy " (p.id)} { "Delete" }
                                        p role="alert" {}
                                    }
                                }
                            }
                        }
                        @if policies.is_empty() { tr { td colspan="7" { "No SLA policies." } } }
                    }
                }
            }
            h3 { "Add or replace a policy" }
            form.inline #new-sla data-api="/api/v1/sla/policies/" data-api-template="/api/v1/sla/policies/{id}" data-method="PUT" aria-label="Add an SLA policy" {
                label { "Id" input data-path="id" required pattern="[A-Za-z0-9._-]+" placeholder="mql-2h"; }
                label { "Stage"
                    select name="stage" {
                        @for st in Stage::ALL.iter().filter(|s| crate::workers::sla_stage_ok(s.as_str())) {
                            option value=(st.as_str()) selected[st.as_str() == "mql"] { (st.as_str()) }
                        }
                    }
                }
                label { "Minutes (business time)" input name="minutes" type="number" min="1" data-type="int" required value="120"; }
                label { "On breach"
                    select name="action" {
                        option value="escalate" { "escalate (alert)" }
                        option value="reassign" { "reassign" }
                    }
                }
                label { "Escalate to (rep id or name)" input name="escalate_to"; }
                label { "Active" input name="active" type="checkbox" checked; }
                button type="submit" { "Save policy" }
                p role="alert" {}
            }
        }
    }
}

fn role_select(name: &str, default: &str) -> Markup {
    html! {
        select name=(name) {
            @for r in ["rep", "manager", "marketing", "admin"] { option value=(r) selected[r == default] { (r) } }
        }
    }
}

fn rep_select(reps: &[RepRow]) -> Markup {
    html! {
        select name="rep_id" {
            option value="" { "— (not a rep)" }
            @for r in reps { option value=(r.id) { (r.name) " (" (r.id) ")" } }
        }
    }
}

fn users_section(users: &[UserRow], reps: &[RepRow]) -> Markup {
    html! {
        section #users aria-labelledby="h-users" {
            h2 #h-users { "Users and roles" }
            div.table-wrap {
                table #user-list {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Rep" }
                        th scope="col" { "Created" } th scope="col" { "Password" }
                    } }
                    tbody {
                        @for u in users {
                            tr {
                                td { (u.name) }
                                td { (u.role) }
                                td { (u.rep_id.as_deref().unwrap_or("—")) }
                                td { (when(u.created_at)) }
                                td {
                                    form.inline data-api=(format!("/api/v1/users/{}/password", segment(&u.name))) data-method="PUT" data-then="none" data-done="Password set." {
                                        label { span.sr { "New password for " (u.name) } input name="password" type="password" autocomplete="new-password" minlength="8" required placeholder="new password"; }
                                        button.secondary type="submit" aria-label={"Set password of " (u.name)} { "Set" }
                                        p.notice role="status" {}
                                        p role="alert" {}
                                    }
                                }
                            }
                        }
                        @if users.is_empty() { tr { td colspan="5" { "No users yet." } } }
                    }
                }
            }
            h3 { "Add a user" }
            form.inline #new-user data-api="/api/v1/users" aria-label="Add a user" {
                label { "User name" input name="name" required autocomplete="off"; }
                label { "Role" (role_select("role", "rep")) }
                label { "Rep (for rep users)" (rep_select(reps)) }
                label { "Password (8+ characters)" input name="password" type="password" minlength="8" autocomplete="new-password"; }
                button type="submit" { "Add user" }
                p role="alert" {}
            }
        }
    }
}

fn tokens_section(tokens: &[TokenRow], reps: &[RepRow]) -> Markup {
    html! {
        section #tokens aria-labelledby="h-tokens" {
            h2 #h-tokens { "API tokens" }
            div.table-wrap {
                table #token-list {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Rep" }
                        th scope="col" { "Created" } th scope="col" { "Status" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for t in tokens {
                            tr {
                                td { (t.name) br; small.muted { code { (t.id) } } }
                                td { (t.role) }
                                td { (t.rep_id.as_deref().unwrap_or("—")) }
                                td { (when(t.created_at)) }
                                td { @if t.revoked { span.muted { "revoked" } } @else { "active" } }
                                td {
                                    @if !t.revoked {
                                        form data-api=(format!("/api/v1/tokens/{}", segment(&t.id))) data-method="DELETE" data-confirm={"Revoke the token " (t.name) "? Anything using it stops working."} {
                                            button.danger type="submit" aria-label={"Revoke token " (t.name)} { "Revoke" }
                                            p role="alert" {}
                                        }
                                    }
                                }
                            }
                        }
                        @if tokens.is_empty() { tr { td colspan="6" { "No tokens." } } }
                    }
                }
            }
            h3 { "Create a token" }
            form.inline #new-token-form data-api="/api/v1/tokens" data-then="none" data-show="token" data-show-in="new-token" aria-label="Create an API token" {
                label { "Name" input name="name" required placeholder="crm-sync"; }
                label { "Role" (role_select("role", "marketing")) }
                label { "Rep (for rep tokens)" (rep_select(reps)) }
                button type="submit" { "Create token" }
                p role="alert" {}
            }
            div.panel #new-token hidden role="status" {
                p { strong { "The new token (shown only this once; it is stored hashed):" } }
                p { code tabindex="-1" {} }
                p.muted { a href="/ui/admin#tokens" { "Reload" } " to see it in the list." }
            }
        }
    }
}

fn webhooks_section(hooks: &[(WebhookRow, Vec<DeliveryRow>)]) -> Markup {
    let events = |w: &WebhookRow| -> String {
        serde_json::from_str::<Vec<String>>(&w.events)
            .map(|v| v.join(", "))
            .unwrap_or_else(|_| w.events.clone())
    };
    html! {
        section #webhooks aria-labelledby="h-webhooks" {
            h2 #h-webhooks { "Webhooks" }
            div.table-wrap {
                table #webhook-list {
                    thead { tr {
                        th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "Active" }
                        th scope="col" { "Created" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for (w, _) in hooks {
                            tr {
                                td { code { (w.url) } }
                                td { (events(w)) }
                                td { @if w.active { "yes" } @else { "no" } }
                                td { (when(w.created_at)) }
                                td {
                                    form data-api=(format!("/api/v1/webhooks/{}", segment(&w.id))) data-method="DELETE" data-confirm={"Delete the webhook to " (w.url) " and its pending deliveries?"} {
                                        button.danger type="submit" aria-label={"Delete webhook to " (w.url)} { "Delete" }
                                        p role="alert" {}
                                    }
                                }
                            }
                        }
                        @if hooks.is_empty() { tr { td colspan="5" { "No webhooks." } } }
                    }
                }
            }
            @for (w, deliveries) in hooks {
                details {
                    summary { "Latest deliveries to " (w.url) " (" (deliveries.len()) ")" }
                    @if deliveries.is_empty() {
                        p.muted { "Nothing sent yet." }
                    } @else {
                        div.table-wrap {
                            table.deliveries {
                                thead { tr {
                                    th scope="col" { "Created" } th scope="col" { "Event" } th scope="col" { "Status" }
                                    th scope="col" class="num" { "Attempts" } th scope="col" { "Last answer" } th scope="col" { "Delivered / next try" }
                                } }
                                tbody {
                                    @for dl in deliveries {
                                        tr {
                                            td { (when(dl.created_at)) }
                                            td { (dl.event_type) }
                                            td {
                                                @match dl.status.as_str() {
                                                    "delivered" => span.good { "delivered" },
                                                    "failed" => span.bad { "failed (gave up)" },
                                                    other => span { (other) },
                                                }
                                            }
                                            td.num { (dl.attempts) }
                                            td {
                                                @if let Some(s) = dl.last_status { "HTTP " (s) " " }
                                                @if let Some(e) = &dl.last_error { small.muted { (e) } }
                                                @if dl.last_status.is_none() && dl.last_error.is_none() { "—" }
                                            }
                                            td {
                                                @match dl.delivered_at {
                                                    Some(at) => (when(at)),
                                                    None if dl.status == "pending" => { "next " (when(dl.next_attempt_at)) },
                                                    None => "—",
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Add a webhook" }
            form.inline #new-webhook data-api="/api/v1/webhooks" data-then="none" data-show="secret" data-show-in="new-secret" aria-label="Add a webhook" {
                label { "URL" input name="url" type="url" required placeholder="https://crm.example/hooks/leadq"; }
                label { "Events (comma separated)" input name="events" data-type="list" required value="lead.stage_changed"; }
                label { "Signing secret (blank: generate)" input name="secret" type="password" autocomplete="off"; }
                button type="submit" { "Add webhook" }
                p role="alert" {}
            }
            p.muted { "Events: " (WEBHOOK_EVENTS.join(", ")) ", or * for all." }
            div.panel #new-secret hidden role="status" {
                p { strong { "The signing secret (shown only this once):" } }
                p { code tabindex="-1" {} }
                p.muted { a href="/ui/admin#webhooks" { "Reload" } " to see the webhook in the list." }
            }
        }
    }
}

fn settings_section(a: &AdminOnly) -> Markup {
    html! {
        section #settings aria-labelledby="h-settings" {
            h2 #h-settings { "Settings" }
            form.inline data-api="/api/v1/settings" data-method="PUT" aria-label="Service settings" {
                label { "Reps see every lead" input name="reps_see_all" type="checkbox" checked[a.reps_see_all]; }
                label { "Framework required for SQL (or none)" input name="sql_framework" required value=(a.sql_framework); }
                label { "Websites allowed to send tracking (origins, comma separated)"
                    input name="tracking_origins" data-type="list" data-keep-empty
                        placeholder="https://www.example.com" value=(a.tracking_origins.join(", "));
                }
                button type="submit" { "Save settings" }
                p role="alert" {}
            }
        }
    }
}
