//! Turning a table of strings into numeric features.
//!
//! Column types are inferred from the training data and frozen into the
//! `FeatureSet`, so that scoring a new file encodes it exactly as the model
//! saw its training data: a level never seen in training (or pooled because
//! it was rare) becomes the "other" level, and placeholders such as `Select`
//! become missing values that the learners handle natively.

use crate::PredictError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A header and rows of text, as read from a lead file.
#[derive(Debug, Clone, Default)]
pub struct TextTable {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl TextTable {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    fn cell(&self, row: usize, col: usize) -> &str {
        self.rows[row].get(col).map(String::as_str).unwrap_or("")
    }
}

/// How a column is turned into a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureKind {
    /// Parsed as a float; unparsable text at scoring time counts as missing.
    Numeric { mean: f64, std: f64 },
    /// yes/no, true/false, y/n: 1 or 0.
    Boolean,
    /// Level codes `0..levels.len()`; code `levels.len()` is "other"
    /// (rare in training, or never seen).
    Categorical { levels: Vec<String> },
}

/// One feature: the column it comes from and how it is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    #[serde(flatten)]
    pub kind: FeatureKind,
}

impl Feature {
    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, FeatureKind::Categorical { .. })
    }

    /// The display name of a categorical code.
    pub fn level_name(&self, code: usize) -> &str {
        match &self.kind {
            FeatureKind::Categorical { levels } => {
                levels.get(code).map(String::as_str).unwrap_or("(other)")
            }
            _ => "",
        }
    }
}

/// Why a column of the table is not a feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub column: String,
    pub reason: String,
}

/// How types are inferred.
#[derive(Debug, Clone)]
pub struct InferOptions {
    /// Values meaning "no value" (compared trimmed and case-insensitively).
    pub missing: Vec<String>,
    /// Levels seen fewer times than this are pooled into "other": a level
    /// seen three times teaches nothing but noise.
    pub min_level_count: usize,
    /// At most this many levels per categorical (the most frequent), so a
    /// tree can bin them.
    pub max_levels: usize,
}

impl Default for InferOptions {
    fn default() -> Self {
        InferOptions {
            missing: ["", "select", "na", "n/a", "nan", "null", "none", "-"]
                .map(String::from)
                .to_vec(),
            min_level_count: 10,
            max_levels: 254,
        }
    }
}

/// The frozen encoding of a table into features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSet {
    pub features: Vec<Feature>,
    /// Placeholders treated as missing, lower-case.
    pub missing: Vec<String>,
    #[serde(default)]
    pub dropped: Vec<Dropped>,
}

/// Features in column-major order: `columns[feature][row]`, NaN = missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub columns: Vec<Vec<f64>>,
    pub rows: usize,
}

impl Matrix {
    pub fn row(&self, r: usize) -> Vec<f64> {
        self.columns.iter().map(|c| c[r]).collect()
    }

    /// The rows at `idx`, in that order.
    pub fn take(&self, idx: &[usize]) -> Matrix {
        Matrix {
            columns: self
                .columns
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect(),
            rows: idx.len(),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" => Some(true),
        "no" | "false" | "n" => Some(false),
        _ => None,
    }
}

/// Case and surrounding space do not make a new level (`Google` = `google`).
fn level_key(v: &str) -> String {
    v.trim().to_lowercase()
}

impl FeatureSet {
    fn is_missing(&self, v: &str) -> bool {
        let t = v.trim();
        self.missing.iter().any(|m| t.eq_ignore_ascii_case(m))
    }

    /// Infers one feature per column, except `exclude`d columns, columns
    /// with a single value (they cannot rank), and identifier-like text
    /// columns (nearly every value unique: they only memorise rows).
    pub fn infer(
        table: &TextTable,
        exclude: &[String],
        opts: &InferOptions,
    ) -> Result<FeatureSet, PredictError> {
        for e in exclude {
            if table.column_index(e).is_none() {
                return Err(PredictError::MissingColumn(e.clone()));
            }
        }
        let mut set = FeatureSet {
            features: Vec::new(),
            missing: opts
                .missing
                .iter()
                .map(|m| m.trim().to_lowercase())
                .collect(),
            dropped: Vec::new(),
        };
        let n = table.rows.len();
        for (c, name) in table.headers.iter().enumerate() {
            if exclude.contains(name) {
                continue;
            }
            let values: Vec<&str> = (0..n)
                .map(|r| table.cell(r, c).trim())
                .filter(|v| !set.is_missing(v))
                .collect();
            let mut drop = |reason: &str| {
                set.dropped.push(Dropped {
                    column: name.clone(),
                    reason: reason.to_string(),
                })
            };
            if values.is_empty() {
                drop("always missing");
                continue;
            }
            let has_missing = values.len() < n;
            let mut counts: HashMap<String, (usize, &str)> = HashMap::new();
            for v in &values {
                counts.entry(level_key(v)).or_insert((0, v)).0 += 1;
            }
            if counts.len() == 1 && !has_missing {
                drop("a single value");
                continue;
            }
            let kind = if values.iter().all(|v| parse_bool(v).is_some()) {
                FeatureKind::Boolean
            } else if values
                .iter()
                .all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
            {
                let xs: Vec<f64> = values.iter().map(|v| v.parse().unwrap_or(0.0)).collect();
                let mean = xs.iter().sum::<f64>() / xs.len() as f64;
                let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
                FeatureKind::Numeric {
                    mean,
                    std: var.sqrt(),
                }
            } else {
                if counts.len() as f64 > 0.9 * values.len() as f64 && values.len() >= 20 {
                    drop("identifier-like (nearly every value unique)");
                    continue;
                }
                let mut kept: Vec<(&String, &(usize, &str))> = counts
                    .iter()
                    .filter(|(_, (k, _))| *k >= opts.min_level_count)
                    .collect();
                // Most frequent first; ties by key so the order is deterministic.
                kept.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
                kept.truncate(opts.max_levels);
                kept.sort_by(|a, b| a.0.cmp(b.0));
                if kept.is_empty() {
                    drop("every level is rare");
                    continue;
                }
                FeatureKind::Categorical {
                    levels: kept.into_iter().map(|(k, _)| k.clone()).collect(),
                }
            };
            set.features.push(Feature {
                name: name.clone(),
                kind,
            });
        }
        if set.features.is_empty() {
            return Err(PredictError::NoFeatures);
        }
        Ok(set)
    }

    /// Encodes a table; its columns are found by name, in any order.
    pub fn encode(&self, table: &TextTable) -> Result<Matrix, PredictError> {
        let n = table.rows.len();
        let mut columns = Vec::with_capacity(self.features.len());
        for f in &self.features {
            let c = table
                .column_index(&f.name)
                .ok_or_else(|| PredictError::MissingColumn(f.name.clone()))?;
            let lookup: HashMap<&str, usize> = match &f.kind {
                FeatureKind::Categorical { levels } => levels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.as_str(), i))
                    .collect(),
                _ => HashMap::new(),
            };
            let col = (0..n)
                .map(|r| {
                    let v = table.cell(r, c).trim();
                    if self.is_missing(v) {
                        return f64::NAN;
                    }
                    match &f.kind {
                        FeatureKind::Numeric { .. } => v
                            .parse::<f64>()
                            .ok()
                            .filter(|x| x.is_finite())
                            .unwrap_or(f64::NAN),
                        FeatureKind::Boolean => match parse_bool(v) {
                            Some(true) => 1.0,
                            Some(false) => 0.0,
                            None => f64::NAN,
                        },
                        FeatureKind::Categorical { levels } => lookup
                            .get(level_key(v).as_str())
                            .copied()
                            .unwrap_or(levels.len())
                            as f64,
                    }
                })
                .collect();
            columns.push(col);
        }
        Ok(Matrix { columns, rows: n })
    }

    /// The value of feature `f` as a person would read it.
    pub fn display_value(&self, f: usize, x: f64) -> String {
        if x.is_nan() {
            return "(missing)".into();
        }
        let feat = &self.features[f];
        match feat.kind {
            FeatureKind::Numeric { .. } => format!("{x}"),
            FeatureKind::Boolean => if x > 0.5 { "yes" } else { "no" }.into(),
            FeatureKind::Categorical { .. } => feat.level_name(x as usize).to_string(),
        }
    }
}

/// Reads the outcome column: `1`, `yes`, `true` (any case) or the given
/// `positive` value mean converted; anything else means not converted, but
/// an empty outcome is an error because guessing it would bias the model.
pub fn parse_label(
    table: &TextTable,
    column: &str,
    positive: Option<&str>,
) -> Result<Vec<bool>, PredictError> {
    let c = table
        .column_index(column)
        .ok_or_else(|| PredictError::MissingColumn(column.to_string()))?;
    let y: Vec<bool> = (0..table.rows.len())
        .map(|r| {
            let v = table.cell(r, c).trim();
            if v.is_empty() {
                return Err(PredictError::EmptyLabel {
                    column: column.to_string(),
                    row: r + 1,
                    value: v.to_string(),
                });
            }
            Ok(match positive {
                Some(p) => v.eq_ignore_ascii_case(p.trim()),
                None => matches!(v.to_ascii_lowercase().as_str(), "1" | "yes" | "true"),
            })
        })
        .collect::<Result<_, _>>()?;
    let positives = y.iter().filter(|&&b| b).count();
    if positives == 0 || positives == y.len() {
        return Err(PredictError::SingleClass {
            positives,
            negatives: y.len() - positives,
        });
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(headers: &[&str], rows: &[&[&str]]) -> TextTable {
        TextTable {
            headers: headers.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn column_types_are_inferred_and_placeholders_are_missing() {
        let t = table(
            &["n", "b", "c"],
            &[
                &["1.5", "Yes", "Google"],
                &["", "no", "google"],
                &["3", "Select", "Select"],
                &["4", "yes", "Bing"],
            ],
        );
        let opts = InferOptions {
            min_level_count: 1,
            ..InferOptions::default()
        };
        let fs = FeatureSet::infer(&t, &[], &opts).unwrap();
        assert!(matches!(fs.features[0].kind, FeatureKind::Numeric { .. }));
        assert_eq!(fs.features[1].kind, FeatureKind::Boolean);
        assert_eq!(
            fs.features[2].kind,
            FeatureKind::Categorical {
                levels: vec!["bing".into(), "google".into()]
            }
        );
        let m = fs.encode(&t).unwrap();
        assert!(m.columns[0][1].is_nan());
        assert_eq!(m.columns[1][..2], [1.0, 0.0]);
        assert!(m.columns[1][2].is_nan());
        assert_eq!(m.columns[1][3], 1.0);
        // Google and google are one level; Select is missing.
        assert_eq!(m.columns[2][0], 1.0);
        assert_eq!(m.columns[2][1], 1.0);
        assert!(m.columns[2][2].is_nan());
    }

    #[test]
    fn unseen_and_rare_levels_become_other() {
        let mut rows: Vec<Vec<String>> = (0..20).map(|_| vec!["a".to_string()]).collect();
        rows.push(vec!["rare".into()]);
        rows.push(vec!["b".into()]);
        let t = TextTable {
            headers: vec!["c".into()],
            rows,
        };
        let opts = InferOptions {
            min_level_count: 2,
            ..InferOptions::default()
        };
        let fs = FeatureSet::infer(&t, &[], &opts).unwrap();
        assert_eq!(
            fs.features[0].kind,
            FeatureKind::Categorical {
                levels: vec!["a".into()]
            }
        );
        let new = table(&["c"], &[&["never seen"], &["A"]]);
        let m = fs.encode(&new).unwrap();
        assert_eq!(m.columns[0], vec![1.0, 0.0]);
        assert_eq!(fs.display_value(0, 1.0), "(other)");
    }

    #[test]
    fn constant_and_identifier_columns_are_dropped_with_a_reason() {
        let rows: Vec<Vec<String>> = (0..30)
            .map(|i| vec![format!("id-{i}"), "same".into(), (i % 3).to_string()])
            .collect();
        let t = TextTable {
            headers: vec!["id".into(), "k".into(), "x".into()],
            rows,
        };
        let fs = FeatureSet::infer(&t, &[], &InferOptions::default()).unwrap();
        assert_eq!(fs.features.len(), 1);
        assert_eq!(fs.features[0].name, "x");
        let reasons: Vec<&str> = fs.dropped.iter().map(|d| d.reason.as_str()).collect();
        assert!(reasons[0].starts_with("identifier-like"), "{reasons:?}");
        assert_eq!(reasons[1], "a single value");
    }

    #[test]
    fn labels_accept_one_yes_true_or_a_chosen_value() {
        let t = table(&["y"], &[&["YES"], &["0"], &["true"], &["won"]]);
        assert_eq!(
            parse_label(&t, "y", None).unwrap(),
            vec![true, false, true, false]
        );
        assert_eq!(
            parse_label(&t, "y", Some("won")).unwrap(),
            vec![false, false, false, true]
        );
        let one = table(&["y"], &[&["1"], &["1"]]);
        assert!(matches!(
            parse_label(&one, "y", None),
            Err(PredictError::SingleClass { positives: 2, .. })
        ));
    }
}
