//! The clustering task's use of `facelab-cluster`: the suite's method tables are parsed with
//! the crate's own serde types (so its keys, defaults and checks apply), every method runs on
//! the same embeddings, and the crate's metrics score it. The bench only embeds the faces,
//! hands them over and reports.

use facelab_cluster::Algorithm;

use super::report::{ClusterMethodResult, Prf};

/// Parses one method table of the suite (`method = "..."` plus parameters).
fn algorithm(method: &toml::Table) -> anyhow::Result<Algorithm> {
    let algo: Algorithm = toml::Value::Table(method.clone())
        .try_into()
        .map_err(|e| anyhow::anyhow!("tasks.clustering.methods: {e}"))?;
    algo.validate()
        .map_err(|e| anyhow::anyhow!("tasks.clustering.methods: {e}"))?;
    Ok(algo)
}

/// Checks a method table and returns its display name with the parameters filled in.
pub fn describe(method: &toml::Table) -> anyhow::Result<String> {
    Ok(algorithm(method)?.to_string())
}

fn prf(p: facelab_cluster::metrics::Prf) -> Prf {
    Prf {
        precision: p.precision,
        recall: p.recall,
        f: p.f,
    }
}

/// Runs every method on `data` (rows of `dim` floats) and scores it against `truth`.
pub fn compare(
    methods: &[toml::Table],
    data: &[f32],
    dim: usize,
    truth: &[usize],
) -> anyhow::Result<Vec<ClusterMethodResult>> {
    let mut out = Vec::new();
    for m in methods {
        let algo = algorithm(m)?;
        let start = std::time::Instant::now();
        let labels = facelab_cluster::cluster(data, dim, &algo, &[])?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let r = facelab_cluster::metrics::evaluate(truth, &labels);
        out.push(ClusterMethodResult {
            method: algo.to_string(),
            pairwise: prf(r.pairwise),
            bcubed: prf(r.bcubed),
            clusters: r.clusters,
            noise: r.noise,
            ms,
        });
    }
    Ok(out)
}
