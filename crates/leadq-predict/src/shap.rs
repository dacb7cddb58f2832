//! Path-dependent TreeSHAP (Lundberg et al. 2018, algorithm 2), in two
//! forms that give the same numbers:
//!
//! - `add_by_recursion`: the published recursion, which walks every leaf of
//!   a tree for every row and does O(depth²) work at each;
//! - `LeafTable`: the same sums computed ahead of time per tree. A leaf's
//!   contribution to a feature depends on the row only through one bit per
//!   distinct feature on the leaf's path (does the row follow every split
//!   on that feature towards the leaf?), so for a path with d distinct
//!   features there are 2^d possible rows' worth of contributions. Storing
//!   them all (for a depth-5 tree, at most 32 leaves × 32 patterns × 5
//!   values) turns the per-row work into one pass over the splits and a
//!   lookup per leaf (see `LeafTable`). This is the idea of "Fast TreeSHAP
//!   v2" (Yang 2021). Trees too large for the table's limits keep the
//!   recursion.

use crate::gbdt::{code_set, flat_goes_left, Node, Tree};

/// Most values one tree's table may hold (512 KiB); past it the tree is
/// explained by recursion.
const TREE_TABLE_LIMIT: usize = 1 << 16;
/// Most values all of a model's tables may hold together (32 MiB).
pub(crate) const MODEL_TABLE_LIMIT: usize = 1 << 22;
/// Past this many distinct features on one path, 2^d patterns are too many.
const MAX_PATH_FEATURES: usize = 12;
/// A row's way through a tree is kept as one bit per split in a `u64`.
const MAX_SPLITS: usize = 64;

/// One tree's SHAP contributions, precomputed per leaf and per pattern.
///
/// Explaining a row takes two flat passes, with no walk of the tree: one
/// over the splits, to note which way the row goes at each (bit `i` of a
/// `u64` for split `i`), and one over the leaves, where a leaf's pattern
/// bit for a feature is set unless the row leaves the leaf's path at one of
/// that feature's splits, found with a mask per feature.
#[derive(Debug, Clone)]
pub(crate) struct LeafTable {
    splits: Vec<Split>,
    /// Left codes of categorical splits, as 256-bit sets.
    sets: Vec<[u64; 4]>,
    leaves: Vec<TableLeaf>,
    /// Per leaf, its `d` distinct path features in order of first
    /// appearance from the root, and for each the splits on it.
    features: Vec<u32>,
    feature_splits: Vec<u64>,
    /// Per leaf, `2^d` patterns × `d` contributions, already multiplied by
    /// the leaf value and by (one − zero) of the feature.
    values: Vec<f64>,
}

#[derive(Debug, Clone)]
struct Split {
    feature: u32,
    /// Index into `sets` for a categorical split, `u32::MAX` for numeric.
    set: u32,
    default_left: bool,
    threshold: f64,
}

#[derive(Debug, Clone)]
struct TableLeaf {
    /// The splits on the root-to-leaf path.
    path: u64,
    /// Those of them the path leaves to the left.
    left: u64,
    depth: u8,
    /// Where the leaf's `features` / `feature_splits` start.
    features_at: u32,
    values_at: u32,
}

/// What `LeafTable::visit` carries down the tree.
struct Walk {
    /// Distinct features met so far, with the product of their cover
    /// ratios (the "zero fraction") and the splits on each.
    path: Vec<(usize, f64, u64)>,
    path_bits: u64,
    left_bits: u64,
    weights: Vec<PathElem>,
    limit: usize,
}

impl LeafTable {
    /// The table of `tree`, or `None` when it would hold more than `limit`
    /// values (or more than `TREE_TABLE_LIMIT`), or the tree has more
    /// splits than a row's way through it can be noted in.
    pub(crate) fn build(tree: &Tree, limit: usize) -> Option<LeafTable> {
        let mut table = LeafTable {
            splits: Vec::new(),
            sets: Vec::new(),
            leaves: Vec::new(),
            features: Vec::new(),
            feature_splits: Vec::new(),
            values: Vec::new(),
        };
        let mut walk = Walk {
            path: Vec::new(),
            path_bits: 0,
            left_bits: 0,
            weights: Vec::new(),
            limit: limit.min(TREE_TABLE_LIMIT),
        };
        table.visit(tree, 0, &mut walk).then_some(table)
    }

    /// The number of values the table holds.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The most distinct features on any one path of the tree.
    #[cfg(test)]
    pub(crate) fn widest_path(&self) -> usize {
        self.leaves
            .iter()
            .map(|l| l.depth as usize)
            .max()
            .unwrap_or(0)
    }

    /// Depth-first from node `n`; false when the tree does not fit.
    fn visit(&mut self, tree: &Tree, n: usize, walk: &mut Walk) -> bool {
        let node = &tree.nodes[n];
        let (feature, left, right, split) = match node {
            Node::Leaf { value, .. } => return self.fill_leaf(*value, walk),
            Node::Numeric {
                feature,
                threshold,
                default_left,
                left,
                right,
                ..
            } => (
                *feature,
                *left,
                *right,
                Split {
                    feature: *feature as u32,
                    set: u32::MAX,
                    default_left: *default_left,
                    threshold: *threshold,
                },
            ),
            Node::Categorical {
                feature,
                left_codes,
                default_left,
                left,
                right,
                ..
            } => {
                self.sets.push(code_set(left_codes));
                (
                    *feature,
                    *left,
                    *right,
                    Split {
                        feature: *feature as u32,
                        set: (self.sets.len() - 1) as u32,
                        default_left: *default_left,
                        threshold: 0.0,
                    },
                )
            }
        };
        if self.splits.len() == MAX_SPLITS {
            return false;
        }
        let bit = 1u64 << self.splits.len();
        self.splits.push(split);
        let (slot, introduced) = match walk.path.iter().position(|&(f, _, _)| f == feature) {
            Some(slot) => (slot, false),
            None if walk.path.len() == MAX_PATH_FEATURES => return false,
            None => {
                walk.path.push((feature, 1.0, 0));
                (walk.path.len() - 1, true)
            }
        };
        let (zero_before, splits_before) = (walk.path[slot].1, walk.path[slot].2);
        walk.path[slot].2 |= bit;
        walk.path_bits |= bit;
        let cover = node.cover();
        for (child, goes_left) in [(left, true), (right, false)] {
            walk.path[slot].1 = zero_before * tree.nodes[child].cover() / cover;
            if goes_left {
                walk.left_bits |= bit;
            } else {
                walk.left_bits &= !bit;
            }
            if !self.visit(tree, child, walk) {
                return false;
            }
        }
        walk.path_bits &= !bit;
        walk.left_bits &= !bit;
        walk.path[slot].1 = zero_before;
        walk.path[slot].2 = splits_before;
        if introduced {
            walk.path.pop();
        }
        true
    }

    fn fill_leaf(&mut self, value: f64, walk: &mut Walk) -> bool {
        let d = walk.path.len();
        if d == 0 {
            // A tree that is a single leaf explains nothing.
            return true;
        }
        let size = (1usize << d) * d;
        if self.values.len() + size > walk.limit {
            return false;
        }
        self.leaves.push(TableLeaf {
            path: walk.path_bits,
            left: walk.left_bits,
            depth: d as u8,
            features_at: self.features.len() as u32,
            values_at: self.values.len() as u32,
        });
        for &(f, _, splits) in &walk.path {
            self.features.push(f as u32);
            self.feature_splits.push(splits);
        }
        for pattern in 0..1usize << d {
            walk.weights.clear();
            let mut view = PathView {
                paths: &mut walk.weights,
                start: 0,
            };
            view.extend(1.0, 1.0, usize::MAX);
            for (k, &(f, zero, _)) in walk.path.iter().enumerate() {
                let one = if pattern >> k & 1 == 1 { 1.0 } else { 0.0 };
                view.extend(zero, one, f);
            }
            for k in 0..d {
                let e = walk.weights[k + 1];
                self.values
                    .push(unwound_sum(&walk.weights, k + 1) * (e.one - e.zero) * value);
            }
        }
        true
    }

    /// Adds the tree's SHAP values for row `x` to `phi`.
    pub(crate) fn add(&self, x: &[f64], phi: &mut [f64]) {
        let mut goes_left = 0u64;
        for (i, s) in self.splits.iter().enumerate() {
            let v = x[s.feature as usize];
            let set = (s.set != u32::MAX).then(|| &self.sets[s.set as usize]);
            let left = flat_goes_left(v, s.default_left, set, s.threshold);
            goes_left |= (left as u64) << i;
        }
        for leaf in &self.leaves {
            // The splits of the path where the row goes the other way.
            let off_path = (goes_left ^ leaf.left) & leaf.path;
            let d = leaf.depth as usize;
            let at = leaf.features_at as usize;
            let mut pattern = 0;
            for (k, &splits) in self.feature_splits[at..at + d].iter().enumerate() {
                pattern |= ((off_path & splits == 0) as usize) << k;
            }
            let values = &self.values[leaf.values_at as usize + pattern * d..][..d];
            for (&f, &v) in self.features[at..at + d].iter().zip(values) {
                phi[f as usize] += v;
            }
        }
    }
}

/// Adds the SHAP values of `tree` for row `x` to `phi` by the published
/// recursion; `paths` is scratch.
pub(crate) fn add_by_recursion(tree: &Tree, x: &[f64], phi: &mut [f64], paths: &mut Vec<PathElem>) {
    paths.clear();
    recurse(tree, 0, x, phi, paths, 0, 0, 1.0, 1.0, usize::MAX);
}

#[derive(Clone, Copy)]
pub(crate) struct PathElem {
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

fn unwound_sum(path: &[PathElem], k: usize) -> f64 {
    let d = path.len() - 1;
    let (one, zero) = (path[k].one, path[k].zero);
    let mut next = path[d].weight;
    let mut total = 0.0;
    for i in (0..d).rev() {
        if one != 0.0 {
            let tmp = next * (d + 1) as f64 / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (d - i) as f64 / (d + 1) as f64;
        } else {
            total += path[i].weight / zero / ((d - i) as f64 / (d + 1) as f64);
        }
    }
    total
}

/// Visits node `n` of `tree` with the path that led there stored in
/// `paths[parent_start..parent_start + parent_len]`; this level's path goes
/// right after it (the recursion is depth-first, so everything past the
/// parent's path is free).
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    n: usize,
    x: &[f64],
    phi: &mut [f64],
    paths: &mut Vec<PathElem>,
    parent_start: usize,
    parent_len: usize,
    zero: f64,
    one: f64,
    feature: usize,
) {
    let start = parent_start + parent_len;
    paths.truncate(start);
    paths.extend_from_within(parent_start..start);
    let mut path = PathView { paths, start };
    path.extend(zero, one, feature);
    let node = &tree.nodes[n];
    match node.child(x) {
        None => {
            let Node::Leaf { value, .. } = node else {
                unreachable!()
            };
            let path = &path.paths[start..];
            for k in 1..path.len() {
                let w = unwound_sum(path, k);
                let e = path[k];
                phi[e.feature] += w * (e.one - e.zero) * value;
            }
        }
        Some((f, hot, cold)) => {
            let cover = node.cover();
            let hot_zero = tree.nodes[hot].cover() / cover;
            let cold_zero = tree.nodes[cold].cover() / cover;
            let (mut in_zero, mut in_one) = (1.0, 1.0);
            let found = (1..path.len()).find(|&k| path.paths[start + k].feature == f);
            if let Some(k) = found {
                in_zero = path.paths[start + k].zero;
                in_one = path.paths[start + k].one;
                path.unwind(k);
            }
            let len = path.len();
            recurse(
                tree,
                hot,
                x,
                phi,
                paths,
                start,
                len,
                hot_zero * in_zero,
                in_one,
                f,
            );
            recurse(
                tree,
                cold,
                x,
                phi,
                paths,
                start,
                len,
                cold_zero * in_zero,
                0.0,
                f,
            );
        }
    }
}

/// The path of one recursion level: `paths[start..]`.
struct PathView<'a> {
    paths: &'a mut Vec<PathElem>,
    start: usize,
}

impl PathView<'_> {
    fn len(&self) -> usize {
        self.paths.len() - self.start
    }

    fn extend(&mut self, zero: f64, one: f64, feature: usize) {
        let d = self.len();
        self.paths.push(PathElem {
            feature,
            zero,
            one,
            weight: if d == 0 { 1.0 } else { 0.0 },
        });
        let path = &mut self.paths[self.start..];
        for i in (0..d).rev() {
            path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (d + 1) as f64;
            path[i].weight = zero * path[i].weight * (d - i) as f64 / (d + 1) as f64;
        }
    }

    fn unwind(&mut self, k: usize) {
        let path = &mut self.paths[self.start..];
        let d = path.len() - 1;
        let (one, zero) = (path[k].one, path[k].zero);
        let mut next = path[d].weight;
        for i in (0..d).rev() {
            if one != 0.0 {
                let tmp = path[i].weight;
                path[i].weight = next * (d + 1) as f64 / ((i + 1) as f64 * one);
                next = tmp - path[i].weight * zero * (d - i) as f64 / (d + 1) as f64;
            } else {
                path[i].weight = path[i].weight * (d + 1) as f64 / (zero * (d - i) as f64);
            }
        }
        for i in k..d {
            path[i].feature = path[i + 1].feature;
            path[i].zero = path[i + 1].zero;
            path[i].one = path[i + 1].one;
        }
        self.paths.pop();
    }
}
