//! Training and honest evaluation. `fit` trains the learner on all given
//! rows and its calibrator on out-of-fold predictions; `cross_validate`
//! repeats the whole of `fit` inside each fold, so the reported metrics
//! (calibration included) are those of rows the model never saw.

use crate::calibrate::{sigmoid, CalibrationMethod, Calibrator};
use crate::features::{FeatureSet, Matrix};
use crate::gbdt::{Gbdt, GbdtParams};
use crate::logistic::{Logistic, LogisticParams};
use crate::metrics::Metrics;
use crate::model::{Learner, Model, FORMAT, VERSION};
use crate::split::{fold_indices, stratified_folds};
use crate::PredictError;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    Gbdt,
    Logistic,
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub algorithm: Algorithm,
    pub gbdt: GbdtParams,
    pub logistic: LogisticParams,
    pub calibration: CalibrationMethod,
    /// Folds whose held-out predictions fit the calibrator.
    pub calibration_folds: usize,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            algorithm: Algorithm::Gbdt,
            gbdt: GbdtParams::default(),
            logistic: LogisticParams::default(),
            calibration: CalibrationMethod::Isotonic,
            calibration_folds: 3,
            seed: 42,
        }
    }
}

fn is_cat(fs: &FeatureSet) -> Vec<bool> {
    fs.features.iter().map(|f| f.is_categorical()).collect()
}

fn fit_learner(fs: &FeatureSet, x: &Matrix, y: &[bool], opts: &TrainOptions) -> Learner {
    match opts.algorithm {
        Algorithm::Gbdt => Learner::Gbdt(Gbdt::fit(
            x,
            &is_cat(fs),
            y,
            &GbdtParams {
                seed: opts.seed,
                ..opts.gbdt.clone()
            },
        )),
        Algorithm::Logistic => Learner::Logistic(Logistic::fit(x, &is_cat(fs), y, &opts.logistic)),
    }
}

fn margins(l: &Learner, x: &Matrix) -> Vec<f64> {
    match l {
        Learner::Gbdt(m) => m.margins(x),
        Learner::Logistic(m) => (0..x.rows).map(|r| m.margin(&x.row(r))).collect(),
    }
}

fn take(y: &[bool], idx: &[usize]) -> Vec<bool> {
    idx.iter().map(|&i| y[i]).collect()
}

/// Trains a model on every row of `x`.
pub fn fit(
    fs: &FeatureSet,
    x: &Matrix,
    y: &[bool],
    opts: &TrainOptions,
) -> Result<Model, PredictError> {
    let positives = y.iter().filter(|&&t| t).count();
    if positives == 0 || positives == y.len() {
        return Err(PredictError::SingleClass {
            positives,
            negatives: y.len() - positives,
        });
    }
    let k = opts.calibration_folds;
    let calibrate = opts.calibration != CalibrationMethod::None;
    if calibrate && (k < 2 || positives < k || y.len() - positives < k) {
        return Err(PredictError::TooFewRows(format!(
            "calibration needs {k} folds with both outcomes"
        )));
    }
    let folds = stratified_folds(y, k.max(2), opts.seed ^ 0x5eed_ca11);
    // The main learner and the calibration folds are independent fits.
    let (learner, oof) = rayon::join(
        || fit_learner(fs, x, y, opts),
        || {
            if !calibrate {
                return Vec::new();
            }
            let parts: Vec<(Vec<usize>, Vec<f64>)> = (0..k)
                .into_par_iter()
                .map(|f| {
                    let (tr, te) = fold_indices(&folds, f);
                    let m = fit_learner(fs, &x.take(&tr), &take(y, &tr), opts);
                    let s = margins(&m, &x.take(&te));
                    (te, s)
                })
                .collect();
            let mut oof = vec![0.0; y.len()];
            for (te, s) in parts {
                for (i, v) in te.into_iter().zip(s) {
                    oof[i] = v;
                }
            }
            oof
        },
    );
    let calibrator = Calibrator::fit(opts.calibration, &oof, y);
    Ok(assemble(fs, y, opts, learner, calibrator))
}

fn assemble(
    fs: &FeatureSet,
    y: &[bool],
    opts: &TrainOptions,
    learner: Learner,
    calibrator: Option<Calibrator>,
) -> Model {
    let positives = y.iter().filter(|&&t| t).count();
    Model {
        format: FORMAT.to_string(),
        version: VERSION,
        algorithm: opts.algorithm,
        label: String::new(),
        positive: None,
        trained_rows: y.len(),
        base_rate: positives as f64 / y.len() as f64,
        features: fs.clone(),
        learner,
        calibrator,
    }
}

/// Probabilities of a fitted model for every row of `x`.
pub fn predict_matrix(model: &Model, x: &Matrix) -> Vec<f64> {
    model.probabilities(x)
}

#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub folds: Vec<Metrics>,
    pub mean: Metrics,
    pub std: Metrics,
    /// Each row's probability from the fold that held it out.
    pub oof: Vec<f64>,
}

/// Cross-validates `fit` and fits the final model on every row, at once.
///
/// The final model's calibrator is fitted on the cross-validation's
/// out-of-fold margins (each row scored by the fold model that did not see
/// it) instead of on margins from separate inner folds: the same kind of
/// held-out scores, from `k` folds rather than `calibration_folds`, without
/// fitting those inner models again. The final learner is fitted while the
/// folds run.
pub fn cross_validate_and_fit(
    fs: &FeatureSet,
    x: &Matrix,
    y: &[bool],
    k: usize,
    opts: &TrainOptions,
) -> Result<(CvReport, Model), PredictError> {
    let (cv, learner) = rayon::join(
        || cross_validate_margins(fs, x, y, k, opts),
        || fit_learner(fs, x, y, opts),
    );
    let (report, oof_margins) = cv?;
    let calibrator = Calibrator::fit(opts.calibration, &oof_margins, y);
    Ok((report, assemble(fs, y, opts, learner, calibrator)))
}

/// Stratified `k`-fold cross-validation of `fit` (same seed, same folds).
pub fn cross_validate(
    fs: &FeatureSet,
    x: &Matrix,
    y: &[bool],
    k: usize,
    opts: &TrainOptions,
) -> Result<CvReport, PredictError> {
    cross_validate_margins(fs, x, y, k, opts).map(|(r, _)| r)
}

/// [`cross_validate`], also returning each row's uncalibrated margin from
/// the fold model that held it out.
fn cross_validate_margins(
    fs: &FeatureSet,
    x: &Matrix,
    y: &[bool],
    k: usize,
    opts: &TrainOptions,
) -> Result<(CvReport, Vec<f64>), PredictError> {
    if k < 2 {
        return Err(PredictError::InvalidParameter(format!(
            "cross-validation needs at least 2 folds, not {k}"
        )));
    }
    let folds = stratified_folds(y, k, opts.seed);
    let parts = (0..k)
        .into_par_iter()
        .map(|f| {
            let (tr, te) = fold_indices(&folds, f);
            let model = fit(fs, &x.take(&tr), &take(y, &tr), opts)?;
            let xt = x.take(&te);
            let raw = model.margins(&xt);
            let p: Vec<f64> = match &model.calibrator {
                Some(c) => raw.iter().map(|&z| c.apply(z)).collect(),
                None => raw.iter().map(|&z| sigmoid(z)).collect(),
            };
            let m = Metrics::compute(&p, &take(y, &te))?;
            Ok((te, p, raw, m))
        })
        .collect::<Result<Vec<_>, PredictError>>()?;
    let mut oof = vec![0.0; y.len()];
    let mut oof_margins = vec![0.0; y.len()];
    let mut metrics = Vec::new();
    for (te, p, raw, m) in parts {
        for ((i, v), z) in te.into_iter().zip(p).zip(raw) {
            oof[i] = v;
            oof_margins[i] = z;
        }
        metrics.push(m);
    }
    let (mean, std) = Metrics::mean_std(&metrics);
    Ok((
        CvReport {
            folds: metrics,
            mean,
            std,
            oof,
        },
        oof_margins,
    ))
}
