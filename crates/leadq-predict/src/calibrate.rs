//! Turning a learner's score into a probability that means what it says:
//! of leads given 30%, about 30% convert. Calibrators are fitted on
//! predictions for rows the learner did not train on (held-out folds);
//! fitted on training predictions they would learn the learner's
//! over-confidence instead of correcting it.

use serde::{Deserialize, Serialize};

/// How to calibrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    None,
    /// A logistic curve on the margin: two parameters, smooth, cannot fix
    /// non-sigmoid distortions.
    Platt,
    /// A monotone step function (pool adjacent violators), interpolated:
    /// fixes any monotone distortion given enough rows.
    Isotonic,
}

/// A fitted map from margin (log-odds) to probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibrator {
    Platt { a: f64, b: f64 },
    Isotonic { x: Vec<f64>, y: Vec<f64> },
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Isotonic output is kept off 0 and 1: a lead is never certain, and one
/// wrong certain prediction would make the log loss infinite.
const FLOOR: f64 = 1e-3;

impl Calibrator {
    pub fn fit(method: CalibrationMethod, margin: &[f64], y: &[bool]) -> Option<Calibrator> {
        match method {
            CalibrationMethod::None => None,
            CalibrationMethod::Platt => Some(fit_platt(margin, y)),
            CalibrationMethod::Isotonic => Some(fit_isotonic(margin, y)),
        }
    }

    pub fn apply(&self, margin: f64) -> f64 {
        match self {
            Calibrator::Platt { a, b } => sigmoid(a * margin + b),
            Calibrator::Isotonic { x, y } => {
                if margin <= x[0] {
                    return y[0];
                }
                if margin >= x[x.len() - 1] {
                    return y[y.len() - 1];
                }
                let i = x.partition_point(|&v| v <= margin);
                let (x0, x1, y0, y1) = (x[i - 1], x[i], y[i - 1], y[i]);
                y0 + (y1 - y0) * (margin - x0) / (x1 - x0)
            }
        }
    }
}

fn fit_platt(margin: &[f64], y: &[bool]) -> Calibrator {
    // Newton on (a, b) with Platt's smoothed targets, which keep a
    // separable set from pushing a to infinity.
    let pos = y.iter().filter(|&&t| t).count() as f64;
    let neg = y.len() as f64 - pos;
    let hi = (pos + 1.0) / (pos + 2.0);
    let lo = 1.0 / (neg + 2.0);
    let (mut a, mut b) = (1.0, 0.0);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (&m, &t) in margin.iter().zip(y) {
            let p = sigmoid(a * m + b);
            let d = p - if t { hi } else { lo };
            let w = (p * (1.0 - p)).max(1e-12);
            ga += d * m;
            gb += d;
            haa += w * m * m;
            hab += w * m;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-10 && db.abs() < 1e-10 {
            break;
        }
    }
    Calibrator::Platt { a, b }
}

fn fit_isotonic(margin: &[f64], y: &[bool]) -> Calibrator {
    let mut idx: Vec<usize> = (0..margin.len()).collect();
    idx.sort_by(|&i, &j| margin[i].total_cmp(&margin[j]));
    // Blocks of (sum x, sum y, count); equal margins start in one block.
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for &i in &idx {
        let (m, t) = (margin[i], f64::from(u8::from(y[i])));
        match blocks.last_mut() {
            Some(last) if last.0 / last.2 == m => {
                last.0 += m;
                last.1 += t;
                last.2 += 1.0;
            }
            _ => blocks.push((m, t, 1.0)),
        }
        while blocks.len() > 1 {
            let n = blocks.len();
            let (a, b) = (blocks[n - 2], blocks[n - 1]);
            if a.1 / a.2 < b.1 / b.2 {
                break;
            }
            blocks[n - 2] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            blocks.pop();
        }
    }
    let x = blocks.iter().map(|b| b.0 / b.2).collect();
    let y = blocks
        .iter()
        .map(|b| (b.1 / b.2).clamp(FLOOR, 1.0 - FLOOR))
        .collect();
    Calibrator::Isotonic { x, y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_pools_violators_into_a_monotone_map() {
        let m = [0.0, 1.0, 2.0, 3.0];
        let y = [false, true, false, true];
        let Calibrator::Isotonic { x, y } = fit_isotonic(&m, &y) else {
            unreachable!()
        };
        // 0 → 0 (floored), {1, 2} pooled at 1.5 → .5, 3 → 1 (capped).
        assert_eq!(x, vec![0.0, 1.5, 3.0]);
        assert_eq!(y, vec![FLOOR, 0.5, 1.0 - FLOOR]);
        let c = Calibrator::Isotonic { x, y };
        assert!((c.apply(0.75) - (FLOOR + (0.5 - FLOOR) * 0.5)).abs() < 1e-12);
        assert_eq!(c.apply(-5.0), FLOOR);
    }

    #[test]
    fn platt_recovers_a_scaled_sigmoid() {
        // Outcomes drawn exactly at rate sigmoid(m / 2): Platt should find a ≈ .5.
        let mut margin = Vec::new();
        let mut y = Vec::new();
        for k in -20..=20 {
            let m = k as f64 / 4.0;
            let p = sigmoid(m / 2.0);
            let pos = (p * 200.0).round() as usize;
            for i in 0..200 {
                margin.push(m);
                y.push(i < pos);
            }
        }
        let Calibrator::Platt { a, b } = fit_platt(&margin, &y) else {
            unreachable!()
        };
        assert!((a - 0.5).abs() < 0.02, "{a}");
        assert!(b.abs() < 0.02, "{b}");
    }
}
