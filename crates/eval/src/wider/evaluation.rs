//! The official evaluation: the precision/recall curve of each level at the 1,000 fixed
//! score thresholds, summed over the set, and its VOC-style average precision.

use facelab_plugin_api::Face;

use super::matching::{RankedImage, ScoreScale};
use super::{Level, WiderImage, WiderSet};

/// How many score thresholds the official evaluation samples the curve at.
pub(super) const THRESHOLD_COUNT: usize = 1000;

/// The accuracy at one level.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LevelResult {
    /// The level.
    pub level: Level,
    /// Average precision, in [0, 1].
    pub ap: f64,
    /// The faces that count at this level (kept boxes over all images).
    pub faces: usize,
    /// (recall, precision) at the 1,000 score thresholds, highest threshold first.
    pub pr_curve: Vec<(f64, f64)>,
}

/// Scores `detections` (one list per image, in the order of `set.images`) against the set at
/// the three levels, matching at IoU ≥ `iou_threshold` (0.5 in every WIDER FACE report).
/// The result is in the order of [`Level::ALL`].
///
/// # Panics
///
/// If `detections` does not have one entry per image: results paired with the wrong images
/// would be meaningless.
pub fn evaluate(set: &WiderSet, detections: &[Vec<Face>], iou_threshold: f32) -> [LevelResult; 3] {
    assert_eq!(
        detections.len(),
        set.images.len(),
        "one detection list per WIDER image"
    );
    let scale = ScoreScale::over(detections);
    // The best-overlapping box of each detection does not depend on the level, so it is
    // found once and the three levels only differ in which boxes they ignore.
    let ranked: Vec<RankedImage> = set
        .images
        .iter()
        .zip(detections)
        .enumerate()
        .filter_map(|(index, (image, faces))| {
            RankedImage::new(index, image, faces, &scale, f64::from(iou_threshold))
        })
        .collect();
    Level::ALL.map(|level| evaluate_level(set, &ranked, level))
}

/// VOC-style average precision of a curve given as parallel `recall` and `precision` arrays
/// in threshold order (recall non-decreasing): sentinels (0, 0) and (1, 0) are added, the
/// precision envelope is made monotonically decreasing, and Δrecall × precision is summed
/// where recall changes. Entries past the shorter array are ignored. A NaN precision is
/// overridden by the envelope (numpy would propagate it).
pub fn average_precision(recall: &[f64], precision: &[f64]) -> f64 {
    let n = recall.len().min(precision.len());
    let mut mrec = Vec::with_capacity(n + 2);
    mrec.push(0.0);
    mrec.extend_from_slice(&recall[..n]);
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(n + 2);
    mpre.push(0.0);
    mpre.extend_from_slice(&precision[..n]);
    mpre.push(0.0);
    for i in (1..mpre.len()).rev() {
        mpre[i - 1] = mpre[i - 1].max(mpre[i]);
    }
    mrec.windows(2)
        .zip(&mpre[1..])
        .filter(|(pair, _)| pair[1] != pair[0])
        .map(|(pair, p)| (pair[1] - pair[0]) * p)
        .sum()
}

/// The port's `img_pr_info` for one level, summed over the set.
fn evaluate_level(set: &WiderSet, ranked: &[RankedImage], level: Level) -> LevelResult {
    let faces = set.faces(level);
    let mut proposals = vec![0_u64; THRESHOLD_COUNT];
    let mut recalled = vec![0_u64; THRESHOLD_COUNT];
    for image in ranked {
        let running = running_counts(image, &set.images[image.image], level);
        for (i, threshold) in thresholds().enumerate() {
            let passing = image.scores.partition_point(|&score| score >= threshold);
            if let Some(&(p, r)) = passing.checked_sub(1).and_then(|last| running.get(last)) {
                proposals[i] += p;
                recalled[i] += r;
            }
        }
    }
    let pr_curve: Vec<(f64, f64)> = proposals
        .iter()
        .zip(&recalled)
        .map(|(&p, &r)| {
            let precision = if p == 0 { 0.0 } else { r as f64 / p as f64 };
            let recall = if faces == 0 {
                0.0
            } else {
                r as f64 / faces as f64
            };
            (recall, precision)
        })
        .collect();
    let ap = if faces == 0 {
        0.0
    } else {
        let (recall, precision): (Vec<f64>, Vec<f64>) = pr_curve.iter().copied().unzip();
        average_precision(&recall, &precision)
    };
    LevelResult {
        level,
        ap,
        faces,
        pr_curve,
    }
}

/// The port's `image_eval` for one image at `level`: after each detection (best score
/// first), the non-ignored detections so far and the kept boxes recalled so far.
fn running_counts(image: &RankedImage, truth: &WiderImage, level: Level) -> Vec<(u64, u64)> {
    let mut kept = vec![false; truth.boxes.len()];
    for &index in &truth.keep[level.slot()] {
        // A hand-built set may hold an index past the boxes: it counts as a face that
        // can never be found, rather than a panic.
        if let Some(flag) = kept.get_mut(index) {
            *flag = true;
        }
    }
    let mut found = vec![false; truth.boxes.len()];
    let (mut proposed, mut hits) = (0_u64, 0_u64);
    image
        .matches
        .iter()
        .map(|matched| {
            match *matched {
                Some(index) if !kept[index] => {}
                Some(index) => {
                    proposed += 1;
                    if !found[index] {
                        found[index] = true;
                        hits += 1;
                    }
                }
                None => proposed += 1,
            }
            (proposed, hits)
        })
        .collect()
}

/// The official thresholds `1 - (i + 1) / 1000`, highest first, computed with the same
/// operations as the port so that a score on a threshold falls on the same side.
fn thresholds() -> impl Iterator<Item = f64> {
    (0..THRESHOLD_COUNT).map(|i| 1.0 - (i + 1) as f64 / THRESHOLD_COUNT as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wider::fixtures::{assert_close, image, set, square};
    use crate::wider::matching::pixel_inclusive_iou;
    use facelab_plugin_api::BBox;

    /// Two images with nested keep lists and one image without faces.
    fn nested_set() -> WiderSet {
        set(vec![
            image(
                vec![
                    square(0.0, 0.0),
                    square(100.0, 0.0),
                    square(200.0, 0.0),
                    square(300.0, 0.0),
                ],
                [vec![0], vec![0, 1], vec![0, 1, 2, 3]],
            ),
            image(
                vec![square(0.0, 100.0), square(100.0, 100.0)],
                [vec![0, 1], vec![0, 1], vec![0, 1]],
            ),
            image(vec![], [vec![], vec![], vec![]]),
        ])
    }

    #[test]
    fn perfect_detections_give_ap_one_at_every_level() {
        let set = nested_set();
        let b = |i: usize, j: usize| set.images[i].boxes[j];
        // Interleaved scores, so that boxes outside easy and medium rank between kept ones:
        // they must be ignored there, not counted as false positives.
        let detections = vec![
            vec![
                Face::new(b(0, 0), 0.9),
                Face::new(b(0, 1), 0.3),
                Face::new(b(0, 2), 0.5),
                Face::new(b(0, 3), 0.1),
            ],
            vec![Face::new(b(1, 0), 0.8), Face::new(b(1, 1), 0.2)],
            vec![],
        ];
        let results = evaluate(&set, &detections, 0.5);
        let faces: Vec<usize> = results.iter().map(|r| r.faces).collect();
        assert_eq!(faces, [3, 4, 6]);
        for result in &results {
            assert_eq!(result.pr_curve.len(), THRESHOLD_COUNT);
            assert_close(result.ap, 1.0, result.level.name());
            assert_eq!(result.pr_curve.last(), Some(&(1.0, 1.0)));
        }
    }

    #[test]
    fn all_misses_give_ap_zero() {
        let set = nested_set();
        let far = |score| Face::new(square(5000.0, 5000.0), score);
        let detections = vec![vec![far(0.9), far(0.4)], vec![far(0.7)], vec![]];
        for result in evaluate(&set, &detections, 0.5) {
            assert_eq!(result.ap, 0.0, "{}", result.level.name());
            assert!(result.pr_curve.iter().all(|&(r, p)| r == 0.0 && p == 0.0));
        }
    }

    #[test]
    fn a_detection_on_an_ignored_box_is_not_a_false_positive() {
        // Box 0 counts at every level; box 1 is ignored at easy only.
        let kept = square(0.0, 0.0);
        let ignored_at_easy = square(100.0, 0.0);
        let set = set(vec![image(
            vec![kept, ignored_at_easy],
            [vec![0], vec![0, 1], vec![0, 1]],
        )]);
        // The ignored box scores highest: were it a false positive, easy precision at full
        // recall would be 1/2 and the easy AP 0.5.
        let both = vec![vec![Face::new(ignored_at_easy, 0.9), Face::new(kept, 0.7)]];
        let [easy, medium, hard] = evaluate(&set, &both, 0.5);
        assert_close(easy.ap, 1.0, "easy");
        // Above the kept detection's normalised score only the ignored one passes: nothing
        // is proposed, so the point is (0, 0) rather than a false positive.
        assert_eq!(easy.pr_curve[0], (0.0, 0.0));
        assert_close(medium.ap, 1.0, "medium");
        assert_close(hard.ap, 1.0, "hard");

        // With only the always-kept box detected, easy is complete but the levels that keep
        // both boxes recall half of them, at precision 1.
        let one = vec![vec![Face::new(kept, 0.7)]];
        let [easy, medium, hard] = evaluate(&set, &one, 0.5);
        assert_close(easy.ap, 1.0, "easy");
        for result in [medium, hard] {
            assert_eq!(result.pr_curve.last(), Some(&(0.5, 1.0)));
            assert_close(result.ap, 0.5, result.level.name());
        }
    }

    #[test]
    fn a_duplicate_is_a_false_positive_and_never_falls_back_to_another_box() {
        let (a, b) = (square(0.0, 0.0), square(100.0, 0.0));
        let both_kept = || [vec![0, 1], vec![0, 1], vec![0, 1]];
        // Scores 1.0, 0.6005 and 0.0 are their own normalised values (the port seeds min at
        // 1 and max at 0). Thresholds 1 - (i+1)/1000:
        // - i in 0..=398 (t ≥ 0.601): only the first detection of A → P 1, R 1/2;
        // - i in 399..=998 (0.6 ≥ t ≥ 0.001): plus the duplicate, which recalls nothing new
        //   but is still a proposal → P 1/2, R 1/2;
        // - i = 999 (t = 0): plus B → P 2/3, R 1.
        // Envelope: 1 up to recall 1/2, then 2/3. AP = 1/2 × 1 + 1/2 × 2/3 = 5/6.
        // Without the duplicate the AP would be 1.
        let set1 = set(vec![image(vec![a, b], both_kept())]);
        let detections = vec![vec![
            Face::new(a, 1.0),
            Face::new(BBox::new(1.0, 0.0, 20.0, 20.0), 0.6005),
            Face::new(b, 0.0),
        ]];
        for result in evaluate(&set1, &detections, 0.5) {
            assert_close(result.ap, 5.0 / 6.0, result.level.name());
            assert_eq!(result.pr_curve[398], (0.5, 1.0));
            assert_eq!(result.pr_curve[399], (0.5, 0.5));
            let (recall, precision) = result.pr_curve[999];
            assert_close(recall, 1.0, "final recall");
            assert_close(precision, 2.0 / 3.0, "final precision");
        }

        // Two heavily overlapping faces (IoU 399/483 ≈ 0.83 with the +1 convention) and two
        // detections exactly on the first. The second detection's best box is the first face,
        // already recalled, so it is a false positive: the port does not try the second face,
        // although it overlaps it by ≥ 0.5. Normalised scores 1 and 0:
        // P 1, R 1/2 for i < 999, then P 1/2, R 1/2. AP = 1/2 × 1 = 0.5. (A one-to-one
        // matcher that falls back to the next box would give 1.)
        let near = BBox::new(2.0, 0.0, 20.0, 20.0);
        assert_close(pixel_inclusive_iou(&a, &near), 399.0 / 483.0, "overlap");
        let set2 = set(vec![image(vec![a, near], both_kept())]);
        let detections = vec![vec![Face::new(a, 0.9), Face::new(a, 0.8)]];
        for result in evaluate(&set2, &detections, 0.5) {
            assert_close(result.ap, 0.5, result.level.name());
            assert_eq!(result.pr_curve.last(), Some(&(0.5, 0.5)));
        }
    }

    #[test]
    fn average_precision_of_a_known_curve() {
        // Sentinels give recall [0, .5, 1, 1] and precision [0, 1, .5, 0]; the envelope is
        // [1, 1, .5, 0]; AP = .5 × 1 + .5 × .5.
        assert_close(average_precision(&[0.5, 1.0], &[1.0, 0.5]), 0.75, "AP");
        // A dip is filled by the envelope: the 0.25 at recall 0.5 becomes 0.5.
        assert_close(
            average_precision(&[0.25, 0.5, 1.0], &[1.0, 0.25, 0.5]),
            0.25 + 0.25 * 0.5 + 0.5 * 0.5,
            "AP with a dip",
        );
        assert_eq!(average_precision(&[], &[]), 0.0);
        assert_close(average_precision(&[0.0, 1.0], &[f64::NAN, 1.0]), 1.0, "NaN");
    }

    #[test]
    fn edge_cases_give_finite_results() {
        let set = nested_set();
        let b = |i: usize, j: usize| set.images[i].boxes[j];

        // No detections at all.
        for result in evaluate(&set, &[vec![], vec![], vec![]], 0.5) {
            assert_eq!(result.ap, 0.0);
            assert!(result.pr_curve.iter().all(|&(r, p)| r == 0.0 && p == 0.0));
        }

        // All scores equal (the port would divide by zero): every detection scores 1.0.
        // A detection in the image without faces is skipped, as the port skips that image,
        // and a NaN score is dropped.
        let detections = vec![
            vec![
                Face::new(b(0, 0), 0.5),
                Face::new(b(0, 1), 0.5),
                Face::new(b(0, 2), 0.5),
                Face::new(b(0, 3), 0.5),
                Face::new(square(5000.0, 0.0), f32::NAN),
            ],
            vec![Face::new(b(1, 0), 0.5), Face::new(b(1, 1), 0.5)],
            vec![Face::new(square(0.0, 0.0), 0.5)],
        ];
        for result in evaluate(&set, &detections, 0.5) {
            assert_close(result.ap, 1.0, result.level.name());
            assert_eq!(result.pr_curve[0], (1.0, 1.0));
        }

        // A level without kept faces.
        let empty_easy = crate::wider::fixtures::set(vec![image(
            vec![square(0.0, 0.0)],
            [vec![], vec![0], vec![0]],
        )]);
        let [easy, medium, _] =
            evaluate(&empty_easy, &[vec![Face::new(square(0.0, 0.0), 0.8)]], 0.5);
        assert_eq!((easy.faces, easy.ap), (0, 0.0));
        assert!(easy
            .pr_curve
            .iter()
            .all(|&(r, p)| r == 0.0 && p.is_finite()));
        assert_close(medium.ap, 1.0, "medium");
    }
}
