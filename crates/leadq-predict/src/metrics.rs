//! How good a probability is: ranking (ROC AUC, PR AUC, lift, top-20%
//! share) and the probability itself (log loss, Brier, ECE). Ranking
//! metrics reuse `leadq_core::metrics` so rules scores and predicted
//! probabilities are measured by the same code.

use crate::PredictError;
use serde::{Deserialize, Serialize};

/// Every metric of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub auc: f64,
    pub pr_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub ece: f64,
    pub lift_top10: f64,
    pub top20_share: f64,
}

impl Metrics {
    pub const NAMES: [&'static str; 7] = [
        "auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
        "lift_top10",
        "top20_share",
    ];

    pub fn compute(p: &[f64], y: &[bool]) -> Result<Metrics, PredictError> {
        let positives = y.iter().filter(|&&b| b).count();
        let single = PredictError::SingleClass {
            positives,
            negatives: y.len() - positives,
        };
        let Some(auc) = leadq_core::metrics::roc_auc(p, y) else {
            return Err(single);
        };
        Ok(Metrics {
            auc,
            pr_auc: average_precision(p, y),
            log_loss: log_loss(p, y),
            brier: brier(p, y),
            ece: ece(p, y, 10),
            lift_top10: leadq_core::metrics::lift(p, y, 0.1).unwrap_or(f64::NAN),
            top20_share: leadq_core::metrics::top_share(p, y, 0.2).unwrap_or(f64::NAN),
        })
    }

    pub fn values(&self) -> [f64; 7] {
        [
            self.auc,
            self.pr_auc,
            self.log_loss,
            self.brier,
            self.ece,
            self.lift_top10,
            self.top20_share,
        ]
    }

    fn from_values(v: [f64; 7]) -> Metrics {
        Metrics {
            auc: v[0],
            pr_auc: v[1],
            log_loss: v[2],
            brier: v[3],
            ece: v[4],
            lift_top10: v[5],
            top20_share: v[6],
        }
    }

    /// Mean and (population) standard deviation over folds.
    pub fn mean_std(folds: &[Metrics]) -> (Metrics, Metrics) {
        let k = folds.len().max(1) as f64;
        let mut mean = [0.0; 7];
        for f in folds {
            for (m, v) in mean.iter_mut().zip(f.values()) {
                *m += v / k;
            }
        }
        let mut var = [0.0; 7];
        for f in folds {
            for ((s, v), m) in var.iter_mut().zip(f.values()).zip(mean) {
                *s += (v - m).powi(2) / k;
            }
        }
        (
            Metrics::from_values(mean),
            Metrics::from_values(var.map(f64::sqrt)),
        )
    }
}

/// Average precision: precision at each distinct score threshold weighted
/// by the recall it adds (tied scores enter together, as in scikit-learn).
pub fn average_precision(p: &[f64], y: &[bool]) -> f64 {
    let total = y.iter().filter(|&&b| b).count() as f64;
    if total == 0.0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let (mut tp, mut seen, mut ap, mut i) = (0.0, 0.0, 0.0, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && p[idx[j + 1]] == p[idx[i]] {
            j += 1;
        }
        let new_tp = idx[i..=j].iter().filter(|&&k| y[k]).count() as f64;
        tp += new_tp;
        seen += (j - i + 1) as f64;
        ap += new_tp / total * (tp / seen);
        i = j + 1;
    }
    ap
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    let s: f64 = p
        .iter()
        .zip(y)
        .map(|(&q, &t)| {
            let q = q.clamp(1e-15, 1.0 - 1e-15);
            if t {
                -q.ln()
            } else {
                -(1.0 - q).ln()
            }
        })
        .sum();
    s / p.len() as f64
}

pub fn brier(p: &[f64], y: &[bool]) -> f64 {
    p.iter()
        .zip(y)
        .map(|(&q, &t)| (q - f64::from(u8::from(t))).powi(2))
        .sum::<f64>()
        / p.len() as f64
}

/// Expected calibration error over `bins` equal-width probability bins:
/// the row-weighted gap between mean predicted probability and observed
/// conversion rate.
pub fn ece(p: &[f64], y: &[bool], bins: usize) -> f64 {
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (&q, &t) in p.iter().zip(y) {
        let b = ((q * bins as f64) as usize).min(bins - 1);
        sum_p[b] += q;
        sum_y[b] += f64::from(u8::from(t));
        count[b] += 1;
    }
    let n = p.len() as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| (sum_p[b] - sum_y[b]).abs() / n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn average_precision_matches_a_hand_computed_ranking() {
        // Thresholds: (P=1, R=.5), (P=.5, R=.5), (P=2/3, R=1) → .5·1 + .5·2/3.
        close(
            average_precision(&[0.9, 0.8, 0.7, 0.6], &[true, false, true, false]),
            0.5 + 0.5 * 2.0 / 3.0,
        );
        // A tie between a positive and a negative at the top enters at once: P=.5.
        close(
            average_precision(&[0.9, 0.9, 0.1], &[true, false, false]),
            0.5,
        );
    }

    #[test]
    fn ece_is_the_weighted_gap_per_bin() {
        // Bin 0.1-0.2: two rows, mean p .15, rate .5 → gap .35, weight 2/4.
        // Bin 0.9-1.0: two rows, mean p .95, rate 1 → gap .05, weight 2/4.
        let p = [0.1, 0.2 - 1e-9, 0.9, 1.0];
        let y = [false, true, true, true];
        let e = ece(&p, &y, 10);
        assert!((e - (0.5 * (0.5 - 0.15) + 0.5 * 0.05)).abs() < 1e-8, "{e}");
        close(ece(&[0.0, 1.0], &[false, true], 10), 0.0);
    }

    #[test]
    fn metrics_of_a_known_set_match_hand_computed_values() {
        let p = [0.8, 0.6, 0.6, 0.2];
        let y = [true, true, false, false];
        let m = Metrics::compute(&p, &y).unwrap();
        // Pairs: .8>.6, .8>.2, .6=.6 (half), .6>.2 → 3.5/4.
        close(m.auc, 0.875);
        close(m.brier, (0.04 + 0.16 + 0.36 + 0.04) / 4.0);
        close(
            m.log_loss,
            -(0.8f64.ln() + 0.6f64.ln() + 0.4f64.ln() + 0.8f64.ln()) / 4.0,
        );
        // Top 20% of 4 rows = 1 slot, the converted 0.8 → share 1/2, lift (1/1)/(2/4).
        close(m.top20_share, 0.5);
        // Top 10% of 4 rows rounds to 0 slots: no lift to report.
        assert!(m.lift_top10.is_nan());
        assert!(Metrics::compute(&p, &[true; 4]).is_err());
    }

    #[test]
    fn mean_std_of_folds_is_the_population_spread() {
        let a = Metrics::compute(&[0.9, 0.1], &[true, false]).unwrap();
        let b = Metrics::compute(&[0.1, 0.9], &[true, false]).unwrap();
        let (mean, std) = Metrics::mean_std(&[a, b]);
        close(mean.auc, 0.5);
        close(std.auc, 0.5);
    }
}
