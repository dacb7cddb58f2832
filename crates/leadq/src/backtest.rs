//! `leadq backtest`: what a rules model (and, side by side, another) would
//! have done on leads whose outcome is known.

use crate::cli::{BacktestArgs, UsageError};
use crate::pipeline::{self, Run};
use anyhow::{bail, Context, Result};
use leadq_core::metrics;
use leadq_core::Grade;
use rustc_hash::FxHashMap;
use serde_json::{json, Value};

fn is_positive(v: &str, positive: Option<&str>) -> Option<bool> {
    let f = v.trim().to_lowercase();
    if f.is_empty() {
        return None;
    }
    if let Some(p) = positive {
        return Some(f == p.trim().to_lowercase());
    }
    match f.as_str() {
        "1" | "yes" | "y" | "true" | "won" | "converted" | "closed won" => Some(true),
        "0" | "no" | "n" | "false" | "lost" | "not converted" | "closed lost" => Some(false),
        _ => None,
    }
}

/// Labels per lead of `run`: from the data's own column or an outcomes file.
fn labels(run: &Run, args: &BacktestArgs) -> Result<Vec<Option<bool>>> {
    let positive = args.positive.as_deref();
    if let Some(col) = run
        .batch
        .headers
        .iter()
        .position(|h| h == &args.label || h.eq_ignore_ascii_case(&args.label))
    {
        return Ok(run
            .batch
            .raw
            .iter()
            .map(|r| r.get(col).and_then(|v| is_positive(v, positive)))
            .collect());
    }
    let Some(path) = &args.outcomes else {
        return Err(UsageError(format!(
            "column '{}' is not in {} (columns: {}); give --outcomes FILE to join one on lead id",
            args.label,
            args.data.display(),
            run.batch.headers.join(", ")
        ))
        .into());
    };
    let bytes = pipeline::read_file(path, "outcomes")?;
    let table =
        leadq_ingest::reader::read_table(&bytes, leadq_ingest::InputFormat::detect(path, &bytes))
            .with_context(|| format!("cannot read {}", path.display()))?;
    let key = |h: &str| leadq_ingest::mapping::header_key(h);
    let id_col = table
        .headers
        .iter()
        .position(|h| ["leadid", "id", "email"].contains(&key(h).as_str()))
        .with_context(|| format!("{} has no lead_id column", path.display()))?;
    let label_col = table
        .headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case(&args.label))
        .with_context(|| format!("{} has no column '{}'", path.display(), args.label))?;
    let mut by_lead: FxHashMap<u32, bool> = FxHashMap::default();
    for r in &table.rows {
        let (Some(id), Some(v)) = (r.fields.get(id_col), r.fields.get(label_col)) else {
            continue;
        };
        if let (Some(&li), Some(b)) = (run.batch.index.get(id.trim()), is_positive(v, positive)) {
            // A merged lead converted if any of its records did.
            let e = by_lead.entry(li).or_insert(false);
            *e |= b;
        }
    }
    Ok((0..run.batch.leads.len() as u32)
        .map(|i| by_lead.get(&i).copied())
        .collect())
}

fn evaluate(run: &Run, labels: &[Option<bool>]) -> Value {
    let mut scores = Vec::new();
    let mut fits = Vec::new();
    let mut engs = Vec::new();
    let mut conv = Vec::new();
    let mut mqls = Vec::new();
    for (s, l) in run.scores.iter().zip(labels) {
        if let Some(c) = l {
            scores.push(s.score);
            fits.push(s.fit);
            engs.push(s.engagement);
            conv.push(*c);
            mqls.push(s.mql);
        }
    }
    let n = conv.len();
    let positives = conv.iter().filter(|&&c| c).count();
    let mql_count = mqls.iter().filter(|&&m| m).count();
    let mql_converted = mqls.iter().zip(&conv).filter(|(m, c)| **m && **c).count();
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            Value::Null
        } else {
            json!((a as f64 / b as f64 * 10_000.0).round() / 10_000.0)
        }
    };
    let round =
        |x: Option<f64>| x.map_or(Value::Null, |v| json!((v * 10_000.0).round() / 10_000.0));
    let mut by_grade = serde_json::Map::new();
    for g in Grade::ALL {
        let (mut leads, mut won) = (0, 0);
        for (s, l) in run.scores.iter().zip(labels) {
            if let Some(c) = l {
                if s.grade == g {
                    leads += 1;
                    won += *c as usize;
                }
            }
        }
        by_grade.insert(
            g.to_string(),
            json!({"leads": leads, "converted": won, "rate": ratio(won, leads)}),
        );
    }
    let mut by_priority = serde_json::Map::new();
    for g in Grade::ALL {
        for band in 1..=4u8 {
            let p = leadq_core::Priority { grade: g, band };
            let (mut leads, mut won) = (0, 0);
            for (s, l) in run.scores.iter().zip(labels) {
                if let (Some(c), true) = (l, s.priority == p) {
                    leads += 1;
                    won += *c as usize;
                }
            }
            by_priority.insert(
                p.to_string(),
                json!({"leads": leads, "converted": won, "rate": ratio(won, leads)}),
            );
        }
    }
    json!({
        "model": run.model.to_string(),
        "leads": n,
        "converted": positives,
        "conversion_rate": ratio(positives, n),
        "auc": round(metrics::roc_auc(&scores, &conv)),
        "auc_fit": round(metrics::roc_auc(&fits, &conv)),
        "auc_engagement": round(metrics::roc_auc(&engs, &conv)),
        "lift_top10": round(metrics::lift(&scores, &conv, 0.1)),
        "top20_share": round(metrics::top_share(&scores, &conv, 0.2)),
        "mql": mql_count,
        "mql_rate": ratio(mql_count, n),
        "mql_precision": ratio(mql_converted, mql_count),
        "mql_recall": ratio(mql_converted, positives),
        "by_grade": by_grade,
        "by_priority": by_priority,
    })
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if x.fract() == 0.0 {
                format!("{}", x as i64)
            } else {
                format!("{x:.3}")
            }
        }
        other => other.to_string(),
    }
}

pub fn run(args: BacktestArgs) -> Result<()> {
    let mut o = String::new();
    let as_of = pipeline::parse_as_of(args.read.as_of.as_deref())?;
    let mapping =
        pipeline::load_mapping(args.read.mapping.as_deref(), args.read.preset.as_deref())?;
    let mut results = Vec::new();
    let mut series = Vec::new();
    for path in std::iter::once(&args.model).chain(args.against.as_ref()) {
        let model = pipeline::load_model(path)?;
        let run = pipeline::load_and_score(
            &args.data,
            model,
            &mapping,
            args.read.events.as_deref(),
            as_of,
            args.read.input_format.as_deref(),
            // The label column is read from each lead's input record.
            true,
        )?;
        let labels = labels(&run, &args)?;
        if labels.iter().all(Option::is_none) {
            bail!("no lead of {} has a readable '{}' value (1/0, yes/no, true/false, won/lost, or --positive VALUE)", args.data.display(), args.label);
        }
        if args.report.is_some() {
            let (scores, labels): (Vec<f64>, Vec<bool>) = run
                .scores
                .iter()
                .zip(&labels)
                .filter_map(|(s, l)| l.map(|c| (s.score, c)))
                .unzip();
            series.push(crate::report::Series {
                name: format!("{} — {}", run.model, path.display()),
                scores,
                labels,
                probabilities: false,
            });
        }
        let mut v = evaluate(&run, &labels);
        v["file"] = json!(path.display().to_string());
        v["unlabelled"] = json!(labels.iter().filter(|l| l.is_none()).count());
        v["rejected_rows"] = json!(run.batch.rejects.len());
        results.push(v);
    }
    if let Some(path) = &args.report {
        let mut notes = vec![
            ("data".to_string(), args.data.display().to_string()),
            ("label".to_string(), args.label.clone()),
        ];
        if let Some(o) = &args.outcomes {
            notes.push(("outcomes".to_string(), o.display().to_string()));
        }
        if let Some(e) = &args.read.events {
            notes.push(("events".to_string(), e.display().to_string()));
        }
        if let Some(a) = &args.read.as_of {
            notes.push(("as of".to_string(), a.clone()));
        }
        notes.push((
            "score".to_string(),
            "rules score (fit × fit weight + engagement × engagement weight)".to_string(),
        ));
        let title = if series.len() > 1 {
            format!("leadq backtest: two models on {}", args.data.display())
        } else {
            format!("leadq backtest: {}", args.data.display())
        };
        crate::report::write_report(path, &title, &series, &notes)?;
        if !args.json {
            eprintln!("report written to {}", path.display());
        }
    }
    if args.json {
        let out = if results.len() == 1 {
            results.remove(0)
        } else {
            json!({"model": results[0], "against": results[1]})
        };
        outln!(o, "{}", serde_json::to_string_pretty(&out)?);
        return crate::output::emit(&o);
    }
    let names: Vec<String> = results
        .iter()
        .map(|r| r["file"].as_str().unwrap_or("").to_string())
        .collect();
    // Columns wide enough for the longest model path, with a gap.
    let w = names
        .iter()
        .map(|n| n.chars().count() + 3)
        .max()
        .unwrap_or(0)
        .max(28);
    out!(o, "{:<22}", "");
    for n in &names {
        out!(o, "{n:>w$}");
    }
    outln!(o);
    for (key, label) in [
        ("leads", "leads with outcome"),
        ("converted", "converted"),
        ("conversion_rate", "conversion rate"),
        ("auc", "ROC AUC (score)"),
        ("auc_fit", "ROC AUC (fit only)"),
        ("auc_engagement", "ROC AUC (engagement)"),
        ("lift_top10", "lift in top 10%"),
        ("top20_share", "conversions in top 20%"),
        ("mql", "MQL volume"),
        ("mql_rate", "MQL rate"),
        ("mql_precision", "MQL precision"),
        ("mql_recall", "MQL recall"),
        ("rejected_rows", "rejected rows"),
    ] {
        out!(o, "{label:<22}");
        for r in &results {
            out!(o, "{:>w$}", show(&r[key]));
        }
        outln!(o);
    }
    outln!(o, "\nconversion by grade (leads / rate):");
    for g in ["A", "B", "C", "D"] {
        out!(o, "  {g:<20}");
        for r in &results {
            let c = &r["by_grade"][g];
            out!(
                o,
                "{:>w$}",
                format!("{} / {}", show(&c["leads"]), show(&c["rate"]))
            );
        }
        outln!(o);
    }
    outln!(o, "\nconversion by priority (leads / rate):");
    for g in ["A", "B", "C", "D"] {
        for b in 1..=4 {
            let p = format!("{g}{b}");
            out!(o, "  {p:<20}");
            for r in &results {
                let c = &r["by_priority"][&p];
                out!(
                    o,
                    "{:>w$}",
                    format!("{} / {}", show(&c["leads"]), show(&c["rate"]))
                );
            }
            outln!(o);
        }
    }
    crate::output::emit(&o)
}
