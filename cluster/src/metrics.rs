//! Clustering quality against true identities.
//!
//! Predicted labels are `Option<u32>`: a `None` (noise, unclustered) counts as a cluster of its
//! own, a singleton. So noise costs recall (its true mates are not with it) but never
//! precision, as in the face-clustering literature (Otto et al., rank-order clustering).
//!
//! - Pairwise: over all unordered pairs of faces, precision = pairs together in both /
//!   pairs together in the prediction, recall = pairs together in both / pairs together in the
//!   truth. With no predicted pair precision is 1 (vacuous); with no true pair recall is 1.
//! - BCubed (Bagga & Baldwin; Amigó et al. 2009): per face, precision = the fraction of its
//!   predicted cluster (itself included) with its identity, recall = the fraction of its
//!   identity in its predicted cluster; both averaged over faces.
//!
//! F is the harmonic mean (0 when both are 0). Every function panics if `truth` and
//! `predicted` differ in length.

use std::collections::HashMap;
use std::hash::Hash;

/// Precision, recall and their harmonic mean.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f: f64,
}

impl Prf {
    fn new(precision: f64, recall: f64) -> Prf {
        let f = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Prf {
            precision,
            recall,
            f,
        }
    }
}

/// All the scores of one clustering.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Report {
    /// Pairwise precision/recall/F.
    pub pairwise: Prf,
    /// BCubed precision/recall/F.
    pub bcubed: Prf,
    /// Predicted clusters (noise not counted).
    pub clusters: usize,
    /// Faces predicted as noise (`None`).
    pub noise: usize,
    /// True identities.
    pub identities: usize,
}

/// Contingency counts: cell sizes, predicted cluster sizes, true class sizes (noise faces are
/// singleton predicted clusters), per face (cell, cluster, class) ids.
struct Table {
    cell: Vec<usize>,
    pred: Vec<usize>,
    truth: Vec<usize>,
    of_face: Vec<(usize, usize, usize)>,
}

fn table<T: Hash + Eq>(truth: &[T], predicted: &[Option<u32>]) -> Table {
    assert_eq!(
        truth.len(),
        predicted.len(),
        "truth and predicted labels differ in length"
    );
    let mut t_ids: HashMap<&T, usize> = HashMap::new();
    let mut p_ids: HashMap<u32, usize> = HashMap::new();
    let mut c_ids: HashMap<(usize, usize), usize> = HashMap::new();
    let (mut cell, mut pred, mut tru) = (vec![], vec![], vec![]);
    let mut of_face = Vec::with_capacity(truth.len());
    for (t, p) in truth.iter().zip(predicted) {
        let ti = *t_ids.entry(t).or_insert_with(|| {
            tru.push(0);
            tru.len() - 1
        });
        // A noise face is a cluster of its own.
        let pi = match p {
            Some(l) => *p_ids.entry(*l).or_insert_with(|| {
                pred.push(0);
                pred.len() - 1
            }),
            None => {
                pred.push(0);
                pred.len() - 1
            }
        };
        let ci = *c_ids.entry((ti, pi)).or_insert_with(|| {
            cell.push(0);
            cell.len() - 1
        });
        tru[ti] += 1;
        pred[pi] += 1;
        cell[ci] += 1;
        of_face.push((ci, pi, ti));
    }
    Table {
        cell,
        pred,
        truth: tru,
        of_face,
    }
}

fn pairs(n: usize) -> f64 {
    (n as f64) * (n as f64 - 1.0) / 2.0
}

/// Pairwise precision/recall/F.
pub fn pairwise<T: Hash + Eq>(truth: &[T], predicted: &[Option<u32>]) -> Prf {
    let t = table(truth, predicted);
    pairwise_of(&t)
}

fn pairwise_of(t: &Table) -> Prf {
    let both: f64 = t.cell.iter().map(|&c| pairs(c)).sum();
    let pred: f64 = t.pred.iter().map(|&c| pairs(c)).sum();
    let tru: f64 = t.truth.iter().map(|&c| pairs(c)).sum();
    Prf::new(
        if pred > 0.0 { both / pred } else { 1.0 },
        if tru > 0.0 { both / tru } else { 1.0 },
    )
}

/// BCubed precision/recall/F.
pub fn bcubed<T: Hash + Eq>(truth: &[T], predicted: &[Option<u32>]) -> Prf {
    bcubed_of(&table(truth, predicted))
}

fn bcubed_of(t: &Table) -> Prf {
    let n = t.of_face.len();
    if n == 0 {
        return Prf::new(1.0, 1.0);
    }
    let (mut p, mut r) = (0.0, 0.0);
    for &(c, pi, ti) in &t.of_face {
        p += t.cell[c] as f64 / t.pred[pi] as f64;
        r += t.cell[c] as f64 / t.truth[ti] as f64;
    }
    Prf::new(p / n as f64, r / n as f64)
}

/// Every score of a clustering.
pub fn evaluate<T: Hash + Eq>(truth: &[T], predicted: &[Option<u32>]) -> Report {
    let t = table(truth, predicted);
    let mut labels: Vec<u32> = predicted.iter().flatten().copied().collect();
    labels.sort_unstable();
    labels.dedup();
    Report {
        pairwise: pairwise_of(&t),
        bcubed: bcubed_of(&t),
        clusters: labels.len(),
        noise: predicted.iter().filter(|p| p.is_none()).count(),
        identities: t.truth.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn perfect_clustering_scores_one() {
        let t = ["a", "a", "b", "b", "b"];
        let p = [Some(1), Some(1), Some(0), Some(0), Some(0)];
        let r = evaluate(&t, &p);
        assert_eq!(
            r.pairwise,
            Prf {
                precision: 1.0,
                recall: 1.0,
                f: 1.0
            }
        );
        assert_eq!(
            r.bcubed,
            Prf {
                precision: 1.0,
                recall: 1.0,
                f: 1.0
            }
        );
        assert_eq!((r.clusters, r.noise, r.identities), (2, 0, 2));
    }

    #[test]
    fn hand_computed_example() {
        // Truth: A = {0,1,2}, B = {3,4}. Predicted: X = {0,1,3}, Y = {2,4}.
        let t = [0u32, 0, 0, 1, 1];
        let p = [Some(0), Some(0), Some(1), Some(0), Some(1)];
        // Pairs: truth pairs = 3 + 1 = 4; predicted pairs = 3 + 1 = 4; together in both:
        // (0,1) only = 1. P = 1/4, R = 1/4.
        let pw = pairwise(&t, &p);
        assert!(close(pw.precision, 0.25) && close(pw.recall, 0.25) && close(pw.f, 0.25));
        // BCubed precision per face: 0: 2/3, 1: 2/3, 3: 1/3, 2: 1/2, 4: 1/2 → 8/3/5 = 0.5333…
        // BCubed recall per face: 0: 2/3, 1: 2/3, 2: 1/3, 3: 1/2, 4: 1/2 → same.
        let b = bcubed(&t, &p);
        assert!(close(
            b.precision,
            (2.0 / 3.0 * 2.0 + 1.0 / 3.0 + 1.0) / 5.0
        ));
        assert!(close(b.recall, b.precision));
    }

    #[test]
    fn noise_is_singletons() {
        // Truth: one identity of 4. Predicted: {0,1} and two noise faces.
        let t = [7, 7, 7, 7];
        let p = [Some(0), Some(0), None, None];
        let pw = pairwise(&t, &p);
        assert!(close(pw.precision, 1.0) && close(pw.recall, 1.0 / 6.0));
        // BCubed recall: faces 0,1: 2/4; faces 2,3: 1/4 → (1 + 0.5) / 4 = 0.375.
        let b = bcubed(&t, &p);
        assert!(close(b.precision, 1.0) && close(b.recall, 0.375));
        let r = evaluate(&t, &p);
        assert_eq!((r.clusters, r.noise), (1, 2));
        // All noise: no predicted pair, vacuous precision.
        let pw = pairwise(&t, &[None; 4]);
        assert_eq!((pw.precision, pw.recall, pw.f), (1.0, 0.0, 0.0));
    }

    #[test]
    fn everything_in_one_cluster() {
        // Truth {0,1}, {2,3}; predicted one cluster of 4.
        let t = [0, 0, 1, 1];
        let p = [Some(0); 4];
        let pw = pairwise(&t, &p);
        assert!(close(pw.precision, 2.0 / 6.0) && close(pw.recall, 1.0));
        let b = bcubed(&t, &p);
        assert!(close(b.precision, 0.5) && close(b.recall, 1.0) && close(b.f, 2.0 / 3.0));
        assert_eq!(bcubed::<u8>(&[], &[]).f, 1.0);
    }
}
