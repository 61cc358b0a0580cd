//! Name suggestions for unlabelled faces.
//!
//! Each person is represented by up to three prototypes (k-means centres of their confirmed
//! faces, so a person with and without glasses, or at two ages, keeps both looks) and by
//! their confirmed faces themselves. A face's score for a person is the mean of the best
//! prototype similarity and the mean similarity of its three nearest confirmed faces of
//! that person. The best person is suggested when the score reaches the threshold and
//! beats the runner-up by `margin`; otherwise the answer is "unknown". A (face, person)
//! pair the user rejected is never considered.
//!
//! The threshold starts at the recognizer's manifest default and is calibrated on the
//! user's own confirmed faces once there are enough of them: split each person's faces in
//! two halves, score each half against a gallery of the other half, and take the threshold
//! that best separates "own person" scores from "best other person" scores (the errors a
//! suggestion can make), clamped to the manifest's usable range.
//!
//! Faces below `library.min_quality` ([`facelab_engine::quality`]) take no part: a named one is no
//! evidence for its person (neither in the gallery nor in the calibration), and an unnamed
//! one gets no suggestion (any earlier one is withdrawn). `facelab faces` still lists them.
//! A hidden face without a name ([`crate::hidden`]) gets no suggestion either.

use std::collections::{HashMap, HashSet};

use crate::params;

use super::identity::ModelKeys;
use super::search::normalized;
use super::{now, Library, LibraryError, Result};
use facelab_engine::config::MinQuality;

mod calibrate;
mod gallery;

pub use calibrate::{calibrate, separating_threshold};
pub use gallery::Gallery;

/// Nearest confirmed faces per person that enter the score.
pub const NEIGHBOURS: usize = 3;
/// Genuine and impostor scores needed before the threshold is calibrated.
pub const MIN_CALIBRATION: usize = 20;

/// The suggestion for one face.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Suggestion {
    /// Face id.
    pub face: i64,
    /// Its photo.
    pub path: String,
    /// The suggested person, or `None` for "unknown".
    pub person: Option<String>,
    /// The best person's score (also when the answer is unknown).
    pub score: f32,
    /// The best candidate, even when not suggested.
    pub best: Option<String>,
    /// The runner-up and its score.
    pub runner_up: Option<(String, f32)>,
    /// Why the answer is unknown.
    pub reason: Option<String>,
}

/// The threshold in use and where it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ThresholdUsed {
    /// The value.
    pub value: f32,
    /// `manifest` or `calibrated`.
    pub source: String,
    /// Genuine / impostor scores it was calibrated on (0 when not calibrated).
    pub genuine: usize,
    /// Impostor scores.
    pub impostor: usize,
}

/// The recognizer's same-person rule from the manifest, as a cosine threshold.
pub use super::identity::CosineRule as Prior;

/// Faces with embeddings of the recognizer, each by its fused vector, split into named
/// (gallery) and unnamed, with the rejections.
pub struct Known {
    /// Person names; index = person index.
    pub names: Vec<String>,
    /// Database person id → person index.
    pub person_index: HashMap<i64, usize>,
    /// Named faces: (face id, person index, vector).
    pub confirmed: Vec<(i64, usize, Vec<f32>)>,
    /// Faces without a name: (face id, photo path, vector).
    pub unlabelled: Vec<(i64, String, Vec<f32>)>,
    /// (face id, person index) pairs the user rejected.
    pub rejected: HashSet<(i64, usize)>,
    /// Embedding dimension (0 when there are none).
    pub dim: usize,
    /// Faces with an embedding left out because their quality is below `min_quality`.
    pub below_min_quality: usize,
}

impl Known {
    /// The gallery of named faces.
    pub fn gallery(&self) -> Gallery {
        let rows: Vec<(i64, usize, &[f32])> = self
            .confirmed
            .iter()
            .map(|(f, p, v)| (*f, *p, v.as_slice()))
            .collect();
        Gallery::new(self.names.clone(), self.dim.max(1), &rows)
    }

    /// The threshold: calibrated on the named faces when there are enough, else `prior`.
    /// Without either there is no threshold to apply, and the error says how to get one.
    pub fn threshold(&self, prior: Option<Prior>) -> Result<ThresholdUsed> {
        let (names, dim, confirmed) = (&self.names, self.dim, &self.confirmed);
        let (genuine, impostor) = calibrate(names, dim, confirmed);
        let calibrated = (genuine.len().min(impostor.len()) >= MIN_CALIBRATION)
            .then(|| separating_threshold(&genuine, &impostor))
            .flatten();
        let (value, source) = match (calibrated, prior) {
            (Some(t), Some(p)) => (t.clamp(p.min, p.max), "calibrated"),
            (Some(t), None) => (t, "calibrated"),
            (None, Some(p)) => (p.default, "manifest"),
            (None, None) => {
                return Err(LibraryError::Conflict(format!(
                    "the recognizer's model declares no same-person threshold, and the library has too few named faces to calibrate one ({} same-person and {} different-person scores; {MIN_CALIBRATION} of each are needed) (help: name more faces with `facelab tag` or `import-labels`, or use a model from the manifest, which declares its threshold)",
                    genuine.len(),
                    impostor.len()
                )))
            }
        };
        Ok(ThresholdUsed {
            value,
            source: source.into(),
            genuine: genuine.len(),
            impostor: impostor.len(),
        })
    }
}

/// Loads the faces with an embedding of a model of `models` (in photos that are in the
/// library), each by its fused vector, whose quality passes `min_quality`.
pub fn load(lib: &Library, models: &ModelKeys, min_quality: MinQuality) -> Result<Known> {
    let mut names: Vec<String> = Vec::new();
    let mut person_index: HashMap<i64, usize> = HashMap::new();
    let mut confirmed: Vec<(i64, usize, Vec<f32>)> = Vec::new();
    let mut unlabelled: Vec<(i64, String, Vec<f32>)> = Vec::new();
    let mut below_min_quality = 0usize;
    let mut vectors = lib.fused_vectors(models, None)?;
    {
        let mut stmt = lib
            .conn
            .prepare(
                "SELECT f.id, i.path, f.quality,
                   (SELECT l.person_id FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed'),
                   (SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = f.id AND l.state = 'confirmed'),
                   f.hidden_at IS NOT NULL
                 FROM faces f JOIN images i ON i.id = f.image_id
                 WHERE i.status = 'done' ORDER BY i.path_bytes, f.id",
            )
            .map_err(|e| lib.err(e))?;
        // In the order of the photos, not of the face ids (the order a scan's workers
        // finished in): the calibration's folds, and so the threshold, follow this order.
        let mut rows = stmt.query([]).map_err(|e| lib.err(e))?;
        while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
            let face: i64 = r.get(0).map_err(|e| lib.err(e))?;
            if vectors.get(face).is_none() {
                continue;
            }
            let quality: Option<f64> = r.get(2).map_err(|e| lib.err(e))?;
            if !min_quality.passes(quality.map(|q| q as f32)) {
                below_min_quality += 1;
                continue;
            }
            let v = vectors.take(face).expect("checked above");
            let person: Option<i64> = r.get(3).map_err(|e| lib.err(e))?;
            match person {
                Some(pid) => {
                    let name: String = r.get(4).map_err(|e| lib.err(e))?;
                    let next = names.len();
                    let p = *person_index.entry(pid).or_insert_with(|| {
                        names.push(name);
                        next
                    });
                    confirmed.push((face, p, v));
                }
                // A hidden face ("not someone I know") gets no suggestion.
                None if r.get::<_, bool>(5).map_err(|e| lib.err(e))? => {}
                None => unlabelled.push((face, r.get(1).map_err(|e| lib.err(e))?, v)),
            }
        }
    }
    let any = !(confirmed.is_empty() && unlabelled.is_empty());
    let dim = if any { vectors.dim } else { 0 };
    let mut rejected: HashSet<(i64, usize)> = HashSet::new();
    {
        let mut stmt = lib
            .conn
            .prepare("SELECT face_id, person_id FROM labels WHERE state = 'rejected'")
            .map_err(|e| lib.err(e))?;
        let pairs = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| lib.err(e))?;
        for (f, pid) in pairs {
            if let Some(p) = person_index.get(&pid) {
                rejected.insert((f, *p));
            }
        }
    }
    Ok(Known {
        names,
        person_index,
        confirmed,
        unlabelled,
        rejected,
        dim,
        below_min_quality,
    })
}

/// What a suggestion run gives.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuggestRun {
    /// One per face without a name (whose quality passes).
    pub suggestions: Vec<Suggestion>,
    /// The threshold used.
    pub threshold: ThresholdUsed,
    /// The `min_quality` applied.
    pub min_quality: f32,
    /// Faces (named or not) left out because their quality is below it.
    pub below_min_quality: usize,
    /// The margin applied, in similarity: `margin × (1 − threshold)`.
    pub margin: f32,
}

/// The margin in similarity for a `margin` given as a fraction of the distance from the
/// threshold to a perfect match (`1 − threshold`).
///
/// Recognizers spread their scores differently, so a fixed similarity difference that
/// separates two people for one model would call nearly every face ambiguous for another;
/// a fraction of `1 − threshold` means the same for each (docs/library.md, "Suggestions",
/// gives the figures).
pub fn margin_at(margin: f32, threshold: f32) -> f32 {
    margin * (1.0 - threshold).max(0.0)
}

/// Suggestions for every face with an embedding of a model of `models`, no confirmed
/// person and a quality that passes `min_quality`; the result is stored as `suggested`
/// labels (replacing every earlier one) and returned. `margin` is relative ([`margin_at`]).
pub fn suggest(
    lib: &mut Library,
    models: &ModelKeys,
    prior: Option<Prior>,
    margin: f32,
    min_quality: MinQuality,
) -> Result<SuggestRun> {
    let known = load(lib, models, min_quality)?;
    let below_min_quality = known.below_min_quality;
    let threshold = known.threshold(prior)?;
    let margin = margin_at(margin, threshold.value);
    let gallery = known.gallery();
    let Known {
        names,
        person_index,
        unlabelled,
        rejected,
        ..
    } = known;
    let rule = Rule {
        gallery: &gallery,
        rejected: &rejected,
        threshold: threshold.value,
        margin,
    };
    let suggestions = rule.decide_all(&unlabelled);
    let ids: HashMap<&str, i64> = person_index
        .iter()
        .map(|(id, p)| (names[*p].as_str(), *id))
        .collect();
    store(lib, &suggestions, &ids)?;
    Ok(SuggestRun {
        suggestions,
        threshold,
        min_quality: min_quality.value(),
        below_min_quality,
        margin,
    })
}

/// How a face's suggestion is decided.
struct Rule<'a> {
    gallery: &'a Gallery,
    /// (face id, person index) pairs never suggested.
    rejected: &'a HashSet<(i64, usize)>,
    threshold: f32,
    /// In similarity.
    margin: f32,
}

impl Rule<'_> {
    /// The suggestions for `unlabelled` (face id, photo path, vector), in that order, decided
    /// on up to 8 threads.
    fn decide_all(&self, unlabelled: &[(i64, String, Vec<f32>)]) -> Vec<Suggestion> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        let chunk = unlabelled.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = unlabelled
                .chunks(chunk)
                .map(|c| scope.spawn(|| self.decide_chunk(c)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("suggestion worker panicked"))
                .collect()
        })
    }

    fn decide_chunk(&self, chunk: &[(i64, String, Vec<f32>)]) -> Vec<Suggestion> {
        let mut sims = Vec::new();
        chunk
            .iter()
            .map(|(face, path, v)| self.decide(*face, path, v, &mut sims))
            .collect()
    }

    /// The best person for `face` (vector `v`), suggested when the score reaches the
    /// threshold and beats the runner-up by the margin; else why not.
    fn decide(&self, face: i64, path: &str, v: &[f32], sims: &mut Vec<f32>) -> Suggestion {
        let (gallery, threshold, margin) = (self.gallery, self.threshold, self.margin);
        let scores = gallery.scores(&normalized(v), sims);
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|(p, s)| s.is_finite() && !self.rejected.contains(&(face, *p)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let best = ranked.first().copied();
        let second = ranked.get(1).copied();
        let mut s = Suggestion {
            face,
            path: path.to_owned(),
            person: None,
            score: best.map(|b| b.1).unwrap_or(0.0),
            best: best.map(|(p, _)| gallery.name(p).to_owned()),
            runner_up: second.map(|(p, v)| (gallery.name(p).to_owned(), v)),
            reason: None,
        };
        match best {
            None => s.reason = Some("no people with confirmed faces to compare with".into()),
            Some((_, b)) if b < threshold => {
                s.reason = Some(format!(
                    "best score {b:.3} is below the threshold {threshold:.3}"
                ))
            }
            Some((_, b)) if second.is_some_and(|(_, v)| b - v < margin) => {
                s.reason = Some(format!(
                    "ambiguous: the runner-up is within {margin:.4} of the best"
                ))
            }
            Some((p, _)) => s.person = Some(gallery.name(p).to_owned()),
        }
        s
    }
}

/// Replaces every `suggested` label with the `suggestions` that name a person (`ids`: name
/// → person id), in one transaction.
fn store(lib: &mut Library, suggestions: &[Suggestion], ids: &HashMap<&str, i64>) -> Result<()> {
    lib.write(|tx| {
        tx.execute("DELETE FROM labels WHERE state = 'suggested'", [])?;
        let mut stmt = tx.prepare(
            "INSERT INTO labels(face_id, person_id, state, score, source, at) VALUES (?1, ?2, 'suggested', ?3, 'suggest', ?4)
             ON CONFLICT(face_id, person_id) DO NOTHING",
        )?;
        let t = now();
        for s in suggestions {
            if let Some(p) = s.person.as_deref().and_then(|n| ids.get(n)) {
                stmt.execute(params![s.face, p, s.score, t])?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_a_share_of_the_distance_to_a_perfect_match() {
        assert!((margin_at(0.04, 0.27) - 0.0292).abs() < 1e-6);
        assert!((margin_at(0.04, 0.91) - 0.0036).abs() < 1e-6);
        assert_eq!(margin_at(0.04, 1.0), 0.0);
        assert_eq!(margin_at(0.04, 1.2), 0.0);
    }
}
