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
//!   than 0/0. Recall is 0 there, so this never changes the AP. A level with no kept face has AP 0 and recall 0.
//! - IoU is computed in `f64`; the port's compiled `bbox_overlaps` uses `f32`, which can
//!   only matter for an overlap within rounding of the threshold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use facelab_plugin_api::{BBox, Face};

/// The ground-truth boxes in the official layout.
const GROUND_TRUTH_FILE: &str = "wider_face_val_bbx_gt.txt";
/// The per-image keep lists of the three levels.
const DIFFICULTY_FILE: &str = "difficulty.txt";
/// How many score thresholds the official evaluation samples the curve at.
const THRESHOLD_COUNT: usize = 1000;

/// A WIDER FACE difficulty level. Each level keeps a subset of the boxes; a harder level
/// keeps more (smaller, more occluded) faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Large, clear faces.
    Easy,
    /// Easy faces plus medium-sized or partly occluded ones.
    Medium,
    /// Nearly every labelled face, down to tiny and heavily occluded ones.
    Hard,
}

impl Level {
    /// The three levels, in the order of [`WiderImage::keep`] and of [`evaluate`]'s result.
    pub const ALL: [Level; 3] = [Level::Easy, Level::Medium, Level::Hard];

    /// The level's name as WIDER FACE reports use it: `easy`, `medium` or `hard`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Easy => "easy",
            Level::Medium => "medium",
            Level::Hard => "hard",
        }
    }

    /// The level's position in [`Level::ALL`] and [`WiderImage::keep`].
    fn slot(self) -> usize {
        self as usize
    }
}

/// One image of the set with its labelled faces.
#[derive(Debug, Clone)]
pub struct WiderImage {
    /// The image file: the set's `images` folder joined with [`WiderImage::name`].
    pub path: PathBuf,
    /// The relative name as the ground-truth file writes it, e.g.
    /// `0--Parade/0_Parade_marchingband_1_465.jpg`.
    pub name: String,
    /// Every labelled box, in file order, absolute pixels (top-left corner and size).
    pub boxes: Vec<BBox>,
    /// For easy, medium and hard (the order of [`Level::ALL`]): the 0-based indices into
    /// [`WiderImage::boxes`] of the boxes that count at that level. The others are ignored.
    pub keep: [Vec<usize>; 3],
    /// The `invalid` attribute of each box (in [`WiderImage::boxes`] order): the annotators
    /// could not judge the face.
    pub invalid: Vec<bool>,
}

/// A WIDER FACE validation set (or a subset of it) on disk.
#[derive(Debug, Clone)]
pub struct WiderSet {
    /// The folder holding `wider_face_val_bbx_gt.txt`, `difficulty.txt` and `images/`.
    pub root: PathBuf,
    /// The images in ground-truth file order.
    pub images: Vec<WiderImage>,
}

impl WiderSet {
    /// Reads `root/wider_face_val_bbx_gt.txt` and `root/difficulty.txt` and checks that they
    /// describe the same images, that every keep index names a box, and that every image is
    /// present under `root/images`. Errors name the file and line at fault.
    pub fn load(root: &Path) -> anyhow::Result<WiderSet> {
        let gt_path = root.join(GROUND_TRUTH_FILE);
        let difficulty_path = root.join(DIFFICULTY_FILE);
        let records = parse_ground_truth(&read_text(&gt_path)?, &gt_path)?;
        let mut levels = parse_difficulty(&read_text(&difficulty_path)?, &difficulty_path)?;
        let images_dir = root.join("images");

        let mut images = Vec::with_capacity(records.len());
        let mut missing = Vec::new();
        for record in records {
            let Some(entry) = levels.remove(&record.name) else {
                bail!(
                    "{}: no line for {} (listed at {}:{})",
                    difficulty_path.display(),
                    record.name,
                    gt_path.display(),
                    record.line
                );
            };
            let mut keep: [Vec<usize>; 3] = Default::default();
            for level in Level::ALL {
                for &index in &entry.kept[level.slot()] {
                    if index == 0 || index > record.boxes.len() {
                        bail!(
                            "{}:{}: {} index {index} is out of range: {} has {} boxes in {}",
                            difficulty_path.display(),
                            entry.line,
                            level.name(),
                            record.name,
                            record.boxes.len(),
                            gt_path.display()
                        );
                    }
                    keep[level.slot()].push(index - 1);
                }
            }
            let path = images_dir.join(&record.name);
            if !path.is_file() {
                missing.push(path.clone());
            }
            images.push(WiderImage {
                path,
                name: record.name,
                boxes: record.boxes,
                keep,
                invalid: record.invalid,
            });
        }
        if let Some(extra) = levels.values().min_by_key(|entry| entry.line) {
            bail!(
                "{}:{}: {} is not in {}",
                difficulty_path.display(),
                extra.line,
                extra.name,
                gt_path.display()
            );
        }
        if let Some(first) = missing.first() {
            bail!(
                "{} of the {} images listed in {} are missing, the first is {}",
                missing.len(),
                images.len(),
                gt_path.display(),
                first.display()
            );
        }
        Ok(WiderSet {
            root: root.to_owned(),
            images,
        })
    }

    /// The number of faces that count at `level`: the kept boxes over all images.
    pub fn faces(&self, level: Level) -> usize {
        self.images
            .iter()
            .map(|image| image.keep[level.slot()].len())
            .sum()
    }
}

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

/// The run-wide score rescaling of the port's `norm_score`.
struct ScoreScale {
    min: f64,
    span: f64,
}

impl ScoreScale {
    fn over(detections: &[Vec<Face>]) -> ScoreScale {
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
struct RankedImage {
    /// Index into `WiderSet::images`.
    image: usize,
    /// Normalised scores, descending.
    scores: Vec<f64>,
    /// For each detection in `scores` order, its matched ground-truth box.
    matches: Vec<Option<usize>>,
}

impl RankedImage {
    /// `None` for images the port skips: no ground truth or no detection.
    fn new(
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

/// The port's `image_eval` and `img_pr_info` for one level, summed over the set.
fn evaluate_level(set: &WiderSet, ranked: &[RankedImage], level: Level) -> LevelResult {
    let faces = set.faces(level);
    let mut proposals = vec![0_u64; THRESHOLD_COUNT];
    let mut recalled = vec![0_u64; THRESHOLD_COUNT];
    for image in ranked {
        let truth = &set.images[image.image];
        let mut kept = vec![false; truth.boxes.len()];
        for &index in &truth.keep[level.slot()] {
            // A hand-built set may hold an index past the boxes: it counts as a face that
            // can never be found, rather than a panic.
            if let Some(flag) = kept.get_mut(index) {
                *flag = true;
            }
        }
        // After each detection: (non-ignored detections so far, kept boxes recalled so far).
        let mut found = vec![false; truth.boxes.len()];
        let (mut proposed, mut hits) = (0_u64, 0_u64);
        let running: Vec<(u64, u64)> = image
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
            .collect();
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

/// The official thresholds `1 - (i + 1) / 1000`, highest first, computed with the same
/// operations as the port so that a score on a threshold falls on the same side.
fn thresholds() -> impl Iterator<Item = f64> {
    (0..THRESHOLD_COUNT).map(|i| 1.0 - (i + 1) as f64 / THRESHOLD_COUNT as f64)
}

/// IoU as the port's `bbox_overlaps`: a box spans `x ..= x + w`, counting both end pixels,
/// so a `w × h` box has area `(w + 1)(h + 1)`. Non-finite results (from non-finite
/// coordinates) are 0.
fn pixel_inclusive_iou(a: &BBox, b: &BBox) -> f64 {
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

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// One image of the ground-truth file.
struct TruthRecord {
    name: String,
    /// 1-based line of the name, for messages.
    line: usize,
    boxes: Vec<BBox>,
    /// The `invalid` attribute of each box.
    invalid: Vec<bool>,
}

/// Parses the official layout: a name line, a count line, then one line per box
/// (`x y w h blur expression illumination invalid occlusion pose`; only the first four are
/// used). A count of 0 is followed by a single all-zero box line, which is skipped.
fn parse_ground_truth(text: &str, path: &Path) -> anyhow::Result<Vec<TruthRecord>> {
    let at = |line: usize| format!("{}:{line}", path.display());
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .peekable();
    let mut records: Vec<TruthRecord> = Vec::new();
    let mut seen = HashMap::new();
    while let Some((line, name)) = lines.next() {
        if name.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(name.to_owned(), line) {
            bail!("{}: {name} is already listed at line {first}", at(line));
        }
        let (count_line, count) = lines
            .next()
            .ok_or_else(|| anyhow!("{}: {name} has no box count line", at(line)))?;
        let count: usize = count
            .parse()
            .map_err(|_| anyhow!("{}: expected a box count, found `{count}`", at(count_line)))?;
        let mut boxes = Vec::with_capacity(count);
        let mut invalid = Vec::with_capacity(count);
        for _ in 0..count {
            let (box_line, text) = lines
                .next()
                .ok_or_else(|| anyhow!("{}: {name} ends before its {count} boxes", at(line)))?;
            let (b, bad) = parse_box(text).map_err(|e| anyhow!("{}: {e}", at(box_line)))?;
            boxes.push(b);
            invalid.push(bad);
        }
        if count == 0 {
            // The official file writes a placeholder box for empty images; a file without it
            // goes straight on to the next name, which is not a box line.
            if lines
                .peek()
                .is_some_and(|(_, next)| parse_box(next).is_ok())
            {
                lines.next();
            }
        }
        records.push(TruthRecord {
            name: name.to_owned(),
            line,
            boxes,
            invalid,
        });
    }
    Ok(records)
}

/// The first four fields of a box line as a box, and its `invalid` attribute (the eighth
/// field; absent counts as valid).
fn parse_box(text: &str) -> Result<(BBox, bool), String> {
    let mut fields = text.split_whitespace();
    let mut next = |what: &str| -> Result<f32, String> {
        let field = fields
            .next()
            .ok_or_else(|| format!("box line has no {what}: `{text}`"))?;
        field
            .parse()
            .map_err(|_| format!("box {what} `{field}` is not a number"))
    };
    let b = BBox::new(next("x")?, next("y")?, next("w")?, next("h")?);
    let invalid = text.split_whitespace().nth(7) == Some("1");
    Ok((b, invalid))
}

/// One line of `difficulty.txt`.
struct DifficultyEntry {
    name: String,
    line: usize,
    /// 1-based box indices kept at easy, medium and hard.
    kept: [Vec<usize>; 3],
}

/// Parses `difficulty.txt`: `#` comments, then `name easy=i,j medium=... hard=...` with
/// 1-based box indices (an empty list after `=` keeps nothing).
fn parse_difficulty(text: &str, path: &Path) -> anyhow::Result<HashMap<String, DifficultyEntry>> {
    let mut entries = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let at = || format!("{}:{line}", path.display());
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let [name, lists @ ..] = fields.as_slice() else {
            continue;
        };
        if lists.len() != Level::ALL.len() {
            bail!(
                "{}: expected `name easy=... medium=... hard=...`, found {} fields",
                at(),
                fields.len()
            );
        }
        let mut kept: [Vec<usize>; 3] = Default::default();
        for (level, field) in Level::ALL.into_iter().zip(lists) {
            let indices = field
                .strip_prefix(level.name())
                .and_then(|rest| rest.strip_prefix('='))
                .ok_or_else(|| {
                    anyhow!("{}: expected `{}=...`, found `{field}`", at(), level.name())
                })?;
            let slot = &mut kept[level.slot()];
            for index in indices.split(',').filter(|s| !s.is_empty()) {
                let index: usize = index.parse().map_err(|_| {
                    anyhow!("{}: {} index `{index}` is not a number", at(), level.name())
                })?;
                slot.push(index);
            }
            slot.sort_unstable();
            if let Some(pair) = slot.windows(2).find(|pair| pair[0] == pair[1]) {
                bail!("{}: {} lists box {} twice", at(), level.name(), pair[0]);
            }
        }
        let entry = DifficultyEntry {
            name: (*name).to_owned(),
            line,
            kept,
        };
        if let Some(first) = entries.insert(entry.name.clone(), entry) {
            bail!(
                "{}: {} is already listed at line {}",
                at(),
                first.name,
                first.line
            );
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20 × 20 box at (x, y).
    fn square(x: f32, y: f32) -> BBox {
        BBox::new(x, y, 20.0, 20.0)
    }

    fn image(boxes: Vec<BBox>, keep: [Vec<usize>; 3]) -> WiderImage {
        WiderImage {
            path: PathBuf::from("/nowhere/test.jpg"),
            name: "test.jpg".to_owned(),
            invalid: vec![false; boxes.len()],
            boxes,
            keep,
        }
    }

    fn set(images: Vec<WiderImage>) -> WiderSet {
        WiderSet {
            root: PathBuf::from("/nowhere"),
            images,
        }
    }

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "{what}: {actual} != {expected}"
        );
    }

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
        let empty_easy = super::tests::set(vec![image(
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

    /// Writes a small set: ground truth, difficulty lines and empty image files.
    fn write_set(dir: &Path, gt: &str, difficulty: &str, images: &[&str]) {
        std::fs::write(dir.join(GROUND_TRUTH_FILE), gt).unwrap();
        std::fs::write(dir.join(DIFFICULTY_FILE), difficulty).unwrap();
        for name in images {
            let path = dir.join("images").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
    }

    const SMALL_GT: &str = "0--Parade/a.jpg\n2\n\
        10 20 30 40 0 0 0 0 0 0\n\
        50 60 7 8 2 0 0 0 1 0\n\
        0--Parade/empty.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n\
        1--Handshaking/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n";
    const SMALL_IMAGES: [&str; 3] = [
        "0--Parade/a.jpg",
        "0--Parade/empty.jpg",
        "1--Handshaking/b.jpg",
    ];

    #[test]
    fn load_reads_the_official_layout() {
        let dir = tempfile::tempdir().unwrap();
        let difficulty = "# image_path easy=... medium=... hard=...\n\
            0--Parade/a.jpg easy=1 medium=1 hard=2,1\n\
            0--Parade/empty.jpg easy= medium= hard=\n\
            1--Handshaking/b.jpg easy= medium=1 hard=1\n";
        write_set(dir.path(), SMALL_GT, difficulty, &SMALL_IMAGES);
        let set = WiderSet::load(dir.path()).unwrap();
        let names: Vec<&str> = set.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, SMALL_IMAGES);
        let a = &set.images[0];
        assert_eq!(a.path, dir.path().join("images/0--Parade/a.jpg"));
        assert_eq!(
            a.boxes,
            [
                BBox::new(10.0, 20.0, 30.0, 40.0),
                BBox::new(50.0, 60.0, 7.0, 8.0)
            ]
        );
        assert_eq!(a.keep, [vec![0], vec![0], vec![0, 1]]);
        assert!(set.images[1].boxes.is_empty());
        assert_eq!(set.images[2].keep, [vec![], vec![0], vec![0]]);
        let faces: Vec<usize> = Level::ALL.iter().map(|&l| set.faces(l)).collect();
        assert_eq!(faces, [1, 2, 3]);
    }

    #[test]
    fn load_errors_name_the_file_and_line() {
        let good_lines = "0--Parade/a.jpg easy=1 medium=1 hard=1,2\n\
            0--Parade/empty.jpg easy= medium= hard=\n";
        let cases = [
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= medium=1 hard=1,2\n"),
                "difficulty.txt:3: hard index 2 is out of range",
            ),
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= hard=1 medium=1\n"),
                "difficulty.txt:3: expected `medium=...`",
            ),
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= medium=x hard=1\n"),
                "difficulty.txt:3: medium index `x` is not a number",
            ),
            (good_lines.to_owned(), "difficulty.txt: no line for 1--Handshaking/b.jpg"),
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= medium= hard=1\nc.jpg easy= medium= hard=\n"),
                "difficulty.txt:4: c.jpg is not in",
            ),
        ];
        for (difficulty, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            write_set(dir.path(), SMALL_GT, &difficulty, &SMALL_IMAGES);
            let message = WiderSet::load(dir.path()).unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }

        let dir = tempfile::tempdir().unwrap();
        let bad_gt = SMALL_GT.replace("50 60 7 8", "50 60 seven 8");
        write_set(dir.path(), &bad_gt, "", &SMALL_IMAGES);
        let message = WiderSet::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("wider_face_val_bbx_gt.txt:4: box w `seven` is not a number"),
            "{message}"
        );

        let dir = tempfile::tempdir().unwrap();
        let difficulty = format!("{good_lines}1--Handshaking/b.jpg easy= medium= hard=1\n");
        write_set(dir.path(), SMALL_GT, &difficulty, &SMALL_IMAGES[..2]);
        let message = WiderSet::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("1 of the 3 images") && message.contains("b.jpg"),
            "{message}"
        );
    }

    /// `../shared/datasets/wider-face-val-mini` beside the repository, or under
    /// `$FACELAB_SHARED`, as the integration tests find it.
    fn mini_set_root() -> PathBuf {
        std::env::var_os("FACELAB_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
            .join("datasets/wider-face-val-mini")
    }

    #[test]
    fn loads_the_mini_validation_set() {
        let root = mini_set_root();
        if !root.is_dir() {
            eprintln!(
                "SKIPPED: {} not found; set FACELAB_SHARED to run this test",
                root.display()
            );
            return;
        }
        let set = WiderSet::load(&root).unwrap();
        assert_eq!(set.images.len(), 305);
        for image in &set.images {
            let [easy, medium, hard] = &image.keep;
            assert!(
                easy.iter().all(|i| medium.contains(i)),
                "{}: easy ⊄ medium",
                image.name
            );
            assert!(
                medium.iter().all(|i| hard.contains(i)),
                "{}: medium ⊄ hard",
                image.name
            );
        }
        for level in Level::ALL {
            let faces = set.faces(level);
            eprintln!("wider-face-val-mini {}: {faces} faces", level.name());
            assert!(faces > 0);
        }
        let boxes: usize = set.images.iter().map(|i| i.boxes.len()).sum();
        eprintln!("wider-face-val-mini: {boxes} labelled boxes in all");
    }
}
