//! DBSCAN with cosine distance, honouring cannot-link pairs by refusing to add a point to a
//! cluster that holds one of its partners (the point may then join a later cluster or stay
//! noise).

use crate::knn::{self, Adjacency};
use crate::linalg::{parallel_chunks, Kernel};
use crate::{finish, CannotLink, DbscanParams};

/// ε-neighbourhoods: exact by scanning, or read from a thresholded kNN graph.
enum Neighbourhoods<'a> {
    Exact {
        data: &'a [f32],
        dim: usize,
        min_sim: f32,
        kernel: Kernel,
    },
    Graph(Adjacency),
}

impl Neighbourhoods<'_> {
    /// ε-neighbours of `i` other than `i`.
    fn of(&self, i: usize, out: &mut Vec<u32>, buf: &mut Vec<f32>) {
        out.clear();
        match self {
            Neighbourhoods::Exact {
                data,
                dim,
                min_sim,
                kernel,
            } => {
                let n = data.len() / dim;
                buf.resize(n, 0.0);
                kernel.sims(&data[i * dim..(i + 1) * dim], data, *dim, buf);
                out.extend(
                    (0..n)
                        .filter(|&j| j != i && buf[j] >= *min_sim)
                        .map(|j| j as u32),
                );
            }
            Neighbourhoods::Graph(a) => out.extend_from_slice(a.row(i).0),
        }
    }
}

pub(crate) fn run(data: &[f32], dim: usize, p: &DbscanParams, cl: &CannotLink) -> Vec<Option<u32>> {
    let n = data.len() / dim;
    let min_sim = 1.0 - p.eps;
    let hoods = if n < p.knn.exact_below {
        Neighbourhoods::Exact {
            data,
            dim,
            min_sim,
            kernel: Kernel::detect(),
        }
    } else {
        Neighbourhoods::Graph(Adjacency::from_graph(
            &knn::build(data, dim, &p.knn),
            min_sim,
        ))
    };
    // Core points: at least `min_points` within eps, itself included.
    let parts = parallel_chunks(
        n,
        64,
        Vec::new,
        |out: &mut Vec<(usize, Vec<bool>)>, range| {
            let (mut nb, mut buf) = (Vec::new(), Vec::new());
            let core = range
                .clone()
                .map(|i| {
                    hoods.of(i, &mut nb, &mut buf);
                    nb.len() + 1 >= p.min_points
                })
                .collect();
            out.push((range.start, core));
        },
    );
    let mut core = vec![false; n];
    for (s, c) in parts.into_iter().flatten() {
        core[s..s + c.len()].copy_from_slice(&c);
    }
    const NOISE: u32 = u32::MAX;
    let mut label = vec![NOISE; n];
    let can_join =
        |label: &[u32], i: usize, c: u32| cl.of(i).iter().all(|&j| label[j as usize] != c);
    let (mut nb, mut buf, mut stack) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = 0u32;
    for s in 0..n {
        if !core[s] || label[s] != NOISE {
            continue;
        }
        let c = next;
        next += 1;
        label[s] = c;
        stack.push(s);
        while let Some(i) = stack.pop() {
            hoods.of(i, &mut nb, &mut buf);
            for &j in &nb {
                let j = j as usize;
                if label[j] == NOISE && can_join(&label, j, c) {
                    label[j] = c;
                    if core[j] {
                        stack.push(j);
                    }
                }
            }
        }
    }
    // Noise gets a singleton group each. Groups of one (noise, or a core point whose
    // neighbours were all taken by cannot-link) are no cluster, unless `min_points` is 1.
    let groups: Vec<u32> = label
        .iter()
        .enumerate()
        .map(|(i, &l)| if l == NOISE { next + i as u32 } else { l })
        .collect();
    finish(&groups, p.min_points.min(2))
}
