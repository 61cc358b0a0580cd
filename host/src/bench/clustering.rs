//! The clustering task's use of `facelab-cluster`: the suite's method tables are parsed with
//! the crate's own serde types (so its keys, defaults and checks apply), every method runs on
//! the same embeddings, and the crate's metrics score it. The bench only embeds the faces,
//! hands them over and reports. With each face's quality, every method runs a second time
//! on the faces that pass `[library] min_quality`, as the library's `cluster` would.

use facelab_cluster::Algorithm;
use serde::Serialize;

use super::report::{ClusterMethodResult, Prf};
use crate::quality::MinQuality;

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

/// A method's result with the faces below `min_quality` left out, as the library's
/// `cluster` does (`[library] min_quality`).
#[derive(Debug, Clone, Serialize)]
pub struct QualityGated {
    /// The threshold applied.
    pub min_quality: f32,
    /// Faces left out (below it).
    pub excluded: usize,
    /// Pairwise precision/recall/F over the faces clustered.
    pub pairwise: Prf,
    /// BCubed precision/recall/F over the faces clustered.
    pub bcubed: Prf,
    /// BCubed over every face, each face left out counted as a cluster of its own: what a
    /// user sees, so it is comparable with the ungated result.
    pub bcubed_all: Prf,
    /// Clusters found (noise not counted).
    pub clusters: usize,
    /// Faces clustered but left in no cluster.
    pub noise: usize,
}

/// Each face's quality and the threshold to apply: the quality gate of [`compare_gated`].
#[derive(Debug, Clone, Copy)]
pub struct QualityGate<'a> {
    /// One per face (row of the data); `None` is unknown and passes, as in the library.
    pub quality: &'a [Option<f32>],
    /// The threshold.
    pub min_quality: MinQuality,
}

/// Runs every method on `data` (rows of `dim` floats) and scores it against `truth`.
pub fn compare(
    methods: &[toml::Table],
    data: &[f32],
    dim: usize,
    truth: &[usize],
) -> anyhow::Result<Vec<ClusterMethodResult>> {
    compare_gated(methods, data, dim, truth, None)
}

/// [`compare`], and with a `gate`, each method again on the faces that pass it
/// ([`ClusterMethodResult::quality_gate`]).
pub fn compare_gated(
    methods: &[toml::Table],
    data: &[f32],
    dim: usize,
    truth: &[usize],
    gate: Option<QualityGate<'_>>,
) -> anyhow::Result<Vec<ClusterMethodResult>> {
    let mut out = Vec::new();
    // The rows that pass the gate, and their data.
    let kept: Option<(Vec<usize>, Vec<f32>)> = gate.map(|g| {
        let rows: Vec<usize> = (0..truth.len())
            .filter(|&i| g.min_quality.passes(g.quality.get(i).copied().flatten()))
            .collect();
        let data = rows
            .iter()
            .flat_map(|&i| data[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        (rows, data)
    });
    for m in methods {
        let algo = algorithm(m)?;
        let start = std::time::Instant::now();
        let labels = facelab_cluster::cluster(data, dim, &algo, &[])?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let r = facelab_cluster::metrics::evaluate(truth, &labels);
        let quality_gate = match (&kept, gate) {
            (Some((rows, kept_data)), Some(g)) => {
                let labels = facelab_cluster::cluster(kept_data, dim, &algo, &[])?;
                let kept_truth: Vec<usize> = rows.iter().map(|&i| truth[i]).collect();
                let r = facelab_cluster::metrics::evaluate(&kept_truth, &labels);
                let mut all: Vec<Option<u32>> = vec![None; truth.len()];
                for (&i, l) in rows.iter().zip(&labels) {
                    all[i] = *l;
                }
                let everyone = facelab_cluster::metrics::evaluate(truth, &all);
                Some(QualityGated {
                    min_quality: g.min_quality.value(),
                    excluded: truth.len() - rows.len(),
                    pairwise: prf(r.pairwise),
                    bcubed: prf(r.bcubed),
                    bcubed_all: prf(everyone.bcubed),
                    clusters: r.clusters,
                    noise: r.noise,
                })
            }
            _ => None,
        };
        out.push(ClusterMethodResult {
            method: algo.to_string(),
            pairwise: prf(r.pairwise),
            bcubed: prf(r.bcubed),
            clusters: r.clusters,
            noise: r.noise,
            ms,
            quality_gate,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_leaves_out_low_quality_faces_and_scores_them_as_singletons() {
        // Two people of three faces each on two axes; one face of person 0 is a bad face
        // that looks like person 1.
        let data = [
            1.0, 0.0, 0.99, 0.1, 0.98, 0.15, // person 0
            0.1, 0.99, 0.0, 1.0, 0.15, 0.98, // person 1
            0.05, 1.0, // person 0, bad
        ];
        let truth = [0, 0, 0, 1, 1, 1, 0];
        let quality = [
            Some(0.9),
            Some(0.9),
            None,
            Some(0.8),
            Some(0.9),
            Some(0.9),
            Some(0.1),
        ];
        let method: toml::Table =
            toml::from_str("method = \"chinese-whispers\"\nthreshold = 0.5").unwrap();
        let gate = QualityGate {
            quality: &quality,
            min_quality: MinQuality::new(0.5).unwrap(),
        };
        let r = compare_gated(&[method], &data, 2, &truth, Some(gate)).unwrap();
        let g = r[0].quality_gate.as_ref().unwrap();
        assert_eq!(g.excluded, 1);
        assert_eq!((g.bcubed.precision, g.bcubed.recall), (1.0, 1.0));
        assert!(r[0].bcubed.precision < 1.0, "{:?}", r[0].bcubed);
        // Over every face, the bad one alone costs recall only.
        assert_eq!(g.bcubed_all.precision, 1.0);
        assert!(g.bcubed_all.recall < 1.0 && g.bcubed_all.f > r[0].bcubed.f);
        assert!(compare(&r_methods(), &data, 2, &truth).unwrap()[0]
            .quality_gate
            .is_none());
    }

    fn r_methods() -> Vec<toml::Table> {
        vec![toml::from_str("method = \"chinese-whispers\"").unwrap()]
    }
}
