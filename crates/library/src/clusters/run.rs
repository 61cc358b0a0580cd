//! `facelab cluster`: a full or incremental run over the faces without a name.
//!
//! The threshold is resolved once per run on every face the run considers (the library's
//! evidence: [`super::evidence`], and the recognizer's declared rule), and that one value
//! decides both which new faces join existing clusters and how the rest group, so an
//! incremental run follows the same adaptive rule as a full one.

use std::collections::{HashMap, HashSet};

use crate::params;
use facelab_cluster::{Algorithm, Context, Evidence};

use super::super::identity::ModelKeys;
use super::super::search::dot;
use super::super::{now, Library, LibraryError, Result};
use super::{bump_revision, centre, evidence, next_ids, ordered, revision, RunSummary};
use facelab_engine::config::MinQuality;

struct Unnamed {
    ids: Vec<i64>,
    data: Vec<f32>,
    dim: usize,
    /// Each face's quality score; NaN when unknown (counts as good).
    quality: Vec<f32>,
    /// Each face's photo.
    image: Vec<i64>,
    below_min_quality: usize,
}

impl Unnamed {
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Face id → its row.
    fn index(&self) -> HashMap<i64, usize> {
        self.ids.iter().enumerate().map(|(i, f)| (*f, i)).collect()
    }
}

/// The faces without a name that have an embedding of a model of `models`, pass
/// `min_quality` and are not hidden, each by its fused (unit) vector.
/// In the photos' order (then the faces' within a photo), not the face ids' (the order a
/// scan's workers finished in): the same photos give the same threshold sample and the same
/// groups on any library, SQLite or PostgreSQL, however they were scanned.
fn unnamed(lib: &Library, models: &ModelKeys, min_quality: MinQuality) -> Result<Unnamed> {
    let mut vectors = lib.fused_vectors(models, None)?;
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT f.id, f.quality, f.image_id FROM faces f JOIN images i ON i.id = f.image_id
             WHERE i.status = 'done' AND f.hidden_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed')
             ORDER BY i.path_bytes, f.id",
        )
        .map_err(|e| lib.err(e))?;
    let mut out = Unnamed {
        ids: vec![],
        data: vec![],
        dim: vectors.dim,
        quality: vec![],
        image: vec![],
        below_min_quality: 0,
    };
    let mut rows = stmt.query([]).map_err(|e| lib.err(e))?;
    while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
        let face: i64 = r.get(0).map_err(|e| lib.err(e))?;
        if vectors.get(face).is_none() {
            continue;
        }
        let quality: Option<f64> = r.get(1).map_err(|e| lib.err(e))?;
        if !min_quality.passes(quality.map(|q| q as f32)) {
            out.below_min_quality += 1;
            continue;
        }
        // A fused vector is a unit vector.
        let v = vectors.take(face).expect("checked above");
        out.ids.push(face);
        out.data.extend(v);
        out.quality.push(quality.map_or(f32::NAN, |q| q as f32));
        out.image.push(r.get(2).map_err(|e| lib.err(e))?);
    }
    if out.ids.is_empty() {
        out.dim = 0;
    }
    Ok(out)
}

/// Each face in a cluster of the recognizer of `models`, and its cluster.
pub fn membership(lib: &Library, models: &ModelKeys) -> Result<HashMap<i64, i64>> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT m.face_id, m.cluster_id FROM cluster_members m JOIN clusters c ON c.id = m.cluster_id
             WHERE c.model_id = ?1",
        )
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map([models.key()], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|r| r.collect::<crate::db::Result<HashMap<i64, i64>>>())
        .map_err(|e| lib.err(e))?;
    Ok(rows)
}

fn cannot_links(lib: &Library) -> Result<HashSet<(i64, i64)>> {
    let mut stmt = lib
        .conn
        .prepare("SELECT a, b FROM cannot_link")
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|r| r.collect::<crate::db::Result<HashSet<(i64, i64)>>>())
        .map_err(|e| lib.err(e))?;
    Ok(rows)
}

/// [`run_with`] without the recognizer's declared rule: a `threshold = "auto"` then rests on
/// the library's evidence alone (and fails with a clear message when there is too little).
pub fn run(
    lib: &mut Library,
    models: &ModelKeys,
    algo: &Algorithm,
    full: bool,
    min_quality: MinQuality,
) -> Result<RunSummary> {
    run_with(lib, models, algo, full, min_quality, None)
}

/// Clusters the faces without a name that have an embedding of a model of `models` (by
/// their fused vectors) and pass `min_quality`; `declared` is the recognizer's same-person
/// rule as a cosine similarity
/// (`session::prior`), the floor and fallback of `threshold = "auto"`. Another process may
/// change the clusters while this one computes: the result is written only if no clustering
/// change committed meanwhile, else the run starts again from the new state.
pub fn run_with(
    lib: &mut Library,
    models: &ModelKeys,
    algo: &Algorithm,
    full: bool,
    min_quality: MinQuality,
    declared: Option<f32>,
) -> Result<RunSummary> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        if let Some(summary) = run_once(lib, models, algo, full, min_quality, declared)? {
            return Ok(summary);
        }
    }
    Err(LibraryError::Conflict(format!(
        "{}: the clusters changed {ATTEMPTS} times while this run computed them (help: run `facelab cluster` again when the other facelab is done)",
        lib.path().display()
    )))
}

fn run_once(
    lib: &mut Library,
    models: &ModelKeys,
    algo: &Algorithm,
    full: bool,
    min_quality: MinQuality,
    declared: Option<f32>,
) -> Result<Option<RunSummary>> {
    let start = std::time::Instant::now();
    let planned_at = revision(&lib.conn).map_err(|e| lib.err(e))?;
    let faces = unnamed(lib, models, min_quality)?;
    let negatives = evidence::negative_sims(lib, models)?;
    let (algo, threshold) = algo
        .resolved(
            &faces.data,
            faces.dim,
            &Evidence {
                declared,
                negative_sims: &negatives,
            },
        )
        .map_err(|e| LibraryError::Conflict(format!("{}: {e}", lib.path().display())))?;
    let algo = &algo;
    let before = membership(lib, models)?;
    let links = with_same_photo_links(cannot_links(lib)?, &faces);
    let index = faces.index();
    // Memberships of faces that got a name, lost their embedding or fall below
    // `min_quality` are dropped.
    let current: HashMap<i64, i64> = before
        .iter()
        .filter(|(f, _)| index.contains_key(f))
        .map(|(f, c)| (*f, *c))
        .collect();
    let link_quality = match algo {
        Algorithm::ChineseWhispers(p) => p.link_quality,
        _ => 0.0,
    };
    let mut summary = RunSummary {
        algorithm: algo.to_string(),
        threshold,
        faces: faces.ids.len(),
        below_min_quality: faces.below_min_quality,
        below_link_quality: faces.quality.iter().filter(|q| **q < link_quality).count(),
        known_negatives: negatives.len(),
        ..RunSummary::default()
    };
    let assign = if !full && !current.is_empty() {
        summary.mode = "incremental".into();
        let (assign, joined) = assign_incremental(&faces, &index, &current, algo, &links)?;
        summary.joined = joined;
        assign
    } else {
        summary.mode = "full".into();
        let (assign, kept_ids) = assign_full(&faces, &current, algo, &links)?;
        summary.kept_ids = kept_ids;
        assign
    };
    let Some(created) = write_assignment(lib, &models.key(), planned_at, &assign)? else {
        return Ok(None);
    };
    summary.created = created;
    summary.clustered = assign.len();
    summary.clusters = assign.values().collect::<HashSet<_>>().len();
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(Some(summary))
}

/// Face id → cluster: `Ok(existing id)` or `Err(new group number)`.
type Assignment = HashMap<i64, std::result::Result<i64, u32>>;

/// `links` plus every pair of faces of one photo: two faces of one photo are two people,
/// a cannot-link like a split's.
fn with_same_photo_links(mut links: HashSet<(i64, i64)>, faces: &Unnamed) -> HashSet<(i64, i64)> {
    let mut by_photo: HashMap<i64, Vec<i64>> = HashMap::new();
    for (f, image) in faces.ids.iter().zip(&faces.image) {
        by_photo.entry(*image).or_default().push(*f);
    }
    for group in by_photo.values() {
        for (k, a) in group.iter().enumerate() {
            for b in &group[k + 1..] {
                links.insert(ordered(*a, *b));
            }
        }
    }
    links
}

/// An incremental run: clustered faces keep their cluster; each new face joins the existing
/// cluster whose centre is most similar (at least the join similarity) unless it has a
/// cannot-link with one of its members; the rest are clustered among themselves. Returns
/// the assignment and how many faces joined an existing cluster.
fn assign_incremental(
    faces: &Unnamed,
    index: &HashMap<i64, usize>,
    current: &HashMap<i64, i64>,
    algo: &Algorithm,
    links: &HashSet<(i64, i64)>,
) -> Result<(Assignment, usize)> {
    let mut assign = Assignment::new();
    for (f, c) in current {
        assign.insert(*f, Ok(*c));
    }
    // Centres of existing clusters.
    let mut members: HashMap<i64, Vec<usize>> = HashMap::new();
    for (f, c) in current {
        members.entry(*c).or_default().push(index[f]);
    }
    let mut ids: Vec<i64> = members.keys().copied().collect();
    ids.sort();
    let centres: Vec<Vec<f32>> = ids
        .iter()
        .map(|c| centre(members[c].iter().map(|&i| faces.row(i).to_vec()), faces.dim))
        .collect();
    let join = algo
        .join_similarity()
        .expect("the threshold was resolved above");
    let mut joined = 0;
    let mut rest = Vec::new();
    for (i, f) in faces.ids.iter().enumerate() {
        if current.contains_key(f) {
            continue;
        }
        let mut best: Option<(usize, f32)> = None;
        for (k, c) in centres.iter().enumerate() {
            let s = dot(faces.row(i), c);
            if s >= join && best.is_none_or(|(_, b)| s > b) {
                let blocked = members[&ids[k]]
                    .iter()
                    .any(|&m| links.contains(&ordered(*f, faces.ids[m])));
                if !blocked {
                    best = Some((k, s));
                }
            }
        }
        match best {
            Some((k, _)) => {
                assign.insert(*f, Ok(ids[k]));
                joined += 1;
            }
            None => rest.push(i),
        }
    }
    // The rest are clustered among themselves.
    let labels = cluster_subset(faces, &rest, algo, links)?;
    for (&i, l) in rest.iter().zip(labels) {
        if let Some(l) = l {
            assign.insert(faces.ids[i], Err(l));
        }
    }
    Ok((assign, joined))
}

/// A full run: every face is clustered anew, and each new group takes the id of the old
/// cluster it overlaps most, one to one. Returns the assignment and how many groups kept
/// an old id.
fn assign_full(
    faces: &Unnamed,
    current: &HashMap<i64, i64>,
    algo: &Algorithm,
    links: &HashSet<(i64, i64)>,
) -> Result<(Assignment, usize)> {
    let all: Vec<usize> = (0..faces.ids.len()).collect();
    let labels = cluster_subset(faces, &all, algo, links)?;
    let old: Vec<(u64, u64)> = current
        .iter()
        .map(|(f, c)| (*f as u64, *c as u64))
        .collect();
    let new: Vec<(u64, u32)> = faces
        .ids
        .iter()
        .zip(&labels)
        .filter_map(|(f, l)| l.map(|l| (*f as u64, l)))
        .collect();
    let mapping = facelab_cluster::match_ids(&old, &new);
    let mut assign = Assignment::new();
    for (f, l) in faces.ids.iter().zip(&labels) {
        if let Some(l) = l {
            match mapping.get(l) {
                Some(old_id) => assign.insert(*f, Ok(*old_id as i64)),
                None => assign.insert(*f, Err(*l)),
            };
        }
    }
    Ok((assign, mapping.len()))
}

/// Replaces the cluster memberships of the recognizer key `model` with `assign` in one transaction, if no other
/// clustering change committed since `planned_at`: new groups that have members get fresh
/// ids, clusters left empty are deleted. Returns how many clusters were created, or `None`
/// when another change got there first.
fn write_assignment(
    lib: &mut Library,
    model: &str,
    planned_at: i64,
    assign: &Assignment,
) -> Result<Option<usize>> {
    let model = model.to_owned();
    lib.write(|tx| {
        if revision(tx)? != planned_at {
            return Ok(None);
        }
        bump_revision(tx)?;
        // New groups that actually have members get fresh ids.
        let mut used: Vec<u32> = assign
            .values()
            .filter_map(|a| a.err())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        used.sort();
        let fresh = next_ids(tx, used.len())?;
        let id_of: HashMap<u32, i64> = used.iter().copied().zip(fresh.iter().copied()).collect();
        let t = now();
        for id in &fresh {
            tx.execute(
                "INSERT INTO clusters(id, model_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![id, model, t],
            )?;
        }
        tx.execute(
            "DELETE FROM cluster_members WHERE cluster_id IN (SELECT id FROM clusters WHERE model_id = ?1)",
            [&model],
        )?;
        // A face a scan removed since it was read is left out.
        let mut insert = tx.prepare(
            "INSERT INTO cluster_members(face_id, cluster_id)
             SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?1)",
        )?;
        for (f, a) in assign {
            let c = match a {
                Ok(c) => *c,
                Err(g) => id_of[g],
            };
            insert.execute(params![f, c])?;
        }
        tx.execute(
            "DELETE FROM clusters WHERE model_id = ?1 AND NOT EXISTS (SELECT 1 FROM cluster_members m WHERE m.cluster_id = clusters.id)",
            [&model],
        )?;
        tx.execute(
            "UPDATE clusters SET updated_at = ?2 WHERE model_id = ?1",
            params![model, t],
        )?;
        Ok(Some(fresh.len()))
    })
}

fn cluster_subset(
    faces: &Unnamed,
    subset: &[usize],
    algo: &Algorithm,
    links: &HashSet<(i64, i64)>,
) -> Result<Vec<Option<u32>>> {
    if subset.is_empty() {
        return Ok(vec![]);
    }
    let mut data = Vec::with_capacity(subset.len() * faces.dim);
    for &i in subset {
        data.extend_from_slice(faces.row(i));
    }
    let quality: Vec<f32> = subset.iter().map(|&i| faces.quality[i]).collect();
    let pos: HashMap<i64, u32> = subset
        .iter()
        .enumerate()
        .map(|(k, &i)| (faces.ids[i], k as u32))
        .collect();
    let cannot: Vec<(u32, u32)> = links
        .iter()
        .filter_map(|(a, b)| Some((*pos.get(a)?, *pos.get(b)?)))
        .collect();
    let ctx = Context {
        cannot_link: &cannot,
        quality: Some(&quality),
        ..Context::default()
    };
    facelab_cluster::cluster_with(&data, faces.dim, algo, &ctx)
        .map(|c| c.labels)
        .map_err(|e| LibraryError::Conflict(format!("clustering failed: {e}")))
}
