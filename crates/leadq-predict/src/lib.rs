//! Predictive lead scoring: learn, from a company's own won and lost leads,
//! a calibrated probability that a new lead converts, say why for each lead,
//! and measure it honestly before anyone relies on it.
//!
//! Everything here works on in-memory tables of strings (a header and rows,
//! as every input reader produces them); the only IO is serde of the model.
//! The pipeline is `FeatureSet::infer` → `leakage::check` → `train::fit`
//! (learner + calibrator) → `Model::predict`, with `train::cross_validate`
//! and `metrics::Metrics` for evaluation.

pub mod calibrate;
mod error;
pub mod features;
pub mod gbdt;
pub mod leakage;
pub mod logistic;
pub mod metrics;
pub mod model;
mod shap;
pub mod split;
pub mod train;

pub use error::PredictError;
pub use features::{FeatureKind, FeatureSet, InferOptions, Matrix, TextTable};
pub use metrics::Metrics;
pub use model::{Factor, Model, Prediction};
pub use train::{Algorithm, TrainOptions};
