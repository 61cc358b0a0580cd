//! Exact nearest-neighbour search over stored embeddings: one contiguous row-major matrix
//! and facelab-cluster's dot-product kernel, which uses AVX2 + FMA when the CPU has them
//! (checked at run time), else a sixteen-lane loop that the compiler vectorises.

use facelab_cluster::linalg::Kernel;

/// Embeddings of one model, row-major, with the id of each row.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    /// Columns.
    pub dim: usize,
    /// Row ids (face ids).
    pub ids: Vec<i64>,
    /// `ids.len() * dim` values, each row L2-normalised.
    pub data: Vec<f32>,
}

impl Matrix {
    /// An empty matrix of `dim` columns.
    pub fn new(dim: usize) -> Matrix {
        Matrix {
            dim,
            ids: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Appends a row, normalising it; a row of another dimension is refused.
    pub fn push(&mut self, id: i64, v: &[f32]) -> bool {
        if v.len() != self.dim {
            return false;
        }
        let n = norm(v);
        self.ids.push(id);
        self.data
            .extend(v.iter().map(|x| if n > 0.0 { x / n } else { 0.0 }));
        true
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Cosine similarity of a (normalised) query with every row.
    ///
    /// # Panics
    /// When `query` is not `dim` long.
    pub fn similarities(&self, query: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.len(), 0.0);
        if !self.is_empty() {
            dots(query, &self.data, self.dim, out);
        }
    }

    /// The `k` most similar rows to `query` (normalised here), best first: (row, similarity).
    pub fn top_k(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        let q = normalized(query);
        let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
        if k == 0 || q.len() != self.dim {
            return best;
        }
        let kernel = Kernel::detect();
        let mut floor = f32::NEG_INFINITY;
        const BLOCK: usize = 2048;
        let mut sims = vec![0.0f32; BLOCK];
        for (b, rows) in self.data.chunks(BLOCK * self.dim).enumerate() {
            let n = rows.len() / self.dim;
            kernel.sims(&q, rows, self.dim, &mut sims[..n]);
            for (j, &s) in sims[..n].iter().enumerate() {
                if best.len() < k || s > floor {
                    let at = best.partition_point(|&(_, v)| v >= s);
                    best.insert(at, (b * BLOCK + j, s));
                    best.truncate(k);
                    if best.len() == k {
                        floor = best[k - 1].1;
                    }
                }
            }
        }
        best
    }
}

/// L2 norm.
pub fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// A unit-length copy of a vector (facelab-cluster's, the one of the workspace).
pub use facelab_cluster::linalg::normalized;

/// `a · b` over the shorter length: facelab-cluster's kernel (AVX2 + FMA when the CPU has
/// them), the one dot product of the workspace.
pub use facelab_cluster::linalg::dot;

/// `out[i] = q · row i` for the rows of `data` (`dim` floats each); the CPU check happens
/// once per call.
///
/// # Panics
/// When `q.len() != dim` (facelab-cluster's [`Kernel::sims`] checks it in every build).
pub fn dots(q: &[f32], data: &[f32], dim: usize, out: &mut [f32]) {
    Kernel::detect().sims(q, data, dim, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_every_length() {
        for n in [0, 1, 7, 15, 16, 17, 128, 131, 512] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn top_k_is_sorted_and_finds_the_copy() {
        let mut m = Matrix::new(4);
        for i in 0..50 {
            let f = i as f32;
            m.push(i, &[f.sin(), f.cos(), (f * 0.5).sin(), 1.0]);
        }
        let q = m.row(17).to_vec();
        let top = m.top_k(&q, 5);
        assert_eq!(top[0].0, 17);
        assert!((top[0].1 - 1.0).abs() < 1e-5);
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(m.top_k(&q, 0).is_empty());
        assert_eq!(m.top_k(&q, 100).len(), 50);
    }
}
