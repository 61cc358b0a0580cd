//! Chinese Whispers (Biemann 2006) on the kNN graph, as dlib uses it for faces: every face
//! starts in its own class; in a random order each face adopts the class with the largest
//! summed edge similarity among its neighbours (edges below the threshold are dropped).
//!
//! Cannot-link: a face never adopts a class that one of its partners currently holds. Labels
//! change one face at a time and start all distinct, so no pair ever shares a class.
//!
//! Quality-aware links: a neighbour whose quality is below `link_quality` is not counted when
//! a face picks its class. A low-quality face still adopts its good neighbours' class (it
//! joins a cluster), but its own class is never adopted by anyone, so it cannot carry one
//! person's class over to another: the chains through small, blurred faces that merge people
//! are cut where they start.

use crate::knn::{Adjacency, KnnGraph};
use crate::linalg::Rng;
use crate::{CannotLink, Threshold, WhispersParams};

/// Raw class per face (a face id of the class's founder). `p.threshold` must be resolved.
pub(crate) fn run(
    graph: &KnnGraph,
    p: &WhispersParams,
    cl: &CannotLink,
    quality: Option<&[f32]>,
) -> Vec<u32> {
    let n = graph.len();
    let threshold = match p.threshold {
        Threshold::Fixed(t) => t,
        Threshold::Auto => unreachable!("cluster_with resolves the threshold first"),
    };
    // Faces whose class is passed on; NaN (unknown quality) counts as good.
    let links: Vec<bool> = match quality {
        Some(q) if p.link_quality > 0.0 => q
            .iter()
            .map(|&x| x.is_nan() || x >= p.link_quality)
            .collect(),
        _ => vec![true; n],
    };
    let adj = Adjacency::from_graph(graph, threshold);
    let mut label: Vec<u32> = (0..n as u32).collect();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = Rng::new(p.seed);
    // Dense scratch of summed weight per class, reset through `touched`.
    let mut score = vec![0f32; n];
    let mut touched: Vec<u32> = Vec::new();
    for _ in 0..p.iterations {
        rng.shuffle(&mut order);
        let mut changed = 0usize;
        for &v in &order {
            let v = v as usize;
            let (ids, sims) = adj.row(v);
            if ids.is_empty() {
                continue;
            }
            for (&u, &s) in ids.iter().zip(sims) {
                if !links[u as usize] {
                    continue;
                }
                let l = label[u as usize];
                if score[l as usize] == 0.0 {
                    touched.push(l);
                }
                // Similarities are ≥ threshold but may be ≤ 0 for a negative threshold:
                // shift so every edge counts positively.
                score[l as usize] += s.max(0.0) + 1e-6;
            }
            let cur = label[v];
            let mut best = cur;
            let mut best_score = if score[cur as usize] > 0.0 {
                score[cur as usize]
            } else {
                0.0
            };
            for &l in &touched {
                let s = score[l as usize];
                let better = s > best_score || (s == best_score && l < best && best != cur);
                if better && (cl.is_empty() || cl.of(v).iter().all(|&j| label[j as usize] != l)) {
                    best = l;
                    best_score = s;
                }
            }
            for &l in &touched {
                score[l as usize] = 0.0;
            }
            touched.clear();
            if best != cur {
                label[v] = best;
                changed += 1;
            }
        }
        if changed == 0 {
            break;
        }
    }
    label
}
