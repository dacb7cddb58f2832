//! `leadq explain`: every rule, its points, the decay of every event, the
//! grade and band thresholds, the priority and the framework status of one
//! lead.

use crate::cli::ExplainArgs;
use crate::output::pts;
use crate::pipeline;
use anyhow::{bail, Result};
use leadq_core::scoring::{EventContribution, RuleKind};
use leadq_ingest::time::format_timestamp;
use serde_json::json;

pub fn run(args: ExplainArgs) -> Result<()> {
    let mut o = String::new();
    let run = pipeline::run(&args.input, &args.common)?;
    let key = args.lead.trim();
    let Some(&idx) = run
        .batch
        .index
        .get(key)
        .or_else(|| run.batch.index.get(key.to_lowercase().as_str()))
    else {
        bail!("no lead '{key}' in {} (give a lead id or an email; rejected rows cannot be explained, see --rejects of qualify)", args.input.display());
    };
    let idx = idx as usize;
    let lead = &run.batch.leads[idx];
    let m = &run.model;
    let (score, trace) = m.explain(lead, run.events.view(idx), run.as_of);
    let ids: Vec<&str> = run.batch.leads.iter().map(|l| l.id.as_str()).collect();
    let rank = leadq_core::scoring::rank(m, &ids, &run.scores)
        .iter()
        .position(|&i| i == idx)
        .map_or(0, |p| p + 1);
    let fired = |kind: RuleKind, i: usize| {
        score
            .reasons
            .iter()
            .find(|r| r.kind == kind && r.rule as usize == i)
    };
    let per_rule = |i: usize| -> Vec<&EventContribution> {
        trace.iter().filter(|c| c.rule as usize == i).collect()
    };

    if args.json {
        let fit: Vec<_> = m.fit.iter().enumerate().map(|(i, r)| json!({"rule": r.name, "when": r.when.source(), "points": r.points, "fired": fired(RuleKind::Fit, i).is_some()})).collect();
        let eng: Vec<_> = m
            .engagement
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let reason = fired(RuleKind::Engagement, i);
                let events: Vec<_> = per_rule(i)
                    .iter()
                    .map(|c| json!({"at": format_timestamp(c.at), "age_days": (c.age_days * 100.0).round() / 100.0, "points_before_decay": c.raw_points, "decay_factor": c.decay_factor, "points": c.points, "capped": c.capped}))
                    .collect();
                json!({"rule": r.name, "points_per_event": r.points, "half_life_days": r.half_life_days, "cap": r.cap, "cap_window_days": r.cap_window_days, "total": reason.map_or(0.0, |x| x.points), "capped": reason.is_some_and(|x| x.capped), "events": events})
            })
            .collect();
        let fw: Vec<_> = m
            .frameworks
            .iter()
            .zip(&score.frameworks)
            .map(|(f, e)| json!({"framework": f.key, "status": e.status.to_string(), "satisfied": e.satisfied, "unknown": e.unknown(f), "states": e.states}))
            .collect();
        let out = json!({
            "lead_id": lead.id, "rank": rank, "of": run.batch.leads.len(), "as_of": format_timestamp(run.as_of), "model": m.to_string(),
            "fit": score.fit, "grade": score.grade.to_string(), "grade_thresholds": {"A": m.grade_thresholds[0], "B": m.grade_thresholds[1], "C": m.grade_thresholds[2]},
            "engagement": score.engagement, "band": score.band, "band_thresholds": {"1": m.band_thresholds[0], "2": m.band_thresholds[1], "3": m.band_thresholds[2]},
            "priority": score.priority.to_string(), "score": score.score, "mql": score.mql, "sql": score.sql,
            "fit_rules": fit, "engagement_rules": eng, "frameworks": fw,
        });
        outln!(o, "{}", serde_json::to_string_pretty(&out)?);
        return crate::output::emit(&o);
    }

    let name = lead.full_name().unwrap_or_default();
    outln!(
        o,
        "Lead {} {}— rank {rank} of {}",
        lead.id,
        if name.is_empty() {
            String::new()
        } else {
            format!("({name}) ")
        },
        run.batch.leads.len()
    );
    let company = [
        lead.company.name.as_ref().map(|n| n.to_string()),
        lead.company.domain.as_ref().map(|d| d.to_string()),
        lead.company.industry.as_ref().map(|i| i.to_string()),
        lead.company.employees.map(|e| format!("{e} employees")),
        lead.company.country.map(|c| c.to_string()),
    ];
    let company: Vec<String> = company.into_iter().flatten().collect();
    if !company.is_empty() {
        outln!(o, "Company: {}", company.join(", "));
    }
    if let Some(t) = &lead.contact.title {
        outln!(
            o,
            "Title: {t} (seniority {}, department {})",
            lead.contact.seniority.as_deref().unwrap_or("?"),
            lead.contact.department.as_deref().unwrap_or("?")
        );
    }
    outln!(o, "Model: {}; as of {}\n", m, format_timestamp(run.as_of));
    outln!(
        o,
        "Fit {} -> grade {} (A >= {}, B >= {}, C >= {})",
        fmt(score.fit),
        score.grade,
        m.grade_thresholds[0],
        m.grade_thresholds[1],
        m.grade_thresholds[2]
    );
    for (i, r) in m.fit.iter().enumerate() {
        let mark = if fired(RuleKind::Fit, i).is_some() {
            "✓"
        } else {
            "·"
        };
        outln!(
            o,
            "  {mark} {:<32} {:>6}   {}",
            r.name,
            if mark == "✓" {
                pts(r.points)
            } else {
                String::new()
            },
            r.when.source()
        );
    }
    outln!(
        o,
        "\nEngagement {} -> band {} (1 >= {}, 2 >= {}, 3 >= {})",
        fmt(score.engagement),
        score.band,
        m.band_thresholds[0],
        m.band_thresholds[1],
        m.band_thresholds[2]
    );
    for (i, r) in m.engagement.iter().enumerate() {
        let reason = fired(RuleKind::Engagement, i);
        let mark = if reason.is_some() { "✓" } else { "·" };
        let mut rule_desc = format!("{} per event", pts(r.points));
        if let Some(h) = r.half_life_days {
            rule_desc.push_str(&format!(", half-life {h} d"));
        }
        if let Some(c) = r.cap {
            rule_desc.push_str(&format!(", cap {c}"));
            if let Some(w) = r.cap_window_days {
                rule_desc.push_str(&format!(" per {w} d"));
            }
        }
        if r.is_aggregate() {
            rule_desc = format!(
                "{} ({})",
                pts(r.points),
                r.value
                    .as_ref()
                    .map_or("when it holds".to_string(), |v| format!("× {}", v.source()))
            );
        }
        outln!(
            o,
            "  {mark} {:<32} {:>8}   {rule_desc}",
            r.name,
            reason.map_or(String::new(), |x| pts(x.points))
        );
        for c in per_rule(i) {
            outln!(
                o,
                "      {}  {:>6.1} d old  {:>6} × {:.3} = {:>7}{}",
                format_timestamp(c.at),
                c.age_days,
                pts(c.raw_points),
                c.decay_factor,
                pts(c.points),
                if c.capped { "  (capped)" } else { "" }
            );
        }
    }
    outln!(
        o,
        "\nPriority {} (score {}); MQL: {}{}",
        score.priority,
        fmt(score.score),
        yes(score.mql),
        score
            .sql
            .map_or(String::new(), |s| format!("; SQL: {}", yes(s)))
    );
    outln!(o, "  mql rule: {}", m.mql.source());
    if let Some(s) = &m.sql {
        outln!(o, "  sql rule: {}", s.source());
    }
    for ((f, e), &offset) in m
        .frameworks
        .iter()
        .zip(&score.frameworks)
        .zip(&m.answer_offsets)
    {
        outln!(
            o,
            "\n{}: {} ({} of {} criteria satisfied)",
            f.key,
            e.status,
            e.satisfied,
            f.criteria.len()
        );
        for (ci, (c, st)) in f.criteria.iter().zip(&e.states).enumerate() {
            let answer = lead
                .answers
                .get(offset + ci)
                .map(|v| v.to_string())
                .unwrap_or_default();
            outln!(
                o,
                "  {:<28} {:<14} {}",
                c.name,
                format!("{st:?}").to_lowercase(),
                answer
            );
        }
        if e.unknown_count > 0 {
            outln!(o, "  still to ask: {}", e.unknown(f).join(", "));
        }
    }
    crate::output::emit(&o)
}

fn fmt(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.2}")
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
