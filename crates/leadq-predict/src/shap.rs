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
//!   values) turns the per-row work into a walk of the tree and a lookup
//!   per leaf, several times faster. This is the idea of "Fast TreeSHAP v2"
//!   (Yang 2021). Trees too deep for the table's memory budget keep the
//!   recursion.

use crate::gbdt::{Node, Tree};

/// Most values one tree's table may hold (512 KiB); past it the tree is
/// explained by recursion.
const TREE_TABLE_LIMIT: usize = 1 << 16;
/// Most values all of a model's tables may hold together (32 MiB).
pub(crate) const MODEL_TABLE_LIMIT: usize = 1 << 22;
/// Past this many distinct features on one path, 2^d patterns are too many.
const MAX_PATH_FEATURES: usize = 12;

/// One tree's SHAP contributions, precomputed per leaf and per pattern.
#[derive(Debug, Clone)]
pub(crate) struct LeafTable {
    /// Per node: for a split, the slot its feature holds on the path from
    /// the root (slots are numbered by first appearance, so a node's slot is
    /// the same for every leaf below it); for a leaf, where its values and
    /// features start and how many distinct features its path has.
    nodes: Vec<TableNode>,
    /// Per leaf, `2^d` patterns × `d` contributions, already multiplied by
    /// the leaf value and by (one − zero) of the feature.
    values: Vec<f64>,
    /// Per leaf, its `d` distinct path features in slot order.
    features: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default)]
struct TableNode {
    slot: u8,
    depth: u8,
    values_at: u32,
    features_at: u32,
}

impl LeafTable {
    /// The table of `tree`, or `None` when it would hold more than `limit`
    /// values (or more than `TREE_TABLE_LIMIT`).
    pub(crate) fn build(tree: &Tree, limit: usize) -> Option<LeafTable> {
        let limit = limit.min(TREE_TABLE_LIMIT);
        let mut table = LeafTable {
            nodes: vec![TableNode::default(); tree.nodes.len()],
            values: Vec::new(),
            features: Vec::new(),
        };
        let mut path = Vec::new();
        let mut weights = Vec::new();
        table
            .visit(tree, 0, &mut path, &mut weights, limit)
            .then_some(table)
    }

    /// The number of values the table holds.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The most distinct features on any one path of the tree.
    #[cfg(test)]
    pub(crate) fn widest_path(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.depth as usize)
            .max()
            .unwrap_or(0)
    }

    /// Depth-first from node `n`; `path` holds the distinct features met so
    /// far with the product of their cover ratios (the "zero fraction").
    fn visit(
        &mut self,
        tree: &Tree,
        n: usize,
        path: &mut Vec<(usize, f64)>,
        weights: &mut Vec<PathElem>,
        limit: usize,
    ) -> bool {
        let node = &tree.nodes[n];
        let (feature, left, right) = match node {
            Node::Leaf { value, .. } => return self.fill_leaf(n, *value, path, weights, limit),
            Node::Numeric {
                feature,
                left,
                right,
                ..
            }
            | Node::Categorical {
                feature,
                left,
                right,
                ..
            } => (*feature, *left, *right),
        };
        let (slot, introduced) = match path.iter().position(|&(f, _)| f == feature) {
            Some(slot) => (slot, false),
            None if path.len() == MAX_PATH_FEATURES => return false,
            None => {
                path.push((feature, 1.0));
                (path.len() - 1, true)
            }
        };
        self.nodes[n].slot = slot as u8;
        let zero_before = path[slot].1;
        let cover = node.cover();
        for child in [left, right] {
            path[slot].1 = zero_before * tree.nodes[child].cover() / cover;
            if !self.visit(tree, child, path, weights, limit) {
                return false;
            }
        }
        path[slot].1 = zero_before;
        if introduced {
            path.pop();
        }
        true
    }

    fn fill_leaf(
        &mut self,
        n: usize,
        value: f64,
        path: &[(usize, f64)],
        weights: &mut Vec<PathElem>,
        limit: usize,
    ) -> bool {
        let d = path.len();
        let size = (1usize << d) * d;
        if self.values.len() + size > limit {
            return false;
        }
        self.nodes[n] = TableNode {
            slot: 0,
            depth: d as u8,
            values_at: self.values.len() as u32,
            features_at: self.features.len() as u32,
        };
        self.features.extend(path.iter().map(|&(f, _)| f as u32));
        for pattern in 0..1usize << d {
            weights.clear();
            let mut view = PathView {
                paths: weights,
                start: 0,
            };
            view.extend(1.0, 1.0, usize::MAX);
            for (k, &(f, zero)) in path.iter().enumerate() {
                let one = if pattern >> k & 1 == 1 { 1.0 } else { 0.0 };
                view.extend(zero, one, f);
            }
            for k in 0..d {
                let e = weights[k + 1];
                self.values
                    .push(unwound_sum(weights, k + 1) * (e.one - e.zero) * value);
            }
        }
        true
    }

    /// Adds the tree's SHAP values for row `x` to `phi`; `stack` is scratch.
    pub(crate) fn add(&self, tree: &Tree, x: &[f64], phi: &mut [f64], stack: &mut Vec<(u32, u32)>) {
        stack.clear();
        stack.push((0, u32::MAX));
        while let Some((n, pattern)) = stack.pop() {
            let n = n as usize;
            match tree.nodes[n].child(x) {
                Some((_, hot, cold)) => {
                    let slot = self.nodes[n].slot;
                    stack.push((cold as u32, pattern & !(1 << slot)));
                    stack.push((hot as u32, pattern));
                }
                None => {
                    let leaf = self.nodes[n];
                    let d = leaf.depth as usize;
                    if d == 0 {
                        continue;
                    }
                    let p = (pattern & ((1u32 << d) - 1)) as usize;
                    let values = &self.values[leaf.values_at as usize + p * d..][..d];
                    let features = &self.features[leaf.features_at as usize..][..d];
                    for (&f, &v) in features.iter().zip(values) {
                        phi[f as usize] += v;
                    }
                }
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
