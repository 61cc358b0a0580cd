//! Writing a scan's results: each batch of photos in one `BEGIN IMMEDIATE` transaction, and
//! each photo only if its row is still as the scan planned (see the library's concurrency
//! rule in [`crate`]).

use std::collections::HashSet;

use crate::db::OptionalExtension;
use crate::params;
use facelab_plugin_api::{BBox, Face, Landmarks5, Point2};

use super::{Item, Plan, Summary};
use crate::identity::ModelKeys;
use crate::{from_blob, now, paths, to_blob, Library, Result};
use facelab_engine::quality::Quality;

/// A stored face.
pub(super) struct Stored {
    pub id: i64,
    pub face: Face,
    /// It has a confirmed name, or the user made it: a detector that misses it does not
    /// remove it.
    pub keep: bool,
    /// The user made it (`manual` or `xmp` origin): a re-detection never moves its box.
    pub pinned: bool,
    /// Whether it has an embedding of each model of the recognizer (empty without one).
    pub embedded: Vec<bool>,
    /// Its quality has been measured (faces stored before schema 4 have none yet).
    pub has_quality: bool,
}

fn landmarks_blob(face: &Face) -> Option<Vec<u8>> {
    face.landmarks.as_ref().into_option().map(|l| {
        let v: Vec<f32> = l.points.iter().flat_map(|p| [p.x, p.y]).collect();
        to_blob(&v)
    })
}

fn landmarks_from_blob(blob: Option<Vec<u8>>) -> Option<Landmarks5> {
    let v = from_blob(&blob?);
    (v.len() == 10).then(|| Landmarks5 {
        points: std::array::from_fn(|i| Point2 {
            x: v[2 * i],
            y: v[2 * i + 1],
        }),
    })
}

impl Stored {
    /// The models (indices into the recognizer's) it has no embedding of.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.embedded.len())
            .filter(|&i| !self.embedded[i])
            .collect()
    }
}

pub(super) fn stored_faces(
    lib: &Library,
    image: i64,
    models: Option<&ModelKeys>,
) -> Result<Vec<Stored>> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT f.id, f.x, f.y, f.w, f.h, f.score, f.landmarks,
               EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed'),
               (SELECT group_concat(e.model_id, char(31)) FROM embeddings e WHERE e.face_id = f.id),
               f.quality IS NOT NULL, f.origin <> 'detected'
             FROM faces f WHERE f.image_id = ?1 ORDER BY f.id",
        )
        .map_err(|e| lib.err(e))?;
    let keys = models.map_or(&[][..], ModelKeys::members);
    let rows = stmt
        .query_map(params![image], |r| {
            let mut face = Face::new(
                BBox::new(
                    r.get::<_, f64>(1)? as f32,
                    r.get::<_, f64>(2)? as f32,
                    r.get::<_, f64>(3)? as f32,
                    r.get::<_, f64>(4)? as f32,
                ),
                r.get::<_, f64>(5)? as f32,
            );
            face.landmarks = landmarks_from_blob(r.get(6)?).into();
            let stored: Option<String> = r.get(8)?;
            let stored: Vec<&str> = stored
                .as_deref()
                .map_or(Vec::new(), |s| s.split('\u{1f}').collect());
            Ok(Stored {
                id: r.get(0)?,
                face,
                keep: r.get::<_, bool>(7)? || r.get::<_, bool>(10)?,
                pinned: r.get(10)?,
                embedded: keys.iter().map(|k| stored.contains(&k.as_str())).collect(),
                has_quality: r.get(9)?,
            })
        })
        .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    Ok(rows)
}

/// A face reference inside one photo's write: an existing row or the n-th inserted face.
#[derive(Clone, Copy)]
pub(super) enum FaceRef {
    Old(i64),
    New(usize),
}

/// Everything one photo changes, written in its batch's transaction.
pub(super) struct Write {
    /// The row to update; `None` inserts one.
    pub id: Option<i64>,
    /// The row's revision the scan planned from (for `id`).
    pub revision: Option<i64>,
    pub path_bytes: Vec<u8>,
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: Option<String>,
    pub dims: Option<(u32, u32, u8)>,
    pub status: &'static str,
    pub error: Option<String>,
    pub detector: Option<String>,
    pub update: Vec<(i64, Face, Quality)>,
    pub insert: Vec<(Face, Quality)>,
    pub delete: Vec<i64>,
    /// Stored faces whose box stays, with their quality measured on this photo.
    pub assessed: Vec<(i64, Quality)>,
    /// (face, index of the model in `models`, vector, normalised).
    pub embeddings: Vec<(FaceRef, usize, Vec<f32>, bool)>,
    /// The recognizer's models' keys, in order.
    pub models: Vec<String>,
    /// The queue job (id, times taken) this photo completes.
    pub job: Option<(i64, i64)>,
}

impl Write {
    pub fn new(item: &Item, id: Option<i64>, revision: Option<i64>, hash: Option<String>) -> Write {
        Write {
            id,
            revision,
            path_bytes: paths::to_bytes(&item.path),
            size: item.size,
            mtime_ns: item.mtime_ns,
            hash,
            dims: None,
            status: "done",
            error: None,
            detector: None,
            update: vec![],
            insert: vec![],
            delete: vec![],
            assessed: vec![],
            embeddings: vec![],
            models: vec![],
            job: item.job,
        }
    }
}

pub(super) fn flush(
    lib: &mut Library,
    batch: &mut Vec<Write>,
    summary: &mut Summary,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let writes = std::mem::take(batch);
    let (embedded, concurrent) = lib.write(|tx| {
        let (mut n, mut skipped) = (0usize, 0usize);
        for w in &writes {
            match apply(tx, w)? {
                Some(e) => n += e,
                None => skipped += 1,
            }
        }
        Ok((n, skipped))
    })?;
    summary.embeddings += embedded;
    summary.concurrent += concurrent;
    Ok(())
}

/// Writes one photo; `None` when another process wrote it since this scan planned it
/// (that result stays, this one is dropped).
fn apply(tx: &crate::db::Tx<'_>, w: &Write) -> crate::db::Result<Option<usize>> {
    let t = now();
    if let Some(job) = w.job {
        if !super::job::complete(tx, job, w.status == "failed", w.error.as_deref(), t)? {
            // Taken again later: this failure is retried, not written.
            return Ok(Some(0));
        }
    }
    let Some(id) = write_image(tx, w, t)? else {
        return Ok(None);
    };
    write_faces(tx, w, id, t)?;
    Ok(Some(w.embeddings.len()))
}

/// Updates (or inserts) the photo's image row at time `t` and returns its id; `None` when
/// the row changed since the plan, or its path is held by another row.
fn write_image(tx: &crate::db::Tx<'_>, w: &Write, t: i64) -> crate::db::Result<Option<i64>> {
    let (width, height, orientation) = match w.dims {
        Some((a, b, c)) => (Some(a), Some(b), Some(c)),
        None => (None, None, None),
    };
    let holder: Option<(i64, i64)> = tx
        .query_row(
            "SELECT id, revision FROM images WHERE path_bytes = ?1",
            [&w.path_bytes],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let display = paths::display(&w.path_bytes);
    let id = match w.id {
        Some(id) => {
            let now_at: Option<i64> = tx
                .query_row("SELECT revision FROM images WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            // Changed since the plan, or its (new) path taken by another row meanwhile.
            if now_at != w.revision || holder.is_some_and(|(h, _)| h != id) {
                return Ok(None);
            }
            tx.execute(
                "UPDATE images SET path_bytes = ?2, path = ?3, size = ?4, mtime_ns = ?5,
                   hash = COALESCE(?6, hash), width = COALESCE(?7, width),
                   height = COALESCE(?8, height), orientation = COALESCE(?9, orientation),
                   status = ?10, error = ?11, detector = COALESCE(?12, detector),
                   scanned_at = ?13, revision = revision + 1
                 WHERE id = ?1",
                params![
                    id,
                    w.path_bytes,
                    display,
                    w.size as i64,
                    w.mtime_ns,
                    w.hash,
                    width,
                    height,
                    orientation,
                    w.status,
                    w.error,
                    w.detector,
                    t
                ],
            )?;
            id
        }
        None => {
            if holder.is_some() {
                return Ok(None);
            }
            tx.query_row(
                "INSERT INTO images(path_bytes, path, size, mtime_ns, hash, width, height, orientation, status, error, detector, scanned_at, revision)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1) RETURNING id",
                params![
                    w.path_bytes, display, w.size as i64, w.mtime_ns, w.hash, width, height,
                    orientation, w.status, w.error, w.detector, t
                ],
                |r| r.get(0),
            )?
        }
    };
    Ok(Some(id))
}

/// The photo's faces: deletions, moved boxes (whose embeddings are then stale), new
/// qualities, new faces (created at `t`) and embeddings, for image row `id`.
fn write_faces(tx: &crate::db::Tx<'_>, w: &Write, id: i64, t: i64) -> crate::db::Result<()> {
    for face in &w.delete {
        // A face named since the scan read it is not the scan's to remove, nor one the
        // user made.
        tx.execute(
            "DELETE FROM faces WHERE id = ?1 AND origin = 'detected'
               AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = ?1 AND l.state = 'confirmed')",
            [face],
        )?;
    }
    for (face_id, f, q) in &w.update {
        tx.execute(
            "UPDATE faces SET x = ?2, y = ?3, w = ?4, h = ?5, landmarks = ?6, score = ?7, detector = ?8,
               quality = ?9, quality_parts = ?10 WHERE id = ?1",
            params![
                face_id, f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height, landmarks_blob(f),
                f.score, w.detector, q.score, to_blob(&q.parts())
            ],
        )?;
        // The box moved: every model's embedding of it is stale.
        tx.execute("DELETE FROM embeddings WHERE face_id = ?1", [face_id])?;
    }
    for (face_id, q) in &w.assessed {
        tx.execute(
            "UPDATE faces SET quality = ?2, quality_parts = ?3 WHERE id = ?1",
            params![face_id, q.score, to_blob(&q.parts())],
        )?;
    }
    let mut new_ids = Vec::with_capacity(w.insert.len());
    for (f, q) in &w.insert {
        new_ids.push(tx.query_row(
            "INSERT INTO faces(image_id, x, y, w, h, landmarks, score, detector, created_at, quality, quality_parts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            params![
                id,
                f.bbox.x,
                f.bbox.y,
                f.bbox.width,
                f.bbox.height,
                landmarks_blob(f),
                f.score,
                w.detector,
                t,
                q.score,
                to_blob(&q.parts())
            ],
            |r| r.get(0),
        )?);
    }
    for (r, member, values, normalized) in &w.embeddings {
        let face = match r {
            FaceRef::Old(id) => *id,
            FaceRef::New(i) => new_ids[*i],
        };
        crate::vectors::store(tx, face, &w.models[*member], values, *normalized)?;
    }
    Ok(())
}

/// Marks the photos that vanished and were not found elsewhere as missing; their faces and
/// names stay, and a later scan that finds them (or their content) brings them back. A
/// photo whose row changed since the plan (another scan found it moved) is left as it is.
pub(super) fn mark_missing(
    lib: &mut Library,
    plan: &Plan,
    moved_from: &HashSet<i64>,
    summary: &mut Summary,
) -> Result<()> {
    let gone: Vec<(i64, i64)> = plan
        .vanished
        .iter()
        .filter(|g| !moved_from.contains(&g.id))
        .map(|g| (g.id, g.revision))
        .collect();
    summary.missing = lib.write(|tx| {
        let mut stmt = tx.prepare(
            "UPDATE images SET status = 'missing', revision = revision + 1
             WHERE id = ?1 AND revision = ?2",
        )?;
        let mut n = 0;
        for (id, revision) in &gone {
            n += stmt.execute([id, revision])?;
        }
        Ok(n)
    })?;
    Ok(())
}
