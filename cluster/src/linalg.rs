//! Dot products written so LLVM vectorises them, with a runtime-dispatched AVX2+FMA path, and
//! the one seeded generator ([`Rng`]) of the workspace.
//!
//! This is facelab's only dot-product kernel: the host's library search, suggestions and
//! evaluation call [`dot`] and [`Kernel::sims`] rather than keeping copies.
//!
//! The portable loop keeps 16 independent accumulators so that the additions do not form one
//! serial dependency chain and LLVM can vectorise it. On x86-64 with AVX2 and FMA (checked
//! once by [`Kernel::detect`] with `is_x86_feature_detected!`) explicit intrinsics take over:
//! the batched entry points ([`Kernel::sims`], [`Kernel::sims_block`]) dispatch once per
//! batch and compare one query with four rows at a time.

/// Accumulator lanes of the portable loop.
const LANES: usize = 16;

#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = reduce(&acc);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline(always)]
fn reduce(acc: &[f32; LANES]) -> f32 {
    let mut h = [0f32; LANES / 2];
    for j in 0..LANES / 2 {
        h[j] = acc[j] + acc[j + LANES / 2];
    }
    let mut s = 0.0;
    for v in h {
        s += v;
    }
    s
}

fn sims_portable(q: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(dim)) {
        *o = dot_portable(q, r);
    }
}

/// Explicit AVX2 + FMA kernels (LLVM's auto-vectoriser split the portable loop into 2-lane
/// pieces here, at a third of the speed).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// `a · b` over `len` floats.
    #[inline(always)]
    unsafe fn dot_ptr(a: *const f32, b: *const f32, len: usize) -> f32 {
        let (mut x, mut y) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= len {
            x = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), x);
            y = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 8)),
                _mm256_loadu_ps(b.add(i + 8)),
                y,
            );
            i += 16;
        }
        if i + 8 <= len {
            x = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), x);
            i += 8;
        }
        let mut s = hsum(_mm256_add_ps(x, y));
        while i < len {
            s += *a.add(i) * *b.add(i);
            i += 1;
        }
        s
    }

    /// `a · b` over the shorter length.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        dot_ptr(a.as_ptr(), b.as_ptr(), a.len().min(b.len()))
    }

    /// `out[r] = q · rows[r]`, four rows at a time so each load of `q` feeds four FMAs.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `q.len() == dim`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sims(q: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
        let n = out.len().min(rows.len() / dim);
        let body = dim - dim % 8;
        let qp = q.as_ptr();
        let mut r = 0;
        while r + 4 <= n {
            let p = rows.as_ptr().add(r * dim);
            let (p0, p1, p2, p3) = (p, p.add(dim), p.add(2 * dim), p.add(3 * dim));
            let mut a = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i < body {
                let qv = _mm256_loadu_ps(qp.add(i));
                a[0] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(p0.add(i)), a[0]);
                a[1] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(p1.add(i)), a[1]);
                a[2] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(p2.add(i)), a[2]);
                a[3] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(p3.add(i)), a[3]);
                i += 8;
            }
            for (j, pj) in [p0, p1, p2, p3].into_iter().enumerate() {
                let mut s = hsum(a[j]);
                for t in body..dim {
                    s += *qp.add(t) * *pj.add(t);
                }
                out[r + j] = s;
            }
            r += 4;
        }
        while r < n {
            out[r] = dot_ptr(qp, rows.as_ptr().add(r * dim), dim);
            r += 1;
        }
    }
}

/// The dot-product implementation chosen for this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Portable loop (SSE2 on x86-64, NEON on aarch64 after auto-vectorisation).
    Portable,
    /// AVX2 + FMA, chosen at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Kernel::Avx2Fma;
            }
        }
        Kernel::Portable
    }

    /// `a · b` over the shorter length.
    #[inline]
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Kernel::Portable => dot_portable(a, b),
            // SAFETY: `Avx2Fma` is only constructed by `detect` after checking both features.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { avx2::dot(a, b) },
        }
    }

    /// `out[i] = q · rows[i]` for the rows (`dim` floats each) of `rows`; as many entries of
    /// `out` as there are whole rows are written.
    ///
    /// # Panics
    /// When `q.len() != dim` or `dim == 0`. The check is kept in release builds: the AVX2 loop
    /// reads `q` by raw pointer for `dim` floats, so a shorter query would read out of bounds.
    #[inline]
    pub fn sims(self, q: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
        assert!(
            dim > 0 && q.len() == dim,
            "query of {} floats against rows of {dim}",
            q.len()
        );
        match self {
            Kernel::Portable => sims_portable(q, rows, dim, out),
            // SAFETY: as in `dot`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { avx2::sims(q, rows, dim, out) },
        }
    }

    /// Similarities of a block of queries against a block of rows, row-major
    /// (`out[qi * nrows + ri]`).
    ///
    /// # Panics
    /// When `dim == 0`.
    pub fn sims_block(self, queries: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
        let nrows = rows.len() / dim;
        for (q, o) in queries.chunks_exact(dim).zip(out.chunks_exact_mut(nrows)) {
            self.sims(q, rows, dim, o);
        }
    }
}

/// `a · b` with the best kernel for this CPU (detects on every call: prefer [`Kernel`] in
/// loops).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    Kernel::detect().dot(a, b)
}

/// Scales `v` to unit length in place; a zero vector stays zero. Returns the old norm.
pub fn normalize(v: &mut [f32]) -> f32 {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        for x in v.iter_mut() {
            *x /= n;
        }
    }
    n
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Euclidean distance of two vectors as the model gave them (dlib's same-person metric).
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// A unit-length copy of `v`; a zero vector stays zero.
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let mut out = v.to_vec();
    normalize(&mut out);
    out
}

/// Number of worker threads: the machine's parallelism, at least 1.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1)
}

/// Runs `f(i)` for `i in 0..n` on worker threads, handing out chunks of `chunk` indices
/// dynamically, and returns the per-thread results of `init`/`f` folded by the caller.
pub(crate) fn parallel_chunks<S: Send>(
    n: usize,
    chunk: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, std::ops::Range<usize>) + Sync,
) -> Vec<S> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let chunk = chunk.max(1);
    let workers = threads().min(n.div_ceil(chunk)).max(1);
    if workers == 1 {
        let mut s = init();
        if n > 0 {
            f(&mut s, 0..n);
        }
        return vec![s];
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut s = init();
                    loop {
                        let start = next.fetch_add(chunk, Ordering::Relaxed);
                        if start >= n {
                            break;
                        }
                        f(&mut s, start..(start + chunk).min(n));
                    }
                    s
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    })
}

/// SplitMix64: a tiny deterministic generator for seeding, shuffles and samples; the only one
/// in facelab (ORL splits, k-means seeds, synthetic test and bench data all draw from it), so
/// a seed means the same stream everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_with_naive_dot() {
        let mut r = Rng::new(1);
        for dim in [1, 7, 16, 17, 128, 131] {
            let a: Vec<f32> = (0..dim).map(|_| r.gaussian() as f32).collect();
            let b: Vec<f32> = (0..dim).map(|_| r.gaussian() as f32).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            for k in [Kernel::Portable, Kernel::detect()] {
                assert!(
                    (k.dot(&a, &b) - naive).abs() < 1e-4 * dim as f32,
                    "{k:?} {dim}"
                );
            }
            // Seven rows: one block of four and three single rows; row 5 is `b`.
            let mut rows: Vec<f32> = (0..7 * dim).map(|_| r.gaussian() as f32).collect();
            rows[5 * dim..6 * dim].copy_from_slice(&b);
            for k in [Kernel::Portable, Kernel::detect()] {
                let mut out = [0f32; 7];
                k.sims(&a, &rows, dim, &mut out);
                for (j, o) in out.iter().enumerate() {
                    let want: f32 = a
                        .iter()
                        .zip(&rows[j * dim..(j + 1) * dim])
                        .map(|(x, y)| x * y)
                        .sum();
                    assert!((o - want).abs() < 1e-4 * dim as f32, "{k:?} {dim} row {j}");
                }
                assert!((out[5] - naive).abs() < 1e-4 * dim as f32);
            }
        }
    }

    // Regression: `sims` checked the query length only with `debug_assert_eq!`, so in release
    // the AVX2 path read past the end of a short query. Run under `--release` too.
    #[test]
    #[should_panic(expected = "query of 3 floats against rows of 8")]
    fn sims_with_a_short_query_panics_in_every_build() {
        let rows = vec![1.0f32; 8 * 8];
        let mut out = [0f32; 8];
        Kernel::detect().sims(&[1.0, 2.0, 3.0], &rows, 8, &mut out);
    }

    #[test]
    #[should_panic(expected = "query of 3 floats against rows of 8")]
    fn portable_sims_with_a_short_query_panics_too() {
        let rows = vec![1.0f32; 8 * 8];
        let mut out = [0f32; 8];
        Kernel::Portable.sims(&[1.0, 2.0, 3.0], &rows, 8, &mut out);
    }

    #[test]
    fn rng_below_is_in_range() {
        let mut r = Rng::new(7);
        for n in 1..50 {
            assert!(r.below(n) < n);
        }
    }
}
