//! Merge candidates: groups of faces (or named people) that may be one person split in two,
//! ranked by average linkage — the mean similarity of every face of one group to every face
//! of the other, which is the dot product of the groups' mean unit vectors.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use crate::linalg::Kernel;

/// The mean of each group's rows (not normalised: the dot product of two means is the
/// groups' average-linkage similarity), `groups × dim`. `labels[i]` is row `i`'s group
/// (`None`: in none); groups are numbered `0..groups`.
pub fn group_means(data: &[f32], dim: usize, labels: &[Option<u32>], groups: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; groups * dim];
    let mut counts = vec![0usize; groups];
    for (row, l) in data.chunks_exact(dim).zip(labels) {
        if let Some(g) = l.map(|g| g as usize).filter(|&g| g < groups) {
            counts[g] += 1;
            for (s, x) in sums[g * dim..(g + 1) * dim].iter_mut().zip(row) {
                *s += x;
            }
        }
    }
    for (g, n) in counts.iter().enumerate() {
        if *n > 0 {
            sums[g * dim..(g + 1) * dim]
                .iter_mut()
                .for_each(|s| *s /= *n as f32);
        }
    }
    sums
}

/// Pairs of groups ranked by average linkage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ranked {
    /// (score, (i, j)) with `i < j`, best first.
    pub pairs: Vec<(f32, (usize, usize))>,
    /// Pairs at or above the floor left out because they are in `apart`.
    pub known_apart: usize,
}

/// The pairs of groups (rows of `means`, `dim` wide) scoring at least `floor`, best first:
/// the top `limit`, or all of them; pairs in `apart` (`i < j`) are left out and counted.
pub fn ranked_pairs(
    means: &[f32],
    dim: usize,
    floor: f32,
    limit: Option<usize>,
    apart: &HashSet<(usize, usize)>,
) -> Ranked {
    let n = means.len() / dim.max(1);
    let kernel = Kernel::detect();
    let mut best = Best::new(limit);
    let mut known_apart = 0;
    let mut sims = vec![0.0f32; n];
    for i in 0..n.saturating_sub(1) {
        let out = &mut sims[..n - i - 1];
        kernel.sims(
            &means[i * dim..(i + 1) * dim],
            &means[(i + 1) * dim..],
            dim,
            out,
        );
        for (k, s) in out.iter().enumerate() {
            let j = i + 1 + k;
            if *s < floor || s.is_nan() {
                continue;
            }
            if apart.contains(&(i, j)) {
                known_apart += 1;
                continue;
            }
            best.push(*s, (i, j));
        }
    }
    Ranked {
        pairs: best.into_sorted(),
        known_apart,
    }
}

/// The groups after merging every pair of `pairs` (union-find, in order): each group's new
/// number, `0..` in order of first appearance.
pub fn merged(groups: usize, pairs: &[(f32, (usize, usize))]) -> Vec<u32> {
    let mut parent: Vec<usize> = (0..groups).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (_, (a, b)) in pairs {
        let (ra, rb) = (root(&mut parent, *a), root(&mut parent, *b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut number = vec![u32::MAX; groups];
    let mut next = 0;
    (0..groups)
        .map(|g| {
            let r = root(&mut parent, g);
            if number[r] == u32::MAX {
                number[r] = next;
                next += 1;
            }
            number[r]
        })
        .collect()
}

/// The best pairs seen: the top `limit`, or all of them.
struct Best {
    limit: Option<usize>,
    heap: BinaryHeap<Reverse<(Score, (usize, usize))>>,
}

/// A score ordered totally, for the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f32);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Best {
    fn new(limit: Option<usize>) -> Best {
        Best {
            limit,
            heap: BinaryHeap::new(),
        }
    }

    fn push(&mut self, score: f32, pair: (usize, usize)) {
        if self.limit == Some(0) {
            return;
        }
        self.heap.push(Reverse((Score(score), pair)));
        if self.limit.is_some_and(|l| self.heap.len() > l) {
            self.heap.pop();
        }
    }

    fn into_sorted(self) -> Vec<(f32, (usize, usize))> {
        let mut v: Vec<_> = self
            .heap
            .into_iter()
            .map(|Reverse((s, p))| (s.0, p))
            .collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::dot;

    #[test]
    fn a_score_is_the_mean_similarity_of_every_cross_pair() {
        let (a1, a2, b1) = ([1.0f32, 0.0], [0.6f32, 0.8], [0.0f32, 1.0]);
        let data = [a1, a2, b1].concat();
        let means = group_means(&data, 2, &[Some(0), Some(0), Some(1)], 2);
        let cross = (dot(&a1, &b1) + dot(&a2, &b1)) / 2.0;
        let r = ranked_pairs(&means, 2, f32::NEG_INFINITY, None, &HashSet::new());
        assert_eq!(r.pairs.len(), 1);
        assert!((r.pairs[0].0 - cross).abs() < 1e-6);
    }

    #[test]
    fn the_top_pairs_come_best_first_without_those_known_apart() {
        // Four groups on a circle: 0 and 1 close, 2 and 3 close, the two pairs far apart.
        let at = |deg: f32| [deg.to_radians().cos(), deg.to_radians().sin()];
        let means = [at(0.0), at(10.0), at(90.0), at(95.0)].concat();
        let apart = HashSet::from([(2, 3)]);
        let r = ranked_pairs(&means, 2, -1.0, Some(2), &apart);
        assert_eq!(r.known_apart, 1);
        assert_eq!(
            r.pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
            [(0, 1), (1, 2)]
        );
        assert!(r.pairs[0].0 > r.pairs[1].0);
        let all = ranked_pairs(&means, 2, 0.98, None, &HashSet::new());
        assert_eq!(
            all.pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
            [(2, 3), (0, 1)]
        );
    }

    #[test]
    fn merging_pairs_joins_their_groups_transitively() {
        let pairs = [(0.9, (1, 3)), (0.8, (3, 4)), (0.7, (0, 2))];
        assert_eq!(merged(6, &pairs), [0, 1, 0, 1, 1, 2]);
    }
}
