//! `leadq train`, `leadq predict` and `leadq evaluate`: the predictive
//! score from the command line. The learning itself is in `leadq-predict`;
//! this file reads files, checks usage and prints.

use crate::cli::{AlgorithmArg, EvaluateArgs, PredictArgs, TrainArgs, UsageError};
use crate::output::emit;
use crate::pipeline::read_file;
use anyhow::{Context, Result};
use leadq_predict::calibrate::CalibrationMethod;
use leadq_predict::features::parse_label;
use leadq_predict::metrics::Metrics;
use leadq_predict::train::{self, CvReport};
use leadq_predict::{leakage, split, Algorithm, Model, TextTable, TrainOptions};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::Instant;

fn read_text_table(path: &Path, what: &str) -> Result<TextTable> {
    let bytes = read_file(path, what)?;
    let table =
        leadq_ingest::reader::read_table(&bytes, leadq_ingest::InputFormat::detect(path, &bytes))
            .with_context(|| format!("cannot read {}", path.display()))?;
    if let Some((row, line, why)) = table.broken.first() {
        eprintln!(
            "warning: {} rows of {} skipped (first: row {row}, line {line}: {why})",
            table.broken.len(),
            path.display()
        );
    }
    Ok(TextTable {
        headers: table.headers,
        rows: table
            .rows
            .into_iter()
            .map(|r| r.fields.iter().map(str::to_string).collect())
            .collect(),
    })
}

fn label_of(
    table: &TextTable,
    path: &Path,
    label: &str,
    positive: Option<&str>,
) -> Result<Vec<bool>> {
    if table.column_index(label).is_none() {
        return Err(UsageError(format!(
            "column '{label}' is not in {} (columns: {})",
            path.display(),
            table.headers.join(", ")
        ))
        .into());
    }
    Ok(parse_label(table, label, positive)?)
}

fn metrics_json(obj: &mut Map<String, Value>, m: &Metrics, suffix: &str) {
    for (name, v) in Metrics::NAMES.iter().zip(m.values()) {
        obj.insert(format!("{name}{suffix}"), json!(v));
    }
}

fn metrics_text(out: &mut String, mean: &Metrics, std: Option<&Metrics>) {
    for (i, (name, v)) in Metrics::NAMES.iter().zip(mean.values()).enumerate() {
        match std {
            Some(s) => outln!(out, "  {name:<12} {v:.4} ± {:.4}", s.values()[i]),
            None => outln!(out, "  {name:<12} {v:.4}"),
        }
    }
}

pub fn train(args: TrainArgs) -> Result<()> {
    let started = Instant::now();
    if let Some(k) = args.cv {
        if k < 2 {
            return Err(UsageError(format!("--cv needs at least 2 folds, not {k}")).into());
        }
    }
    if let Some(f) = args.holdout {
        if !(f > 0.0 && f < 1.0) {
            return Err(UsageError(format!("--holdout must be between 0 and 1, not {f}")).into());
        }
    }
    let table = read_text_table(&args.data, "data")?;
    let y = label_of(&table, &args.data, &args.label, args.positive.as_deref())?;
    for c in args.exclude.iter().chain(&args.allow_leaky) {
        if table.column_index(c).is_none() {
            return Err(
                UsageError(format!("column '{c}' is not in {}", args.data.display())).into(),
            );
        }
    }
    let mut exclude = args.exclude.clone();
    exclude.push(args.label.clone());
    let leakage::Guarded {
        features: fs,
        x,
        report: guard,
    } = leakage::guarded_features(&table, &y, &exclude, &args.allow_leaky)?;
    for f in &guard.findings {
        let verdict = if f.allowed {
            "allowed by --allow-leaky"
        } else {
            "refused"
        };
        eprintln!(
            "leakage guard: column '{}' {verdict}: {}",
            f.column,
            f.reasons.join("; ")
        );
    }
    if !guard.refused().is_empty() {
        eprintln!("  (pass --allow-leaky COL to use a refused column anyway)");
    }
    let opts = TrainOptions {
        algorithm: match args.algorithm {
            AlgorithmArg::Gbdt => Algorithm::Gbdt,
            AlgorithmArg::Logistic => Algorithm::Logistic,
        },
        seed: args.seed,
        calibration: match args.calibration {
            crate::cli::CalibrationArg::Isotonic => CalibrationMethod::Isotonic,
            crate::cli::CalibrationArg::Platt => CalibrationMethod::Platt,
            crate::cli::CalibrationArg::None => CalibrationMethod::None,
        },
        ..TrainOptions::default()
    };
    let take = |idx: &[usize]| idx.iter().map(|&i| y[i]).collect::<Vec<bool>>();
    // The predictions the metrics come from (held-out rows only), for --report.
    let (mean, std, mut model, scheme, held_out) = if let Some(frac) = args.holdout {
        let (tr, te) = split::holdout(&y, frac, args.seed);
        let model = train::fit(&fs, &x.take(&tr), &take(&tr), &opts)?;
        let p = train::predict_matrix(&model, &x.take(&te));
        let yt = take(&te);
        let m = Metrics::compute(&p, &yt)?;
        (
            m,
            None,
            model,
            format!("holdout {:.0}% ({} rows)", frac * 100.0, te.len()),
            (p, yt),
        )
    } else {
        let k = args.cv.unwrap_or(5);
        let (CvReport { mean, std, oof, .. }, model) =
            train::cross_validate_and_fit(&fs, &x, &y, k, &opts)?;
        (
            mean,
            Some(std),
            model,
            format!("{k}-fold stratified cross-validation"),
            (oof, y.clone()),
        )
    };
    model.label = args.label.clone();
    model.positive = args.positive.clone();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.out {
        std::fs::write(path, model.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        let algorithm = match opts.algorithm {
            Algorithm::Gbdt => "gbdt",
            Algorithm::Logistic => "logistic",
        };
        let evaluated = if args.holdout.is_some() {
            "holdout predictions"
        } else {
            "out-of-fold predictions"
        };
        let (p, yt) = held_out;
        let notes = [
            ("data".to_string(), args.data.display().to_string()),
            ("label".to_string(), args.label.clone()),
            ("algorithm".to_string(), algorithm.to_string()),
            ("evaluation".to_string(), format!("{scheme}, {evaluated}")),
            ("seed".to_string(), args.seed.to_string()),
            (
                "rows".to_string(),
                format!(
                    "{} ({} converted)",
                    y.len(),
                    y.iter().filter(|&&t| t).count()
                ),
            ),
            ("features".to_string(), fs.features.len().to_string()),
        ];
        crate::report::write_report(
            path,
            &format!("leadq train: {}", args.data.display()),
            &[crate::report::Series {
                name: format!("{algorithm} ({evaluated})"),
                scores: p,
                labels: yt,
                probabilities: true,
            }],
            &notes,
        )?;
    }
    let mut out = String::new();
    if args.json {
        let mut obj = Map::new();
        metrics_json(&mut obj, &mean, "");
        if let Some(s) = &std {
            metrics_json(&mut obj, s, "_std");
        }
        obj.insert("train_seconds".into(), json!(seconds));
        obj.insert("rows".into(), json!(y.len()));
        obj.insert("positives".into(), json!(y.iter().filter(|&&t| t).count()));
        obj.insert("features".into(), json!(fs.features.len()));
        obj.insert(
            "feature_names".into(),
            json!(fs.features.iter().map(|f| &f.name).collect::<Vec<_>>()),
        );
        obj.insert("algorithm".into(), json!(opts.algorithm));
        obj.insert("evaluation".into(), json!(scheme));
        obj.insert("seed".into(), json!(args.seed));
        obj.insert("refused".into(), json!(guard.findings));
        obj.insert("dropped".into(), json!(fs.dropped));
        obj.insert(
            "model".into(),
            json!(args.out.as_ref().map(|p| p.display().to_string())),
        );
        obj.insert(
            "report".into(),
            json!(args.report.as_ref().map(|p| p.display().to_string())),
        );
        outln!(out, "{}", Value::Object(obj));
    } else {
        outln!(
            out,
            "{} rows ({} converted), {} features, {:?}, {scheme}, seed {}",
            y.len(),
            y.iter().filter(|&&t| t).count(),
            fs.features.len(),
            opts.algorithm,
            args.seed
        );
        for d in &fs.dropped {
            outln!(out, "  not a feature: '{}' ({})", d.column, d.reason);
        }
        metrics_text(&mut out, &mean, std.as_ref());
        outln!(out, "trained in {seconds:.2} s");
        if let Some(p) = &args.out {
            outln!(out, "model written to {}", p.display());
        }
        if let Some(p) = &args.report {
            outln!(out, "report written to {}", p.display());
        }
    }
    emit(&out)
}

fn load_model(path: &Path) -> Result<Model> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read model {}", path.display()))?;
    Model::from_json(&text).with_context(|| format!("{}", path.display()))
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let model = load_model(&args.model)?;
    let table = read_text_table(&args.input, "leads")?;
    let preds = model.predict(&table, 3)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = table.headers.clone();
    header.push("probability".into());
    for i in 1..=3 {
        header.push(format!("factor_{i}"));
        header.push(format!("factor_{i}_value"));
        header.push(format!("factor_{i}_effect"));
    }
    w.write_record(&header)?;
    for (row, p) in table.rows.iter().zip(&preds) {
        let mut rec = row.clone();
        rec.push(format!("{:.4}", p.probability));
        for i in 0..3 {
            match p.factors.get(i) {
                Some(f) => {
                    rec.push(f.feature.clone());
                    rec.push(f.value.clone());
                    rec.push(format!("{:+.3}", f.contribution));
                }
                None => rec.extend([String::new(), String::new(), String::new()]),
            }
        }
        w.write_record(&rec)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    match &args.out {
        Some(path) => std::fs::write(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => emit(&String::from_utf8_lossy(&bytes))?,
    }
    Ok(())
}

pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    let model = load_model(&args.model)?;
    let table = read_text_table(&args.data, "data")?;
    let positive = args.positive.as_deref().or(model.positive.as_deref());
    let y = label_of(&table, &args.data, &args.label, positive)?;
    let x = model.features.encode(&table)?;
    let p = train::predict_matrix(&model, &x);
    let m = Metrics::compute(&p, &y)?;
    let mut out = String::new();
    if args.json {
        let mut obj = Map::new();
        metrics_json(&mut obj, &m, "");
        obj.insert("rows".into(), json!(y.len()));
        obj.insert("features".into(), json!(model.features.features.len()));
        outln!(out, "{}", Value::Object(obj));
    } else {
        outln!(
            out,
            "{} rows ({} converted)",
            y.len(),
            y.iter().filter(|&&t| t).count()
        );
        metrics_text(&mut out, &m, None);
    }
    emit(&out)
}
