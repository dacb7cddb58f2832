//! The leakage guard. A feature that predicts the outcome almost perfectly
//! on its own was nearly always filled in after the outcome was known (a
//! rep's notes, a "closed" status): a model trained on it looks superb in
//! evaluation and is useless on new leads, where the value is not known
//! yet. Such features are refused unless the user vouches for them.

use crate::features::{FeatureKind, FeatureSet, Matrix};
use serde::Serialize;
use std::collections::BTreeMap;

/// Single-feature AUC (either direction) at or above which a feature is refused.
pub const MAX_AUC: f64 = 0.95;
/// A level converting at least this often...
pub const MAX_LEVEL_RATE: f64 = 0.99;
/// ...with at least this many rows is refused.
pub const MIN_LEVEL_SUPPORT: usize = 30;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub column: String,
    /// max(AUC, 1 − AUC) of the feature alone.
    pub auc: f64,
    pub reasons: Vec<String>,
    /// Kept because the user allowed it.
    pub allowed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Only the suspicious features.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Columns that must not be used.
    pub fn refused(&self) -> Vec<&str> {
        self.findings
            .iter()
            .filter(|f| !f.allowed)
            .map(|f| f.column.as_str())
            .collect()
    }
}

fn key(v: f64) -> i64 {
    if v.is_nan() {
        i64::MIN
    } else {
        v.to_bits() as i64
    }
}

/// Checks every feature of `fs` (`x` encodes the training rows).
pub fn check(fs: &FeatureSet, x: &Matrix, y: &[bool], allow: &[String]) -> Report {
    let mut findings = Vec::new();
    for (f, feat) in fs.features.iter().enumerate() {
        let col = &x.columns[f];
        // Levels: every distinct value (missing included) of a column with few of them.
        let mut levels: BTreeMap<i64, (f64, usize, usize)> = BTreeMap::new();
        for (&v, &t) in col.iter().zip(y) {
            let e = levels.entry(key(v)).or_insert((v, 0, 0));
            e.1 += 1;
            e.2 += usize::from(t);
        }
        let numeric = matches!(feat.kind, FeatureKind::Numeric { .. });
        let auc = if numeric {
            let (s, t): (Vec<f64>, Vec<bool>) = col
                .iter()
                .zip(y)
                .filter(|(v, _)| !v.is_nan())
                .map(|(&v, &t)| (v, t))
                .unzip();
            leadq_core::metrics::roc_auc(&s, &t)
        } else {
            let s: Vec<f64> = col
                .iter()
                .map(|&v| {
                    let l = levels[&key(v)];
                    l.2 as f64 / l.1 as f64
                })
                .collect();
            leadq_core::metrics::roc_auc(&s, y)
        }
        .map(|a| a.max(1.0 - a))
        .unwrap_or(0.5);
        let mut reasons = Vec::new();
        if auc >= MAX_AUC {
            reasons.push(format!(
                "alone it ranks outcomes with AUC {auc:.3} (limit {MAX_AUC})"
            ));
        }
        if !numeric || levels.len() <= 50 {
            for (v, count, pos) in levels.values() {
                let rate = *pos as f64 / *count as f64;
                if *count >= MIN_LEVEL_SUPPORT && rate >= MAX_LEVEL_RATE {
                    reasons.push(format!(
                        "level `{}` converts {:.1}% of {count} rows",
                        fs.display_value(f, *v),
                        100.0 * rate
                    ));
                }
            }
        }
        if !reasons.is_empty() {
            findings.push(Finding {
                column: feat.name.clone(),
                auc,
                reasons,
                allowed: allow.contains(&feat.name),
            });
        }
    }
    Report { findings }
}

/// The features of a table after the guard: inferred, checked, and
/// inferred again without the refused columns.
#[derive(Debug, Clone)]
pub struct Guarded {
    pub features: FeatureSet,
    pub x: Matrix,
    /// Every finding, the allowed ones included.
    pub report: Report,
}

/// Infers the features of `table` (except `exclude`d columns), runs the
/// guard on all rows and drops the columns it refuses unless `allow`ed.
/// The guard sees every row before any split: a leaky column is leaky
/// whatever the evaluation scheme.
pub fn guarded_features(
    table: &crate::TextTable,
    y: &[bool],
    exclude: &[String],
    allow: &[String],
) -> Result<Guarded, crate::PredictError> {
    let opts = crate::InferOptions::default();
    let fs = FeatureSet::infer(table, exclude, &opts)?;
    let x = fs.encode(table)?;
    let report = check(&fs, &x, y, allow);
    let refused: Vec<String> = report.refused().into_iter().map(String::from).collect();
    if refused.is_empty() {
        return Ok(Guarded {
            features: fs,
            x,
            report,
        });
    }
    let mut exclude = exclude.to_vec();
    exclude.extend(refused);
    let fs = FeatureSet::infer(table, &exclude, &opts)?;
    let x = fs.encode(table)?;
    Ok(Guarded {
        features: fs,
        x,
        report,
    })
}
