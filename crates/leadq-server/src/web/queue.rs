//! The queue: leads best first, with filters, search and each lead's SLA
//! time left. Reps see their own leads; managers and marketing see everyone's.

use super::{blocking, encode, layout, span, Page, Viewer};
use crate::auth::Role;
use crate::service::Service;
use crate::AppState;
use axum::extract::{Query, State};
use leadq_core::lifecycle::Stage;
use leadq_store::{LeadFilter, LeadRow, LeadSort, RepRow};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Deserialize, Default, Clone)]
pub struct QueueQuery {
    stage: Option<String>,
    grade: Option<String>,
    source: Option<String>,
    owner: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// A person's display name from the lead's stored fields.
pub fn person_name(lead: &LeadRow) -> Option<String> {
    let fields: Json = serde_json::from_str(&lead.fields).ok()?;
    let get = |k: &str| {
        fields
            .get(k)
            .and_then(Json::as_str)
            .map(str::trim)
            .unwrap_or("")
    };
    let full = format!("{} {}", get("first_name"), get("last_name"));
    let full = full.trim();
    if !full.is_empty() {
        return Some(full.to_string());
    }
    Some(get("name"))
        .filter(|n| !n.is_empty())
        .map(String::from)
}

/// How much of a lead's first-response SLA is left (negative: overdue).
pub fn sla_left(
    lead: &LeadRow,
    policies: &[leadq_store::SlaPolicyRow],
    reps: &[RepRow],
    now: i64,
) -> Option<i64> {
    if lead.first_response_at.is_some() {
        return None;
    }
    let policy = policies
        .iter()
        .filter(|p| p.active && p.stage == lead.stage)
        .min_by_key(|p| p.minutes)?;
    Some(crate::workers::sla_due_at(lead, policy.minutes, reps) - now)
}

pub fn sla_cell(left: Option<i64>) -> Markup {
    html! {
        @match left {
            None => span.muted { "—" },
            Some(ms) if ms < 0 => span.bad { "overdue " (span(ms)) },
            Some(ms) => span { (span(ms)) " left" },
        }
    }
}

pub fn priority_badge(lead: &LeadRow) -> Markup {
    html! {
        @if let Some(s) = &lead.score {
            span class={"badge p-" (s.priority.chars().next().unwrap_or('D').to_ascii_lowercase())} { (s.priority) }
        } @else {
            span.muted { "unscored" }
        }
    }
}

struct QueueData {
    leads: Vec<LeadRow>,
    /// Predicted probability by lead id, for the leads shown.
    probabilities: std::collections::HashMap<String, f64>,
    next_cursor: Option<String>,
    reps: Vec<RepRow>,
    policies: Vec<leadq_store::SlaPolicyRow>,
    total: i64,
    own_only: bool,
    now: i64,
}

pub async fn page(State(state): State<AppState>, v: Viewer, Query(q): Query<QueueQuery>) -> Page {
    v.require(&[Role::Rep, Role::Manager, Role::Marketing])?;
    let sort = match q.sort.as_deref() {
        Some("score") => LeadSort::Score,
        Some("created") => LeadSort::Created,
        _ => LeadSort::Priority,
    };
    // Without a choice the queue shows the leads still to work.
    let stage_choice = q.stage.clone().unwrap_or_else(|| "open".into());
    let mut filter = LeadFilter {
        stage: Stage::parse(&stage_choice).map(|s| s.as_str().to_string()),
        open_only: stage_choice == "open",
        owner: nonempty(&q.owner),
        grade: nonempty(&q.grade).map(|g| g.to_uppercase()),
        priority: None,
        source: nonempty(&q.source),
        mql: None,
        search: nonempty(&q.q),
        sort,
        cursor: nonempty(&q.cursor),
        limit: 50,
    };
    let who = v.who.clone();
    let data = blocking(&state, move |s| {
        let own_only = who.role == Role::Rep && !Service::new(s).reps_see_all()?;
        if who.role == Role::Rep && (own_only || filter.owner.is_none()) {
            filter.owner = Some(who.rep_id.clone().unwrap_or_else(|| "\u{0}none".into()));
        }
        let page = s.store.list_leads(&filter).or_else(|e| match e {
            // A stale cursor starts again from the top.
            leadq_store::StoreError::NotFound(_) => s.store.list_leads(&LeadFilter {
                cursor: None,
                ..filter.clone()
            }),
            other => Err(other),
        })?;
        let ids: Vec<String> = page.leads.iter().map(|l| l.id.clone()).collect();
        let probabilities = s
            .store
            .predictions_of(&ids)?
            .into_iter()
            .map(|p| (p.lead_id, p.probability))
            .collect();
        Ok(QueueData {
            probabilities,
            leads: page.leads,
            next_cursor: page.next_cursor,
            reps: s.store.list_reps()?,
            policies: s.store.list_sla_policies()?,
            total: s.store.count_leads()?,
            own_only,
            now: s.clock.now_ms(),
        })
    })
    .await?;
    let rep_name = |id: &str| {
        data.reps
            .iter()
            .find(|r| r.id == id)
            .map_or(id.to_string(), |r| r.name.clone())
    };
    let selected = |a: Option<&str>, b: &str| a.is_some_and(|a| a.eq_ignore_ascii_case(b));
    let next_href = data.next_cursor.as_ref().map(|c| {
        let mut parts = vec![
            format!("cursor={}", encode(c)),
            format!("stage={}", encode(&stage_choice)),
        ];
        for (k, val) in [
            ("grade", &q.grade),
            ("source", &q.source),
            ("owner", &q.owner),
            ("q", &q.q),
            ("sort", &q.sort),
        ] {
            if let Some(val) = nonempty(val) {
                parts.push(format!("{k}={}", encode(&val)));
            }
        }
        format!("/ui?{}", parts.join("&"))
    });
    let title = if v.who.role == Role::Rep {
        "My leads"
    } else {
        "Lead queue"
    };
    let body = html! {
        h1 { (title) }
        form.filters method="get" action="/ui" role="search" aria-label="Filter leads" {
            label { "Search" input type="search" name="q" value=[q.q.as_deref()] placeholder="email or company (press /)" data-hotkey="/"; }
            label { "Stage"
                select name="stage" {
                    option value="open" selected[stage_choice == "open"] { "Open (not closed)" }
                    option value="" selected[stage_choice.is_empty()] { "Any stage" }
                    @for st in Stage::ALL {
                        option value=(st.as_str()) selected[stage_choice == st.as_str()] { (st.as_str()) }
                    }
                }
            }
            label { "Grade"
                select name="grade" {
                    option value="" { "Any grade" }
                    @for g in ["A", "B", "C", "D"] {
                        option value=(g) selected[selected(q.grade.as_deref(), g)] { (g) }
                    }
                }
            }
            label { "Source" input name="source" value=[q.source.as_deref()] placeholder="any"; }
            @if !data.own_only {
                label { "Owner"
                    select name="owner" {
                        option value="" { "Everyone" }
                        @for r in &data.reps {
                            option value=(r.id) selected[selected(q.owner.as_deref(), &r.id)] { (r.name) }
                        }
                    }
                }
            }
            label { "Sort"
                select name="sort" {
                    option value="priority" selected[selected(q.sort.as_deref(), "priority")] { "Priority" }
                    option value="score" selected[selected(q.sort.as_deref(), "score")] { "Score" }
                    option value="created" selected[selected(q.sort.as_deref(), "created")] { "Newest" }
                }
            }
            button type="submit" { "Apply" }
            a href="/ui" { "Reset" }
        }
        p.muted { (data.leads.len()) " shown of " (data.total) " leads in the store. Keys: j / k move, Enter opens, / searches." }
        div.table-wrap {
            table.queue #queue {
                caption.sr { (title) ", best first" }
                thead { tr {
                    th scope="col" { "Priority" }
                    th scope="col" { "Lead" }
                    th scope="col" { "Company" }
                    th scope="col" { "Stage" }
                    th scope="col" { "Grade" }
                    th scope="col" class="num" { "Score" }
                    th scope="col" class="num" { "Engagement" }
                    th scope="col" class="num" { "Probability" }
                    th scope="col" { "Owner" }
                    th scope="col" { "SLA" }
                    th scope="col" { "Source" }
                } }
                tbody {
                    @for l in &data.leads {
                        @let href = format!("/ui/leads/{}", encode(&l.id));
                        tr data-href=(href) {
                            td { (priority_badge(l)) }
                            td {
                                a href=(href) { (person_name(l).or_else(|| l.email.clone()).unwrap_or_else(|| l.id.clone())) }
                                @if let Some(e) = &l.email { br; small.muted { (e) } }
                            }
                            td { (l.company.as_deref().unwrap_or("—")) }
                            td { (l.stage) }
                            td { (l.score.as_ref().map_or("—", |s| s.grade.as_str())) }
                            td.num { (l.score.as_ref().map_or("—".to_string(), |s| format!("{:.0}", s.score))) }
                            td.num { (l.score.as_ref().map_or("—".to_string(), |s| format!("{:.0}", s.engagement))) }
                            td.num { (data.probabilities.get(&l.id).map_or("—".to_string(), |p| format!("{:.0}%", p * 100.0))) }
                            td { (l.owner.as_deref().map(rep_name).unwrap_or_else(|| "unassigned".into())) }
                            td { (sla_cell(sla_left(l, &data.policies, &data.reps, data.now))) }
                            td { (l.source.as_deref().unwrap_or("—")) }
                        }
                    }
                    @if data.leads.is_empty() {
                        tr { td colspan="11" { "No leads match these filters." } }
                    }
                }
            }
        }
        @if let Some(h) = next_href { p { a rel="next" href=(h) { "Next page →" } } }
    };
    Ok(layout(&v, title, "queue", body))
}
