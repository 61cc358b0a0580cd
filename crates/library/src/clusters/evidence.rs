//! The library's known negatives for the adaptive threshold ([`facelab_cluster::adaptive`]):
//! similarities of pairs of faces that are certainly two people.
//!
//! - Faces in the same photo (one person appears once per photo): every pair of a photo,
//!   at most [`PER_PHOTO`] faces of a photo (a crowd would otherwise outweigh every other
//!   photo).
//! - Faces the user named as different people: random pairs across people, seeded.
//! - A face rejected for a person against that person's confirmed faces.
//!
//! Every face with an embedding of a model of the recognizer counts (by its fused vector),
//! named or not, whatever its quality: these pairs describe the recognizer on this
//! library, not the faces being clustered.

use std::collections::HashMap;

use facelab_cluster::Rng;

use super::super::identity::ModelKeys;
use super::super::search::dot;
use super::super::{Library, Result};

/// Faces of one photo that form pairs.
const PER_PHOTO: usize = 40;
/// Pairs of each kind at most.
const MAX_PAIRS: usize = 100_000;

/// Cosine similarities of the known negative pairs, by the fused vectors of `models`.
pub fn negative_sims(lib: &Library, models: &ModelKeys) -> Result<Vec<f32>> {
    let faces = Embedded::read(lib, models)?;
    let named: Vec<usize> = (0..faces.people.len())
        .filter(|&i| faces.people[i].is_some())
        .collect();
    let mut out = Vec::new();
    same_photo(&faces, &mut out);
    different_people(&faces, &named, &mut out);
    rejections(lib, &faces, &named, &mut out)?;
    Ok(out)
}

/// Every face with an embedding of the model, ordered by photo.
struct Embedded {
    /// Unit vectors.
    vectors: Vec<Vec<f32>>,
    /// Each face's photo.
    images: Vec<i64>,
    /// Each face's confirmed person.
    people: Vec<Option<i64>>,
    /// Face id → row.
    index: HashMap<i64, usize>,
}

impl Embedded {
    /// In the order of the photos' paths and the faces' boxes, not of their ids: ids follow
    /// the order a scan's workers finished in, and the sample of pairs must not.
    fn read(lib: &Library, models: &ModelKeys) -> Result<Embedded> {
        let mut vectors = lib.fused_vectors(models, None)?;
        let mut stmt = lib
            .conn
            .prepare(
                "SELECT f.id, f.image_id,
                    (SELECT l.person_id FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed' LIMIT 1)
             FROM faces f JOIN images i ON i.id = f.image_id
             WHERE i.status = 'done' ORDER BY i.path_bytes, f.id",
            )
            .map_err(|e| lib.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| lib.err(e))?;
        let mut out = Embedded {
            vectors: Vec::new(),
            images: Vec::new(),
            people: Vec::new(),
            index: HashMap::new(),
        };
        while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
            let face: i64 = r.get(0).map_err(|e| lib.err(e))?;
            let Some(v) = vectors.take(face) else {
                continue;
            };
            out.index.insert(face, out.vectors.len());
            out.images.push(r.get::<_, i64>(1).map_err(|e| lib.err(e))?);
            out.people
                .push(r.get::<_, Option<i64>>(2).map_err(|e| lib.err(e))?);
            out.vectors.push(v);
        }
        Ok(out)
    }

    fn sim(&self, a: usize, b: usize) -> f32 {
        dot(&self.vectors[a], &self.vectors[b])
    }
}

/// Every pair of a photo's faces (at most [`PER_PHOTO`] of them).
fn same_photo(faces: &Embedded, out: &mut Vec<f32>) {
    let images = &faces.images;
    // Rows are ordered by photo.
    let mut start = 0;
    let mut same_photo = 0;
    while start < images.len() && same_photo < MAX_PAIRS {
        let mut end = start;
        while end < images.len() && images[end] == images[start] {
            end += 1;
        }
        let group = start..end.min(start + PER_PHOTO);
        for a in group.clone() {
            for b in a + 1..group.end {
                out.push(faces.sim(a, b));
                same_photo += 1;
            }
        }
        start = end;
    }
}

/// Random (seeded) pairs of `named` faces confirmed as different people, when there are
/// two people at least.
fn different_people(faces: &Embedded, named: &[usize], out: &mut Vec<f32>) {
    let people = &faces.people;
    let distinct = {
        let mut p: Vec<i64> = named.iter().filter_map(|&i| people[i]).collect();
        p.sort_unstable();
        p.dedup();
        p.len()
    };
    if distinct < 2 {
        return;
    }
    let mut rng = Rng::new(18);
    let (mut found, mut tries) = (0, 0);
    while found < MAX_PAIRS.min(named.len() * 20) && tries < 4 * MAX_PAIRS {
        tries += 1;
        let (a, b) = (named[rng.below(named.len())], named[rng.below(named.len())]);
        if people[a] != people[b] {
            out.push(faces.sim(a, b));
            found += 1;
        }
    }
}

/// Each face rejected for a person against (up to 20 of) that person's confirmed faces.
fn rejections(lib: &Library, faces: &Embedded, named: &[usize], out: &mut Vec<f32>) -> Result<()> {
    let mut by_person: HashMap<i64, Vec<usize>> = HashMap::new();
    for &i in named {
        by_person
            .entry(faces.people[i].expect("named"))
            .or_default()
            .push(i);
    }
    let mut stmt = lib
        .conn
        .prepare("SELECT face_id, person_id FROM labels WHERE state = 'rejected' ORDER BY face_id")
        .map_err(|e| lib.err(e))?;
    let rejected = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    let mut rejections = 0;
    for (face, person) in rejected {
        let (Some(&a), Some(theirs)) = (faces.index.get(&face), by_person.get(&person)) else {
            continue;
        };
        for &b in theirs.iter().take(20) {
            if rejections < MAX_PAIRS {
                out.push(faces.sim(a, b));
                rejections += 1;
            }
        }
    }
    Ok(())
}
