//! Clusters of unknown faces, per recognizer model, with ids that stay stable.
//!
//! - A first run (or `--full`) clusters every face without a name with the configured
//!   algorithm; a full rerun gives each new group the id of the old cluster it overlaps
//!   most (one-to-one), so what a user saw yesterday keeps its id.
//! - Later runs are incremental: faces not yet in a cluster join the nearest existing one
//!   when they are close enough to its centre and have no cannot-link with its members;
//!   the rest are clustered among themselves into new clusters.
//! - Cannot-link pairs come from `clusters split` (the two halves) and are honoured by
//!   every run. A face rejected for a person keeps its cluster from being suggested as, or
//!   named, that person: `clusters name` leaves such faces out.
//! - Faces that get a name leave their cluster; an emptied cluster is deleted, and its id
//!   is never given to another group.
//! - Faces below `library.min_quality` ([`crate::quality`]) are never clustered: a run
//!   leaves them out and drops them from the clusters they were in (after `min_quality` was
//!   raised). A cluster's suggested person is judged on the named faces that pass it.

use std::collections::{HashMap, HashSet};

use facelab_cluster::Algorithm;
use rusqlite::{params, OptionalExtension};

use super::search::{dot, normalized};
use super::suggest::{self, Prior};
use super::{from_blob, now, Library, LibraryError, Result};
use crate::quality::MinQuality;

/// A cluster as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterInfo {
    /// Stable id.
    pub id: i64,
    /// Members.
    pub size: usize,
    /// The member closest to the centre.
    pub representative: i64,
    /// Its photo.
    pub path: String,
    /// Mean similarity of the members to the centre (tightness).
    pub cohesion: f32,
    /// A person whose faces are close to the centre: (name, score).
    pub suggestion: Option<(String, f32)>,
}

/// A member of a cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Member {
    /// Face id.
    pub face: i64,
    /// Photo.
    pub path: String,
    /// Box x, y, width, height.
    pub bbox: [f32; 4],
    /// Similarity to the cluster centre.
    pub similarity: f32,
}

/// What a clustering run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    /// `full` or `incremental`.
    pub mode: String,
    /// The algorithm and parameters.
    pub algorithm: String,
    /// Faces without a name that have an embedding of the model and pass `min_quality`.
    pub faces: usize,
    /// Faces without a name left out because their quality is below `min_quality`.
    pub below_min_quality: usize,
    /// Clusters after the run.
    pub clusters: usize,
    /// Faces in a cluster after the run.
    pub clustered: usize,
    /// Faces that joined an existing cluster (incremental).
    pub joined: usize,
    /// Clusters created.
    pub created: usize,
    /// Clusters of a full rerun that kept an old id.
    pub kept_ids: usize,
    /// Seconds.
    pub seconds: f64,
}

struct Unnamed {
    ids: Vec<i64>,
    data: Vec<f32>,
    dim: usize,
    below_min_quality: usize,
}

impl Unnamed {
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

fn unnamed(lib: &Library, model: &str, min_quality: MinQuality) -> Result<Unnamed> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT e.face_id, e.vector, f.quality FROM embeddings e
             JOIN faces f ON f.id = e.face_id JOIN images i ON i.id = f.image_id
             WHERE e.model_id = ?1 AND i.status = 'done'
               AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = e.face_id AND l.state = 'confirmed')
             ORDER BY e.face_id",
        )
        .map_err(|e| lib.err(e))?;
    let mut out = Unnamed {
        ids: vec![],
        data: vec![],
        dim: 0,
        below_min_quality: 0,
    };
    let mut rows = stmt.query([model]).map_err(|e| lib.err(e))?;
    while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
        let quality: Option<f64> = r.get(2).map_err(|e| lib.err(e))?;
        if !min_quality.passes(quality.map(|q| q as f32)) {
            out.below_min_quality += 1;
            continue;
        }
        let v = from_blob(&r.get::<_, Vec<u8>>(1).map_err(|e| lib.err(e))?);
        if out.dim == 0 {
            out.dim = v.len();
        }
        if v.len() != out.dim || v.is_empty() {
            continue;
        }
        out.ids.push(r.get(0).map_err(|e| lib.err(e))?);
        out.data.extend(normalized(&v));
    }
    Ok(out)
}

fn membership(lib: &Library, model: &str) -> Result<HashMap<i64, i64>> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT m.face_id, m.cluster_id FROM cluster_members m JOIN clusters c ON c.id = m.cluster_id
             WHERE c.model_id = ?1",
        )
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|r| r.collect::<rusqlite::Result<HashMap<i64, i64>>>())
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
        .and_then(|r| r.collect::<rusqlite::Result<HashSet<(i64, i64)>>>())
        .map_err(|e| lib.err(e))?;
    Ok(rows)
}

fn ordered(a: i64, b: i64) -> (i64, i64) {
    (a.min(b), a.max(b))
}

fn centre(rows: impl Iterator<Item = Vec<f32>>, dim: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; dim];
    for r in rows {
        for (a, b) in c.iter_mut().zip(r) {
            *a += b;
        }
    }
    normalized(&c)
}

fn next_ids(tx: &rusqlite::Transaction<'_>, n: usize) -> rusqlite::Result<Vec<i64>> {
    let first: i64 = tx
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_cluster_id'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(1);
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('next_cluster_id', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(first + n as i64).to_string()],
    )?;
    Ok((first..first + n as i64).collect())
}

/// The counter every clustering change bumps (a run, naming, merging or splitting a
/// cluster), so a run computed from older memberships can tell and start again.
fn revision(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'clusters_revision'), 0)",
        [],
        |r| r.get(0),
    )
}

fn bump_revision(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('clusters_revision', '1')
         ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [],
    )
    .map(|_| ())
}

/// Clusters the faces without a name that have an embedding of `model` and pass
/// `min_quality`. Another process may change the clusters while this one computes: the
/// result is written only if no clustering change committed meanwhile, else the run starts
/// again from the new state.
pub fn run(
    lib: &mut Library,
    model: &str,
    algo: &Algorithm,
    full: bool,
    min_quality: MinQuality,
) -> Result<RunSummary> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        if let Some(summary) = run_once(lib, model, algo, full, min_quality)? {
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
    model: &str,
    algo: &Algorithm,
    full: bool,
    min_quality: MinQuality,
) -> Result<Option<RunSummary>> {
    let start = std::time::Instant::now();
    let planned_at = revision(&lib.conn).map_err(|e| lib.err(e))?;
    let faces = unnamed(lib, model, min_quality)?;
    let before = membership(lib, model)?;
    let links = cannot_links(lib)?;
    let index: HashMap<i64, usize> = faces.ids.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    // Memberships of faces that got a name, lost their embedding or fall below
    // `min_quality` are dropped.
    let current: HashMap<i64, i64> = before
        .iter()
        .filter(|(f, _)| index.contains_key(f))
        .map(|(f, c)| (*f, *c))
        .collect();
    let mut summary = RunSummary {
        algorithm: algo.to_string(),
        faces: faces.ids.len(),
        below_min_quality: faces.below_min_quality,
        ..RunSummary::default()
    };
    let incremental = !full && !current.is_empty();
    // face id → cluster: Ok(existing id) or Err(new group number).
    let mut assign: HashMap<i64, std::result::Result<i64, u32>> = HashMap::new();
    let mut groups = 0u32;
    if incremental {
        summary.mode = "incremental".into();
        for (f, c) in &current {
            assign.insert(*f, Ok(*c));
        }
        // Centres of existing clusters.
        let mut members: HashMap<i64, Vec<usize>> = HashMap::new();
        for (f, c) in &current {
            members.entry(*c).or_default().push(index[f]);
        }
        let mut ids: Vec<i64> = members.keys().copied().collect();
        ids.sort();
        let centres: Vec<Vec<f32>> = ids
            .iter()
            .map(|c| centre(members[c].iter().map(|&i| faces.row(i).to_vec()), faces.dim))
            .collect();
        let join = algo.join_similarity();
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
                    summary.joined += 1;
                }
                None => rest.push(i),
            }
        }
        // The rest are clustered among themselves.
        let labels = cluster_subset(&faces, &rest, algo, &links)?;
        for (&i, l) in rest.iter().zip(labels) {
            if let Some(l) = l {
                assign.insert(faces.ids[i], Err(l));
                groups = groups.max(l + 1);
            }
        }
    } else {
        summary.mode = "full".into();
        let all: Vec<usize> = (0..faces.ids.len()).collect();
        let labels = cluster_subset(&faces, &all, algo, &links)?;
        // Give each new group the id of the old cluster it overlaps most, one to one.
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
        for (f, l) in faces.ids.iter().zip(&labels) {
            if let Some(l) = l {
                match mapping.get(l) {
                    Some(old_id) => assign.insert(*f, Ok(*old_id as i64)),
                    None => {
                        groups = groups.max(l + 1);
                        assign.insert(*f, Err(*l))
                    }
                };
            }
        }
        summary.kept_ids = mapping.len();
    }
    let model = model.to_owned();
    let created = lib.write(|tx| {
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
        for (f, a) in &assign {
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
    })?;
    let Some(created) = created else {
        return Ok(None);
    };
    summary.created = created;
    summary.clustered = assign.len();
    summary.clusters = assign.values().collect::<HashSet<_>>().len();
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(Some(summary))
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
    let pos: HashMap<i64, u32> = subset
        .iter()
        .enumerate()
        .map(|(k, &i)| (faces.ids[i], k as u32))
        .collect();
    let cannot: Vec<(u32, u32)> = links
        .iter()
        .filter_map(|(a, b)| Some((*pos.get(a)?, *pos.get(b)?)))
        .collect();
    facelab_cluster::cluster(&data, faces.dim, algo, &cannot)
        .map_err(|e| LibraryError::Conflict(format!("clustering failed: {e}")))
}

fn cluster_model(lib: &Library, id: i64) -> Result<String> {
    lib.conn
        .query_row("SELECT model_id FROM clusters WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| lib.err(e))?
        .ok_or_else(|| {
            LibraryError::NotFound(format!(
                "no cluster with id {id} (help: `facelab clusters list` shows them; run `facelab cluster` first)"
            ))
        })
}

/// Members of cluster `id` with their similarity to its centre, most typical first.
pub fn members(lib: &Library, id: i64) -> Result<Vec<Member>> {
    let model = cluster_model(lib, id)?;
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT f.id, i.path, f.x, f.y, f.w, f.h, e.vector FROM cluster_members m
             JOIN faces f ON f.id = m.face_id JOIN images i ON i.id = f.image_id
             JOIN embeddings e ON e.face_id = f.id AND e.model_id = ?2
             WHERE m.cluster_id = ?1 ORDER BY f.id",
        )
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map(params![id, model], |r| {
            Ok((
                Member {
                    face: r.get(0)?,
                    path: r.get(1)?,
                    bbox: [
                        r.get::<_, f64>(2)? as f32,
                        r.get::<_, f64>(3)? as f32,
                        r.get::<_, f64>(4)? as f32,
                        r.get::<_, f64>(5)? as f32,
                    ],
                    similarity: 0.0,
                },
                normalized(&from_blob(&r.get::<_, Vec<u8>>(6)?)),
            ))
        })
        .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    let dim = rows.first().map(|(_, v)| v.len()).unwrap_or(0);
    let c = centre(rows.iter().map(|(_, v)| v.clone()), dim);
    let mut out: Vec<Member> = rows
        .into_iter()
        .map(|(mut m, v)| {
            m.similarity = dot(&v, &c);
            m
        })
        .collect();
    out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    Ok(out)
}

/// Every cluster of `model`, largest first, with a representative face and, when a named
/// person (judged on their faces that pass `min_quality`) is close to its centre, a
/// suggestion.
pub fn list(
    lib: &Library,
    model: &str,
    prior: Option<Prior>,
    min_quality: MinQuality,
) -> Result<Vec<ClusterInfo>> {
    let mut ids: Vec<i64> = {
        let mut stmt = lib
            .conn
            .prepare("SELECT id FROM clusters WHERE model_id = ?1")
            .map_err(|e| lib.err(e))?;
        let ids = stmt
            .query_map([model], |r| r.get(0))
            .and_then(|r| r.collect::<rusqlite::Result<Vec<i64>>>())
            .map_err(|e| lib.err(e))?;
        ids
    };
    ids.sort();
    let known = suggest::load(lib, model, min_quality)?;
    let threshold = known.threshold(prior)?;
    let gallery = known.gallery();
    let mut out = Vec::new();
    let mut sims = Vec::new();
    for id in ids {
        let members = members(lib, id)?;
        let Some(rep) = members.first() else { continue };
        let cohesion = members.iter().map(|m| m.similarity).sum::<f32>() / members.len() as f32;
        // The centre's score per person; a person any member was rejected for is out.
        let vectors = unnamed_vectors(lib, model, &members)?;
        let c = centre(vectors.into_iter(), known.dim.max(1));
        let mut suggestion = None;
        if gallery.people() > 0 {
            let scores = gallery.scores(&c, &mut sims);
            let best = scores
                .iter()
                .enumerate()
                .filter(|(p, s)| {
                    s.is_finite()
                        && !members
                            .iter()
                            .any(|m| known.rejected.contains(&(m.face, *p)))
                })
                .max_by(|a, b| a.1.total_cmp(b.1));
            if let Some((p, s)) = best {
                if *s >= threshold.value {
                    suggestion = Some((gallery.name(p).to_owned(), *s));
                }
            }
        }
        out.push(ClusterInfo {
            id,
            size: members.len(),
            representative: rep.face,
            path: rep.path.clone(),
            cohesion,
            suggestion,
        });
    }
    out.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
    Ok(out)
}

fn unnamed_vectors(lib: &Library, model: &str, members: &[Member]) -> Result<Vec<Vec<f32>>> {
    let mut stmt = lib
        .conn
        .prepare("SELECT vector FROM embeddings WHERE face_id = ?1 AND model_id = ?2")
        .map_err(|e| lib.err(e))?;
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let blob: Vec<u8> = stmt
            .query_row(params![m.face, model], |r| r.get(0))
            .map_err(|e| lib.err(e))?;
        out.push(normalized(&from_blob(&blob)));
    }
    Ok(out)
}

/// Names every member of cluster `id` as `person`, except faces rejected for that person
/// (they leave the cluster). Returns (named, left out).
pub fn name(lib: &mut Library, id: i64, person: &str) -> Result<(usize, usize)> {
    cluster_model(lib, id)?;
    let (p, _) = lib.person_or_add(person)?;
    let members = members(lib, id)?;
    let rejected: HashSet<i64> = {
        let mut stmt = lib
            .conn
            .prepare("SELECT face_id FROM labels WHERE person_id = ?1 AND state = 'rejected'")
            .map_err(|e| lib.err(e))?;
        let r = stmt
            .query_map([p.id], |r| r.get(0))
            .and_then(|r| r.collect::<rusqlite::Result<HashSet<i64>>>())
            .map_err(|e| lib.err(e))?;
        r
    };
    let (mut named, mut left) = (0, 0);
    lib.write(|tx| {
        bump_revision(tx)?;
        let t = now();
        for m in &members {
            tx.execute("DELETE FROM cluster_members WHERE face_id = ?1 AND cluster_id = ?2", params![m.face, id])?;
            if rejected.contains(&m.face) {
                left += 1;
                continue;
            }
            tx.execute(
                "DELETE FROM labels WHERE face_id = ?1 AND state IN ('confirmed', 'suggested')",
                [m.face],
            )?;
            tx.execute(
                "INSERT INTO labels(face_id, person_id, state, score, source, at) VALUES (?1, ?2, 'confirmed', NULL, 'cluster', ?3)
                 ON CONFLICT(face_id, person_id) DO UPDATE SET state = 'confirmed', source = 'cluster', at = excluded.at",
                params![m.face, p.id, t],
            )?;
            named += 1;
        }
        tx.execute("DELETE FROM clusters WHERE id = ?1", [id])?;
        Ok(())
    })?;
    Ok((named, left))
}

/// Moves every member of `b` into `a` and deletes `b`; cannot-link pairs between the two
/// are dropped (the user said they are one person).
pub fn merge(lib: &mut Library, a: i64, b: i64) -> Result<usize> {
    let (ma, mb) = (cluster_model(lib, a)?, cluster_model(lib, b)?);
    if a == b || ma != mb {
        return Err(LibraryError::Conflict(format!(
            "clusters {a} and {b} cannot be merged: {}",
            if a == b {
                "they are the same cluster"
            } else {
                "they belong to different recognizer models"
            }
        )));
    }
    lib.write(|tx| {
        bump_revision(tx)?;
        tx.execute(
            "DELETE FROM cannot_link WHERE
               (a IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?1) AND b IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?2))
               OR (a IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?2) AND b IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?1))",
            params![a, b],
        )?;
        let moved = tx.execute("UPDATE cluster_members SET cluster_id = ?1 WHERE cluster_id = ?2", params![a, b])?;
        tx.execute("DELETE FROM clusters WHERE id = ?1", [b])?;
        tx.execute("UPDATE clusters SET updated_at = ?2 WHERE id = ?1", params![a, now()])?;
        Ok(moved)
    })
}

/// Splits cluster `id` in two (2-means on its members). The half with the most typical
/// member keeps the id; the other gets a new one; every pair across the halves becomes a
/// cannot-link, so no later run joins them again. Returns the new cluster's id.
pub fn split(lib: &mut Library, id: i64) -> Result<(i64, usize, usize)> {
    let model = cluster_model(lib, id)?;
    let members = members(lib, id)?;
    if members.len() < 2 {
        return Err(LibraryError::Conflict(format!(
            "cluster {id} has {} member: nothing to split",
            members.len()
        )));
    }
    let vectors = unnamed_vectors(lib, &model, &members)?;
    let dim = vectors[0].len();
    let flat: Vec<f32> = vectors.concat();
    let halves = facelab_cluster::split(&flat, dim);
    // members[0] is the most typical: its half keeps the id.
    let keep = halves[0];
    let (stay, go): (Vec<i64>, Vec<i64>) = {
        let mut stay = Vec::new();
        let mut go = Vec::new();
        for (m, h) in members.iter().zip(&halves) {
            if *h == keep {
                stay.push(m.face)
            } else {
                go.push(m.face)
            }
        }
        (stay, go)
    };
    if go.is_empty() {
        return Err(LibraryError::Conflict(format!(
            "cluster {id} could not be split: its members are all alike"
        )));
    }
    let (n_stay, n_go) = (stay.len(), go.len());
    let new_id = lib.write(|tx| {
        bump_revision(tx)?;
        let new_id = next_ids(tx, 1)?[0];
        let t = now();
        tx.execute(
            "INSERT INTO clusters(id, model_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            params![new_id, model, t],
        )?;
        let mut mv = tx.prepare("UPDATE cluster_members SET cluster_id = ?1 WHERE face_id = ?2 AND cluster_id = ?3")?;
        for f in &go {
            mv.execute(params![new_id, f, id])?;
        }
        let mut link = tx.prepare(
            "INSERT INTO cannot_link(a, b, source, at) VALUES (?1, ?2, 'split', ?3) ON CONFLICT DO NOTHING",
        )?;
        for a in &stay {
            for b in &go {
                let (x, y) = ordered(*a, *b);
                link.execute(params![x, y, t])?;
            }
        }
        Ok(new_id)
    })?;
    Ok((new_id, n_stay, n_go))
}
