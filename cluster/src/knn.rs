//! k-nearest-neighbour graphs under cosine similarity (dot product of unit vectors).
//!
//! - [`exact`]: brute force in blocks (32 queries × 512 rows, so a row block stays in L2 while
//!   a query block is reused against it), split over all cores with `std::thread::scope`,
//!   with the vectorised kernels of [`crate::linalg`].
//! - [`ivf`]: an inverted-file index: a spherical k-means coarse quantiser of `nlist` cells
//!   (trained on a sample), every vector stored contiguously by cell, and each query scanning
//!   only its `nprobe` nearest cells, then [`refine`]d by comparing each vector with its
//!   neighbours' neighbours. For 100,000 × 128-D face-like vectors: ~8 s on 2 cores against
//!   ~80 s for brute force, finding 99% of the neighbours with cosine ≥ 0.4 (the edges the
//!   clusterings use; see `examples/scale.rs` and the README).
//! - [`build`] chooses between them by [`KnnConfig::exact_below`].
//!
//! Hand-written rather than taken from a crate: the HNSW crates pull in large dependency
//! trees (rayon, serde variants, memory-mapping) and are slower to build than this module is
//! long, and an IVF scan over contiguous memory is as fast as HNSW at this scale and
//! deterministic (seeded), which keeps clusterings reproducible.

use serde::{Deserialize, Serialize};

use crate::linalg::{normalize, parallel_chunks, Kernel, Rng};

/// How the kNN graph is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnnConfig {
    /// Neighbours per face.
    pub k: usize,
    /// Below this many faces the graph is exact (brute force); from it on, approximate (IVF).
    pub exact_below: usize,
    /// IVF cells; 0 = automatic (`3·√n`).
    pub nlist: usize,
    /// IVF cells scanned per query.
    pub nprobe: usize,
    /// Rounds of neighbour-of-neighbour [`refine`]ment after IVF.
    pub refine: usize,
    /// Neighbours (and reverse neighbours) followed per vector in a refinement round.
    pub fanout: usize,
    /// Seed of the quantiser's sample and initialisation.
    pub seed: u64,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            k: 30,
            exact_below: 20_000,
            nlist: 0,
            nprobe: 24,
            refine: 2,
            fanout: 10,
            seed: 0x5eed,
        }
    }
}

/// A directed kNN graph: row `i` holds `i`'s neighbours, most similar first, never `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnGraph {
    n: usize,
    k: usize,
    ids: Vec<u32>,
    sims: Vec<f32>,
}

/// Marks an unused slot (fewer than `k` candidates were seen).
const NONE: u32 = u32::MAX;

impl KnnGraph {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.n
    }
    /// True for a graph of no vectors.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Slots per row.
    pub fn k(&self) -> usize {
        self.k
    }
    /// `(neighbour, similarity)` of vector `i`, most similar first.
    pub fn neighbours(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let r = i * self.k..(i + 1) * self.k;
        self.ids[r.clone()]
            .iter()
            .zip(&self.sims[r])
            .take_while(|(&j, _)| j != NONE)
            .map(|(&j, &s)| (j, s))
    }
}

/// The `k` best `(similarity, id)` seen so far, best first.
struct TopK {
    k: usize,
    items: Vec<(f32, u32)>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }
    fn clear(&mut self) {
        self.items.clear();
    }
    #[inline]
    fn worst(&self) -> f32 {
        if self.items.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.items[self.k - 1].0
        }
    }
    #[inline]
    fn push(&mut self, s: f32, id: u32) {
        if self.k == 0 || s <= self.worst() {
            return;
        }
        // Ties keep the lower id first (ids arrive in increasing order within a scan).
        let pos = self.items.partition_point(|&(t, _)| t >= s);
        self.items.insert(pos, (s, id));
        self.items.truncate(self.k);
    }
    fn write(&self, ids: &mut [u32], sims: &mut [f32]) {
        for (slot, (i, s)) in ids.iter_mut().zip(sims.iter_mut()).enumerate() {
            match self.items.get(slot) {
                Some(&(sim, id)) => (*i, *s) = (id, sim),
                None => (*i, *s) = (NONE, f32::NEG_INFINITY),
            }
        }
    }
}

/// Builds the graph with `cfg`: exact below `cfg.exact_below` vectors, else IVF.
pub fn build(data: &[f32], dim: usize, cfg: &KnnConfig) -> KnnGraph {
    let n = data.len().checked_div(dim).unwrap_or(0);
    if n < cfg.exact_below.max(2) {
        exact(data, dim, cfg.k)
    } else {
        let nlist = if cfg.nlist == 0 {
            (3.0 * (n as f64).sqrt()).round() as usize
        } else {
            cfg.nlist
        };
        let mut g = ivf(data, dim, cfg.k, nlist, cfg.nprobe, cfg.seed);
        for _ in 0..cfg.refine {
            g = refine(data, dim, &g, cfg.fanout);
        }
        g
    }
}

const QUERY_BLOCK: usize = 32;
const ROW_BLOCK: usize = 512;

/// Exact kNN graph by blocked brute force over all cores (`k` is capped at `n - 1`).
pub fn exact(data: &[f32], dim: usize, k: usize) -> KnnGraph {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let queries: Vec<u32> = (0..n as u32).collect();
    let (ids, sims, k) = search_exact(data, dim, &queries, k.min(n.saturating_sub(1)));
    KnnGraph { n, k, ids, sims }
}

/// Exact `k` nearest neighbours of the listed vectors of `data` (each excluding itself), as
/// flat `(ids, sims, k)` rows in the order of `queries`. Used by [`exact`] and to measure the
/// recall of [`ivf`] on a subset.
pub fn search_exact(
    data: &[f32],
    dim: usize,
    queries: &[u32],
    k: usize,
) -> (Vec<u32>, Vec<f32>, usize) {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let kernel = Kernel::detect();
    let nq = queries.len();
    let parts = parallel_chunks(nq, QUERY_BLOCK, Vec::new, |out: &mut Vec<Block>, range| {
        let qn = range.len();
        let mut qbuf = Vec::with_capacity(qn * dim);
        for &q in &queries[range.clone()] {
            qbuf.extend_from_slice(&data[q as usize * dim..(q as usize + 1) * dim]);
        }
        let mut tops: Vec<TopK> = (0..qn).map(|_| TopK::new(k)).collect();
        let mut buf = vec![0f32; qn * ROW_BLOCK];
        for r0 in (0..n).step_by(ROW_BLOCK) {
            let r1 = (r0 + ROW_BLOCK).min(n);
            let nr = r1 - r0;
            let b = &mut buf[..qn * nr];
            kernel.sims_block(&qbuf, &data[r0 * dim..r1 * dim], dim, b);
            for (qi, top) in tops.iter_mut().enumerate() {
                let me = queries[range.start + qi] as usize;
                let row = &b[qi * nr..(qi + 1) * nr];
                for (j, &s) in row.iter().enumerate() {
                    if r0 + j != me {
                        top.push(s, (r0 + j) as u32);
                    }
                }
            }
        }
        let mut ids = vec![NONE; qn * k];
        let mut sims = vec![0f32; qn * k];
        for (qi, top) in tops.iter().enumerate() {
            top.write(
                &mut ids[qi * k..(qi + 1) * k],
                &mut sims[qi * k..(qi + 1) * k],
            );
        }
        out.push((range.start, ids, sims));
    });
    let (ids, sims) = stitch(parts, nq, k);
    (ids, sims, k)
}

/// Rows computed in parallel blocks, as `(first row, ids, sims)` per block, put into one
/// flat `rows × k` pair of arrays (rows no block wrote stay empty: `NONE`, −∞).
type Block = (usize, Vec<u32>, Vec<f32>);
fn stitch(parts: Vec<Vec<Block>>, rows: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    let mut ids = vec![NONE; rows * k];
    let mut sims = vec![f32::NEG_INFINITY; rows * k];
    for (start, i, s) in parts.into_iter().flatten() {
        ids[start * k..start * k + i.len()].copy_from_slice(&i);
        sims[start * k..start * k + s.len()].copy_from_slice(&s);
    }
    (ids, sims)
}

/// Spherical k-means: `c` unit centroids of `sample` (row-major, `dim` columns).
fn kmeans(sample: &[f32], dim: usize, c: usize, iters: usize, rng: &mut Rng) -> Vec<f32> {
    let n = sample.len() / dim;
    let kernel = Kernel::detect();
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut cent: Vec<f32> = order[..c]
        .iter()
        .flat_map(|&i| sample[i * dim..(i + 1) * dim].to_vec())
        .collect();
    for _ in 0..iters {
        let assign = nearest_centroid(sample, dim, &cent, kernel);
        let mut sums = vec![0f32; c * dim];
        let mut counts = vec![0usize; c];
        for (i, &a) in assign.iter().enumerate() {
            counts[a as usize] += 1;
            for (s, x) in sums[a as usize * dim..(a as usize + 1) * dim]
                .iter_mut()
                .zip(&sample[i * dim..(i + 1) * dim])
            {
                *s += x;
            }
        }
        for j in 0..c {
            let row = &mut sums[j * dim..(j + 1) * dim];
            if counts[j] == 0 || normalize(row) == 0.0 {
                // Empty cell: reseed from a random sample point.
                let p = rng.below(n);
                row.copy_from_slice(&sample[p * dim..(p + 1) * dim]);
            }
        }
        cent = sums;
    }
    cent
}

/// Index of the most similar centroid of every row.
fn nearest_centroid(data: &[f32], dim: usize, cent: &[f32], kernel: Kernel) -> Vec<u32> {
    let n = data.len() / dim;
    let c = cent.len() / dim;
    let parts = parallel_chunks(
        n,
        256,
        Vec::new,
        |out: &mut Vec<(usize, Vec<u32>)>, range| {
            let mut buf = vec![0f32; c];
            let mut a = Vec::with_capacity(range.len());
            for i in range.clone() {
                kernel.sims(&data[i * dim..(i + 1) * dim], cent, dim, &mut buf);
                let mut best = 0;
                for j in 1..c {
                    if buf[j] > buf[best] {
                        best = j;
                    }
                }
                a.push(best as u32);
            }
            out.push((range.start, a));
        },
    );
    let mut assign = vec![0u32; n];
    for (start, a) in parts.into_iter().flatten() {
        assign[start..start + a.len()].copy_from_slice(&a);
    }
    assign
}

/// Approximate kNN graph with an inverted-file index of `nlist` cells, `nprobe` probed per
/// query. Deterministic for a given `seed`.
pub fn ivf(data: &[f32], dim: usize, k: usize, nlist: usize, nprobe: usize, seed: u64) -> KnnGraph {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let k = k.min(n.saturating_sub(1));
    let nlist = nlist.clamp(1, n.max(1));
    let nprobe = nprobe.clamp(1, nlist);
    if n == 0 {
        return KnnGraph {
            n,
            k,
            ids: vec![],
            sims: vec![],
        };
    }
    let kernel = Kernel::detect();
    let mut rng = Rng::new(seed);
    // Train on a sample of 64 points per cell.
    let ns = n.min(64 * nlist);
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    let sample: Vec<f32> = idx[..ns]
        .iter()
        .flat_map(|&i| data[i * dim..(i + 1) * dim].to_vec())
        .collect();
    let cent = kmeans(&sample, dim, nlist, 10, &mut rng);
    drop(sample);
    let assign = nearest_centroid(data, dim, &cent, kernel);
    // Vectors stored contiguously by cell.
    let mut offsets = vec![0usize; nlist + 1];
    for &a in &assign {
        offsets[a as usize + 1] += 1;
    }
    for j in 0..nlist {
        offsets[j + 1] += offsets[j];
    }
    let mut fill = offsets.clone();
    let mut order = vec![0u32; n];
    for (i, &a) in assign.iter().enumerate() {
        order[fill[a as usize]] = i as u32;
        fill[a as usize] += 1;
    }
    let packed: Vec<f32> = order
        .iter()
        .flat_map(|&i| data[i as usize * dim..(i as usize + 1) * dim].to_vec())
        .collect();
    let max_cell = (0..nlist)
        .map(|j| offsets[j + 1] - offsets[j])
        .max()
        .unwrap_or(0);
    let parts = parallel_chunks(n, 64, Vec::new, |out: &mut Vec<Block>, range| {
        let mut csims = vec![0f32; nlist];
        let mut cells: Vec<u32> = (0..nlist as u32).collect();
        let mut buf = vec![0f32; max_cell];
        let mut top = TopK::new(k);
        let mut ids = vec![NONE; range.len() * k];
        let mut sims = vec![0f32; range.len() * k];
        for (qi, q) in range.clone().enumerate() {
            let qv = &data[q * dim..(q + 1) * dim];
            kernel.sims(qv, &cent, dim, &mut csims);
            cells.select_nth_unstable_by(nprobe - 1, |&a, &b| {
                csims[b as usize].total_cmp(&csims[a as usize])
            });
            let mut probe: Vec<u32> = cells[..nprobe].to_vec();
            probe.sort_unstable();
            top.clear();
            for &c in &probe {
                let (a, b) = (offsets[c as usize], offsets[c as usize + 1]);
                let out = &mut buf[..b - a];
                kernel.sims(qv, &packed[a * dim..b * dim], dim, out);
                for (j, &s) in out.iter().enumerate() {
                    let id = order[a + j];
                    if id as usize != q {
                        top.push(s, id);
                    }
                }
            }
            top.write(
                &mut ids[qi * k..(qi + 1) * k],
                &mut sims[qi * k..(qi + 1) * k],
            );
        }
        out.push((range.start, ids, sims));
    });
    let (ids, sims) = stitch(parts, n, k);
    KnnGraph { n, k, ids, sims }
}

/// Neighbour-of-neighbour refinement (one round of NN-descent): every vector also compares
/// itself with the first `fanout` neighbours of its first `fanout` neighbours and of the
/// vectors that list it, keeping the best `k`. Faces of one person are each other's
/// neighbours, so a mate missed by the index is usually found through another mate; each
/// round costs about `2·fanout²` dot products per vector.
pub fn refine(data: &[f32], dim: usize, graph: &KnnGraph, fanout: usize) -> KnnGraph {
    let (n, k) = (graph.n, graph.k);
    if n == 0 || k == 0 {
        return graph.clone();
    }
    let fanout = fanout.clamp(1, k);
    // Reverse lists (the vectors that have `j` among their first `fanout`), capped at
    // `fanout` entries each so hubs do not blow up the work.
    let mut rev_off = vec![0usize; n + 1];
    for i in 0..n {
        for (j, _) in graph.neighbours(i).take(fanout) {
            rev_off[j as usize + 1] += 1;
        }
    }
    for i in 0..n {
        rev_off[i + 1] += rev_off[i];
    }
    let mut fill = rev_off.clone();
    let mut rev = vec![0u32; rev_off[n]];
    for i in 0..n {
        for (j, _) in graph.neighbours(i).take(fanout) {
            rev[fill[j as usize]] = i as u32;
            fill[j as usize] += 1;
        }
    }
    let kernel = Kernel::detect();
    let parts = parallel_chunks(n, 256, Vec::new, |out: &mut Vec<Block>, range| {
        let mut seen = std::collections::HashSet::<u32>::new();
        let mut top = TopK::new(k);
        let mut cands: Vec<u32> = Vec::new();
        let mut ids = vec![NONE; range.len() * k];
        let mut sims = vec![0f32; range.len() * k];
        for (qi, i) in range.clone().enumerate() {
            seen.clear();
            top.clear();
            seen.insert(i as u32);
            for (j, s) in graph.neighbours(i) {
                seen.insert(j);
                top.push(s, j);
            }
            cands.clear();
            let (r0, r1) = (rev_off[i], rev_off[i + 1]);
            let rv = &rev[r0..r1.min(r0 + fanout)];
            let firsts = graph
                .neighbours(i)
                .take(fanout)
                .map(|(j, _)| j)
                .chain(rv.iter().copied());
            for j in firsts {
                for (c, _) in graph.neighbours(j as usize).take(fanout) {
                    if seen.insert(c) {
                        cands.push(c);
                    }
                }
            }
            let q = &data[i * dim..(i + 1) * dim];
            for &c in &cands {
                top.push(
                    kernel.dot(q, &data[c as usize * dim..(c as usize + 1) * dim]),
                    c,
                );
            }
            top.write(
                &mut ids[qi * k..(qi + 1) * k],
                &mut sims[qi * k..(qi + 1) * k],
            );
        }
        out.push((range.start, ids, sims));
    });
    let (ids, sims) = stitch(parts, n, k);
    KnnGraph { n, k, ids, sims }
}

/// Recall@k of `graph` on the listed `queries`: the fraction of their exact `k` nearest
/// neighbours (from [`search_exact`] with the graph's `k`) that the graph also lists.
pub fn recall(graph: &KnnGraph, data: &[f32], dim: usize, queries: &[u32]) -> f64 {
    recall_above(graph, data, dim, queries, f32::NEG_INFINITY)
}

/// Like [`recall`], counting only the exact neighbours with similarity ≥ `min_sim`: the
/// edges a clustering threshold keeps. (Far neighbours of a face with few mates are
/// near-ties among unrelated faces that no index finds reliably, and that no method uses.)
pub fn recall_above(
    graph: &KnnGraph,
    data: &[f32],
    dim: usize,
    queries: &[u32],
    min_sim: f32,
) -> f64 {
    let k = graph.k();
    if k == 0 || queries.is_empty() {
        return 1.0;
    }
    let (ids, sims, _) = search_exact(data, dim, queries, k);
    let mut hit = 0usize;
    let mut total = 0usize;
    for (qi, &q) in queries.iter().enumerate() {
        let got: Vec<u32> = graph.neighbours(q as usize).map(|(j, _)| j).collect();
        let r = qi * k..(qi + 1) * k;
        for (&t, &s) in ids[r.clone()].iter().zip(&sims[r]) {
            if t != NONE && s >= min_sim {
                total += 1;
                hit += got.contains(&t) as usize;
            }
        }
    }
    if total == 0 {
        1.0
    } else {
        hit as f64 / total as f64
    }
}

/// An undirected graph in compressed rows: the union of a kNN graph's edges in both
/// directions, keeping those with similarity ≥ a floor.
#[derive(Debug, Clone)]
pub struct Adjacency {
    offsets: Vec<usize>,
    ids: Vec<u32>,
    sims: Vec<f32>,
}

impl Adjacency {
    /// Symmetrises `graph`, keeping edges with similarity ≥ `min_sim`.
    pub fn from_graph(graph: &KnnGraph, min_sim: f32) -> Adjacency {
        let n = graph.len();
        let mut deg = vec![0usize; n];
        for i in 0..n {
            for (j, s) in graph.neighbours(i) {
                if s >= min_sim {
                    deg[i] += 1;
                    deg[j as usize] += 1;
                }
            }
        }
        let mut offsets = vec![0usize; n + 1];
        for i in 0..n {
            offsets[i + 1] = offsets[i] + deg[i];
        }
        let mut fill = offsets.clone();
        let mut ids = vec![0u32; offsets[n]];
        let mut sims = vec![0f32; offsets[n]];
        for i in 0..n {
            for (j, s) in graph.neighbours(i) {
                if s >= min_sim {
                    ids[fill[i]] = j;
                    sims[fill[i]] = s;
                    fill[i] += 1;
                    ids[fill[j as usize]] = i as u32;
                    sims[fill[j as usize]] = s;
                    fill[j as usize] += 1;
                }
            }
        }
        // Sort each row by id and drop the duplicates of mutual neighbours.
        let mut out_off = vec![0usize; n + 1];
        let mut out_ids = Vec::with_capacity(ids.len());
        let mut out_sims = Vec::with_capacity(ids.len());
        let mut row: Vec<(u32, f32)> = Vec::new();
        for i in 0..n {
            row.clear();
            row.extend(
                ids[offsets[i]..offsets[i + 1]]
                    .iter()
                    .copied()
                    .zip(sims[offsets[i]..offsets[i + 1]].iter().copied()),
            );
            row.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
            row.dedup_by_key(|e| e.0);
            for &(j, s) in &row {
                out_ids.push(j);
                out_sims.push(s);
            }
            out_off[i + 1] = out_ids.len();
        }
        Adjacency {
            offsets: out_off,
            ids: out_ids,
            sims: out_sims,
        }
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    /// True for a graph of no vertices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Neighbours of `i` by increasing id, with their similarities.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.offsets[i]..self.offsets[i + 1];
        (&self.ids[r.clone()], &self.sims[r])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        let mut v: Vec<f32> = (0..n * dim).map(|_| r.gaussian() as f32).collect();
        for row in v.chunks_exact_mut(dim) {
            normalize(row);
        }
        v
    }

    #[test]
    fn exact_matches_naive() {
        let (n, dim, k) = (300, 20, 5);
        let d = random_unit(n, dim, 3);
        let g = exact(&d, dim, k);
        for i in [0, 17, 299] {
            let mut all: Vec<(f32, u32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    (
                        d[i * dim..(i + 1) * dim]
                            .iter()
                            .zip(&d[j * dim..(j + 1) * dim])
                            .map(|(a, b)| a * b)
                            .sum(),
                        j as u32,
                    )
                })
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0));
            let got: Vec<u32> = g.neighbours(i).map(|(j, _)| j).collect();
            let want: Vec<u32> = all[..k].iter().map(|x| x.1).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn ivf_probing_everything_is_exact_and_small_n_caps_k() {
        let (n, dim) = (500, 16);
        let d = random_unit(n, dim, 4);
        let e = exact(&d, dim, 8);
        let a = ivf(&d, dim, 8, 10, 10, 1);
        assert!(recall(&a, &d, dim, &(0..n as u32).collect::<Vec<_>>()) > 0.999);
        assert_eq!(e.neighbours(3).count(), 8);
        let tiny = exact(&d[..3 * dim], dim, 8);
        assert_eq!(tiny.k(), 2);
        assert_eq!(exact(&[], dim, 8).len(), 0);
        assert_eq!(ivf(&[], dim, 8, 4, 2, 0).len(), 0);
    }

    #[test]
    fn adjacency_is_symmetric() {
        let d = random_unit(200, 8, 5);
        let g = exact(&d, 8, 4);
        let a = Adjacency::from_graph(&g, -1.0);
        for i in 0..200 {
            let (ids, _) = a.row(i);
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            for &j in ids {
                assert!(a.row(j as usize).0.contains(&(i as u32)));
            }
        }
    }
}
