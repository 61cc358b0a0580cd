//! `clusters suggest-merges`: pairs that may be one person split in two — two groups, a
//! group and a named person, or two named people — ranked by how alike they are, so that
//! fixing a split is one command. Nothing is merged here.
//!
//! - A pair's score is the mean similarity of every face of one to every face of the other
//!   (average linkage, by the recognizer's fused vectors): the mean of each side's unit
//!   vectors, one dotted with the other. It is on the scale of a single pair of faces, so
//!   a pair at or above the library's same-person threshold (calibrated, else the model's)
//!   is marked `likely`.
//! - Pairs the library knows are two people are never proposed: two groups with a
//!   cannot-link between them (a `clusters split`), sides with faces in one photo (one
//!   person appears once in a photo), and a group with a face rejected for the person.
//! - Two named people are proposed as a pair too (one person named twice), but only the
//!   user merges them, with `people merge`.

use std::collections::{HashMap, HashSet};

use facelab_engine::config::MinQuality;

use super::super::identity::ModelKeys;
use super::super::search::dot;
use super::super::suggest::{self, Prior, ThresholdUsed};
use super::super::{Library, Result};

/// One side of a proposed merge.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Side {
    /// The group's id, for a group.
    pub cluster: Option<i64>,
    /// The person's name, for a named person.
    pub person: Option<String>,
    /// Faces compared (a group's members, a person's named faces that pass
    /// `library.min_quality`).
    pub faces: usize,
    /// The face closest to the side's centre.
    pub face: i64,
}

/// A proposed merge.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeSuggestion {
    /// `clusters` (two groups), `cluster-person` or `people` (two named people).
    pub kind: &'static str,
    /// The side that stays: the larger group, the person, or the person with more faces.
    pub a: Side,
    /// The side that goes into `a`.
    pub b: Side,
    /// Mean similarity of `a`'s faces to `b`'s.
    pub score: f32,
    /// `score` is at or above the same-person threshold.
    pub likely: bool,
    /// The facelab command that makes the merge (arguments after `facelab`).
    pub command: Vec<String>,
}

/// What `suggest_merges` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeSuggestions {
    /// Best first.
    pub pairs: Vec<MergeSuggestion>,
    /// The same-person threshold `likely` uses; `None` when the library has none (no
    /// declared threshold and too few names to calibrate one).
    pub threshold: Option<ThresholdUsed>,
    /// Groups and named people compared.
    pub groups: usize,
    /// Named people compared.
    pub people: usize,
    /// Pairs left out because the library knows they are two people.
    pub known_apart: usize,
}

/// A group or person: its faces' photos and the mean of their unit vectors.
struct Party {
    side: Side,
    mean: Vec<f32>,
    images: Vec<i64>,
}

/// Up to `limit` pairs (every `likely` pair when `limit` is `None`), best first, among the
/// groups of the recognizer of `models` and the named people.
pub fn suggest_merges(
    lib: &Library,
    models: &ModelKeys,
    prior: Option<Prior>,
    min_quality: MinQuality,
    limit: Option<usize>,
) -> Result<MergeSuggestions> {
    let known = suggest::load(lib, models, min_quality)?;
    let threshold = known.threshold(prior).ok();
    let image_of = image_of_faces(lib)?;
    let dim = known.dim.max(1);
    let mut vectors: HashMap<i64, &[f32]> = HashMap::new();
    for (f, _, v) in &known.unlabelled {
        vectors.insert(*f, v);
    }
    let mut parties = Vec::new();
    let mut party_of_face: HashMap<i64, usize> = HashMap::new();
    for (id, faces) in cluster_faces(lib, models)? {
        let rows: Vec<(i64, &[f32])> = faces
            .iter()
            .filter_map(|f| vectors.get(f).map(|v| (*f, *v)))
            .collect();
        if rows.is_empty() {
            continue;
        }
        for (f, _) in &rows {
            party_of_face.insert(*f, parties.len());
        }
        parties.push(party(Some(id), None, &rows, dim, &image_of));
    }
    let groups = parties.len();
    let mut by_person: Vec<Vec<(i64, &[f32])>> = vec![Vec::new(); known.names.len()];
    for (f, p, v) in &known.confirmed {
        by_person[*p].push((*f, v));
    }
    let person_party: Vec<Option<usize>> = by_person
        .iter()
        .enumerate()
        .map(|(p, rows)| {
            (!rows.is_empty()).then(|| {
                let name = known.names[p].clone();
                parties.push(party(None, Some(name), rows, dim, &image_of));
                parties.len() - 1
            })
        })
        .collect();
    let people = parties.len() - groups;
    let apart = known_apart(lib, &parties, &party_of_face, &person_party, &known)?;
    let floor = match limit {
        Some(_) => f32::NEG_INFINITY,
        None => threshold.as_ref().map_or(f32::INFINITY, |t| t.value),
    };
    let means: Vec<f32> = parties
        .iter()
        .flat_map(|p| p.mean.iter().copied())
        .collect();
    let ranked = facelab_cluster::merges::ranked_pairs(&means, dim, floor, limit, &apart);
    let pairs = ranked
        .pairs
        .into_iter()
        .map(|(score, (i, j))| {
            let likely = threshold.as_ref().is_some_and(|t| score >= t.value);
            suggestion(&parties[i], &parties[j], score, likely)
        })
        .collect();
    Ok(MergeSuggestions {
        pairs,
        threshold,
        groups,
        people,
        known_apart: ranked.known_apart,
    })
}

/// A party of `rows` (face id, unit vector): the mean vector, and the face nearest it.
fn party(
    cluster: Option<i64>,
    person: Option<String>,
    rows: &[(i64, &[f32])],
    dim: usize,
    image_of: &HashMap<i64, i64>,
) -> Party {
    let mut mean = vec![0.0f32; dim];
    for (_, v) in rows {
        for (a, b) in mean.iter_mut().zip(v.iter()) {
            *a += b;
        }
    }
    let n = rows.len() as f32;
    mean.iter_mut().for_each(|a| *a /= n);
    let face = rows
        .iter()
        .max_by(|a, b| dot(a.1, &mean).total_cmp(&dot(b.1, &mean)))
        .map_or(0, |r| r.0);
    let mut images: Vec<i64> = rows
        .iter()
        .filter_map(|(f, _)| image_of.get(f).copied())
        .collect();
    images.sort_unstable();
    images.dedup();
    Party {
        side: Side {
            cluster,
            person,
            faces: rows.len(),
            face,
        },
        mean,
        images,
    }
}

/// The pairs of parties (`i < j`) the library knows are two people.
fn known_apart(
    lib: &Library,
    parties: &[Party],
    party_of_face: &HashMap<i64, usize>,
    person_party: &[Option<usize>],
    known: &suggest::Known,
) -> Result<HashSet<(usize, usize)>> {
    let mut apart = HashSet::new();
    let mut add = |a: usize, b: usize| {
        if a != b {
            apart.insert((a.min(b), a.max(b)));
        }
    };
    // Faces in one photo.
    let mut in_image: HashMap<i64, Vec<usize>> = HashMap::new();
    for (k, p) in parties.iter().enumerate() {
        for i in &p.images {
            in_image.entry(*i).or_default().push(k);
        }
    }
    for sides in in_image.values() {
        for (x, a) in sides.iter().enumerate() {
            for b in &sides[x + 1..] {
                add(*a, *b);
            }
        }
    }
    // A split's two halves.
    let mut stmt = lib
        .conn
        .prepare("SELECT a, b FROM cannot_link")
        .map_err(|e| lib.err(e))?;
    let links = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    for (a, b) in links {
        if let (Some(x), Some(y)) = (party_of_face.get(&a), party_of_face.get(&b)) {
            add(*x, *y);
        }
    }
    // A group with a face rejected for the person.
    for (face, p) in &known.rejected {
        if let (Some(g), Some(Some(q))) = (party_of_face.get(face), person_party.get(*p)) {
            add(*g, *q);
        }
    }
    Ok(apart)
}

/// The merge of parties `x` and `y` as the user would make it.
fn suggestion(x: &Party, y: &Party, score: f32, likely: bool) -> MergeSuggestion {
    let (a, b) = match (&x.side.person, &y.side.person) {
        (None, Some(_)) => (y, x),
        (Some(_), None) => (x, y),
        _ if y.side.faces > x.side.faces => (y, x),
        _ => (x, y),
    };
    let (kind, command) = match (
        &a.side.person,
        &b.side.person,
        a.side.cluster,
        b.side.cluster,
    ) {
        (Some(into), Some(from), _, _) => (
            "people",
            vec!["people".into(), "merge".into(), from.clone(), into.clone()],
        ),
        (Some(person), None, _, Some(group)) => (
            "cluster-person",
            vec![
                "clusters".into(),
                "name".into(),
                group.to_string(),
                person.clone(),
            ],
        ),
        (_, _, Some(keep), Some(go)) => (
            "clusters",
            vec![
                "clusters".into(),
                "merge".into(),
                keep.to_string(),
                go.to_string(),
            ],
        ),
        _ => unreachable!("a side is a group or a person"),
    };
    MergeSuggestion {
        kind,
        a: a.side.clone(),
        b: b.side.clone(),
        score,
        likely,
        command,
    }
}

/// Each face's photo.
fn image_of_faces(lib: &Library) -> Result<HashMap<i64, i64>> {
    let mut stmt = lib
        .conn
        .prepare("SELECT id, image_id FROM faces")
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .and_then(|r| r.collect::<crate::db::Result<HashMap<_, _>>>())
        .map_err(|e| lib.err(e))?;
    Ok(rows)
}

/// The members of each group of the recognizer of `models`, by group id.
fn cluster_faces(lib: &Library, models: &ModelKeys) -> Result<Vec<(i64, Vec<i64>)>> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT m.cluster_id, m.face_id FROM cluster_members m
             JOIN clusters c ON c.id = m.cluster_id WHERE c.model_id = ?1
             ORDER BY m.cluster_id, m.face_id",
        )
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map([models.key()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    let mut out: Vec<(i64, Vec<i64>)> = Vec::new();
    for (c, f) in rows {
        match out.last_mut() {
            Some((id, faces)) if *id == c => faces.push(f),
            _ => out.push((c, vec![f])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_larger_group_or_the_person_stays_and_the_merge_is_one_command() {
        let image_of = HashMap::new();
        let (a1, a2, b1) = ([1.0f32, 0.0], [0.6f32, 0.8], [0.0f32, 1.0]);
        let a = party(Some(1), None, &[(1, &a1[..]), (2, &a2[..])], 2, &image_of);
        let b = party(Some(2), None, &[(3, &b1[..])], 2, &image_of);
        let s = suggestion(&b, &a, 0.4, true);
        assert_eq!(s.kind, "clusters");
        assert_eq!(s.command, ["clusters", "merge", "1", "2"]);
        let ada = party(None, Some("Ada".into()), &[(3, &b1[..])], 2, &image_of);
        let s = suggestion(&a, &ada, 0.4, true);
        assert_eq!(s.command, ["clusters", "name", "1", "Ada"]);
        let bo = party(
            None,
            Some("Bo".into()),
            &[(1, &a1[..]), (2, &a2[..])],
            2,
            &image_of,
        );
        let s = suggestion(&ada, &bo, 0.4, false);
        assert_eq!(s.kind, "people");
        assert_eq!(s.command, ["people", "merge", "Ada", "Bo"]);
    }
}
