//! Clustering of face embeddings for facelab.
//!
//! Input is `n` embeddings of `dim` floats, row-major in one `&[f32]`, compared by cosine
//! similarity (the dot product of unit vectors; rows that are not unit length are normalised
//! on a copy). [`cluster`] groups them with an [`Algorithm`] and returns one label per row:
//! `Some(0..k)` (largest cluster first) or `None` for a face that is in no cluster.
//! Cannot-link pairs (rows that must never share a cluster, for example the halves of a
//! user's split) are honoured by every method.
//!
//! - [`Algorithm::ChineseWhispers`] (the default): label propagation on the kNN graph
//!   restricted to edges with similarity ≥ a threshold. Best measured quality on LFW and ORL
//!   and linear in the graph size; see `README.md` for the table.
//! - [`Algorithm::Agglomerative`]: average linkage over the kNN graph's edges, merging while
//!   the best pair of clusters has a mean similarity ≥ a threshold.
//! - [`Algorithm::Dbscan`]: the classic baseline with `eps` as cosine distance.
//!
//! Beside them: [`knn`] (exact and IVF-approximate kNN graphs), [`incremental`] (assigning
//! new faces to existing clusters, keeping ids across a full recluster, splitting a cluster),
//! [`metrics`] (pairwise and BCubed precision/recall/F) and [`linalg`] (the workspace's one
//! vectorised dot product, [`dot`] and [`Kernel`], and its one seeded generator, [`Rng`]; the
//! host uses them rather than keeping copies).
//!
//! # Why hand-written
//! The methods need cannot-link constraints inside the algorithm (a refused label adoption or
//! merge), which none of petal-clustering, linfa-clustering or the HNSW crates offer; petal's
//! and linfa's DBSCAN use ball/kd-trees whose pruning fails in 128-D (they degrade to slower
//! brute force), and both bring ndarray and, for linfa, a BLAS-free but heavy tree of crates.
//! Everything here is std plus `serde` (configuration) and `thiserror` (errors).

#![deny(missing_docs)]

pub mod adaptive;
mod agglomerative;
mod dbscan;
pub mod incremental;
pub mod knn;
pub mod linalg;
pub mod merges;
pub mod metrics;
pub mod stats;
mod whispers;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use adaptive::{AutoParams, Evidence, Resolved, Threshold};
pub use incremental::{
    assign_new, assign_new_by_members, centroids, match_ids, split, split_checked,
};
pub use knn::KnnConfig;
pub use linalg::{dot, Kernel, Rng};

/// Invalid input to [`cluster`] and friends.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// `dim` is 0 while there is data.
    #[error("embedding dimension is 0")]
    ZeroDimension,
    /// The data length is not a multiple of `dim`.
    #[error("{len} floats do not form rows of {dim}")]
    Shape {
        /// Floats given.
        len: usize,
        /// Row length asked for.
        dim: usize,
    },
    /// A row holds NaN or an infinity.
    #[error("embedding {row} holds a NaN or infinite value")]
    NonFinite {
        /// The row.
        row: usize,
    },
    /// A cannot-link pair names a row that does not exist.
    #[error("cannot-link pair ({a}, {b}) is out of range for {n} embeddings")]
    CannotLinkOutOfRange {
        /// First index.
        a: u32,
        /// Second index.
        b: u32,
        /// Rows given.
        n: usize,
    },
    /// A parameter is outside its range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// Every embedding is the same vector: no threshold separates anyone.
    #[error("{0}")]
    Degenerate(String),
    /// `threshold = "auto"` with nothing to derive it from.
    #[error("{0}")]
    NoEvidence(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A clustering method and its parameters. In TOML, tagged by `method`:
///
/// ```toml
/// [cluster]
/// method = "chinese-whispers"   # or "agglomerative", "dbscan"
/// threshold = 0.4
/// [cluster.knn]                 # optional
/// k = 30
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Algorithm {
    /// DBSCAN: the baseline.
    Dbscan(DbscanParams),
    /// Chinese Whispers on the thresholded kNN graph.
    ChineseWhispers(WhispersParams),
    /// Average-linkage agglomerative clustering over the kNN graph.
    Agglomerative(AgglomerativeParams),
}

/// Parameters of [`Algorithm::Dbscan`].
///
/// Below `knn.exact_below` faces the ε-neighbourhoods are exact (brute force, computed on
/// the fly, O(n²) dot products); from it on they are the ε-neighbours among each face's `k`
/// nearest (symmetrised), which is exact whenever a face has fewer than `k` ε-neighbours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbscanParams {
    /// Neighbourhood radius as cosine distance (`1 - similarity`), in `[0, 2]`.
    pub eps: f32,
    /// Faces within `eps` (itself included) that make a face a core point; ≥ 1.
    pub min_points: usize,
    /// The kNN graph used above `exact_below` faces.
    pub knn: KnnConfig,
}

impl Default for DbscanParams {
    fn default() -> Self {
        DbscanParams {
            eps: 0.525,
            min_points: 3,
            knn: KnnConfig::default(),
        }
    }
}

/// Parameters of [`Algorithm::ChineseWhispers`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhispersParams {
    /// Edges of the kNN graph with cosine similarity below this are dropped: a number in
    /// `[-1, 1]`, or `"auto"` (the default), the rule of [`adaptive`] from the library's
    /// evidence and the recognizer's declared threshold.
    pub threshold: Threshold,
    /// The constants of the `"auto"` rule.
    pub auto: AutoParams,
    /// Faces with a quality ([`Context::quality`]) below this join clusters but never pass
    /// their cluster on: a neighbour below it is not counted when a face picks its cluster,
    /// so a low-quality face never links two people. In `[0, 1]`; 0 turns it off.
    pub link_quality: f32,
    /// Passes over all faces at most (stops early when no label changes).
    pub iterations: usize,
    /// Seed of the visiting order.
    pub seed: u64,
    /// Smaller groups are reported as no cluster (`None`); ≥ 1.
    pub min_cluster_size: usize,
    /// The kNN graph.
    pub knn: KnnConfig,
}

impl Default for WhispersParams {
    fn default() -> Self {
        WhispersParams {
            threshold: Threshold::Auto,
            auto: AutoParams::default(),
            link_quality: DEFAULT_LINK_QUALITY,
            iterations: 30,
            seed: 1,
            min_cluster_size: 2,
            knn: KnnConfig::default(),
        }
    }
}

/// The default [`WhispersParams::link_quality`] (see the README for its measurement).
pub const DEFAULT_LINK_QUALITY: f32 = 0.3;

/// Parameters of [`Algorithm::Agglomerative`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgglomerativeParams {
    /// Clusters merge while their average similarity over the kNN edges between them is at
    /// least this, in `[-1, 1]`.
    pub threshold: f32,
    /// Smaller groups are reported as no cluster (`None`); ≥ 1.
    pub min_cluster_size: usize,
    /// The kNN graph.
    pub knn: KnnConfig,
}

impl Default for AgglomerativeParams {
    fn default() -> Self {
        AgglomerativeParams {
            threshold: 0.375,
            min_cluster_size: 2,
            knn: KnnConfig::default(),
        }
    }
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::ChineseWhispers(WhispersParams::default())
    }
}

impl Algorithm {
    /// The cosine similarity at which this method links two faces: what an incremental run
    /// should require of a new face to join an existing cluster's centre. `None` for
    /// `threshold = "auto"` (resolve it first: [`Algorithm::resolved`]).
    pub fn join_similarity(&self) -> Option<f32> {
        match self {
            Algorithm::Dbscan(p) => Some(1.0 - p.eps),
            Algorithm::ChineseWhispers(p) => match p.threshold {
                Threshold::Fixed(t) => Some(t),
                Threshold::Auto => None,
            },
            Algorithm::Agglomerative(p) => Some(p.threshold),
        }
    }

    /// Resolves an `"auto"` threshold on `data` (unit rows of `dim`) with `evidence`
    /// ([`adaptive::resolve`]) and returns the method with it fixed, so a run and its
    /// incremental joins use one value. `None` for a method without an adaptive threshold.
    pub fn resolved(
        &self,
        data: &[f32],
        dim: usize,
        evidence: &Evidence<'_>,
    ) -> Result<(Algorithm, Option<Resolved>)> {
        match self {
            Algorithm::ChineseWhispers(p) => {
                let (_, unit) = prepare(data, dim)?;
                let r = adaptive::resolve(&unit, dim, p.threshold, &p.auto, evidence)?;
                let fixed = Algorithm::ChineseWhispers(WhispersParams {
                    threshold: Threshold::Fixed(r.value),
                    ..p.clone()
                });
                Ok((fixed, Some(r)))
            }
            other => Ok((other.clone(), None)),
        }
    }

    /// The kNN graph settings.
    pub fn knn(&self) -> &KnnConfig {
        match self {
            Algorithm::Dbscan(p) => &p.knn,
            Algorithm::ChineseWhispers(p) => &p.knn,
            Algorithm::Agglomerative(p) => &p.knn,
        }
    }

    /// Checks the parameters' ranges (what [`cluster`] checks first), so a configuration
    /// can be refused when it is read rather than when it is used.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidParameter(m));
        let k = self.knn();
        if k.k == 0 {
            return bad("knn.k must be at least 1".into());
        }
        if k.nprobe == 0 {
            return bad("knn.nprobe must be at least 1".into());
        }
        match self {
            Algorithm::Dbscan(p) => {
                if !(0.0..=2.0).contains(&p.eps) {
                    return bad(format!("dbscan eps {} is not in [0, 2]", p.eps));
                }
                if p.min_points == 0 {
                    return bad("dbscan min_points must be at least 1".into());
                }
            }
            Algorithm::ChineseWhispers(p) => {
                if let Threshold::Fixed(t) = p.threshold {
                    if !(-1.0..=1.0).contains(&t) {
                        return bad(format!("threshold {t} is not in [-1, 1]"));
                    }
                }
                if !p.auto.z.is_finite() {
                    return bad(format!("auto.z {} is not a finite number", p.auto.z));
                }
                if p.auto.pairs == 0 {
                    return bad("auto.pairs must be at least 1".into());
                }
                if !(0.0..=1.0).contains(&p.auto.ceiling) {
                    return bad(format!("auto.ceiling {} is not in [0, 1]", p.auto.ceiling));
                }
                if !(0.0..=1.0).contains(&p.link_quality) {
                    return bad(format!("link_quality {} is not in [0, 1]", p.link_quality));
                }
                if p.min_cluster_size == 0 {
                    return bad("min_cluster_size must be at least 1".into());
                }
            }
            Algorithm::Agglomerative(p) => {
                if !(-1.0..=1.0).contains(&p.threshold) {
                    return bad(format!("threshold {} is not in [-1, 1]", p.threshold));
                }
                if p.min_cluster_size == 0 {
                    return bad("min_cluster_size must be at least 1".into());
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Algorithm::Dbscan(p) => write!(
                f,
                "dbscan(eps={}, min_points={}, k={})",
                p.eps, p.min_points, p.knn.k
            ),
            Algorithm::ChineseWhispers(p) => {
                write!(f, "chinese-whispers(threshold={}", p.threshold)?;
                if p.threshold == Threshold::Auto && p.auto.z != AutoParams::default().z {
                    write!(f, ", z={}", p.auto.z)?;
                }
                if p.link_quality > 0.0 {
                    write!(f, ", link_quality={}", p.link_quality)?;
                }
                write!(f, ", k={})", p.knn.k)
            }
            Algorithm::Agglomerative(p) => {
                write!(f, "agglomerative(threshold={}, k={})", p.threshold, p.knn.k)
            }
        }
    }
}

/// Checks the shape and values of `data` and returns the number of rows and unit-length rows
/// (borrowed when already unit length, else a normalised copy; zero rows stay zero).
pub(crate) fn prepare(data: &[f32], dim: usize) -> Result<(usize, std::borrow::Cow<'_, [f32]>)> {
    if dim == 0 {
        return if data.is_empty() {
            Ok((0, data.into()))
        } else {
            Err(Error::ZeroDimension)
        };
    }
    if data.len() % dim != 0 {
        return Err(Error::Shape {
            len: data.len(),
            dim,
        });
    }
    let n = data.len() / dim;
    let mut unit = true;
    for (row, v) in data.chunks_exact(dim).enumerate() {
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::NonFinite { row });
        }
        let norm2: f32 = v.iter().map(|x| x * x).sum();
        unit &= (norm2 - 1.0).abs() < 1e-3;
    }
    if unit {
        return Ok((n, data.into()));
    }
    let mut copy = data.to_vec();
    for v in copy.chunks_exact_mut(dim) {
        linalg::normalize(v);
    }
    Ok((n, copy.into()))
}

/// Cannot-link partners of every row, in compressed rows.
pub(crate) struct CannotLink {
    offsets: Vec<usize>,
    partners: Vec<u32>,
}

impl CannotLink {
    pub(crate) fn new(n: usize, pairs: &[(u32, u32)]) -> Result<CannotLink> {
        let mut deg = vec![0usize; n + 1];
        for &(a, b) in pairs {
            if a as usize >= n || b as usize >= n {
                return Err(Error::CannotLinkOutOfRange { a, b, n });
            }
            if a != b {
                deg[a as usize + 1] += 1;
                deg[b as usize + 1] += 1;
            }
        }
        for i in 0..n {
            deg[i + 1] += deg[i];
        }
        let offsets = deg;
        let mut fill = offsets.clone();
        let mut partners = vec![0u32; offsets[n]];
        for &(a, b) in pairs {
            if a != b {
                partners[fill[a as usize]] = b;
                fill[a as usize] += 1;
                partners[fill[b as usize]] = a;
                fill[b as usize] += 1;
            }
        }
        Ok(CannotLink { offsets, partners })
    }
    /// Rows that must not share a cluster with `i`.
    pub(crate) fn of(&self, i: usize) -> &[u32] {
        &self.partners[self.offsets[i]..self.offsets[i + 1]]
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.partners.is_empty()
    }
}

/// Turns raw group ids into final labels: groups smaller than `min_size` become `None`, the
/// rest are numbered 0.. by decreasing size (ties: smallest first row first).
pub(crate) fn finish(groups: &[u32], min_size: usize) -> Vec<Option<u32>> {
    let n = groups.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
    let mut size = vec![0usize; n];
    let mut first = vec![usize::MAX; n];
    for (i, &g) in groups.iter().enumerate() {
        size[g as usize] += 1;
        first[g as usize] = first[g as usize].min(i);
    }
    let mut keep: Vec<usize> = (0..n)
        .filter(|&g| size[g] > 0 && size[g] >= min_size)
        .collect();
    keep.sort_by_key(|&g| (std::cmp::Reverse(size[g]), first[g]));
    let mut label = vec![None; n];
    for (l, &g) in keep.iter().enumerate() {
        label[g] = Some(l as u32);
    }
    groups.iter().map(|&g| label[g as usize]).collect()
}

/// Clusters `data` (`n` rows of `dim` floats) with `algo`. Returns one label per row:
/// `Some(l)` with `l` in `0..k`, cluster 0 the largest, or `None` for a face in no cluster
/// (DBSCAN noise, or a group below `min_cluster_size`). No two rows of a `cannot_link` pair
/// ever share a label.
///
/// `n = 0` gives an empty vector and `n = 1` a single `None` (one face is no group unless
/// `min_cluster_size`/`min_points` is 1). Errors on a shape mismatch, NaN/infinite values,
/// out-of-range cannot-link indices or parameters.
///
/// A `threshold = "auto"` is resolved without evidence beyond the data (no declared rule):
/// use [`cluster_with`] to give the recognizer's rule, known negatives and face quality.
pub fn cluster(
    data: &[f32],
    dim: usize,
    algo: &Algorithm,
    cannot_link: &[(u32, u32)],
) -> Result<Vec<Option<u32>>> {
    let ctx = Context {
        cannot_link,
        ..Context::default()
    };
    Ok(cluster_with(data, dim, algo, &ctx)?.labels)
}

/// What a clustering can use besides the embeddings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Rows that must never share a cluster.
    pub cannot_link: &'a [(u32, u32)],
    /// The evidence of an `"auto"` threshold ([`adaptive`]).
    pub evidence: Evidence<'a>,
    /// Each row's face quality in `[0, 1]` (NaN: unknown, counts as good), for
    /// [`WhispersParams::link_quality`]; `None`: every face counts as good.
    pub quality: Option<&'a [f32]>,
}

/// A clustering and the threshold it used.
#[derive(Debug, Clone)]
pub struct Clustering {
    /// One label per row, as [`cluster`] returns them.
    pub labels: Vec<Option<u32>>,
    /// The resolved threshold of Chinese Whispers; `None` for the other methods.
    pub threshold: Option<Resolved>,
}

/// [`cluster`] with the recognizer's declared rule, known negatives and face quality.
pub fn cluster_with(
    data: &[f32],
    dim: usize,
    algo: &Algorithm,
    ctx: &Context<'_>,
) -> Result<Clustering> {
    algo.validate()?;
    let (n, data) = prepare(data, dim)?;
    let cl = CannotLink::new(n, ctx.cannot_link)?;
    if let Some(q) = ctx.quality {
        if q.len() != n {
            return Err(Error::InvalidParameter(format!(
                "{} quality values for {n} embeddings",
                q.len()
            )));
        }
    }
    let (algo, threshold) = algo.resolved(&data, dim, &ctx.evidence)?;
    if n == 0 {
        return Ok(Clustering {
            labels: vec![],
            threshold,
        });
    }
    let cannot_link = ctx.cannot_link;
    let labels = match &algo {
        Algorithm::Dbscan(p) => dbscan::run(&data, dim, p, &cl),
        Algorithm::ChineseWhispers(p) => {
            let g = knn::build(&data, dim, &p.knn);
            finish(&whispers::run(&g, p, &cl, ctx.quality), p.min_cluster_size)
        }
        Algorithm::Agglomerative(p) => {
            let g = knn::build(&data, dim, &p.knn);
            finish(
                &agglomerative::run(&g, p.threshold, &cl),
                p.min_cluster_size,
            )
        }
    };
    debug_assert!(respects(&labels, cannot_link));
    Ok(Clustering { labels, threshold })
}

/// True when no cannot-link pair shares a label.
pub fn respects(labels: &[Option<u32>], cannot_link: &[(u32, u32)]) -> bool {
    cannot_link.iter().all(|&(a, b)| {
        a == b || {
            let (la, lb) = (
                labels.get(a as usize).copied().flatten(),
                labels.get(b as usize).copied().flatten(),
            );
            la.is_none() || la != lb
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_reads_from_toml() {
        #[derive(Debug, Deserialize)]
        struct Cfg {
            cluster: Algorithm,
        }
        let c: Cfg = toml::from_str("[cluster]\nmethod = \"dbscan\"\neps = 0.4\n").unwrap();
        assert_eq!(
            c.cluster,
            Algorithm::Dbscan(DbscanParams {
                eps: 0.4,
                ..Default::default()
            })
        );
        let c: Cfg = toml::from_str(
            "[cluster]\nmethod = \"chinese-whispers\"\nthreshold = 0.5\n[cluster.knn]\nk = 12\n",
        )
        .unwrap();
        match &c.cluster {
            Algorithm::ChineseWhispers(p) => {
                assert_eq!(p.threshold, Threshold::Fixed(0.5));
                assert_eq!(p.knn.k, 12);
                assert_eq!(p.knn.nprobe, KnnConfig::default().nprobe);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.cluster.join_similarity(), Some(0.5));
        assert_eq!(
            c.cluster.to_string(),
            "chinese-whispers(threshold=0.5, link_quality=0.3, k=12)"
        );
        let c: Cfg = toml::from_str("[cluster]\nmethod = \"chinese-whispers\"\n").unwrap();
        assert_eq!(c.cluster, Algorithm::default());
        assert_eq!(c.cluster.join_similarity(), None);
        let c: Cfg = toml::from_str(
            "[cluster]\nmethod = \"chinese-whispers\"\nthreshold = \"auto\"\nlink_quality = 0\n[cluster.auto]\nz = 3\n",
        )
        .unwrap();
        assert_eq!(
            c.cluster.to_string(),
            "chinese-whispers(threshold=auto, z=3, k=30)"
        );
        let e = toml::from_str::<Cfg>(
            "[cluster]\nmethod = \"chinese-whispers\"\nthreshold = \"high\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("neither a number nor \"auto\""), "{e}");
        let c: Cfg = toml::from_str("[cluster]\nmethod = \"agglomerative\"\n").unwrap();
        assert_eq!(
            c.cluster,
            Algorithm::Agglomerative(AgglomerativeParams::default())
        );
        assert!(toml::from_str::<Cfg>("[cluster]\nmethod = \"dbscan\"\nepsilon = 0.4\n").is_err());
        assert!(toml::from_str::<Cfg>("[cluster]\nmethod = \"k-means\"\n").is_err());
    }

    #[test]
    fn invalid_parameters_are_errors() {
        let d = [1.0f32, 0.0];
        let a = Algorithm::Dbscan(DbscanParams {
            eps: 3.0,
            ..Default::default()
        });
        assert!(matches!(
            cluster(&d, 2, &a, &[]),
            Err(Error::InvalidParameter(_))
        ));
        let a = Algorithm::ChineseWhispers(WhispersParams {
            min_cluster_size: 0,
            ..Default::default()
        });
        assert!(matches!(
            cluster(&d, 2, &a, &[]),
            Err(Error::InvalidParameter(_))
        ));
    }

    #[test]
    fn finish_numbers_by_size() {
        assert_eq!(
            finish(&[5, 2, 2, 5, 5, 0], 2),
            vec![Some(0), Some(1), Some(1), Some(0), Some(0), None]
        );
        assert_eq!(finish(&[], 2), vec![]);
    }
}
