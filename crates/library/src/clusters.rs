//! Clusters of unknown faces, per recognizer (one model, or several fused: their key is
//! [`ModelKeys::key`]; faces compare by their fused vectors), with ids that stay stable.
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
//! - Faces that get a name leave their cluster (at once for listing and naming, which never
//!   rename a face named since; the next run drops the membership); an emptied cluster is
//!   deleted, and its id is never given to another group.
//! - Faces below `library.min_quality` ([`facelab_engine::quality`]) are never clustered: a run
//!   leaves them out and drops them from the clusters they were in (after `min_quality` was
//!   raised). A cluster's suggested person is judged on the named faces that pass it.
//! - A hidden face ([`crate::hidden`]) is no member: it is listed in no cluster at once, and
//!   the next run drops its membership; shown again, it is back in its cluster if that
//!   cluster still exists.
//! - [`suggest_merges`] proposes groups (and named people) that may be one person split in
//!   two, best first; the user merges them.

use std::collections::HashSet;

use crate::db::OptionalExtension;
use crate::params;

use super::identity::ModelKeys;
use super::search::{dot, normalized};
use super::suggest::{self, Prior};
use super::{now, Library, LibraryError, Result};
use facelab_engine::config::MinQuality;

mod evidence;
mod links;
mod merges;
mod run;

pub use links::{links_between, restore_links, CannotLink};
pub use merges::{suggest_merges, MergeSuggestion, MergeSuggestions, Side};
pub use run::{membership, run, run_with};

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
    /// The algorithm and parameters (the threshold as resolved).
    pub algorithm: String,
    /// The Chinese Whispers threshold and the evidence behind it (`None` for the other
    /// methods).
    pub threshold: Option<facelab_cluster::Resolved>,
    /// Faces without a name that have an embedding of the model and pass `min_quality`.
    pub faces: usize,
    /// Faces without a name left out because their quality is below `min_quality`.
    pub below_min_quality: usize,
    /// Faces clustered whose quality is below `[cluster] link_quality`: they may join a
    /// cluster but never link two.
    pub below_link_quality: usize,
    /// Pairs of faces known to be two people (same photo, different names, rejections)
    /// that the adaptive threshold could use.
    pub known_negatives: usize,
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

fn next_ids(tx: &crate::db::Tx<'_>, n: usize) -> crate::db::Result<Vec<i64>> {
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
fn revision(conn: &crate::db::Conn) -> crate::db::Result<i64> {
    conn.query_row(
        "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'clusters_revision'), 0)",
        [],
        |r| r.get(0),
    )
}

fn bump_revision(tx: &crate::db::Tx<'_>) -> crate::db::Result<()> {
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('clusters_revision', '1')
         ON CONFLICT(key) DO UPDATE SET value = CAST(meta.value AS INTEGER) + 1",
        [],
    )
    .map(|_| ())
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

/// The models whose vectors cluster `id` (stored under the recognizer key `key`) was made
/// from: the active recognizer's `models` when the key is theirs, else the one model the
/// key names. A cluster of fused models the config no longer names cannot be read.
fn cluster_keys(lib: &Library, id: i64, key: &str, models: &ModelKeys) -> Result<ModelKeys> {
    if key == models.key() {
        return Ok(models.clone());
    }
    let stored: bool = lib
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM embeddings WHERE model_id = ?1)",
            [key],
            |r| r.get(0),
        )
        .map_err(|e| lib.err(e))?;
    if stored {
        return Ok(ModelKeys::from(key));
    }
    Err(LibraryError::Conflict(format!(
        "cluster {id} was made with the recognizer `{key}`, which the config no longer names (help: use the config that made it, or run `facelab cluster` for clusters of `{}`)",
        models.key()
    )))
}

/// Members of cluster `id` with their similarity to its centre, most typical first; the
/// cluster's vectors are read by the active recognizer's `models` when it made the cluster.
pub fn members(lib: &Library, id: i64, models: &ModelKeys) -> Result<Vec<Member>> {
    Ok(members_and_vectors(lib, id, models)?.0)
}

/// [`members`], each with its unit vector.
fn members_and_vectors(
    lib: &Library,
    id: i64,
    models: &ModelKeys,
) -> Result<(Vec<Member>, Vec<Vec<f32>>)> {
    let key = cluster_model(lib, id)?;
    let keys = cluster_keys(lib, id, &key, models)?;
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT f.id, i.path, f.x, f.y, f.w, f.h FROM cluster_members m
             JOIN faces f ON f.id = m.face_id JOIN images i ON i.id = f.image_id
             WHERE m.cluster_id = ?1 AND f.hidden_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed')
             ORDER BY f.id",
        )
        .map_err(|e| lib.err(e))?;
    let found = stmt
        .query_map(params![id], |r| {
            Ok(Member {
                face: r.get(0)?,
                path: r.get(1)?,
                bbox: [
                    r.get::<_, f64>(2)? as f32,
                    r.get::<_, f64>(3)? as f32,
                    r.get::<_, f64>(4)? as f32,
                    r.get::<_, f64>(5)? as f32,
                ],
                similarity: 0.0,
            })
        })
        .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    let ids: Vec<i64> = found.iter().map(|m| m.face).collect();
    let mut vectors = lib.fused_vectors(&keys, Some(&ids))?;
    // Members without an embedding of the models (a rescan moved their box) are left out;
    // fused vectors are unit vectors.
    let rows: Vec<(Member, Vec<f32>)> = found
        .into_iter()
        .filter_map(|m| vectors.take(m.face).map(|v| (m, v)))
        .collect();
    let dim = rows.first().map(|(_, v)| v.len()).unwrap_or(0);
    let c = centre(rows.iter().map(|(_, v)| v.clone()), dim);
    let mut rows: Vec<(Member, Vec<f32>)> = rows
        .into_iter()
        .map(|(mut m, v)| {
            m.similarity = dot(&v, &c);
            (m, v)
        })
        .collect();
    rows.sort_by(|a, b| b.0.similarity.total_cmp(&a.0.similarity));
    Ok(rows.into_iter().unzip())
}

/// Every cluster of the recognizer of `models`, largest first, with a representative face
/// and, when a named person (judged on their faces that pass `min_quality`) is close to its
/// centre, a suggestion.
pub fn list(
    lib: &Library,
    models: &ModelKeys,
    prior: Option<Prior>,
    min_quality: MinQuality,
) -> Result<Vec<ClusterInfo>> {
    let mut ids: Vec<i64> = {
        let mut stmt = lib
            .conn
            .prepare("SELECT id FROM clusters WHERE model_id = ?1")
            .map_err(|e| lib.err(e))?;
        stmt.query_map([models.key()], |r| r.get(0))
            .and_then(|r| r.collect::<crate::db::Result<Vec<i64>>>())
            .map_err(|e| lib.err(e))?
    };
    ids.sort();
    let known = suggest::load(lib, models, min_quality)?;
    let threshold = known.threshold(prior)?;
    let gallery = known.gallery();
    let mut out = Vec::new();
    let mut sims = Vec::new();
    for id in ids {
        let (members, vectors) = members_and_vectors(lib, id, models)?;
        let Some(rep) = members.first() else { continue };
        let cohesion = members.iter().map(|m| m.similarity).sum::<f32>() / members.len() as f32;
        // The centre's score per person; a person any member was rejected for is out.
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

/// Names every member of cluster `id` (as [`members`] lists them with the active
/// recognizer's `models`) as `person`, except faces rejected for that person (they leave
/// the cluster). Returns (named, left out).
pub fn name(
    lib: &mut Library,
    id: i64,
    person: &str,
    models: &ModelKeys,
) -> Result<(usize, usize)> {
    cluster_model(lib, id)?;
    let (p, _) = lib.person_or_add(person)?;
    let member_ids = |conn: &crate::db::Conn| -> crate::db::Result<Vec<i64>> {
        let mut stmt = conn.prepare(
            "SELECT face_id FROM cluster_members WHERE cluster_id = ?1 ORDER BY face_id",
        )?;
        let ids = stmt.query_map([id], |r| r.get(0))?;
        ids.collect()
    };
    // Read before the members are: a change another facelab commits after this (naming,
    // merging or splitting the group) is seen by the check under the write lock below.
    let planned = member_ids(&lib.conn).map_err(|e| lib.err(e))?;
    let members = members(lib, id, models)?;
    let rejected: HashSet<i64> = {
        let mut stmt = lib
            .conn
            .prepare("SELECT face_id FROM labels WHERE person_id = ?1 AND state = 'rejected'")
            .map_err(|e| lib.err(e))?;
        stmt.query_map([p.id], |r| r.get(0))
            .and_then(|r| r.collect::<crate::db::Result<HashSet<i64>>>())
            .map_err(|e| lib.err(e))?
    };
    let (mut named, mut left) = (0, 0);
    let still = lib.write(|tx| {
        // Under the write lock: another facelab may have named, merged or split it since
        // its members were read (a group that is gone has none). Then nothing is written
        // (its change stays).
        if planned.is_empty() || member_ids(tx)? != planned {
            return Ok(false);
        }
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
        Ok(true)
    })?;
    if !still {
        return Err(LibraryError::Conflict(format!(
            "{}: cluster {id} changed while it was being named (another facelab named, merged or split it at the same time); nothing was named (help: `facelab clusters list` shows it now; name it again if it is still there)",
            lib.path().display()
        )));
    }
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

/// Splits cluster `id` in two (2-means on its members' vectors, read with the active
/// recognizer's `models`). The half with the most typical member keeps the id; the other
/// gets a new one; every pair across the halves becomes a cannot-link, so no later run
/// joins them again. Returns the new cluster's id.
pub fn split(lib: &mut Library, id: i64, models: &ModelKeys) -> Result<(i64, usize, usize)> {
    let model = cluster_model(lib, id)?;
    let (members, vectors) = members_and_vectors(lib, id, models)?;
    if members.len() < 2 {
        return Err(LibraryError::Conflict(format!(
            "cluster {id} has {} member: nothing to split",
            members.len()
        )));
    }
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

/// Puts `faces` back into cluster `id` of the recognizer key `model`, creating it again
/// with that id when it was deleted (the id was this group's, so it is not another's): the
/// inverse of naming a cluster or merging one into another. Faces that got a confirmed
/// name or were removed meanwhile are left where they are. Returns how many faces moved.
pub fn restore(lib: &mut Library, id: i64, model: &str, faces: &[i64]) -> Result<usize> {
    let (model, faces) = (model.to_owned(), faces.to_vec());
    lib.write(|tx| {
        bump_revision(tx)?;
        let t = now();
        tx.execute(
            "INSERT INTO clusters(id, model_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at",
            params![id, model, t],
        )?;
        let mut out = tx.prepare(
            "DELETE FROM cluster_members WHERE face_id = ?1
             AND cluster_id IN (SELECT id FROM clusters WHERE model_id = ?2)",
        )?;
        let mut put = tx.prepare(
            "INSERT OR IGNORE INTO cluster_members(face_id, cluster_id) SELECT ?1, ?2
             WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?1)
             AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = ?1 AND l.state = 'confirmed')",
        )?;
        let mut moved = 0;
        for f in &faces {
            out.execute(params![f, model])?;
            moved += put.execute(params![f, id])?;
        }
        tx.execute(
            "DELETE FROM clusters WHERE model_id = ?1 AND NOT EXISTS (SELECT 1 FROM cluster_members m WHERE m.cluster_id = clusters.id)",
            [&model],
        )?;
        Ok(moved)
    })
}

/// The recognizer key cluster `id` was made with.
pub fn model_of(lib: &Library, id: i64) -> Result<String> {
    cluster_model(lib, id)
}
