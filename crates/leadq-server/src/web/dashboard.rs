//! The dashboard: the six metrics of the product over weekly periods, the
//! funnel, conversion by score band and by source, the cumulative gain of
//! the score, response times and SLA breaches.
//!
//! Everything comes from one `metric_rows` scan of the leads created in the
//! chosen range (plus the spend and breach lists), grouped in memory, so
//! the page costs the same few queries on a large store as on a small one.
//! Each chart is followed by its numbers in a table, for people who would
//! rather read than look and for screen readers.

use super::charts::{self, Bar, Frame};
use super::{blocking, encode, layout, raw, span, Page, Viewer};
use crate::auth::Role;
use crate::metrics::{series, summarize};
use crate::AppState;
use axum::extract::{Query, State};
use leadq_core::lifecycle::Stage;
use leadq_store::{BreachRow, LeadRow};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

const DAY: i64 = 86_400_000;
const WEEK: i64 = 7 * DAY;
/// More periods than this would not fit a small chart; longer ranges use
/// periods of several weeks instead.
const MAX_PERIODS: i64 = 104;
/// Sources shown in the chart (the table lists more).
const CHART_SOURCES: usize = 12;
const TABLE_SOURCES: usize = 50;

#[derive(Deserialize, Default)]
pub struct DashQuery {
    weeks: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The Monday 00:00 UTC starting the week of `ms` (1970-01-01 was a Thursday).
fn monday(ms: i64) -> i64 {
    let d = ms.div_euclid(DAY);
    (d - (d + 3).rem_euclid(7)) * DAY
}

/// An RFC 3339 instant, or a date (its start in UTC). `end_of_day` moves a
/// bare date to the end of that day, so `to=2026-11-30` includes the 30th.
fn parse_instant(raw: &str, end_of_day: bool) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(t) = raw.parse::<jiff::Timestamp>() {
        return Some(t.as_millisecond());
    }
    let d = raw.parse::<jiff::civil::Date>().ok()?;
    let start = d
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp()
        .as_millisecond();
    Some(if end_of_day { start + DAY } else { start })
}

/// The range shown: `[from, to)` cut into periods of `period` starting on a
/// Monday, plus a note when the query could not be followed.
#[derive(Clone)]
struct Range {
    from: i64,
    to: i64,
    period: i64,
    weeks: i64,
    note: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn range_of(q: &DashQuery, now: i64) -> Range {
    let mut note = None;
    let weeks = match q.weeks.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => 12,
        Some(w) => match w.parse::<i64>() {
            Ok(w) if (1..=520).contains(&w) => w,
            _ => {
                note = Some(format!(
                    "'{w}' is not a number of weeks from 1 to 520; showing 12."
                ));
                12
            }
        },
    };
    let (from_raw, to_raw) = (given(&q.from), given(&q.to));
    if from_raw.is_some() || to_raw.is_some() {
        let to = match to_raw.map(|t| (t, parse_instant(t, true))) {
            None => Some(now + 1),
            Some((_, Some(t))) => Some(t),
            Some((t, None)) => {
                note = Some(format!("'{t}' is not a date (YYYY-MM-DD) or an instant."));
                None
            }
        };
        let from = match from_raw.map(|f| (f, parse_instant(f, false))) {
            None => to.map(|t| t - weeks * WEEK),
            Some((_, Some(f))) => Some(f),
            Some((f, None)) => {
                note = Some(format!("'{f}' is not a date (YYYY-MM-DD) or an instant."));
                None
            }
        };
        match (from, to) {
            (Some(from), Some(to)) if to > from => {
                let start = monday(from);
                let n = (to - start + WEEK - 1) / WEEK;
                let per = ((n + MAX_PERIODS - 1) / MAX_PERIODS).max(1);
                return Range {
                    from: start,
                    to,
                    period: per * WEEK,
                    weeks: n,
                    note,
                };
            }
            (Some(_), Some(_)) => {
                note = Some("'to' must be after 'from'; showing the last weeks.".into())
            }
            _ => {}
        }
    }
    let this_week = monday(now);
    let per = ((weeks + MAX_PERIODS - 1) / MAX_PERIODS).max(1);
    Range {
        from: this_week - (weeks - 1) * WEEK,
        to: this_week + WEEK,
        period: per * WEEK,
        weeks,
        note,
    }
}

/// Everything the page draws, computed off the async threads.
struct Data {
    total: Json,
    periods: Vec<(i64, Json)>,
    by_source: Vec<(String, Json)>,
    by_band: Vec<(String, Json)>,
    stages: Vec<(&'static str, usize)>,
    /// Cumulative gain: (share of scored leads, share of won leads).
    gain: Vec<(f64, f64)>,
    top20: Option<f64>,
    scored: usize,
    scored_won: usize,
    response: Vec<(&'static str, usize)>,
    unanswered: usize,
    breaches_per_period: Vec<usize>,
    breaches: Vec<BreachRow>,
    breach_count: usize,
}

/// Response-time buckets: (label, upper bound in minutes).
const RESPONSE_BUCKETS: &[(&str, f64)] = &[
    ("< 5 min", 5.0),
    ("5–15 min", 15.0),
    ("15–60 min", 60.0),
    ("1–4 h", 240.0),
    ("4–24 h", 1440.0),
    ("1–3 d", 4320.0),
    ("> 3 d", f64::INFINITY),
];

fn group_by(rows: &[LeadRow], key: impl Fn(&LeadRow) -> String) -> BTreeMap<String, Vec<&LeadRow>> {
    let mut out: BTreeMap<String, Vec<&LeadRow>> = BTreeMap::new();
    for l in rows {
        out.entry(key(l)).or_default().push(l);
    }
    out
}

/// The gain curve of the score over `rows`: leads ranked best score first;
/// tied scores form one step, and the straight line across it is the
/// pro-rata share the top-20% figure also uses. At most ~200 points.
fn gain_curve(rows: &[LeadRow]) -> (Vec<(f64, f64)>, usize, usize) {
    let mut scored: Vec<(f64, bool)> = rows
        .iter()
        .filter_map(|l| l.score.as_ref().map(|s| (s.score, l.stage == "won")))
        .filter(|(s, _)| s.is_finite())
        .collect();
    let n = scored.len();
    let won = scored.iter().filter(|(_, w)| *w).count();
    if n == 0 || won == 0 {
        return (Vec::new(), n, won);
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut steps = vec![(0.0, 0.0)];
    let (mut taken, mut caught, mut i) = (0usize, 0usize, 0usize);
    while i < n {
        let mut j = i;
        while j + 1 < n && scored[j + 1].0 == scored[i].0 {
            j += 1;
        }
        taken += j - i + 1;
        caught += scored[i..=j].iter().filter(|(_, w)| *w).count();
        steps.push((taken as f64 / n as f64, caught as f64 / won as f64));
        i = j + 1;
    }
    let every = steps.len().div_ceil(200).max(1);
    let last = steps.len() - 1;
    let curve = steps
        .iter()
        .enumerate()
        .filter(|(k, _)| k % every == 0 || *k == last)
        .map(|(_, p)| *p)
        .collect();
    (curve, n, won)
}

fn compute(s: &AppState, r: &Range) -> crate::error::ApiResult<Data> {
    let rows = s.store.metric_rows(r.from, r.to)?;
    let spend: Vec<_> = s
        .store
        .list_spend()?
        .into_iter()
        .filter(|x| x.period_start >= r.from && x.period_start < r.to)
        .collect();
    let all: Vec<&LeadRow> = rows.iter().collect();
    let total_spend = (!spend.is_empty()).then(|| spend.iter().map(|x| x.amount).sum::<f64>());
    let total = summarize(&all, total_spend);
    let periods = series(&rows, &spend, r.from, r.to, r.period);

    let mut by_source: Vec<(String, Json)> = group_by(&rows, |l| {
        l.source.clone().unwrap_or_else(|| "(none)".into())
    })
    .into_iter()
    .map(|(k, ls)| {
        // Spend is matched to a source regardless of case, as the API does.
        let v: Vec<f64> = spend
            .iter()
            .filter(|x| x.source.eq_ignore_ascii_case(&k))
            .map(|x| x.amount)
            .collect();
        let m = summarize(&ls, (!v.is_empty()).then(|| v.iter().sum()));
        (k, m)
    })
    .collect();
    by_source.sort_by(|a, b| {
        let n = |m: &Json| m["leads"].as_u64().unwrap_or(0);
        n(&b.1).cmp(&n(&a.1)).then_with(|| a.0.cmp(&b.0))
    });

    let mut bands: BTreeMap<i64, Vec<&LeadRow>> = BTreeMap::new();
    let mut unscored: Vec<&LeadRow> = Vec::new();
    for l in &rows {
        match &l.score {
            Some(sc) => bands.entry(sc.band).or_default().push(l),
            None => unscored.push(l),
        }
    }
    let mut by_band: Vec<(String, Json)> = bands
        .into_iter()
        .map(|(b, ls)| (format!("band {b}"), summarize(&ls, None)))
        .collect();
    if !unscored.is_empty() {
        by_band.push(("unscored".into(), summarize(&unscored, None)));
    }

    let stages = Stage::ALL
        .iter()
        .map(|st| {
            let name = st.as_str();
            (name, rows.iter().filter(|l| l.stage == name).count())
        })
        .collect();

    let (gain, scored, scored_won) = gain_curve(&rows);
    let top20 = {
        let (sc, won): (Vec<f64>, Vec<bool>) = rows
            .iter()
            .filter_map(|l| l.score.as_ref().map(|s| (s.score, l.stage == "won")))
            .unzip();
        leadq_core::metrics::top_share(&sc, &won, 0.2)
    };

    let mut response = vec![0usize; RESPONSE_BUCKETS.len()];
    let mut unanswered = 0;
    for l in &rows {
        match l.first_response_at {
            Some(at) => {
                let m = (at - l.created_at).max(0) as f64 / 60_000.0;
                let i = RESPONSE_BUCKETS
                    .iter()
                    .position(|(_, upper)| m < *upper)
                    .unwrap_or(RESPONSE_BUCKETS.len() - 1);
                response[i] += 1;
            }
            None => unanswered += 1,
        }
    }
    let response = RESPONSE_BUCKETS
        .iter()
        .zip(response)
        .map(|((label, _), n)| (*label, n))
        .collect();

    let mut breaches = s.store.list_breaches(r.from, r.to)?;
    let mut breaches_per_period = vec![0usize; periods.len()];
    for b in &breaches {
        let i = ((b.detected_at - r.from) / r.period) as usize;
        if let Some(slot) = breaches_per_period.get_mut(i) {
            *slot += 1;
        }
    }
    let breach_count = breaches.len();
    breaches.sort_by_key(|b| std::cmp::Reverse((b.detected_at, b.seq)));
    breaches.truncate(20);

    Ok(Data {
        total,
        periods,
        by_source,
        by_band,
        stages,
        gain,
        top20,
        scored,
        scored_won,
        response,
        unanswered,
        breaches_per_period,
        breaches,
        breach_count,
    })
}

// ------------------------------------------------------------ formatting

fn num(m: &Json, pointer: &str) -> Option<f64> {
    m.pointer(pointer)
        .and_then(Json::as_f64)
        .filter(|x| x.is_finite())
}

fn count(m: &Json, pointer: &str) -> u64 {
    m.pointer(pointer).and_then(Json::as_u64).unwrap_or(0)
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{:.1}%", x * 100.0))
}

fn minutes(x: Option<f64>) -> String {
    x.map_or("—".into(), |m| span((m * 60_000.0) as i64))
}

fn days(x: Option<f64>) -> String {
    x.map_or("—".into(), |d| format!("{d:.1} d"))
}

fn money(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:.2}"))
}

fn auc(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:.2}"))
}

fn day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "—".into())
}

fn short_day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%b %d").to_string())
        .unwrap_or_else(|_| "—".into())
}

/// A share written with its parts: "40.0% (2 of 5)".
fn share(a: u64, b: u64) -> String {
    if b == 0 {
        "—".into()
    } else {
        format!("{:.1}% ({a} of {b})", a as f64 / b as f64 * 100.0)
    }
}

/// One of the six metrics: how to read it from a summary and write it.
struct Metric {
    key: &'static str,
    label: &'static str,
    pointer: &'static str,
    fmt: fn(Option<f64>) -> String,
    /// Writes a chart value (never missing there).
    tick: fn(f64) -> String,
    detail: fn(&Json) -> String,
}

const METRICS: &[Metric] = &[
    Metric {
        key: "conversion",
        label: "Lead conversion rate",
        pointer: "/conversion_rate",
        fmt: pct,
        tick: |x| format!("{:.0}%", x * 100.0),
        detail: |m| format!("{} won of {} leads", count(m, "/won"), count(m, "/leads")),
    },
    Metric {
        key: "response",
        label: "Response time (median)",
        pointer: "/response_time_minutes/p50",
        fmt: minutes,
        tick: |m| span((m * 60_000.0) as i64),
        detail: |m| {
            format!(
                "p90 {} · {} responded",
                minutes(num(m, "/response_time_minutes/p90")),
                count(m, "/response_time_minutes/responded")
            )
        },
    },
    Metric {
        key: "accuracy",
        label: "Scoring accuracy (ROC AUC)",
        pointer: "/scoring_accuracy/auc",
        fmt: auc,
        tick: |x| format!("{x:.2}"),
        detail: |m| match num(m, "/scoring_accuracy/top20_share") {
            Some(s) => format!(
                "top 20% of scores hold {:.0}% of conversions · {} closed",
                s * 100.0,
                count(m, "/scoring_accuracy/closed_leads")
            ),
            None => "needs both won and lost scored leads".into(),
        },
    },
    Metric {
        key: "qualification",
        label: "Qualification rate (MQL / lead)",
        pointer: "/qualification_rate/mql_per_lead",
        fmt: pct,
        tick: |x| format!("{:.0}%", x * 100.0),
        detail: |m| {
            format!(
                "SQL / MQL {} · {} MQL, {} SQL",
                pct(num(m, "/qualification_rate/sql_per_mql")),
                count(m, "/mql"),
                count(m, "/sql")
            )
        },
    },
    Metric {
        key: "cpql",
        label: "Cost per qualified lead",
        pointer: "/cost_per_qualified_lead",
        fmt: money,
        tick: |x| format!("{x:.0}"),
        detail: |m| match num(m, "/spend") {
            Some(s) => format!("spend {s:.2} over {} MQL", count(m, "/mql")),
            None => "no spend imported for this period".into(),
        },
    },
    Metric {
        key: "cycle",
        label: "Sales cycle (median)",
        pointer: "/sales_cycle_days/median",
        fmt: days,
        tick: |d| format!("{d:.0} d"),
        detail: |m| {
            format!(
                "mean {} · {} won",
                days(num(m, "/sales_cycle_days/mean")),
                count(m, "/sales_cycle_days/won")
            )
        },
    },
];

/// A chart and, folded under it, the same numbers as a table.
fn figure(svg: String, table: Markup) -> Markup {
    html! {
        figure {
            (raw(svg))
            details {
                summary { "Numbers" }
                div.table-wrap { (table) }
            }
        }
    }
}

fn summary_cells(m: &Json) -> Markup {
    html! {
        td.num { (count(m, "/leads")) }
        td.num { (count(m, "/won")) }
        td.num { (pct(num(m, "/conversion_rate"))) }
        td.num { (count(m, "/mql")) }
        td.num { (pct(num(m, "/qualification_rate/mql_per_lead"))) }
        td.num { (pct(num(m, "/qualification_rate/sql_per_mql"))) }
        td.num { (minutes(num(m, "/response_time_minutes/p50"))) }
        td.num { (auc(num(m, "/scoring_accuracy/auc"))) }
        td.num { (money(num(m, "/spend"))) }
        td.num { (money(num(m, "/cost_per_qualified_lead"))) }
        td.num { (days(num(m, "/sales_cycle_days/median"))) }
    }
}

fn summary_head(first: &str) -> Markup {
    html! {
        thead { tr {
            th scope="col" { (first) }
            th scope="col" class="num" { "Leads" }
            th scope="col" class="num" { "Won" }
            th scope="col" class="num" { "Conversion" }
            th scope="col" class="num" { "MQL" }
            th scope="col" class="num" { "MQL / lead" }
            th scope="col" class="num" { "SQL / MQL" }
            th scope="col" class="num" { "Response p50" }
            th scope="col" class="num" { "AUC" }
            th scope="col" class="num" { "Spend" }
            th scope="col" class="num" { "Cost / MQL" }
            th scope="col" class="num" { "Cycle median" }
        } }
    }
}

/// Conversion bars of groups, each written as "rate (won of leads)".
fn conversion_bars(groups: &[(String, Json)]) -> Vec<Bar> {
    groups
        .iter()
        .map(|(k, m)| {
            Bar::new(
                k.clone(),
                num(m, "/conversion_rate").unwrap_or(0.0),
                share(count(m, "/won"), count(m, "/leads")),
            )
        })
        .collect()
}

pub async fn page(State(state): State<AppState>, v: Viewer, Query(q): Query<DashQuery>) -> Page {
    v.require(&[Role::Manager, Role::Marketing])?;
    let r = range_of(&q, state.clock.now_ms());
    let range = r.clone();
    let data = blocking(&state, move |s| compute(s, &range)).await?;
    Ok(layout(&v, "Dashboard", "dashboard", render(&r, &data, &v)))
}

fn render(r: &Range, d: &Data, v: &Viewer) -> Markup {
    let labels: Vec<String> = d.periods.iter().map(|(at, _)| short_day(*at)).collect();
    let period_name = if r.period == WEEK {
        "week".to_string()
    } else {
        format!("{}-week period", r.period / WEEK)
    };
    let t = &d.total;
    let leads = count(t, "/leads");
    let funnel = [
        ("Leads", leads),
        ("MQL", count(t, "/mql")),
        ("SQL", count(t, "/sql")),
        ("Won", count(t, "/won")),
    ];
    let funnel_bars: Vec<Bar> = funnel
        .iter()
        .map(|(k, n)| Bar::new(*k, *n as f64, format!("{n}")))
        .collect();
    let stage_bars: Vec<Bar> = d
        .stages
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| Bar::new(*k, *n as f64, n.to_string()))
        .collect();
    let source_bars = conversion_bars(&d.by_source[..d.by_source.len().min(CHART_SOURCES)]);
    let band_bars = conversion_bars(&d.by_band);
    let response_bars: Vec<Bar> = d
        .response
        .iter()
        .map(|(k, n)| Bar::new(*k, *n as f64, n.to_string()))
        .collect();
    let responded: usize = d.response.iter().map(|(_, n)| n).sum();
    let breach_bars: Vec<Bar> = labels
        .iter()
        .zip(&d.breaches_per_period)
        .map(|(k, n)| Bar::new(k.clone(), *n as f64, n.to_string()))
        .collect();
    let weeks_choice = if r.note.is_none() && r.period == WEEK {
        r.weeks
    } else {
        0
    };
    html! {
        h1 { "Dashboard" }
        form.filters method="get" action="/ui/dashboard" aria-label="Period" {
            label { "Last"
                select name="weeks" {
                    @for w in [4, 8, 12, 26, 52] {
                        option value=(w) selected[weeks_choice == w] { (w) " weeks" }
                    }
                    // A number of weeks typed into the address stays chosen.
                    @if weeks_choice > 0 && ![4, 8, 12, 26, 52].contains(&weeks_choice) {
                        option value=(weeks_choice) selected { (weeks_choice) " weeks" }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        form.filters method="get" action="/ui/dashboard" aria-label="Dates" {
            label { "From" input type="date" name="from" value=(day(r.from)); }
            label { "To" input type="date" name="to" value=(day(r.to - 1)); }
            button.secondary type="submit" { "Show dates" }
        }
        @if let Some(n) = &r.note { p role="alert" { (n) } }
        p.muted {
            "Leads created " (day(r.from)) " to " (day(r.to - 1)) " (UTC), by " (period_name)
            " of creation: " (leads) " leads."
            @if v.is(&[Role::Manager]) { " SLA breaches are counted when detected." }
        }

        h2 { "The six metrics" }
        div.kpis {
            @for m in METRICS {
                @let values: Vec<Option<f64>> = d.periods.iter().map(|(_, p)| num(p, m.pointer)).collect();
                @let frame = Frame { title: &format!("{} per {}", m.label, period_name), x_label: "period start", y_label: "" };
                div.kpi id=(format!("kpi-{}", m.key)) {
                    div.label { (m.label) }
                    div.value data-metric=(m.key) { ((m.fmt)(num(t, m.pointer))) }
                    div.muted { small { ((m.detail)(t)) } }
                    (raw(charts::line(&frame, &labels, &values, &|x| (m.tick)(x))))
                }
            }
        }
        details {
            summary { "The metrics per " (period_name) }
            div.table-wrap {
                table #periods {
                    caption.sr { "Metrics per " (period_name) " of lead creation" }
                    (summary_head("Period start"))
                    tbody {
                        @for (at, m) in &d.periods {
                            tr { th scope="row" { (day(*at)) } (summary_cells(m)) }
                        }
                        tr { th scope="row" { "All" } (summary_cells(t)) }
                    }
                }
            }
        }

        div.grid {
            section.panel aria-labelledby="h-funnel" {
                h2 #h-funnel { "Funnel" }
                p.muted { "Leads created in the period that reached each stage." }
                (figure(
                    charts::columns(&Frame { title: "Funnel: leads reaching each stage", x_label: "stage reached", y_label: "leads" }, if leads == 0 { &[] } else { &funnel_bars }),
                    html! {
                        table #funnel {
                            thead { tr { th scope="col" { "Stage reached" } th scope="col" class="num" { "Leads" } th scope="col" class="num" { "Of all leads" } } }
                            tbody {
                                @for (k, n) in &funnel {
                                    tr { th scope="row" { (k) } td.num { (n) } td.num { (pct((leads > 0).then(|| *n as f64 / leads as f64))) } }
                                }
                            }
                        }
                    }
                ))
                h3 { "Where they are now" }
                (figure(
                    charts::columns(&Frame { title: "Leads by current stage", x_label: "stage", y_label: "leads" }, &stage_bars),
                    html! {
                        table #stages {
                            thead { tr { th scope="col" { "Stage" } th scope="col" class="num" { "Leads" } } }
                            tbody { @for (k, n) in &d.stages { tr { th scope="row" { (k) } td.num { (n) } } } }
                        }
                    }
                ))
            }
            section.panel aria-labelledby="h-band" {
                h2 #h-band { "Conversion by score band" }
                (figure(
                    charts::hbars(&Frame { title: "Conversion rate by score band", x_label: "won / leads", y_label: "band" }, &band_bars),
                    html! { table #by-band { (summary_head("Band")) tbody { @for (k, m) in &d.by_band { tr { th scope="row" { (k) } (summary_cells(m)) } } } } }
                ))
            }
            section.panel aria-labelledby="h-source" {
                h2 #h-source { "Conversion by source" }
                @if d.by_source.len() > CHART_SOURCES { p.muted { "The " (CHART_SOURCES) " sources with the most leads; the table lists up to " (TABLE_SOURCES) "." } }
                (figure(
                    charts::hbars(&Frame { title: "Conversion rate by source", x_label: "won / leads", y_label: "source" }, &source_bars),
                    html! { table #by-source { (summary_head("Source")) tbody { @for (k, m) in d.by_source.iter().take(TABLE_SOURCES) { tr { th scope="row" { (k) } (summary_cells(m)) } } } } }
                ))
            }
            section.panel aria-labelledby="h-gain" {
                h2 #h-gain { "Cumulative gain of the score" }
                p.muted {
                    "Scored leads ranked best score first (x) against the share of won leads among them (y). "
                    "The further the solid line runs above the dashed diagonal, the better the score ranks."
                }
                (figure(
                    charts::gain(&Frame { title: "Cumulative gain: share of conversions by share of leads, best score first", x_label: "share of scored leads", y_label: "share of won leads" }, &d.gain, d.top20.map(|s| (0.2, s))),
                    html! {
                        table #gain {
                            tbody {
                                tr { th scope="row" { "Scored leads" } td.num { (d.scored) } }
                                tr { th scope="row" { "Won among them" } td.num { (d.scored_won) } }
                                tr { th scope="row" { "Share of conversions in the top 20%" } td.num { (pct(d.top20)) } }
                                tr { th scope="row" { "ROC AUC (closed leads)" } td.num { (auc(num(t, "/scoring_accuracy/auc"))) } }
                            }
                        }
                    }
                ))
            }
            section.panel aria-labelledby="h-response" {
                h2 #h-response { "Response time" }
                p.muted { (responded) " leads answered; " (d.unanswered) " not yet." }
                (figure(
                    charts::columns(&Frame { title: "Time to first response", x_label: "time from creation to first response", y_label: "leads" }, if responded == 0 { &[] } else { &response_bars }),
                    html! { table #response { thead { tr { th scope="col" { "Time to first response" } th scope="col" class="num" { "Leads" } } } tbody { @for (k, n) in &d.response { tr { th scope="row" { (k) } td.num { (n) } } } } } }
                ))
            }
            section.panel aria-labelledby="h-sla" {
                h2 #h-sla { "SLA breaches" }
                p.muted { (d.breach_count) @if d.breach_count == 1 { " breach" } @else { " breaches" } " detected in the period." }
                (figure(
                    charts::columns(&Frame { title: &format!("SLA breaches per {period_name}"), x_label: "period start", y_label: "breaches" }, if d.breach_count == 0 { &[] } else { &breach_bars }),
                    html! { table { thead { tr { th scope="col" { "Period start" } th scope="col" class="num" { "Breaches" } } } tbody { @for (k, n) in labels.iter().zip(&d.breaches_per_period) { tr { th scope="row" { (k) } td.num { (n) } } } } } }
                ))
                @if !d.breaches.is_empty() {
                    h3 { "Latest" }
                    div.table-wrap {
                        table #breaches {
                            thead { tr {
                                th scope="col" { "Lead" } th scope="col" { "Stage" } th scope="col" { "Owner" }
                                th scope="col" { "Due" } th scope="col" { "Detected" } th scope="col" { "Action" }
                            } }
                            tbody {
                                @for b in &d.breaches {
                                    tr {
                                        td { a href=(format!("/ui/leads/{}", encode(&b.lead_id))) { (b.lead_id) } }
                                        td { (b.stage) }
                                        td { (b.owner.as_deref().unwrap_or("—")) }
                                        td { (super::when(b.due_at)) }
                                        td { (super::when(b.detected_at)) }
                                        td { (b.action) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_in_utc() {
        // 2026-11-04 is a Wednesday; its week starts on Monday 2026-11-02.
        let wed = parse_instant("2026-11-04T15:30:00Z", false).unwrap();
        assert_eq!(day(monday(wed)), "2026-11-02");
        let mon = parse_instant("2026-11-02", false).unwrap();
        assert_eq!(monday(mon), mon);
        assert_eq!(day(monday(mon - 1)), "2026-10-26");
    }

    #[test]
    fn the_default_range_is_whole_weeks_ending_with_this_one() {
        let now = parse_instant("2026-11-04T15:30:00Z", false).unwrap();
        let r = range_of(&DashQuery::default(), now);
        assert_eq!((r.to - r.from) / WEEK, 12);
        assert_eq!(day(r.to), "2026-11-09");
        assert_eq!(r.period, WEEK);
        assert!(r.note.is_none());
    }

    #[test]
    fn bad_or_reversed_ranges_fall_back_with_a_note_and_long_ones_widen_periods() {
        let now = parse_instant("2026-11-04", false).unwrap();
        let q = |w: Option<&str>, f: Option<&str>, t: Option<&str>| DashQuery {
            weeks: w.map(String::from),
            from: f.map(String::from),
            to: t.map(String::from),
        };
        let r = range_of(&q(Some("0"), None, None), now);
        assert!(r.note.is_some() && (r.to - r.from) / WEEK == 12);
        let r = range_of(&q(None, Some("2026-12-01"), Some("2026-11-01")), now);
        assert!(r.note.unwrap().contains("after"));
        let r = range_of(&q(None, Some("yesterday"), None), now);
        assert!(r.note.unwrap().contains("yesterday"));
        // Five years of weeks are shown in periods of several weeks.
        let r = range_of(&q(None, Some("2021-11-01"), Some("2026-11-01")), now);
        assert!(r.period > WEEK && (r.to - r.from) / r.period <= MAX_PERIODS);
        // A date-only `to` includes that day.
        let r = range_of(&q(None, Some("2026-10-05"), Some("2026-10-11")), now);
        assert_eq!(day(r.to), "2026-10-12");
    }
}
