//! Per-image matching by the port's rules: the run-wide score rescaling, each detection's
//! best-overlapping ground-truth box (best score first), and the pixel-inclusive IoU.

use facelab_plugin_api::{BBox, Face};

use super::WiderImage;

/// The run-wide score rescaling of the port's `norm_score`.
pub(super) struct ScoreScale {
    min: f64,
    span: f64,
}

impl ScoreScale {
    pub(super) fn over(detections: &[Vec<Face>]) -> ScoreScale {
        // Seeded as the port does (min 1, max 0): plain min-max scaling for scores in
        // [0, 1], and the official thresholds for scores in any other range.
        let (mut min, mut max) = (1.0_f64, 0.0_f64);
        for face in detections.iter().flatten() {
            if face.score.is_finite() {
                min = min.min(f64::from(face.score));
                max = max.max(f64::from(face.score));
            }
        }
        ScoreScale {
            min,
            span: max - min,
        }
    }

    fn normalise(&self, score: f32) -> f64 {
        if self.span > 0.0 {
            (f64::from(score) - self.min) / self.span
        } else {
            // Every score is the same: every detection passes every threshold.
            1.0
        }
    }
}

/// One image's detections, best score first, with the box each one overlaps most when that
/// overlap reaches the threshold.
pub(super) struct RankedImage {
    /// Index into `WiderSet::images`.
    pub(super) image: usize,
    /// Normalised scores, descending.
    pub(super) scores: Vec<f64>,
    /// For each detection in `scores` order, its matched ground-truth box.
    pub(super) matches: Vec<Option<usize>>,
}

impl RankedImage {
    /// `None` for images the port skips: no ground truth or no detection.
    pub(super) fn new(
        index: usize,
        image: &WiderImage,
        faces: &[Face],
        scale: &ScoreScale,
        iou_threshold: f64,
    ) -> Option<RankedImage> {
        let mut ranked: Vec<(f64, &BBox)> = faces
            .iter()
            .filter(|face| face.score.is_finite())
            .map(|face| (scale.normalise(face.score), &face.bbox))
            .collect();
        if image.boxes.is_empty() || ranked.is_empty() {
            return None;
        }
        // Stable, so equal scores keep the detector's order as the port would.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let matches = ranked
            .iter()
            .map(|(_, detection)| {
                let mut best = (0, pixel_inclusive_iou(detection, &image.boxes[0]));
                for (index, truth) in image.boxes.iter().enumerate().skip(1) {
                    let overlap = pixel_inclusive_iou(detection, truth);
                    if overlap > best.1 {
                        best = (index, overlap);
                    }
                }
                (best.1 >= iou_threshold).then_some(best.0)
            })
            .collect();
        Some(RankedImage {
            image: index,
            scores: ranked.iter().map(|(score, _)| *score).collect(),
            matches,
        })
    }
}

/// IoU as the port's `bbox_overlaps`: a box spans `x ..= x + w`, counting both end pixels,
/// so a `w × h` box has area `(w + 1)(h + 1)`. Non-finite results (from non-finite
/// coordinates) are 0.
pub(super) fn pixel_inclusive_iou(a: &BBox, b: &BBox) -> f64 {
    let corners = |r: &BBox| {
        let (x, y) = (f64::from(r.x), f64::from(r.y));
        (x, y, x + f64::from(r.width), y + f64::from(r.height))
    };
    let (ax1, ay1, ax2, ay2) = corners(a);
    let (bx1, by1, bx2, by2) = corners(b);
    let iw = ax2.min(bx2) - ax1.max(bx1) + 1.0;
    let ih = ay2.min(by2) - ay1.max(by1) + 1.0;
    if !(iw > 0.0 && ih > 0.0) {
        return 0.0;
    }
    let intersection = iw * ih;
    let union = (ax2 - ax1 + 1.0) * (ay2 - ay1 + 1.0) + (bx2 - bx1 + 1.0) * (by2 - by1 + 1.0)
        - intersection;
    let iou = intersection / union;
    if union > 0.0 && iou.is_finite() {
        iou
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wider::fixtures::assert_close;

    #[test]
    fn iou_counts_both_end_pixels() {
        let a = BBox::new(0.0, 0.0, 9.0, 9.0);
        assert_close(pixel_inclusive_iou(&a, &a), 1.0, "self");
        // 10 × 10 pixels each, overlapping in 5 × 10.
        let b = BBox::new(5.0, 0.0, 9.0, 9.0);
        assert_close(pixel_inclusive_iou(&a, &b), 50.0 / 150.0, "shifted");
        // Touching edges share a pixel column.
        let c = BBox::new(9.0, 0.0, 9.0, 9.0);
        assert_close(pixel_inclusive_iou(&a, &c), 10.0 / 190.0, "touching");
        assert_eq!(
            pixel_inclusive_iou(&a, &BBox::new(10.0, 0.0, 9.0, 9.0)),
            0.0
        );
    }
}
