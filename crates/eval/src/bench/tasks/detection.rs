//! The detection tasks on a pipeline's detections: WIDER FACE AP by the official rules with
//! the operating point and the default-threshold rule, and recall and precision on the
//! labelled sets.

use std::path::PathBuf;

use facelab_plugin_api::Face;

use crate::bench::pipeline::{detect_set, from_row, CacheScope, DetectRecord};
use crate::bench::report::{ThresholdRule, VocResult, WiderLevel, WiderOperating, WiderResult};
use crate::bench::suite::WiderTask;
use crate::operating::{grid, lowest_within, operating_point, sweep, Truth};
use crate::voc::{match_faces, LabelledImage, MatchCounts};
use crate::wider::{evaluate, WiderSet};
use facelab_engine::stats::median;

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
    fn thinning_keeps_every_tenth_point_and_the_last() {
        let pr: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let t = thin_pr(&pr);
        assert_eq!((t.len(), t[0].0, t[99].0), (100, 9.0, 999.0));
    }
}
