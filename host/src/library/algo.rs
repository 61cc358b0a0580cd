#![allow(clippy::needless_range_loop)]
//! TEMPORARY stand-in for facelab-cluster while it is written; replaced by calls into the
//! crate. Small, exact, O(n²).

use std::collections::HashMap;

use super::search::dot;

/// The clustering algorithm and its parameters.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Algorithm {
    /// Average linkage with a similarity cut-off.
    Agglomerative {
        /// Merge while the average similarity is at least this.
        threshold: f32,
    },
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Agglomerative { threshold: 0.4 }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Algorithm::Agglomerative { threshold } => {
                write!(f, "agglomerative(threshold={threshold})")
            }
        }
    }
}

impl Algorithm {
    /// Similarity to a cluster centre at which a new face joins it.
    pub fn join_similarity(&self) -> f32 {
        match self {
            Algorithm::Agglomerative { threshold } => *threshold,
        }
    }
}

/// Labels per row (None = alone).
pub fn cluster(
    data: &[f32],
    dim: usize,
    algo: &Algorithm,
    cannot: &[(u32, u32)],
) -> Result<Vec<Option<u32>>, String> {
    let n = data.len() / dim.max(1);
    let Algorithm::Agglomerative { threshold } = algo;
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut groups: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let mut of: Vec<usize> = (0..n).collect();
    let sim: Vec<f32> = (0..n * n).map(|k| dot(row(k / n), row(k % n))).collect();
    loop {
        let mut best = None;
        for a in 0..groups.len() {
            if groups[a].is_empty() {
                continue;
            }
            for b in a + 1..groups.len() {
                if groups[b].is_empty() {
                    continue;
                }
                let blocked = cannot.iter().any(|&(x, y)| {
                    let (x, y) = (x as usize, y as usize);
                    (of[x] == a && of[y] == b) || (of[x] == b && of[y] == a)
                });
                if blocked {
                    continue;
                }
                let mut s = 0.0;
                for &i in &groups[a] {
                    for &j in &groups[b] {
                        s += sim[i * n + j];
                    }
                }
                s /= (groups[a].len() * groups[b].len()) as f32;
                if s >= *threshold && best.is_none_or(|(_, _, v)| s > v) {
                    best = Some((a, b, s));
                }
            }
        }
        let Some((a, b, _)) = best else { break };
        let moved = std::mem::take(&mut groups[b]);
        for &i in &moved {
            of[i] = a;
        }
        groups[a].extend(moved);
    }
    let mut label = HashMap::new();
    Ok((0..n)
        .map(|i| {
            if groups[of[i]].len() < 2 {
                return None;
            }
            let next = label.len() as u32;
            Some(*label.entry(of[i]).or_insert(next))
        })
        .collect())
}

/// New label → old id, one to one, by overlap.
pub fn match_ids(old: &[(u64, u64)], new: &[(u64, u32)]) -> HashMap<u32, u64> {
    let old_of: HashMap<u64, u64> = old.iter().copied().collect();
    let mut counts: HashMap<(u32, u64), usize> = HashMap::new();
    for (item, l) in new {
        if let Some(o) = old_of.get(item) {
            *counts.entry((*l, *o)).or_default() += 1;
        }
    }
    let mut pairs: Vec<((u32, u64), usize)> = counts.into_iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out = HashMap::new();
    let mut used = std::collections::HashSet::new();
    for ((l, o), _) in pairs {
        if !out.contains_key(&l) && used.insert(o) {
            out.insert(l, o);
        }
    }
    out
}

/// Two groups (0/1) by 2-means seeded with the farthest pair from row 0.
pub fn split(data: &[f32], dim: usize) -> Vec<u8> {
    let n = data.len() / dim;
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let far = (0..n)
        .min_by(|&a, &b| dot(row(0), row(a)).total_cmp(&dot(row(0), row(b))))
        .unwrap_or(0);
    let mut c = [row(0).to_vec(), row(far).to_vec()];
    let mut lab = vec![0u8; n];
    for _ in 0..10 {
        for i in 0..n {
            lab[i] = u8::from(dot(row(i), &c[1]) > dot(row(i), &c[0]));
        }
        for g in 0..2 {
            let mut m = vec![0.0; dim];
            for i in (0..n).filter(|&i| lab[i] == g as u8) {
                for (a, b) in m.iter_mut().zip(row(i)) {
                    *a += b;
                }
            }
            c[g] = super::search::normalized(&m);
        }
    }
    lab
}
