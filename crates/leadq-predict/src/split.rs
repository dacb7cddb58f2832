//! Seeded, stratified splits: each fold keeps the overall conversion rate,
//! so a fold never ends up with a handful of positives, and the same seed
//! gives the same folds on every machine.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The fold (0..k) of every row.
pub fn stratified_folds(y: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; y.len()];
    let mut offset = 0;
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        idx.shuffle(&mut rng);
        for (j, i) in idx.into_iter().enumerate() {
            // The offset carries on across classes so small folds stay even.
            fold[i] = (j + offset) % k;
        }
        offset += y.iter().filter(|&&b| b == class).count();
    }
    fold
}

/// Train and test row indices of fold `f`.
pub fn fold_indices(folds: &[usize], f: usize) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, &g) in folds.iter().enumerate() {
        if g == f {
            test.push(i)
        } else {
            train.push(i)
        }
    }
    (train, test)
}

/// A stratified holdout: about `fraction` of each class goes to test.
pub fn holdout(y: &[bool], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        idx.shuffle(&mut rng);
        let cut = (fraction * idx.len() as f64).round() as usize;
        test.extend_from_slice(&idx[..cut]);
        train.extend_from_slice(&idx[cut..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_keep_the_conversion_rate_and_depend_only_on_the_seed() {
        let y: Vec<bool> = (0..100).map(|i| i % 4 == 0).collect();
        let f = stratified_folds(&y, 5, 7);
        assert_eq!(f, stratified_folds(&y, 5, 7));
        assert_ne!(f, stratified_folds(&y, 5, 8));
        for k in 0..5 {
            let (_, test) = fold_indices(&f, k);
            assert_eq!(test.len(), 20);
            assert_eq!(test.iter().filter(|&&i| y[i]).count(), 5);
        }
    }

    #[test]
    fn holdout_takes_the_fraction_of_each_class() {
        let y: Vec<bool> = (0..100).map(|i| i % 4 == 0).collect();
        let (train, test) = holdout(&y, 0.2, 1);
        assert_eq!(test.len(), 20);
        assert_eq!(train.len(), 80);
        assert_eq!(test.iter().filter(|&&i| y[i]).count(), 5);
    }
}
