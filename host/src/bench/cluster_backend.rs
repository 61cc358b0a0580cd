//! The clustering task's adapter to `facelab-cluster`: its methods (parsed from the suite's
//! method tables with the crate's own serde types, so its keys and defaults apply) and its
//! metrics.
//!
//! Linked through `host/Cargo.toml`; see `bench/clustering.rs`.

use super::clustering::{ClusterBackend, Scores};
use super::report::Prf;

/// `facelab-cluster` behind [`ClusterBackend`].
pub struct FacelabCluster;

fn algorithm(method: &toml::Table) -> anyhow::Result<facelab_cluster::Algorithm> {
    toml::Value::Table(method.clone())
        .try_into()
        .map_err(|e| anyhow::anyhow!("tasks.clustering.methods: {e}"))
}

fn prf(p: facelab_cluster::metrics::Prf) -> Prf {
    Prf {
        precision: p.precision,
        recall: p.recall,
        f: p.f,
    }
}

impl ClusterBackend for FacelabCluster {
    fn describe(&self, method: &toml::Table) -> anyhow::Result<String> {
        Ok(algorithm(method)?.to_string())
    }

    fn cluster(
        &self,
        method: &toml::Table,
        data: &[f32],
        dim: usize,
    ) -> anyhow::Result<Vec<Option<u32>>> {
        Ok(facelab_cluster::cluster(
            data,
            dim,
            &algorithm(method)?,
            &[],
        )?)
    }

    fn score(&self, truth: &[usize], predicted: &[Option<u32>]) -> Scores {
        let r = facelab_cluster::metrics::evaluate(truth, predicted);
        Scores {
            pairwise: prf(r.pairwise),
            bcubed: prf(r.bcubed),
            clusters: r.clusters,
            noise: r.noise,
        }
    }
}
