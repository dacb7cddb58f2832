//! Two kinds of numbers: the sales metrics of the product (conversion,
//! response time, qualification rates, cost per qualified lead, sales
//! cycle, scoring accuracy) and the operational counters Prometheus scrapes.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use leadq_store::LeadRow;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Method, route and status of requests counted together.
type RequestKey = (String, String, u16);

/// Operational counters.
#[derive(Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
    pub leads_written: AtomicU64,
    pub events_accepted: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub webhook_delivered: AtomicU64,
    pub webhook_failed_attempts: AtomicU64,
    pub sla_breaches: AtomicU64,
    pub leads_rescored: AtomicU64,
    pub erasures: AtomicU64,
}

impl Stats {
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            let e = m
                .entry((method.to_string(), route.to_string(), status))
                .or_insert((0, 0.0));
            e.0 += 1;
            e.1 += seconds;
        }
    }
}

/// The Prometheus text exposition of the counters.
pub fn prometheus(state: &AppState) -> String {
    let s = &state.stats;
    let mut out = String::new();
    out.push_str("# HELP leadq_http_requests_total HTTP requests by route and status.\n# TYPE leadq_http_requests_total counter\n");
    let mut secs = String::from("# HELP leadq_http_request_seconds_sum Time spent serving requests.\n# TYPE leadq_http_request_seconds_sum counter\n");
    if let Ok(m) = s.requests.lock() {
        for ((method, route, status), (n, t)) in m.iter() {
            let _ = writeln!(out, "leadq_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
            let _ = writeln!(secs, "leadq_http_request_seconds_sum{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {t:.6}");
        }
    }
    out.push_str(&secs);
    let counters: [(&str, &str, &AtomicU64); 8] = [
        (
            "leadq_leads_written_total",
            "Leads created or updated.",
            &s.leads_written,
        ),
        (
            "leadq_events_accepted_total",
            "Events stored.",
            &s.events_accepted,
        ),
        (
            "leadq_events_duplicate_total",
            "Events ignored as repeats of an idempotency key.",
            &s.events_duplicate,
        ),
        (
            "leadq_webhook_delivered_total",
            "Webhook deliveries acknowledged by the receiver.",
            &s.webhook_delivered,
        ),
        (
            "leadq_webhook_failed_attempts_total",
            "Webhook delivery attempts that failed.",
            &s.webhook_failed_attempts,
        ),
        (
            "leadq_sla_breaches_total",
            "SLA breaches detected.",
            &s.sla_breaches,
        ),
        (
            "leadq_leads_rescored_total",
            "Leads re-scored by a model publish.",
            &s.leads_rescored,
        ),
        (
            "leadq_erasures_total",
            "People erased (on request or by retention) by this process.",
            &s.erasures,
        ),
    ];
    for (name, help, c) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            c.load(Ordering::Relaxed)
        );
    }
    if let Ok(t) = state
        .store
        .task_counts(i64::MIN, i64::MAX, state.clock.now_ms())
    {
        let _ = writeln!(
            out,
            "# HELP leadq_tasks_open Open tasks.\n# TYPE leadq_tasks_open gauge\nleadq_tasks_open {}\n# HELP leadq_tasks_overdue Open tasks past due.\n# TYPE leadq_tasks_overdue gauge\nleadq_tasks_overdue {}",
            t.open, t.overdue
        );
    }
    if let Ok(n) = state.store.count_leads() {
        let _ = writeln!(
            out,
            "# HELP leadq_leads Leads stored.\n# TYPE leadq_leads gauge\nleadq_leads {n}"
        );
    }
    let _ = writeln!(out, "# HELP leadq_rescore_backlog Leads waiting for the background re-scorer.\n# TYPE leadq_rescore_backlog gauge\nleadq_rescore_backlog {}", state.rescore_backlog());
    let v = state.model().map_or(0, |m| m.version());
    let _ = writeln!(out, "# HELP leadq_model_version Published scoring model version.\n# TYPE leadq_model_version gauge\nleadq_model_version {v}");
    out
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[rank.min(sorted.len() - 1)])
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| round(a as f64 / b as f64, 4))
}

/// The metrics of one group of leads. `spend` is what was spent on them.
pub fn summarize(leads: &[&LeadRow], spend: Option<f64>) -> Json {
    let n = leads.len();
    let won = leads.iter().filter(|l| l.stage == "won").count();
    let lost = leads.iter().filter(|l| l.stage == "lost").count();
    let mql = leads.iter().filter(|l| l.mql_at.is_some()).count();
    let sql = leads.iter().filter(|l| l.sql_at.is_some()).count();
    let mut response: Vec<f64> = leads
        .iter()
        .filter_map(|l| {
            l.first_response_at
                .map(|r| (r - l.created_at).max(0) as f64 / 60_000.0)
        })
        .collect();
    response.sort_by(f64::total_cmp);
    let mut cycle: Vec<f64> = leads
        .iter()
        .filter(|l| l.stage == "won")
        .filter_map(|l| {
            l.closed_at
                .map(|c| (c - l.created_at).max(0) as f64 / 86_400_000.0)
        })
        .collect();
    cycle.sort_by(f64::total_cmp);
    let closed: Vec<&&LeadRow> = leads
        .iter()
        .filter(|l| (l.stage == "won" || l.stage == "lost") && l.score.is_some())
        .collect();
    let scores: Vec<f64> = closed.iter().map(|l| l.total()).collect();
    let outcomes: Vec<bool> = closed.iter().map(|l| l.stage == "won").collect();
    let accuracy = if outcomes.contains(&true) && outcomes.contains(&false) {
        json!({
            "closed_leads": closed.len(),
            "auc": leadq_core::metrics::roc_auc(&scores, &outcomes).map(|a| round(a, 4)),
            "top20_share": leadq_core::metrics::top_share(&scores, &outcomes, 0.2).map(|a| round(a, 4)),
        })
    } else {
        json!({ "closed_leads": closed.len(), "auc": null, "top20_share": null })
    };
    json!({
        "leads": n,
        "won": won,
        "lost": lost,
        "mql": mql,
        "sql": sql,
        "conversion_rate": ratio(won, n),
        "qualification_rate": { "mql_per_lead": ratio(mql, n), "sql_per_mql": ratio(sql, mql) },
        "response_time_minutes": {
            "responded": response.len(),
            "p50": percentile(&response, 0.5).map(|x| round(x, 1)),
            "p90": percentile(&response, 0.9).map(|x| round(x, 1)),
        },
        "sales_cycle_days": {
            "won": cycle.len(),
            "median": percentile(&cycle, 0.5).map(|x| round(x, 1)),
            "mean": (!cycle.is_empty()).then(|| round(cycle.iter().sum::<f64>() / cycle.len() as f64, 1)),
        },
        "spend": spend.map(|s| round(s, 2)),
        "cost_per_qualified_lead": spend.and_then(|s| (mql > 0).then(|| round(s / mql as f64, 2))),
        "scoring_accuracy": accuracy,
    })
}

/// `GET /api/v1/metrics`: totals over leads created in `[from, to)` and,
/// with `group_by`, the same per source, campaign, owner or score band.
pub fn business_metrics(
    state: &AppState,
    from: i64,
    to: i64,
    group_by: Option<&str>,
) -> ApiResult<Json> {
    if to <= from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let rows = state.store.metric_rows(from, to)?;
    let spend_rows: Vec<_> = state
        .store
        .list_spend()?
        .into_iter()
        .filter(|s| s.period_start >= from && s.period_start < to)
        .collect();
    let total_spend: f64 = spend_rows.iter().map(|s| s.amount).sum();
    let all: Vec<&LeadRow> = rows.iter().collect();
    let mut out = json!({
        "from": crate::clock::rfc3339(from),
        "to": crate::clock::rfc3339(to),
        "total": summarize(&all, (!spend_rows.is_empty()).then_some(total_spend)),
    });
    if let Some(g) = group_by {
        let key = |l: &LeadRow| -> String {
            match g {
                "source" => l.source.clone(),
                "campaign" => l.campaign.clone(),
                "owner" => l.owner.clone(),
                _ => l.score.as_ref().map(|s| s.band.to_string()),
            }
            .unwrap_or_else(|| "(none)".into())
        };
        if !["source", "campaign", "owner", "band"].contains(&g) {
            return Err(ApiError::invalid(
                "group_by",
                "must be one of source, campaign, owner, band",
            ));
        }
        let mut groups: BTreeMap<String, Vec<&LeadRow>> = BTreeMap::new();
        for l in &rows {
            groups.entry(key(l)).or_default().push(l);
        }
        let mut list = Vec::new();
        for (k, ls) in groups {
            let spend: Option<f64> = match g {
                "source" => {
                    let v: Vec<f64> = spend_rows
                        .iter()
                        .filter(|s| s.source.eq_ignore_ascii_case(&k))
                        .map(|s| s.amount)
                        .collect();
                    (!v.is_empty()).then(|| v.iter().sum())
                }
                "campaign" => {
                    let v: Vec<f64> = spend_rows
                        .iter()
                        .filter(|s| s.campaign.eq_ignore_ascii_case(&k))
                        .map(|s| s.amount)
                        .collect();
                    (!v.is_empty()).then(|| v.iter().sum())
                }
                _ => None,
            };
            let mut m = summarize(&ls, spend);
            m["group"] = json!(k);
            list.push(m);
        }
        out["group_by"] = json!(g);
        out["groups"] = Json::Array(list);
    }
    out["sla_breaches"] = json!(state.store.list_breaches(from, to)?.len());
    let t = state.store.task_counts(from, to, state.clock.now_ms())?;
    out["tasks"] = json!({
        "open": t.open,
        "overdue": t.overdue,
        "done": t.done,
        "done_on_time": t.done_on_time,
        "on_time_rate": (t.done > 0).then(|| t.done_on_time as f64 / t.done as f64),
    });
    Ok(out)
}

/// The metrics of leads created in `[from, to)` per period of `period_ms`
/// (the last period may run past `to`), as (period start, [`summarize`]).
/// Each period's spend is the spend whose `period_start` falls in it, the
/// same rule [`business_metrics`] applies to its whole range. One pass over
/// `rows`, so a long history costs one scan, not one query per period.
pub fn series(
    rows: &[LeadRow],
    spend: &[leadq_store::SpendRow],
    from: i64,
    to: i64,
    period_ms: i64,
) -> Vec<(i64, Json)> {
    if period_ms <= 0 || to <= from {
        return Vec::new();
    }
    let n = ((to - from + period_ms - 1) / period_ms) as usize;
    let mut buckets: Vec<Vec<&LeadRow>> = vec![Vec::new(); n];
    let mut spent: Vec<Option<f64>> = vec![None; n];
    let index = |at: i64| -> Option<usize> {
        (at >= from && at < to).then(|| ((at - from) / period_ms) as usize)
    };
    for l in rows {
        if let Some(i) = index(l.created_at) {
            buckets[i].push(l);
        }
    }
    for s in spend {
        if let Some(i) = index(s.period_start) {
            *spent[i].get_or_insert(0.0) += s.amount;
        }
    }
    buckets
        .iter()
        .zip(spent)
        .enumerate()
        .map(|(i, (b, s))| (from + i as i64 * period_ms, summarize(b, s)))
        .collect()
}
