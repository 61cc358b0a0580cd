//! The clustering task's boundary with the clustering library.
//!
//! The methods and the quality metrics (pairwise and BCubed precision/recall/F) belong to
//! `facelab-cluster`; the bench only embeds the faces, hands them over and reports. This
//! trait is all the task needs, so the task is written and tested against it whether or not
//! the crate is linked into the host.
//!
//! TODO(lead): once `host/Cargo.toml` depends on `facelab-cluster`, declare
//! `mod cluster_backend;` in `bench/mod.rs` and make [`backend`] return
//! `Some(Box::new(cluster_backend::FacelabCluster))`. `cluster_backend.rs` (in this folder,
//! not yet compiled) is that adapter.

use super::report::{ClusterMethodResult, Prf};

/// What the clustering task needs from a clustering library.
pub trait ClusterBackend {
    /// Checks a method table of the suite (`method = "..."` plus parameters) and returns
    /// its display name with the parameters filled in.
    fn describe(&self, method: &toml::Table) -> anyhow::Result<String>;

    /// Clusters `data` (rows of `dim` floats, compared by cosine similarity) with `method`:
    /// one label per row, `None` for a face in no cluster.
    fn cluster(
        &self,
        method: &toml::Table,
        data: &[f32],
        dim: usize,
    ) -> anyhow::Result<Vec<Option<u32>>>;

    /// Scores predicted labels against true identities.
    fn score(&self, truth: &[usize], predicted: &[Option<u32>]) -> Scores;
}

/// The scores of one clustering.
#[derive(Debug, Clone, Copy)]
pub struct Scores {
    /// Pairwise precision/recall/F.
    pub pairwise: Prf,
    /// BCubed precision/recall/F.
    pub bcubed: Prf,
    /// Clusters (noise not counted).
    pub clusters: usize,
    /// Faces in no cluster.
    pub noise: usize,
}

/// The clustering library linked into this build (`facelab-cluster`).
pub fn backend() -> Box<dyn ClusterBackend> {
    Box::new(super::cluster_backend::FacelabCluster)
}

/// Runs every method on `data` and scores it.
pub fn compare(
    backend: &dyn ClusterBackend,
    methods: &[toml::Table],
    data: &[f32],
    dim: usize,
    truth: &[usize],
) -> anyhow::Result<Vec<ClusterMethodResult>> {
    let mut out = Vec::new();
    for m in methods {
        let name = backend.describe(m)?;
        let start = std::time::Instant::now();
        let labels = backend.cluster(m, data, dim)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let s = backend.score(truth, &labels);
        out.push(ClusterMethodResult {
            method: name,
            pairwise: s.pairwise,
            bcubed: s.bcubed,
            clusters: s.clusters,
            noise: s.noise,
            ms,
        });
    }
    Ok(out)
}
