//! The accuracy tasks: the data each one reads (loaded once for all pipelines), and one
//! function per task that turns an opened pipeline's detections or embeddings into results,
//! with the protocols of `../shared/datasets/README.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use facelab_plugin_api::Face;

use super::clustering;
use super::pipeline::{
    detect_set, embed_set, from_row, CacheScope, DetectRecord, EmbedRecord, Opened,
};
use super::report::{
    ClusteringResult, EmbedStats, LfwResult, MeanSd, OrlFraction, OrlResult, ThresholdRule,
    VocResult, WiderLevel, WiderOperating, WiderResult,
};
use super::suite::{ClusteringTask, OrlTask, WiderTask};
use crate::faceeval::{identification, mean_sd, verification, Pair};
use crate::operating::{grid, lowest_within, operating_point, sweep, Truth};
use crate::voc::{match_faces, LabelledImage, MatchCounts};
use crate::wider::{evaluate, WiderSet};
use facelab_engine::pipeline::{cosine, distance};
use facelab_engine::stats::median;
use facelab_models::manifest::ThresholdKind;

/// The LFW pairs and the images they use.
pub struct LfwData {
    /// The 6,000 pairs in 10 folds.
    pub pairs: Vec<Pair>,
    /// Every image of the pairs, sorted, once.
    pub images: Vec<PathBuf>,
}

/// The people of the clustering task: every image of every person with enough images.
pub struct PeopleData {
    /// Image paths, sorted.
    pub images: Vec<PathBuf>,
    /// The person of each image (0-based, in name order).
    pub labels: Vec<usize>,
    /// People.
    pub identities: usize,
}

/// Reads the LFW View 2 pairs; an error when the set is not there.
pub fn load_lfw(root: &Path) -> anyhow::Result<LfwData> {
    let pairs = crate::faceeval::lfw_pairs(root)?;
    let mut images: Vec<PathBuf> = pairs
        .iter()
        .flat_map(|p| [p.a.clone(), p.b.clone()])
        .collect();
    images.sort();
    images.dedup();
    if let Some(missing) = images.iter().find(|p| !p.is_file()) {
        anyhow::bail!("{} is listed in pairs.txt but missing", missing.display());
    }
    Ok(LfwData { pairs, images })
}

/// Lists `root/images/<Name>/*.jpg` (and `*.png`: the colour/grey robustness sets) and keeps
/// the people with at least `min_images`.
pub fn load_people(root: &Path, min_images: usize) -> anyhow::Result<PeopleData> {
    let dir = root.join("images");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let (mut images, mut labels, mut identities) = (Vec::new(), Vec::new(), 0);
    for person in people {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&person)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("png"))
            })
            .collect();
        if files.len() < min_images {
            continue;
        }
        files.sort();
        labels.extend(std::iter::repeat_n(identities, files.len()));
        images.extend(files);
        identities += 1;
    }
    if identities == 0 {
        anyhow::bail!(
            "no person in {} has {min_images} or more images",
            dir.display()
        );
    }
    Ok(PeopleData {
        images,
        labels,
        identities,
    })
}

/// The union of two sorted path lists, sorted.
pub fn union(a: &[PathBuf], b: &[PathBuf]) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = a.iter().chain(b).cloned().collect();
    all.sort();
    all.dedup();
    all
}

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
    })
}

/// A robustness variant of the clustering task: its folder name and people, or why not.
pub type Variant = (String, Result<PeopleData, String>);

/// Loads the clustering task's robustness variants; a missing folder is reported (with the
/// script that makes it), not fatal.
pub fn load_variants(task: &ClusteringTask, root: &Path) -> Vec<Variant> {
    let mut out = Vec::new();
    for v in &task.variants {
        let dir = ClusteringTask::variant_path(v, root);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let people = if dir.join("images").is_dir() {
            load_people(&dir, task.min_images).map_err(|e| format!("{e:#}"))
        } else {
            Err(format!(
                "{} not found (help: make it with benches/python/make_robustness_sets.py)",
                dir.join("images").display()
            ))
        };
        if let Err(e) = &people {
            eprintln!("facelab: bench: clustering variant {name} skipped: {e}");
        }
        out.push((name, people));
    }
    out
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
    for (set, people) in variants {
        let Ok(people) = people else { continue };
        let (records, _) = embed_faces(opened, scope, &format!("cluster-{set}"), &people.images)?;
        let index: HashMap<&Path, &EmbedRecord> = people
            .images
            .iter()
            .map(PathBuf::as_path)
            .zip(&records)
            .collect();
        out.push(clustering((pipeline, set), task, people, &index, declared)?);
    }
    Ok(out)
}

/// Detects a detection set through the cache with `detector`.
pub fn detect_faces(
    detector: &mut facelab_engine::pipeline::FaceDetector,
    max_pixels: u64,
    scope: &CacheScope<'_>,
    set: &str,
    extra: &str,
    paths: &[PathBuf],
) -> anyhow::Result<(Vec<DetectRecord>, usize)> {
    let mut cache = scope.open(set, extra)?;
    let label = format!("{} {set}", scope.label);
    detect_set(detector, max_pixels, &mut cache, paths, &label)
}

/// Keeps every 10th point of a 1,000-point PR curve, and the last.
fn thin_pr(curve: &[(f64, f64)]) -> Vec<(f64, f64)> {
    curve
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 == 9 || *i + 1 == curve.len())
        .map(|(_, p)| *p)
        .collect()
}

/// WIDER FACE AP at the three levels by the official rules.
pub fn wider(
    pipeline: &str,
    task: &WiderTask,
    set: &WiderSet,
    records: &[DetectRecord],
    cached: usize,
    options: serde_json::Value,
    min_face_size: f32,
) -> WiderResult {
    let detections: Vec<Vec<Face>> = records
        .iter()
        .map(|r| r.faces.iter().map(from_row).collect())
        .collect();
    let levels = evaluate(set, &detections, task.iou);
    let mut times: Vec<f64> = records
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| r.detect_ms)
        .collect();
    WiderResult {
        pipeline: pipeline.to_owned(),
        images: set.images.len(),
        cached,
        failed: records.iter().filter(|r| r.error.is_some()).count(),
        options,
        iou: task.iou,
        levels: levels
            .iter()
            .map(|l| WiderLevel {
                level: l.level.name().to_owned(),
                ap: l.ap,
                faces: l.faces,
                pr_curve: thin_pr(&l.pr_curve),
            })
            .collect(),
        median_ms: (!times.is_empty()).then(|| median(&mut times)),
        operating_point: None,
        threshold_rule: threshold_rule(set, &detections, min_face_size),
    }
}

/// The rule for a detector's default threshold
/// ([`crate::operating::ACCEPT_MAX_FALSE_PER_100`]), applied to detections made at a low
/// threshold, keeping those at least `min_face_size` tall as the pipeline would. `None`
/// when the run's lowest score is above 0.3 (nothing to sweep).
fn threshold_rule(
    set: &WiderSet,
    detections: &[Vec<Face>],
    min_face_size: f32,
) -> Option<ThresholdRule> {
    let lowest = detections
        .iter()
        .flatten()
        .map(|f| f.score)
        .fold(1.0f32, f32::min);
    if lowest > 0.3 {
        return None;
    }
    let kept: Vec<Vec<Face>> = detections
        .iter()
        .map(|fs| {
            fs.iter()
                .filter(|f| f.bbox.height >= min_face_size)
                .copied()
                .collect()
        })
        .collect();
    let truths: Vec<Truth> = set.images.iter().map(Truth::wider).collect();
    let swept = sweep(&truths, &kept, &grid(0.3, 0.99));
    let limit = crate::operating::ACCEPT_MAX_FALSE_PER_100;
    let chosen = lowest_within(&swept, limit);
    Some(ThresholdRule {
        rule: format!("the lowest score threshold with at most {limit} false positives per 100 photos (faces ≥ {min_face_size} px)"),
        threshold: chosen.map(|(t, _)| f64::from(t)),
        point: chosen.map(|(_, p)| p),
    })
}

/// The WIDER measures at a pipeline's own settings, from `records` made with its
/// configured detector.
pub fn wider_operating(
    set: &WiderSet,
    task: &WiderTask,
    records: &[DetectRecord],
    detector: &facelab_engine::pipeline::FaceDetector,
    threshold: Option<f64>,
) -> WiderOperating {
    let detections: Vec<Vec<Face>> = records
        .iter()
        .map(|r| r.faces.iter().map(from_row).collect())
        .collect();
    let truths: Vec<Truth> = set.images.iter().map(Truth::wider).collect();
    let levels = evaluate(set, &detections, task.iou)
        .iter()
        .map(|l| l.pr_curve.last().copied().unwrap_or((0.0, 1.0)))
        .collect();
    let mut times: Vec<f64> = records
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| r.detect_ms)
        .collect();
    WiderOperating {
        threshold,
        verify: detector
            .second_look()
            .map(|v| [v.from, v.second, v.context, v.size as f32].map(f64::from)),
        point: operating_point(&truths, &detections, 0.0),
        levels,
        verified: detector.verified(),
        median_ms: (!times.is_empty()).then(|| median(&mut times)),
        failed: records.iter().filter(|r| r.error.is_some()).count(),
    }
}

/// The labelled sets of imglab files: the images of each file grouped by their folder's
/// name (`voc-groups`, `sprint`, `bbt`), in file order.
pub fn labelled_sets(
    files: Vec<(PathBuf, Vec<LabelledImage>)>,
) -> Vec<(String, Vec<LabelledImage>)> {
    let mut sets: Vec<(String, Vec<LabelledImage>)> = Vec::new();
    for (file, images) in files {
        for image in images {
            let folder = image
                .path
                .parent()
                .and_then(|p| p.file_name())
                .or_else(|| file.file_stem())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match sets.iter_mut().find(|(name, _)| *name == folder) {
                Some((_, v)) => v.push(image),
                None => sets.push((folder, vec![image])),
            }
        }
    }
    sets
}

/// Recall and precision of a labelled set, one-to-one matching at `iou`, and the
/// operating point on its taggable faces.
pub fn voc(
    pipeline: &str,
    set: &str,
    images: &[LabelledImage],
    records: &[DetectRecord],
    iou: f32,
) -> VocResult {
    let mut total = MatchCounts::default();
    let mut detections = Vec::with_capacity(records.len());
    for (image, r) in images.iter().zip(records) {
        let faces: Vec<_> = r.faces.iter().map(from_row).collect();
        total.add(match_faces(&image.boxes, &faces, iou));
        detections.push(faces);
    }
    let truths: Vec<Truth> = images
        .iter()
        .map(|i| Truth::labels(&i.boxes, &i.ignored))
        .collect();
    VocResult {
        pipeline: pipeline.to_owned(),
        set: set.to_owned(),
        operating_point: operating_point(&truths, &detections, 0.0),
        labelled: total.labelled,
        detected: total.detected,
        matched: total.matched,
        recall: total.recall(),
        precision: total.precision(),
        failed: records.iter().filter(|r| r.error.is_some()).count(),
    }
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
        let pr: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let t = thin_pr(&pr);
        assert_eq!((t.len(), t[0].0, t[99].0), (100, 9.0, 999.0));
    }
}
