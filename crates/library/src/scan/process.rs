//! One photo's work on the scan's stage threads: detection, matching with the stored faces,
//! quality ([`facelab_engine::quality`]), and embedding at a resolution that gives the embedder at
//! least its input size.
//!
//! Photos may be decoded at a reduced DCT scale ([`facelab_engine::jpeg`]): faces are found and
//! measured in the decoded pixels, and written in full-size coordinates, the library's.

use std::collections::HashMap;
use std::time::Instant;

use facelab_plugin_api::{BBox, Face};

use super::write::{stored_faces, FaceRef, Stored, Write};
use super::{match_by_iou, Item, Plan, Work, MATCH_IOU};
use crate::identity::ModelKeys;
use crate::{paths, Library, Result};
use facelab_engine::jpeg::{decode_scaled, Scaled, SCALES};
use facelab_engine::pipeline::{FaceDetector, FaceRecognizer};
use facelab_engine::quality::{self, Quality};

/// What the library holds for a photo before the scan: its detector and faces.
pub(super) struct Prior {
    pub detector: Option<String>,
    pub stored: Vec<Stored>,
}

/// The priors of every known photo the plan touches (and of the photos a new path may be a
/// move of), read before the stage threads start, so they need no library connection.
pub(super) fn preload(
    lib: &Library,
    plan: &Plan,
    models: Option<&ModelKeys>,
) -> Result<HashMap<i64, Prior>> {
    let ids = plan
        .items
        .iter()
        .filter_map(|i| i.id)
        .chain(plan.missing.iter().chain(&plan.vanished).map(|g| g.id));
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        let detector = lib
            .conn
            .query_row("SELECT detector FROM images WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .map_err(|e| lib.err(e))?;
        let stored = stored_faces(lib, id, models)?;
        out.insert(id, Prior { detector, stored });
    }
    Ok(out)
}

/// Which of the summary's counts a photo adds to.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    pub new: usize,
    pub changed: usize,
    pub redetected: usize,
    pub embedded: usize,
    pub assessed: usize,
    pub moved: usize,
    pub faces: usize,
    /// Faces below the embedding height, left without an embedding.
    pub small: usize,
}

/// The recognizer's models a face needs embeddings of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Needs {
    /// Every model: a new face, or one whose box moved.
    All,
    /// The models (indices into the recognizer's) a stored face has no embedding of.
    Only(Vec<usize>),
}

impl Needs {
    /// Whether model `m` is needed.
    fn includes(&self, m: usize) -> bool {
        match self {
            Needs::All => true,
            Needs::Only(models) => models.contains(&m),
        }
    }
}

/// A decoded photo after detection, on its way to the recognizer.
pub(super) struct Detected {
    pub write: Write,
    /// Faces that need embeddings, in the decoded photo's pixels, and of which models.
    pub to_embed: Vec<(Face, FaceRef, Needs)>,
    pub scaled: Scaled,
    /// The file's bytes, kept when the photo was decoded below full size, so the embed
    /// stage can decode it again at a scale its faces need.
    pub bytes: Option<Vec<u8>>,
    pub tally: Tally,
}

/// `face` with its box and landmarks multiplied by `(sx, sy)`.
pub(super) fn rescale(face: &Face, sx: f32, sy: f32) -> Face {
    let mut f = *face;
    let b = face.bbox;
    f.bbox = BBox::new(b.x * sx, b.y * sy, b.width * sx, b.height * sy);
    f.landmarks = face.landmarks.map(|mut l| {
        for p in l.points.iter_mut() {
            p.x *= sx;
            p.y *= sy;
        }
        l
    });
    f
}

/// The quality of `face` (decoded pixels) with its size counted in full-size pixels, so a
/// reduced decode does not change it.
fn assess(scaled: &Scaled, face: &Face) -> Quality {
    let mut m = quality::measure(&scaled.photo, face);
    m.height_px /= scaled.factor().1;
    m.quality()
}

/// The detect stage's work on one decoded photo: detection (unless the photo only needs
/// embeddings or quality), matching with the stored faces, quality. `seconds` gets the
/// detector's and the quality measure's time.
#[allow(clippy::too_many_arguments)]
pub(super) fn detect(
    item: &Item,
    (id, revision): (Option<i64>, Option<i64>),
    work: Work,
    hash: String,
    scaled: Scaled,
    prior: Option<&Prior>,
    detector: &mut FaceDetector,
    detector_key: &str,
    embed_min_height: f32,
    seconds: &mut (f64, f64),
) -> std::result::Result<Detected, String> {
    let mut w = Write::new(item, id, revision, Some(hash));
    let o = scaled.photo.exif_orientation;
    w.dims = Some((scaled.full_width, scaled.full_height, o));
    let no_faces = Vec::new();
    let stored = prior.map(|p| &p.stored).unwrap_or(&no_faces);
    // A photo found at a new path keeps its faces unless its detector changed.
    let run_detector = match work {
        Work::Embed => prior.and_then(|p| p.detector.as_deref()) != Some(detector_key),
        Work::Quality => false,
        _ => true,
    };
    let mut d = Detected {
        write: w,
        to_embed: Vec::new(),
        scaled,
        bytes: None,
        tally: Tally::default(),
    };
    if run_detector {
        let start = Instant::now();
        let (faces, _) = detector.detect(&d.scaled.photo).map_err(|e| {
            format!(
                "{}: detector `{}` failed: {e}",
                paths::display_path(&item.path),
                detector.kind
            )
        })?;
        seconds.0 += start.elapsed().as_secs_f64();
        let start = Instant::now();
        d.write.detector = Some(detector_key.to_owned());
        d.match_detections(&faces, stored, embed_min_height);
        seconds.1 += start.elapsed().as_secs_f64();
        d.tally.faces = faces.len();
        match work {
            Work::New => d.tally.new = 1,
            Work::Redetect | Work::Embed | Work::Quality => d.tally.redetected = 1,
            Work::Changed | Work::Retry => d.tally.changed = 1,
        }
    } else {
        let start = Instant::now();
        d.complete_stored(stored, work, embed_min_height);
        seconds.1 += start.elapsed().as_secs_f64();
    }
    Ok(d)
}

/// Whether a face (full-size pixels) gets an embedding. A detected face below the taggable
/// size is stored and measured, not embedded: too small for a person to tag, and the plan
/// does not count it as missing an embedding either.
fn wanted(full: &Face, embed_min_height: f32) -> bool {
    full.bbox.height >= embed_min_height
}

/// The embeddings a stored face lacks and should have: `None` when it has every model's,
/// or is a detected face below the embedding height.
fn lacking(s: &Stored, embed_min_height: f32) -> Option<Needs> {
    let missing = s.missing();
    let should = s.pinned || wanted(&s.face, embed_min_height);
    (should && !missing.is_empty()).then_some(Needs::Only(missing))
}

impl Detected {
    /// `face` (full-size pixels) in the decoded photo's pixels.
    fn decoded(&self, face: &Face) -> Face {
        let (fx, fy) = self.scaled.factor();
        rescale(face, fx, fy)
    }

    /// Stored face `s`, measured again on this photo.
    fn reassess(&mut self, s: &Stored) {
        let q = assess(&self.scaled, &self.decoded(&s.face));
        self.write.assessed.push((s.id, q));
    }

    /// A detected face (`face` decoded, `full` full-size) to embed as `r`, or counted as
    /// small.
    fn embed_or_count(&mut self, face: &Face, full: &Face, r: FaceRef, embed_min_height: f32) {
        if wanted(full, embed_min_height) {
            self.to_embed.push((*face, r, Needs::All));
        } else {
            self.tally.small += 1;
        }
    }

    /// Matches the detector's `faces` (decoded pixels) to the photo's `stored` faces by IoU:
    /// a matched face is updated (a face the user made keeps its box), a new one inserted,
    /// and a stored face nothing matched is deleted unless it is kept.
    fn match_detections(&mut self, faces: &[Face], stored: &[Stored], embed_min_height: f32) {
        let (fx, fy) = self.scaled.factor();
        let full: Vec<Face> = faces
            .iter()
            .map(|f| rescale(f, 1.0 / fx, 1.0 / fy))
            .collect();
        let old: Vec<BBox> = stored.iter().map(|s| s.face.bbox).collect();
        let new: Vec<BBox> = full.iter().map(|f| f.bbox).collect();
        let matched = match_by_iou(&old, &new, MATCH_IOU);
        let mut used = vec![false; stored.len()];
        for ((face, full_face), m) in faces.iter().zip(&full).zip(&matched) {
            let q = assess(&self.scaled, face);
            match m {
                // A face the user made keeps the box the user gave; the detection only
                // tells that it is there, so it is not stored a second time.
                Some(i) if stored[*i].pinned => {
                    let s = &stored[*i];
                    used[*i] = true;
                    if let Some(needs) = lacking(s, embed_min_height) {
                        self.to_embed
                            .push((self.decoded(&s.face), FaceRef::Old(s.id), needs));
                    }
                    self.reassess(s);
                }
                Some(i) => {
                    used[*i] = true;
                    self.write.update.push((stored[*i].id, *full_face, q));
                    let r = FaceRef::Old(stored[*i].id);
                    self.embed_or_count(face, full_face, r, embed_min_height);
                }
                None => {
                    let r = FaceRef::New(self.write.insert.len());
                    self.embed_or_count(face, full_face, r, embed_min_height);
                    self.write.insert.push((*full_face, q));
                }
            }
        }
        for (s, used) in stored.iter().zip(used) {
            if used {
                continue;
            }
            if s.keep {
                // A confirmed face the new detector missed stays, with its old box.
                if let Some(needs) = lacking(s, embed_min_height) {
                    self.to_embed
                        .push((self.decoded(&s.face), FaceRef::Old(s.id), needs));
                }
                // Measured again on this photo: its content may have changed.
                self.reassess(s);
            } else {
                self.write.delete.push(s.id);
            }
        }
    }

    /// Without detection: the stored faces that lack embeddings are given those of the
    /// models they lack (only), and those without a quality measured.
    fn complete_stored(&mut self, stored: &[Stored], work: Work, embed_min_height: f32) {
        for s in stored {
            if let Some(needs) = lacking(s, embed_min_height) {
                self.to_embed
                    .push((self.decoded(&s.face), FaceRef::Old(s.id), needs));
            }
        }
        if matches!(work, Work::Embed) && !self.to_embed.is_empty() {
            self.tally.embedded = 1;
        }
        for s in stored.iter().filter(|s| !s.has_quality) {
            self.reassess(s);
        }
        if !self.write.assessed.is_empty() {
            self.tally.assessed = 1;
        }
    }
}

/// The eye distance of the ArcFace 112 × 112 template as a fraction of its side: a face
/// whose eyes are this far apart, times the embedder's input side, fills the aligned crop
/// with one source pixel per input pixel.
const EYES_PER_SIDE: f32 = 35.24 / 112.0;

/// A face's eye distance in its photo's pixels: from the landmarks, else 0.42 of the box
/// width (the ratio of the template's eye distance to its face width).
fn eye_distance(face: &Face) -> f32 {
    match face.landmarks.as_ref().into_option() {
        Some(l) => {
            let (a, b) = (l.points[0], l.points[1]);
            ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
        }
        None => face.bbox.width * 0.42,
    }
}

/// The decode factor (of the full size) at which every face in `faces` (decoded at
/// `factor`) gives an embedder of `input` pixels at least one source pixel per input pixel,
/// capped at 1.
pub(super) fn needed_factor(faces: &[Face], factor: f32, input: u32) -> f32 {
    let want = EYES_PER_SIDE * input as f32;
    faces
        .iter()
        .map(|f| factor * want / eye_distance(f).max(1.0))
        .fold(0.0f32, f32::max)
        .min(1.0)
}

/// The embedding work: each face of `d.to_embed` embedded by the models of `models` it
/// needs (a model whose embedding a face has is not run on it again), from the photo
/// decoded again at a larger DCT scale when its faces are too small for the embedder at the
/// scale it has. Returns the seconds spent decoding again, and whether the finer decode is
/// what the faces were embedded from.
pub(super) fn embed(
    d: &mut Detected,
    item: &Item,
    recognizer: &mut FaceRecognizer,
    models: &ModelKeys,
    max_pixels: u64,
) -> std::result::Result<(f64, bool), String> {
    if d.to_embed.is_empty() {
        return Ok((0.0, false));
    }
    let mut redecode = 0.0;
    let (fx, fy) = d.scaled.factor();
    let input = recognizer
        .info
        .input_width
        .max(recognizer.info.input_height);
    let mut faces: Vec<Face> = d.to_embed.iter().map(|(f, _, _)| *f).collect();
    let need = needed_factor(&faces, fx.min(fy), input);
    let finer = SCALES
        .iter()
        .map(|&(n, den)| n as f32 / den as f32)
        .find(|s| *s + 1e-6 >= need)
        .unwrap_or(1.0);
    let mut again = None;
    if let (Some(bytes), true) = (&d.bytes, finer > fx.min(fy) + 1e-6) {
        let start = Instant::now();
        let long = d.scaled.full_width.max(d.scaled.full_height) as f32;
        let side = (long * finer).ceil() as u32;
        if let Ok(s) = decode_scaled(&item.path, bytes, max_pixels, side) {
            let (nx, ny) = s.factor();
            faces = faces.iter().map(|f| rescale(f, nx / fx, ny / fy)).collect();
            again = Some(s);
        }
        redecode = start.elapsed().as_secs_f64();
    }
    let photo = again.as_ref().map_or(&d.scaled.photo, |s| &s.photo);
    let kind = recognizer.kind.clone();
    for m in 0..models.members().len() {
        let which: Vec<usize> = (0..faces.len())
            .filter(|&i| d.to_embed[i].2.includes(m))
            .collect();
        if which.is_empty() {
            continue;
        }
        let these: Vec<Face> = which.iter().map(|&i| faces[i]).collect();
        let embeddings = recognizer.embed_with(m, photo, &these).map_err(|e| {
            format!(
                "{}: recognizer `{kind}` failed: {e}",
                paths::display_path(&item.path)
            )
        })?;
        for (&i, e) in which.iter().zip(embeddings) {
            let r = d.to_embed[i].1;
            d.write
                .embeddings
                .push((r, m, e.values.to_vec(), e.normalized));
        }
    }
    d.write.models = models.members().to_vec();
    Ok((redecode, again.is_some()))
}
