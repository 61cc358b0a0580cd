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

use std::collections::{HashMap, HashSet};

use rusqlite::params;

use super::search::{dot, dots, normalized, Matrix};
use super::{from_blob, now, Library, LibraryError, Result};
use facelab_engine::config::MinQuality;

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

/// Confirmed faces of each person, as a gallery to score against.
pub struct Gallery {
    names: Vec<String>,
    ids: Vec<i64>,
    faces: Matrix,
    person_of_face: Vec<usize>,
    prototypes: Matrix,
    person_of_prototype: Vec<usize>,
}

fn kmeans_prototypes(rows: &[&[f32]], dim: usize) -> Vec<Vec<f32>> {
    let n = rows.len();
    let k = match n {
        0 => return vec![],
        1..=7 => 1,
        8..=19 => 2,
        _ => 3,
    };
    let mean = |members: &[usize]| -> Vec<f32> {
        let mut m = vec![0.0f32; dim];
        for &i in members {
            for (a, b) in m.iter_mut().zip(rows[i]) {
                *a += b;
            }
        }
        normalized(&m)
    };
    let all: Vec<usize> = (0..n).collect();
    let mut centres = vec![mean(&all)];
    if k == 1 {
        return centres;
    }
    // Farthest-point seeding, deterministic.
    centres.clear();
    let m = mean(&all);
    let first = (0..n)
        .max_by(|&a, &b| dot(rows[a], &m).total_cmp(&dot(rows[b], &m)))
        .unwrap_or(0);
    centres.push(rows[first].to_vec());
    while centres.len() < k {
        let far = (0..n)
            .min_by(|&a, &b| {
                let sa = centres
                    .iter()
                    .map(|c| dot(rows[a], c))
                    .fold(f32::MIN, f32::max);
                let sb = centres
                    .iter()
                    .map(|c| dot(rows[b], c))
                    .fold(f32::MIN, f32::max);
                sa.total_cmp(&sb)
            })
            .unwrap_or(0);
        centres.push(rows[far].to_vec());
    }
    for _ in 0..10 {
        let mut groups = vec![Vec::new(); k];
        for (i, r) in rows.iter().enumerate() {
            let best = (0..k)
                .max_by(|&a, &b| dot(r, &centres[a]).total_cmp(&dot(r, &centres[b])))
                .unwrap_or(0);
            groups[best].push(i);
        }
        centres = groups
            .iter()
            .filter(|g| !g.is_empty())
            .map(|g| mean(g))
            .collect();
    }
    centres
}

impl Gallery {
    /// A gallery from (face id, person index, vector) rows; `names[i]` is person `i`.
    pub fn new(names: Vec<String>, dim: usize, rows: &[(i64, usize, &[f32])]) -> Gallery {
        let mut faces = Matrix::new(dim);
        let mut person_of_face = Vec::new();
        let mut ids = Vec::new();
        let mut by_person_rows: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        for &(id, p, v) in rows {
            if faces.push(id, v) {
                person_of_face.push(p);
                ids.push(id);
                by_person_rows[p].push(faces.len() - 1);
            }
        }
        let by_person: Vec<Vec<&[f32]>> = by_person_rows
            .iter()
            .map(|r| r.iter().map(|&i| faces.row(i)).collect())
            .collect();
        let mut prototypes = Matrix::new(dim);
        let mut person_of_prototype = Vec::new();
        let protos: Vec<(usize, Vec<f32>)> = by_person
            .iter()
            .enumerate()
            .flat_map(|(p, rows)| {
                kmeans_prototypes(rows, dim)
                    .into_iter()
                    .map(move |c| (p, c))
            })
            .collect();
        for (p, c) in protos {
            prototypes.push(p as i64, &c);
            person_of_prototype.push(p);
        }
        Gallery {
            names,
            ids,
            faces,
            person_of_face,
            prototypes,
            person_of_prototype,
        }
    }

    /// People in the gallery.
    pub fn people(&self) -> usize {
        self.names.len()
    }

    /// The name of person `p`.
    pub fn name(&self, p: usize) -> &str {
        &self.names[p]
    }

    /// Score of a normalised query for every person (NaN for people with no faces).
    pub fn scores(&self, q: &[f32], sims: &mut Vec<f32>) -> Vec<f32> {
        let np = self.names.len();
        let mut proto = vec![f32::NEG_INFINITY; np];
        sims.resize(self.prototypes.len(), 0.0);
        dots(q, &self.prototypes.data, self.prototypes.dim, sims);
        for (s, &p) in sims.iter().zip(&self.person_of_prototype) {
            proto[p] = proto[p].max(*s);
        }
        sims.resize(self.faces.len(), 0.0);
        dots(q, &self.faces.data, self.faces.dim, sims);
        let mut top: Vec<[f32; NEIGHBOURS]> = vec![[f32::NEG_INFINITY; NEIGHBOURS]; np];
        for (s, &p) in sims.iter().zip(&self.person_of_face) {
            let t = &mut top[p];
            if *s > t[NEIGHBOURS - 1] {
                let mut i = NEIGHBOURS - 1;
                while i > 0 && *s > t[i - 1] {
                    t[i] = t[i - 1];
                    i -= 1;
                }
                t[i] = *s;
            }
        }
        (0..np)
            .map(|p| {
                let got: Vec<f32> = top[p].iter().copied().filter(|v| v.is_finite()).collect();
                if got.is_empty() {
                    return f32::NAN;
                }
                let nn = got.iter().sum::<f32>() / got.len() as f32;
                0.5 * (proto[p] + nn)
            })
            .collect()
    }

    /// Face ids in the gallery.
    pub fn face_ids(&self) -> &[i64] {
        &self.ids
    }
}

/// The threshold that best separates genuine from impostor scores (fewest errors; ties go
/// to the middle of the tied range).
pub fn separating_threshold(genuine: &[f32], impostor: &[f32]) -> Option<f32> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut all: Vec<(f32, bool)> = genuine
        .iter()
        .map(|&s| (s, true))
        .chain(impostor.iter().map(|&s| (s, false)))
        .filter(|(s, _)| s.is_finite())
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Threshold below all[i]: genuine errors = genuine before i, impostor errors = impostor from i.
    let mut errors = impostor.len();
    let (mut best, mut best_at) = (errors, vec![0usize]);
    for (i, &(_, is_genuine)) in all.iter().enumerate() {
        if is_genuine {
            errors += 1;
        } else {
            errors -= 1;
        }
        if errors < best {
            best = errors;
            best_at = vec![i + 1];
        } else if errors == best {
            best_at.push(i + 1);
        }
    }
    let at = best_at[best_at.len() / 2];
    let t = match at {
        0 => all[0].0 - 1e-3,
        i if i >= all.len() => all[all.len() - 1].0 + 1e-3,
        i => 0.5 * (all[i - 1].0 + all[i].0),
    };
    Some(t)
}

/// Calibrates the threshold on confirmed faces: two folds per person.
pub fn calibrate(
    names: &[String],
    dim: usize,
    confirmed: &[(i64, usize, Vec<f32>)],
) -> (Vec<f32>, Vec<f32>) {
    let mut by_person: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (_, p, _)) in confirmed.iter().enumerate() {
        by_person.entry(*p).or_default().push(i);
    }
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    // At most ~3,000 held-out faces: every k-th face of every person.
    let stride = (confirmed.len() / 3000).max(1);
    for fold in 0..2 {
        let mut gallery_rows = Vec::new();
        let mut probes = Vec::new();
        for members in by_person.values() {
            for (k, &i) in members.iter().enumerate() {
                if members.len() >= 2 && k % 2 == fold {
                    if (k / 2) % stride == 0 {
                        probes.push(i);
                    }
                } else {
                    gallery_rows.push((confirmed[i].0, confirmed[i].1, confirmed[i].2.as_slice()));
                }
            }
        }
        gallery_rows.sort_by_key(|r| r.0);
        let g = Gallery::new(names.to_vec(), dim, &gallery_rows);
        let mut sims = Vec::new();
        for i in probes {
            let (_, p, v) = &confirmed[i];
            let s = g.scores(&normalized(v), &mut sims);
            if s[*p].is_finite() {
                genuine.push(s[*p]);
            }
            let other = s
                .iter()
                .enumerate()
                .filter(|(q, v)| q != p && v.is_finite())
                .map(|(_, v)| *v)
                .fold(f32::NEG_INFINITY, f32::max);
            if other.is_finite() {
                impostor.push(other);
            }
        }
    }
    (genuine, impostor)
}

/// Faces of one model, split into named (gallery) and unnamed, with the rejections.
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

/// Loads the faces with an embedding of `model` (in photos that are in the library) whose
/// quality passes `min_quality`.
pub fn load(lib: &Library, model: &str, min_quality: MinQuality) -> Result<Known> {
    let mut names: Vec<String> = Vec::new();
    let mut person_index: HashMap<i64, usize> = HashMap::new();
    let mut confirmed: Vec<(i64, usize, Vec<f32>)> = Vec::new();
    let mut unlabelled: Vec<(i64, String, Vec<f32>)> = Vec::new();
    let mut dim = 0usize;
    let mut below_min_quality = 0usize;
    {
        let mut stmt = lib
            .conn
            .prepare(
                "SELECT e.face_id, e.vector, i.path, f.quality,
                   (SELECT l.person_id FROM labels l WHERE l.face_id = e.face_id AND l.state = 'confirmed'),
                   (SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = e.face_id AND l.state = 'confirmed')
                 FROM embeddings e JOIN faces f ON f.id = e.face_id JOIN images i ON i.id = f.image_id
                 WHERE e.model_id = ?1 AND i.status = 'done' ORDER BY e.face_id",
            )
            .map_err(|e| lib.err(e))?;
        let mut rows = stmt.query([model]).map_err(|e| lib.err(e))?;
        while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
            let face: i64 = r.get(0).map_err(|e| lib.err(e))?;
            let quality: Option<f64> = r.get(3).map_err(|e| lib.err(e))?;
            if !min_quality.passes(quality.map(|q| q as f32)) {
                below_min_quality += 1;
                continue;
            }
            let blob: Vec<u8> = r.get(1).map_err(|e| lib.err(e))?;
            let v = from_blob(&blob);
            if dim == 0 {
                dim = v.len();
            }
            if v.len() != dim {
                continue;
            }
            let person: Option<i64> = r.get(4).map_err(|e| lib.err(e))?;
            match person {
                Some(pid) => {
                    let name: String = r.get(5).map_err(|e| lib.err(e))?;
                    let next = names.len();
                    let p = *person_index.entry(pid).or_insert_with(|| {
                        names.push(name);
                        next
                    });
                    confirmed.push((face, p, v));
                }
                None => unlabelled.push((face, r.get(2).map_err(|e| lib.err(e))?, v)),
            }
        }
    }
    let mut rejected: HashSet<(i64, usize)> = HashSet::new();
    {
        let mut stmt = lib
            .conn
            .prepare("SELECT face_id, person_id FROM labels WHERE state = 'rejected'")
            .map_err(|e| lib.err(e))?;
        let pairs = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
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
/// Recognizers spread their scores differently: MobileFaceNet's strangers score about 0.1 and
/// its threshold is 0.27, dlib's strangers score about 0.9 and its threshold is 0.91 (its
/// euclidean 0.6). A fixed similarity difference that separates two people for one model
/// would call nearly every face ambiguous for the other; a fraction of `1 − threshold` means
/// the same for both (0.04 is 0.029 for MobileFaceNet at 0.27, 0.0036 for dlib at 0.91).
pub fn margin_at(margin: f32, threshold: f32) -> f32 {
    margin * (1.0 - threshold).max(0.0)
}

/// Suggestions for every face with an embedding of `model`, no confirmed person and a
/// quality that passes `min_quality`; the result is stored as `suggested` labels
/// (replacing every earlier one) and returned. `margin` is relative ([`margin_at`]).
pub fn suggest(
    lib: &mut Library,
    model: &str,
    prior: Option<Prior>,
    margin: f32,
    min_quality: MinQuality,
) -> Result<SuggestRun> {
    let known = load(lib, model, min_quality)?;
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
    let decide = |chunk: &[(i64, String, Vec<f32>)]| -> Vec<Suggestion> {
        let mut sims = Vec::new();
        chunk
            .iter()
            .map(|(face, path, v)| {
                let scores = gallery.scores(&normalized(v), &mut sims);
                let mut ranked: Vec<(usize, f32)> = scores
                    .into_iter()
                    .enumerate()
                    .filter(|(p, s)| s.is_finite() && !rejected.contains(&(*face, *p)))
                    .collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                let best = ranked.first().copied();
                let second = ranked.get(1).copied();
                let mut s = Suggestion {
                    face: *face,
                    path: path.clone(),
                    person: None,
                    score: best.map(|b| b.1).unwrap_or(0.0),
                    best: best.map(|(p, _)| gallery.name(p).to_owned()),
                    runner_up: second.map(|(p, v)| (gallery.name(p).to_owned(), v)),
                    reason: None,
                };
                match best {
                    None => {
                        s.reason = Some("no people with confirmed faces to compare with".into())
                    }
                    Some((_, b)) if b < threshold.value => {
                        s.reason = Some(format!(
                            "best score {b:.3} is below the threshold {:.3}",
                            threshold.value
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
            })
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = unlabelled.len().div_ceil(threads).max(1);
    let suggestions: Vec<Suggestion> = std::thread::scope(|scope| {
        let handles: Vec<_> = unlabelled
            .chunks(chunk)
            .map(|c| scope.spawn(|| decide(c)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("suggestion worker panicked"))
            .collect()
    });
    let ids: HashMap<&str, i64> = person_index
        .iter()
        .map(|(id, p)| (names[*p].as_str(), *id))
        .collect();
    lib.write(|tx| {
        tx.execute("DELETE FROM labels WHERE state = 'suggested'", [])?;
        let mut stmt = tx.prepare(
            "INSERT INTO labels(face_id, person_id, state, score, source, at) VALUES (?1, ?2, 'suggested', ?3, 'suggest', ?4)
             ON CONFLICT(face_id, person_id) DO NOTHING",
        )?;
        let t = now();
        for s in &suggestions {
            if let Some(p) = s.person.as_deref().and_then(|n| ids.get(n)) {
                stmt.execute(params![s.face, p, s.score, t])?;
            }
        }
        Ok(())
    })?;
    Ok(SuggestRun {
        suggestions,
        threshold,
        min_quality: min_quality.value(),
        below_min_quality,
        margin,
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

    #[test]
    fn separating_threshold_splits_clean_sets() {
        let g = [0.6, 0.7, 0.8];
        let i = [0.1, 0.2, 0.3];
        let t = separating_threshold(&g, &i).unwrap();
        assert!(t > 0.3 && t < 0.6, "{t}");
        assert_eq!(separating_threshold(&[], &i), None);
    }

    #[test]
    fn calibration_on_named_faces_separates_own_from_other_people() {
        // Eight people, six faces each, spread around a centre per person.
        let dim = 32;
        let mut rng = facelab_cluster::Rng::new(3);
        let mut unit = || rng.unit() as f32 - 0.5;
        let names: Vec<String> = (0..8).map(|p| format!("p{p}")).collect();
        let mut confirmed = Vec::new();
        for p in 0..8 {
            let centre: Vec<f32> = (0..dim).map(|_| unit()).collect();
            for k in 0..6 {
                let v: Vec<f32> = centre.iter().map(|c| c + 0.6 * unit()).collect();
                confirmed.push(((p * 10 + k) as i64, p, normalized(&v)));
            }
        }
        let (genuine, impostor) = calibrate(&names, dim, &confirmed);
        assert_eq!(genuine.len(), 48);
        assert_eq!(impostor.len(), 48);
        let t = separating_threshold(&genuine, &impostor).unwrap();
        let errors = genuine.iter().filter(|&&g| g < t).count()
            + impostor.iter().filter(|&&i| i >= t).count();
        assert!(errors <= 4, "threshold {t} makes {errors} errors");
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean(&genuine) > t && t > mean(&impostor));
    }

    #[test]
    fn gallery_scores_own_person_highest() {
        let names = vec!["a".to_string(), "b".to_string()];
        let a1 = [1.0, 0.1, 0.0];
        let a2 = [0.9, 0.0, 0.1];
        let b1 = [0.0, 1.0, 0.1];
        let rows: Vec<(i64, usize, &[f32])> = vec![(1, 0, &a1), (2, 0, &a2), (3, 1, &b1)];
        let g = Gallery::new(names, 3, &rows);
        let s = g.scores(&normalized(&[1.0, 0.05, 0.05]), &mut Vec::new());
        assert!(s[0] > 0.9 && s[1] < 0.2, "{s:?}");
    }
}
