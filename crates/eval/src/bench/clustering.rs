//! The clustering task's use of `facelab-cluster`: the suite's method tables are parsed with
//! the crate's own serde types (so its keys, defaults and checks apply), every method runs on
//! the same embeddings, and the crate's metrics score it. The bench only embeds the faces,
//! hands them over and reports. With each face's quality, every method runs a second time
//! on the faces that pass `[library] min_quality`, as the library's `cluster` would.
//!
//! Every method runs as `facelab cluster` runs it: with the pipeline's recognizer's declared
//! rule (the floor and fallback of `threshold = "auto"`) and each face's quality (for
//! `link_quality`). The same methods run on the LFW people and on every robustness variant
//! (`variants`, made by `benches/python/make_robustness_sets.py`); [`worst`] is the lowest
//! precision, recall and F of each method over them.

use facelab_cluster::{Algorithm, Context, Evidence};
use serde::Serialize;

use super::report::{ClusterMethodResult, Prf, QualityGated};

mod merges;
use facelab_engine::config::MinQuality;

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

/// Each face's quality and the threshold to apply: the quality gate of [`compare_gated`].
#[derive(Debug, Clone, Copy)]
pub struct QualityGate<'a> {
    /// One per face (row of the data); `None` is unknown and passes, as in the library.
    pub quality: &'a [Option<f32>],
    /// The threshold.
    pub min_quality: MinQuality,
}

/// The recognizer's declared same-person rule of a pipeline, as a cosine similarity: its
/// manifest threshold through the library's conversion (a euclidean distance `d` becomes
/// `1 - d²/(2r²)`), for fused models the mean of theirs. `None` when the pipeline has no
/// recognizer or the manifest gives none.
pub fn declared(config: &facelab_engine::config::Config) -> Option<f32> {
    config.recognizer.as_ref()?;
    let manifest = match &config.models.manifest {
        Some(p) => facelab_models::Manifest::load(p).ok()?,
        None => facelab_models::Manifest::embedded(),
    };
    facelab_library::identity::declared_rule(config, &manifest).map(|c| c.default)
}

/// What the methods may use besides the embeddings, as the library gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Each method again on the faces that pass this gate.
    pub gate: Option<QualityGate<'a>>,
    /// The recognizer's declared rule as a cosine similarity ([`declared`]).
    pub declared: Option<f32>,
    /// Each face's quality (`None`: unknown), for `link_quality`.
    pub quality: Option<&'a [Option<f32>]>,
}

/// The worst precision, recall and F of one method over every set of a pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Worst {
    /// The pipeline.
    pub pipeline: String,
    /// The method as written in the suite.
    pub method: String,
    /// Sets it ran on.
    pub sets: usize,
    /// Lowest BCubed precision, recall and F, each with its set.
    pub precision: (f64, String),
    /// See `precision`.
    pub recall: (f64, String),
    /// See `precision`.
    pub f: (f64, String),
    /// The lowest F counting a set where precision fell below [`PRECISION_FLOOR`] as 0:
    /// grouping that stays safe on every set, as the default recognizer's rule asks.
    pub f_safe: (f64, String),
}

/// The BCubed precision a set must keep for its F to count in [`Worst::f_safe`].
pub const PRECISION_FLOOR: f64 = 0.98;

/// The worst of each method (by position in the suite) over every set of each pipeline but
/// the held-out checks.
pub fn worst(results: &[super::report::ClusteringResult]) -> Vec<Worst> {
    let mut out: Vec<(String, usize, Worst)> = Vec::new();
    for r in results.iter().filter(|r| !r.check) {
        for (i, m) in r.methods.iter().enumerate() {
            let w = match out.iter().position(|(p, j, _)| *p == r.pipeline && *j == i) {
                Some(k) => &mut out[k].2,
                None => {
                    out.push((
                        r.pipeline.clone(),
                        i,
                        Worst {
                            pipeline: r.pipeline.clone(),
                            method: m.method.clone(),
                            sets: 0,
                            precision: (f64::INFINITY, String::new()),
                            recall: (f64::INFINITY, String::new()),
                            f: (f64::INFINITY, String::new()),
                            f_safe: (f64::INFINITY, String::new()),
                        },
                    ));
                    &mut out.last_mut().expect("pushed").2
                }
            };
            w.sets += 1;
            let safe = if m.bcubed.precision >= PRECISION_FLOOR {
                m.bcubed.f
            } else {
                0.0
            };
            for (slot, v) in [
                (&mut w.precision, m.bcubed.precision),
                (&mut w.recall, m.bcubed.recall),
                (&mut w.f, m.bcubed.f),
                (&mut w.f_safe, safe),
            ] {
                if v < slot.0 {
                    *slot = (v, r.set.clone());
                }
            }
        }
    }
    out.into_iter().map(|(_, _, w)| w).collect()
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
/// ([`ClusterMethodResult::quality_gate`]); the gate's quality also feeds `link_quality`.
pub fn compare_gated(
    methods: &[toml::Table],
    data: &[f32],
    dim: usize,
    truth: &[usize],
    gate: Option<QualityGate<'_>>,
) -> anyhow::Result<Vec<ClusterMethodResult>> {
    let inputs = Inputs {
        gate,
        declared: None,
        quality: gate.map(|g| g.quality),
    };
    compare_with(methods, data, dim, truth, &inputs)
}

/// [`compare_gated`] with the recognizer's declared rule and the faces' quality.
pub fn compare_with(
    methods: &[toml::Table],
    data: &[f32],
    dim: usize,
    truth: &[usize],
    inputs: &Inputs<'_>,
) -> anyhow::Result<Vec<ClusterMethodResult>> {
    let gate = inputs.gate;
    let evidence = Evidence {
        declared: inputs.declared,
        negative_sims: &[],
    };
    let quality: Option<Vec<f32>> = inputs
        .quality
        .map(|q| q.iter().map(|q| q.unwrap_or(f32::NAN)).collect());
    let run = |data: &[f32], quality: Option<&[f32]>, algo: &Algorithm| {
        let ctx = Context {
            evidence,
            quality,
            ..Context::default()
        };
        facelab_cluster::cluster_with(data, dim, algo, &ctx)
    };
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
        let clustering = run(data, quality.as_deref(), &algo)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let labels = clustering.labels;
        let r = facelab_cluster::metrics::evaluate(truth, &labels);
        let merges = inputs
            .declared
            .map(|t| merges::merge_result(data, dim, &labels, truth, t));
        let quality_gate = match (&kept, gate) {
            (Some((rows, kept_data)), Some(g)) => {
                let kept_quality: Option<Vec<f32>> = quality
                    .as_ref()
                    .map(|q| rows.iter().map(|&i| q[i]).collect());
                let labels = run(kept_data, kept_quality.as_deref(), &algo)?.labels;
                Some(gated(g, rows, &labels, truth))
            }
            _ => None,
        };
        out.push(ClusterMethodResult {
            method: algo.to_string(),
            threshold: clustering.threshold.map(|t| t.value),
            pairwise: prf(r.pairwise),
            bcubed: prf(r.bcubed),
            clusters: r.clusters,
            noise: r.noise,
            ms,
            quality_gate,
            merges,
        });
    }
    Ok(out)
}

/// The scores of a method run on the faces that pass the gate (`rows`, labelled `labels`):
/// on those faces, and on everyone with the excluded faces as noise.
fn gated(
    gate: QualityGate<'_>,
    rows: &[usize],
    labels: &[Option<u32>],
    truth: &[usize],
) -> QualityGated {
    let kept_truth: Vec<usize> = rows.iter().map(|&i| truth[i]).collect();
    let r = facelab_cluster::metrics::evaluate(&kept_truth, labels);
    let mut all: Vec<Option<u32>> = vec![None; truth.len()];
    for (&i, l) in rows.iter().zip(labels) {
        all[i] = *l;
    }
    let everyone = facelab_cluster::metrics::evaluate(truth, &all);
    QualityGated {
        min_quality: gate.min_quality.value(),
        excluded: truth.len() - rows.len(),
        pairwise: prf(r.pairwise),
        bcubed: prf(r.bcubed),
        bcubed_all: prf(everyone.bcubed),
        clusters: r.clusters,
        noise: r.noise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::{ClusterMethodResult, ClusteringResult};

    fn set(name: &str, precision: f64, f: f64, check: bool) -> ClusteringResult {
        let prf = |precision, f| Prf {
            precision,
            recall: f,
            f,
        };
        ClusteringResult {
            pipeline: "p".into(),
            set: name.into(),
            faces: 10,
            without_face: 0,
            identities: 3,
            methods: vec![ClusterMethodResult {
                method: "chinese-whispers threshold=auto".into(),
                threshold: None,
                pairwise: prf(precision, f),
                bcubed: prf(precision, f),
                clusters: 3,
                noise: 0,
                ms: 1.0,
                quality_gate: None,
                merges: None,
            }],
            check,
        }
    }

    #[test]
    fn the_worst_case_leaves_out_checks_and_counts_an_imprecise_set_as_zero_safe_f() {
        let w = worst(&[
            set("lfw", 0.99, 0.95, false),
            set("lfw-blur", 0.97, 0.93, false),
            set("lfw-mixed", 0.5, 0.1, true),
        ]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].sets, 2, "the check is not a set of the worst case");
        assert_eq!(w[0].f, (0.93, "lfw-blur".to_owned()));
        assert_eq!(w[0].precision, (0.97, "lfw-blur".to_owned()));
        assert_eq!(w[0].f_safe, (0.0, "lfw-blur".to_owned()));
        let w = worst(&[
            set("lfw", 0.99, 0.95, false),
            set("lfw-blur", 0.985, 0.91, false),
        ]);
        assert_eq!(w[0].f_safe, (0.91, "lfw-blur".to_owned()));
    }

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
        vec![toml::from_str("method = \"chinese-whispers\"\nthreshold = 0.5").unwrap()]
    }

    #[test]
    fn a_euclidean_model_falls_back_to_its_equivalent_cosine_threshold() {
        // dlib's ResNet declares a euclidean distance 0.6 in the manifest, on vectors it
        // declares 1.42 long: cosine 1 - 0.6²/(2·1.42²) = 0.911, the floor and fallback of
        // threshold = "auto".
        let config = facelab_engine::config::Config::parse(
            "[detector]\nplugin = \"opencv-dnn\"\nkind = \"yunet\"\nmodel = \"yunet-2023mar\"\n[recognizer]\nplugin = \"dlib\"\nkind = \"embedder\"\nmodel = \"dlib-resnet-128\"\n",
            std::path::Path::new("dlib.toml"),
        )
        .unwrap();
        let d = declared(&config).unwrap();
        assert!((d - 0.9107).abs() < 1e-3, "{d}");
        // MobileFaceNet declares cosine 0.27: taken as it is.
        let config = facelab_engine::config::Config::parse(
            "[detector]\nplugin = \"opencv-dnn\"\nkind = \"yunet\"\nmodel = \"yunet-2023mar\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n",
            std::path::Path::new("mfn.toml"),
        )
        .unwrap();
        assert_eq!(declared(&config), Some(0.27));
        // Too few faces for the library's own estimate: the auto threshold is the declared
        // one, and the two people of the gate test separate at it.
        let data = [
            1.0, 0.0, 0.99, 0.1, 0.98, 0.15, 0.1, 0.99, 0.0, 1.0, 0.15, 0.98,
        ];
        let truth = [0, 0, 0, 1, 1, 1];
        let auto: toml::Table = toml::from_str("method = \"chinese-whispers\"").unwrap();
        let inputs = Inputs {
            declared: Some(d),
            ..Inputs::default()
        };
        let r = compare_with(std::slice::from_ref(&auto), &data, 2, &truth, &inputs).unwrap();
        assert_eq!(r[0].threshold, Some(d));
        assert_eq!(r[0].bcubed.f, 1.0);
        // Without one, the bench says why instead of guessing a MobileFaceNet constant.
        let e = compare(&[auto], &data, 2, &truth).unwrap_err().to_string();
        assert!(e.contains("declared threshold"), "{e}");
    }
}
