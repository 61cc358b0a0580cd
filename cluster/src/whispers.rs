//! Chinese Whispers (Biemann 2006) on the kNN graph, as dlib uses it for faces: every face
//! starts in its own class; in a random order each face adopts the class with the largest
//! summed edge similarity among its neighbours (edges below the threshold are dropped).
//!
//! Cannot-link: a face never adopts a class that one of its partners currently holds. Labels
//! change one face at a time and start all distinct, so no pair ever shares a class.

use crate::knn::{Adjacency, KnnGraph};
use crate::linalg::Rng;
use crate::{CannotLink, WhispersParams};

/// Raw class per face (a face id of the class's founder).
pub(crate) fn run(graph: &KnnGraph, p: &WhispersParams, cl: &CannotLink) -> Vec<u32> {
    let n = graph.len();
    let adj = Adjacency::from_graph(graph, p.threshold);
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
