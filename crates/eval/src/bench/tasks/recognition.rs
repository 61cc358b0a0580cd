//! The recognition tasks on a pipeline's embeddings: ORL identification, LFW verification
//! and the clustering of the LFW people (and of each robustness variant).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::data::{LfwData, PeopleData, Variant};
use crate::bench::clustering;
use crate::bench::pipeline::{embed_set, CacheScope, EmbedRecord, Opened};
use crate::bench::report::{
    ClusteringResult, EmbedStats, LfwResult, MeanSd, OrlFraction, OrlResult,
};
use crate::bench::suite::{ClusteringTask, OrlTask};
use crate::faceeval::{identification, mean_sd, verification};
use facelab_engine::pipeline::{cosine, distance};
use facelab_models::manifest::ThresholdKind;

/// Embeds a face set through the cache, failing when no recognizer is configured.
pub fn embed_faces(
    opened: &mut Opened,
    scope: &CacheScope<'_>,
    set: &str,
    paths: &[PathBuf],
) -> anyhow::Result<(Vec<EmbedRecord>, EmbedStats)> {
    let mut cache = scope.open(set, "")?;
    let label = format!("{} {set}", scope.label);
    let recognizer = opened
        .recognizer
        .as_mut()
        .context("this pipeline has no recognizer")?;
    let max_pixels = opened.config.images.max_pixels;
    embed_set(
        &mut opened.detector,
        recognizer,
        max_pixels,
        &mut cache,
        paths,
        &label,
    )
}

/// ORL identification: every fraction, `splits` seeded splits, nearest centroid and 1-NN.
pub fn orl(
    pipeline: &str,
    task: &OrlTask,
    images: &[(PathBuf, usize)],
    records: &[EmbedRecord],
    embedding: EmbedStats,
) -> OrlResult {
    let mut result = OrlResult {
        pipeline: pipeline.to_owned(),
        splits: task.splits,
        embedding,
        fractions: Vec::new(),
        error: None,
    };
    let vectors: Option<Vec<Vec<f32>>> = records.iter().map(|r| r.embedding.clone()).collect();
    let Some(vectors) = vectors else {
        result.error = Some(format!(
            "{} of {} images could not be embedded",
            result.embedding.failed,
            images.len()
        ));
        return result;
    };
    let labels: Vec<usize> = images.iter().map(|(_, l)| *l).collect();
    let per_class = labels.iter().filter(|&&l| l == 0).count().max(2);
    for &fraction in &task.tagged {
        let per = ((fraction * per_class as f64).round() as usize).clamp(1, per_class - 1);
        let (mut c, mut k) = (Vec::new(), Vec::new());
        for seed in 0..task.splits {
            let (ac, ak) = identification(&vectors, &labels, per, seed);
            c.push(ac);
            k.push(ak);
        }
        let (cm, cs) = mean_sd(&c);
        let (km, ks) = mean_sd(&k);
        result.fractions.push(OrlFraction {
            tagged: fraction,
            tagged_per_subject: per,
            centroid: MeanSd { mean: cm, sd: cs },
            knn: MeanSd { mean: km, sd: ks },
        });
    }
    result
}

/// Keeps the ROC's shape in a few hundred points: a point is kept when FAR grows by 5% (in
/// log terms) or TAR by 0.002 since the last kept one; the ends are always kept.
pub fn thin_roc(roc: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, &(far, tar)) in roc.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(&(lf, lt)) => i + 1 == roc.len() || far > lf.max(1e-6) * 1.05 || tar > lt + 0.002,
        };
        if keep {
            out.push((far, tar));
        }
    }
    out
}

/// The metric the pipeline's recognizer declares (dlib: euclidean distance); cosine when it
/// declares none.
pub fn declared_metric(opened: &Opened) -> ThresholdKind {
    (opened.recognizer.as_ref())
        .and_then(|r| r.threshold)
        .map_or(ThresholdKind::Cosine, |t| t.kind)
}

/// LFW View 2 verification by the metric the model declares: cosine similarity of the two
/// images' embeddings, or their euclidean distance as given (scored as its negative, so a
/// higher score is more alike; the threshold is reported as a distance).
pub fn lfw(
    pipeline: &str,
    data: &LfwData,
    embedded: &HashMap<&Path, &EmbedRecord>,
    embedding: EmbedStats,
    metric: ThresholdKind,
) -> LfwResult {
    let vector = |p: &Path| embedded.get(p).and_then(|r| r.embedding.as_ref());
    let euclidean = metric == ThresholdKind::Euclidean;
    let mut unreadable = 0;
    let scores: Vec<f64> = data
        .pairs
        .iter()
        .map(|p| match (vector(&p.a), vector(&p.b)) {
            (Some(a), Some(b)) if euclidean => -f64::from(distance(a, b)),
            (Some(a), Some(b)) => f64::from(cosine(a, b)),
            _ => {
                unreadable += 1;
                // Below any real score: an unreadable pair is never "the same person".
                if euclidean {
                    -1e6
                } else {
                    -1.0
                }
            }
        })
        .collect();
    let v = verification(&scores, &data.pairs);
    LfwResult {
        pipeline: pipeline.to_owned(),
        pairs: data.pairs.len(),
        unreadable_pairs: unreadable,
        embedding,
        accuracy: v.accuracy,
        accuracy_sd: v.accuracy_sd,
        fold_accuracy: v.fold_accuracy,
        roc_auc: v.roc_auc,
        tar_at_far_1e3: v.tar_at_far_1e3,
        threshold: if euclidean { -v.threshold } else { v.threshold },
        metric: if euclidean { "euclidean" } else { "cosine" }.into(),
        roc: thin_roc(&v.roc),
    }
}

/// Clustering of the people's embeddings of `set` with every method of the task, with the
/// recognizer's `declared` rule (`clustering::declared`).
pub fn clustering(
    (pipeline, set): (&str, &str),
    task: &ClusteringTask,
    people: &PeopleData,
    embedded: &HashMap<&Path, &EmbedRecord>,
    declared: Option<f32>,
) -> anyhow::Result<ClusteringResult> {
    // Only detected faces: a photo library never holds a whole-frame stand-in, so the photos
    // where the detector found nothing (the LFW task embeds their whole frame) are left out
    // and counted.
    let (mut data, mut truth, mut dim, mut without_face) = (Vec::new(), Vec::new(), 0, 0);
    let mut quality = Vec::new();
    for (path, &label) in people.images.iter().zip(&people.labels) {
        match embedded.get(path.as_path()) {
            Some(EmbedRecord {
                face: Some(_),
                embedding: Some(v),
                quality: q,
                ..
            }) => {
                dim = v.len();
                data.extend_from_slice(v);
                truth.push(label);
                quality.push(q.map(|q| q.score));
            }
            Some(EmbedRecord { face: None, .. }) => without_face += 1,
            _ => {}
        }
    }
    let mut identities = truth.clone();
    identities.sort_unstable();
    identities.dedup();
    let inputs = clustering::Inputs {
        gate: task
            .min_quality
            .and_then(facelab_engine::config::MinQuality::new)
            .map(|min_quality| clustering::QualityGate {
                quality: &quality,
                min_quality,
            }),
        declared,
        quality: Some(&quality),
    };
    Ok(ClusteringResult {
        pipeline: pipeline.to_owned(),
        set: set.to_owned(),
        faces: truth.len(),
        without_face,
        identities: identities.len(),
        methods: clustering::compare_with(&task.methods, &data, dim, &truth, &inputs)?,
        check: false,
    })
}

/// Embeds every variant that loaded through the cache (as set `cluster-<name>`) and clusters
/// it with the task's methods, unchanged.
pub fn cluster_variants(
    opened: &mut Opened,
    scope: &CacheScope<'_>,
    pipeline: &str,
    task: &ClusteringTask,
    variants: &[Variant],
    declared: Option<f32>,
) -> anyhow::Result<Vec<ClusteringResult>> {
    let mut out = Vec::new();
    for v in variants {
        let Ok(people) = &v.people else { continue };
        let set = &v.name;
        let (records, _) = embed_faces(opened, scope, &format!("cluster-{set}"), &people.images)?;
        let index: HashMap<&Path, &EmbedRecord> = people
            .images
            .iter()
            .map(PathBuf::as_path)
            .zip(&records)
            .collect();
        let mut result = clustering((pipeline, set), task, people, &index, declared)?;
        result.check = v.check;
        out.push(result);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends_and_the_shape() {
        let roc: Vec<(f64, f64)> = (0..=6000)
            .map(|i| {
                let far = i as f64 / 6000.0;
                (far, far.sqrt())
            })
            .collect();
        let thin = thin_roc(&roc);
        assert!(thin.len() < 600, "{}", thin.len());
        assert_eq!(thin.first(), Some(&(0.0, 0.0)));
        assert_eq!(thin.last(), Some(&(1.0, 1.0)));
        assert!(thin.windows(2).all(|w| w[1].0 >= w[0].0));
    }
}
