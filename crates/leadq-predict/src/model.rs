//! A trained model as one versioned JSON document: the frozen feature
//! encoding, the learner and its calibrator. Everything needed to score a
//! new file is inside, so a model file keeps working after the training
//! data is gone.

use crate::calibrate::{sigmoid, Calibrator};
use crate::features::{FeatureSet, Matrix, TextTable};
use crate::gbdt::Gbdt;
use crate::logistic::Logistic;
use crate::train::Algorithm;
use crate::PredictError;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "leadq-predict";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Learner {
    Gbdt(Gbdt),
    Logistic(Logistic),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub version: u32,
    pub algorithm: Algorithm,
    /// The outcome column it was trained on, and its positive value if not
    /// 1/yes/true.
    pub label: String,
    pub positive: Option<String>,
    pub trained_rows: usize,
    pub base_rate: f64,
    pub features: FeatureSet,
    pub learner: Learner,
    pub calibrator: Option<Calibrator>,
}

/// One reason for a lead's probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    pub feature: String,
    pub value: String,
    /// Effect on the log-odds, relative to an average lead.
    pub contribution: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub probability: f64,
    /// Strongest first.
    pub factors: Vec<Factor>,
}

impl Model {
    pub fn margin(&self, x: &[f64]) -> f64 {
        match &self.learner {
            Learner::Gbdt(m) => m.margin(x),
            Learner::Logistic(m) => m.margin(x),
        }
    }

    pub fn probability(&self, x: &[f64]) -> f64 {
        let m = self.margin(x);
        match &self.calibrator {
            Some(c) => c.apply(m),
            None => sigmoid(m),
        }
    }

    /// `margin` of every row of `x`, scored as a batch.
    pub fn margins(&self, x: &Matrix) -> Vec<f64> {
        match &self.learner {
            Learner::Gbdt(m) => m.margins(x),
            Learner::Logistic(m) => (0..x.rows).map(|r| m.margin(&x.row(r))).collect(),
        }
    }

    /// `probability` of every row of `x`, scored as a batch.
    pub fn probabilities(&self, x: &Matrix) -> Vec<f64> {
        let m = self.margins(x);
        match &self.calibrator {
            Some(c) => m.into_iter().map(|v| c.apply(v)).collect(),
            None => m.into_iter().map(sigmoid).collect(),
        }
    }

    /// Contribution of each feature to the margin (SHAP for trees).
    pub fn contributions(&self, x: &[f64]) -> Vec<f64> {
        match &self.learner {
            Learner::Gbdt(m) => m.shap(x),
            Learner::Logistic(m) => m.contributions(x),
        }
    }

    /// Probability and the `top` strongest factors of every row.
    pub fn predict(&self, table: &TextTable, top: usize) -> Result<Vec<Prediction>, PredictError> {
        let x = self.features.encode(table)?;
        Ok((0..x.rows)
            .map(|r| {
                let row = x.row(r);
                let phi = self.contributions(&row);
                let mut order: Vec<usize> = (0..phi.len()).filter(|&f| phi[f] != 0.0).collect();
                order.sort_by(|&a, &b| phi[b].abs().total_cmp(&phi[a].abs()).then(a.cmp(&b)));
                Prediction {
                    probability: self.probability(&row),
                    factors: order
                        .into_iter()
                        .take(top)
                        .map(|f| Factor {
                            feature: self.features.features[f].name.clone(),
                            value: self.features.display_value(f, row[f]),
                            contribution: phi[f],
                        })
                        .collect(),
                }
            })
            .collect())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model always serialises")
    }

    /// Reads a model file, refusing other formats and future versions
    /// rather than misreading them.
    pub fn from_json(text: &str) -> Result<Model, PredictError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PredictError::Format(e.to_string()))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(PredictError::Format(format!(
                "`format` is not \"{FORMAT}\""
            )));
        }
        match v.get("version").and_then(|f| f.as_u64()) {
            Some(1) => {}
            other => {
                return Err(PredictError::Format(format!(
                    "unsupported version {other:?} (this build reads version {VERSION})"
                )))
            }
        }
        serde_json::from_value(v).map_err(|e| PredictError::Format(e.to_string()))
    }
}
