//! Ranking metrics of a score against known outcomes: ROC AUC (ties count
//! half), the share of conversions caught in the top of the ranking and the
//! lift there. Tied scores at a cut-off are shared out pro rata, so a
//! coarse rules score is neither flattered nor punished by tie order.

/// ROC AUC: the chance that a random converted lead scores above a random
/// non-converted one (ties count one half). `None` without both classes.
pub fn roc_auc(scores: &[f64], converted: &[bool]) -> Option<f64> {
    let n = scores.len().min(converted.len());
    let pos = converted[..n].iter().filter(|&&c| c).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann-Whitney U with average ranks for ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += avg_rank * idx[i..=j].iter().filter(|&&k| converted[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum_pos - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// Expected number of conversions among the `fraction` best-scored leads,
/// sharing a tie group at the cut-off pro rata.
fn conversions_in_top(scores: &[f64], converted: &[bool], fraction: f64) -> f64 {
    let n = scores.len().min(converted.len());
    let slots = (fraction * n as f64).round();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut taken = 0.0;
    let mut caught = 0.0;
    let mut i = 0;
    while i < n && taken < slots {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let size = (j - i + 1) as f64;
        let pos = idx[i..=j].iter().filter(|&&k| converted[k]).count() as f64;
        let room = (slots - taken).min(size);
        caught += pos * room / size;
        taken += room;
        i = j + 1;
    }
    caught
}

/// Share of all conversions found in the top `fraction` of scores
/// (0.2 → "top 20% share"). `None` without conversions.
pub fn top_share(scores: &[f64], converted: &[bool], fraction: f64) -> Option<f64> {
    let total = converted.iter().filter(|&&c| c).count() as f64;
    (total > 0.0).then(|| conversions_in_top(scores, converted, fraction) / total)
}

/// Conversion rate in the top `fraction` divided by the overall rate.
pub fn lift(scores: &[f64], converted: &[bool], fraction: f64) -> Option<f64> {
    let n = scores.len().min(converted.len()) as f64;
    let total = converted.iter().filter(|&&c| c).count() as f64;
    let slots = (fraction * n).round();
    if total == 0.0 || slots == 0.0 {
        return None;
    }
    Some((conversions_in_top(scores, converted, fraction) / slots) / (total / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_for_a_perfect_ranking_and_half_for_all_ties() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(
            roc_auc(&[1.0, 1.0, 1.0, 1.0], &[false, true, false, true]),
            Some(0.5)
        );
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn auc_counts_ties_as_half() {
        // Pairs (pos, neg): (0.5 vs 0.1) win, (0.5 vs 0.5) tie, (0.9 vs both) win: (1 + 0.5 + 2) / 4.
        let auc = roc_auc(&[0.1, 0.5, 0.5, 0.9], &[false, false, true, true]).unwrap();
        assert!((auc - 0.875).abs() < 1e-12, "{auc}");
    }

    #[test]
    fn top_share_and_lift_share_a_tie_at_the_cut_off_pro_rata() {
        // 10 leads, 4 converted. Top 20% = 2 slots; the top score is unique
        // (converted) and the next two tie (one converted): 1 + 0.5.
        let scores = [9.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let conv = [
            true, true, false, true, false, false, true, false, false, false,
        ];
        let share = top_share(&scores, &conv, 0.2).unwrap();
        assert!((share - 1.5 / 4.0).abs() < 1e-12, "{share}");
        let l = lift(&scores, &conv, 0.2).unwrap();
        assert!((l - (1.5 / 2.0) / 0.4).abs() < 1e-12, "{l}");
        assert_eq!(top_share(&scores, &[false; 10], 0.2), None);
    }
}
