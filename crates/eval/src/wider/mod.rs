//! WIDER FACE detection accuracy: average precision at the easy, medium and hard levels,
//! computed the way published face detectors report it.
//!
//! WIDER FACE numbers are only comparable between detectors when every rule of the official
//! evaluation is reproduced, down to its quirks: boxes outside a level are *ignored* rather
//! than dropped, scores are rescaled over the whole run, and the precision/recall curve is
//! sampled at 1,000 fixed score thresholds. So this module mirrors, step by step, the Python
//! port of the official MATLAB toolbox (`WiderFace-Evaluation/evaluation.py`), which is the
//! de-facto standard and reproduces the official numbers:
//!
//! - **Ignored boxes.** At each level only the boxes listed in that level's keep list count.
//!   A detection whose best-overlapping box is not kept is neither a true nor a false
//!   positive, and the number of faces at a level is the number of kept boxes.
//! - **Score normalisation.** Scores are rescaled once per run, over every detection of
//!   every image, to `(score - min) / (max - min)`. As in the port's `norm_score`, `min`
//!   starts at 1 and `max` at 0 before the scan, so for scores in [0, 1], the usual
//!   detector output, this is plain min-max scaling; for other ranges it gives the same
//!   thresholds the official tools would.
//! - **Matching.** In each image, detections are taken best score first. Each one is
//!   compared only with the ground-truth box it overlaps most (the first one on ties, as
//!   `argmax` does). If that overlap reaches the IoU threshold: an ignored box makes the
//!   detection ignored; a kept box not yet found is recalled; a kept box already found
//!   leaves the detection a plain proposal, i.e. a false positive. There is no fall-back to
//!   the second-best box, so a duplicate never recalls a neighbouring face.
//! - **IoU.** As the port's `bbox_overlaps` (Fast R-CNN's): a box `x y w h` runs from `x` to
//!   `x + w` and both ends count as pixels, so widths and heights are `w + 1` and `h + 1`.
//!   This slightly favours small boxes over the plain continuous IoU, and is kept so that
//!   results at the 0.5 threshold match published ones.
//! - **Curve.** For threshold `t_i = 1 - (i + 1) / 1000`, `i` in `0..1000`, each image adds
//!   the number of non-ignored detections scoring at least `t_i` and the number of kept
//!   boxes they recalled. Precision is recalled / proposals and recall is recalled / faces,
//!   summed over the whole set. Images with no ground-truth box or no detection add nothing
//!   to the curve (their kept faces still count), exactly as in the port: detections in an
//!   image without faces are therefore not false positives.
//! - **AP.** VOC style: sentinels at recall 0 and 1, the precision envelope made
//!   monotonically decreasing, then Σ Δrecall × precision where recall changes.
//!
//! Deviations from the port, all where it would fail or give NaN, or depend on file order:
//! - Detections are sorted by score (stably) before matching. The port walks them in file
//!   order and assumes that order is by descending score, which detector dumps are.
//! - When every score is the same (`max == min`), all normalised scores are 1.0; the port
//!   divides by zero there. Detections with a non-finite score are dropped: they cannot be
//!   ranked.
//! - Precision at a threshold that no counted (non-ignored) detection reaches is 0 rather
//!   than 0/0. Recall is 0 there, so this never changes the AP. A level with no kept face
//!   has AP 0 and recall 0.
//! - IoU is computed in `f64`; the port's compiled `bbox_overlaps` uses `f32`, which can
//!   only matter for an overlap within rounding of the threshold.

mod evaluation;
#[cfg(test)]
mod fixtures;
mod ground_truth;
mod matching;
mod set;

pub use evaluation::{average_precision, evaluate, LevelResult};
pub use set::{Level, WiderImage, WiderSet};
