//! `facelab scan`: walk folders, skip what is unchanged, decode in parallel, detect and
//! embed with the configured pipeline, and write each batch of photos in one transaction.
//!
//! A photo is written together with its faces and embeddings, so a scan killed at any point
//! leaves whole photos or nothing, and the next scan does the rest. Unchanged means same
//! size and mtime, or else the same content hash. A new path whose content hash matches a
//! photo that vanished is a move: the row (and so every face and name) follows the file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use facelab_plugin_api::{BBox, Face, Landmarks5, Point2};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rusqlite::params;
use sha2::{Digest, Sha256};

use super::{now, to_blob, Library, LibraryError, Result};
use crate::photo::{decode_bytes, Photo};
use crate::pipeline::{FaceDetector, FaceRecognizer};

/// IoU above which a re-detected box is the same face as a stored one.
pub const MATCH_IOU: f32 = 0.5;

/// What a scan takes and how.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Globs of files to take, matched against the path below the scanned folder.
    pub include: Vec<String>,
    /// Globs of files and folders to skip.
    pub exclude: Vec<String>,
    /// Photos per transaction.
    pub batch_size: usize,
    /// Decoding limit.
    pub max_pixels: u64,
    /// Re-detect every photo, even when its detector has not changed.
    pub redetect: bool,
    /// Retry photos that failed before even if unchanged.
    pub retry_failed: bool,
    /// Decoding threads.
    pub threads: usize,
}

/// Why a file needs work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Not in the library.
    New,
    /// Size or mtime changed (the content hash decides).
    Changed,
    /// Unchanged, but found by another detector (or `--redetect`).
    Redetect,
    /// Unchanged, but some faces lack an embedding of the active recognizer.
    Embed,
    /// Failed before; retried on request.
    Retry,
}

/// One file to process.
#[derive(Debug, Clone)]
pub struct Item {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes at walk time.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Why.
    pub work: Work,
    /// The library row, for known files.
    pub id: Option<i64>,
    /// The stored content hash, for known files.
    pub hash: Option<String>,
}

/// What a scan will do, computed before any photo is decoded.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files to process.
    pub items: Vec<Item>,
    /// Files skipped as unchanged.
    pub unchanged: usize,
    /// Known photos under the scanned folders that were not found: (id, path, hash).
    pub vanished: Vec<(i64, String, Option<String>)>,
    /// Photos marked missing by an earlier scan: (id, path, hash); a new file with the same
    /// content is taken as that photo moved.
    pub missing: Vec<(i64, String, Option<String>)>,
    /// Folders or entries that could not be read.
    pub walk_errors: Vec<String>,
}

/// What a scan did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    /// Files seen by the walk.
    pub files: usize,
    /// Added.
    pub new: usize,
    /// Content changed, re-detected.
    pub changed: usize,
    /// Only size/mtime changed; same content.
    pub touched: usize,
    /// Found at a new path by content hash.
    pub moved: usize,
    /// Re-detected for a new detector, with faces matched by IoU.
    pub redetected: usize,
    /// Given embeddings of the active recognizer only.
    pub embedded: usize,
    /// Skipped as unchanged.
    pub unchanged: usize,
    /// Failed, with the reason (also stored in the library).
    pub failed: Vec<(String, String)>,
    /// Gone between the walk and the read.
    pub vanished_during_scan: usize,
    /// Known photos not found any more (kept, with their names, as missing).
    pub missing: usize,
    /// Faces written (new or updated).
    pub faces: usize,
    /// Embeddings written.
    pub embeddings: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Photos processed (decoded) per second.
    pub photos_per_second: f64,
}

fn globset(globs: &[String]) -> std::result::Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(
            GlobBuilder::new(g)
                .case_insensitive(true)
                .literal_separator(false)
                .build()?,
        );
    }
    b.build()
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

struct Known {
    id: i64,
    size: i64,
    mtime_ns: i64,
    status: String,
    detector: Option<String>,
    hash: Option<String>,
}

/// Walks `roots` and compares with the library: what needs work, what is unchanged, what
/// vanished. `detector` is the active detector's key; `model` the active recognizer's id.
pub fn plan(
    lib: &Library,
    roots: &[PathBuf],
    opts: &ScanOptions,
    detector: &str,
    model: Option<&str>,
) -> Result<Plan> {
    let include = globset(&opts.include).map_err(|e| LibraryError::Conflict(e.to_string()))?;
    let exclude = globset(&opts.exclude).map_err(|e| LibraryError::Conflict(e.to_string()))?;
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut missing = Vec::new();
    {
        let mut stmt = lib
            .conn
            .prepare("SELECT id, path, size, mtime_ns, status, detector, hash FROM images")
            .map_err(|e| lib.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| lib.err(e))?;
        while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
            let path: String = r.get(1).map_err(|e| lib.err(e))?;
            let k = Known {
                id: r.get(0).map_err(|e| lib.err(e))?,
                size: r.get(2).map_err(|e| lib.err(e))?,
                mtime_ns: r.get(3).map_err(|e| lib.err(e))?,
                status: r.get(4).map_err(|e| lib.err(e))?,
                detector: r.get(5).map_err(|e| lib.err(e))?,
                hash: r.get(6).map_err(|e| lib.err(e))?,
            };
            if k.status == "missing" {
                missing.push((k.id, path.clone(), k.hash.clone()));
            }
            known.insert(path, k);
        }
    }
    let lacking: HashSet<i64> = match model {
        None => HashSet::new(),
        Some(model) => {
            let mut stmt = lib
                .conn
                .prepare(
                    "SELECT DISTINCT f.image_id FROM faces f
                     WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.face_id = f.id AND e.model_id = ?1)",
                )
                .map_err(|e| lib.err(e))?;
            let ids = stmt
                .query_map([model], |r| r.get(0))
                .and_then(|r| r.collect::<rusqlite::Result<HashSet<i64>>>())
                .map_err(|e| lib.err(e))?;
            ids
        }
    };
    let mut out = Plan {
        missing,
        ..Plan::default()
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut abs_roots = Vec::new();
    for root in roots {
        let root = match std::fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) => {
                out.walk_errors.push(format!(
                    "{}: cannot read: {e} (help: check the folder exists and is readable)",
                    root.display()
                ));
                continue;
            }
        };
        abs_roots.push(root.clone());
        let walk = walkdir::WalkDir::new(&root).sort_by_file_name();
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let at = e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    out.walk_errors.push(format!(
                        "{at}: cannot read: {e} (help: check permissions; the rest of the scan goes on)"
                    ));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(&root).unwrap_or(entry.path());
            if !include.is_match(rel) || exclude.is_match(rel) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    out.walk_errors
                        .push(format!("{}: cannot stat: {e}", entry.path().display()));
                    continue;
                }
            };
            let path = entry.path().to_owned();
            let key = path.to_string_lossy().into_owned();
            if !seen.insert(key.clone()) {
                continue;
            }
            let (size, mtime) = (meta.len(), mtime_ns(&meta));
            let item = |work, id, hash| Item {
                path: path.clone(),
                size,
                mtime_ns: mtime,
                work,
                id,
                hash,
            };
            match known.get(&key) {
                None => out.items.push(item(Work::New, None, None)),
                Some(k)
                    if k.size != size as i64 || k.mtime_ns != mtime || k.status == "missing" =>
                {
                    out.items
                        .push(item(Work::Changed, Some(k.id), k.hash.clone()))
                }
                Some(k) if k.status == "failed" => {
                    if opts.retry_failed {
                        out.items
                            .push(item(Work::Retry, Some(k.id), k.hash.clone()))
                    } else {
                        out.unchanged += 1
                    }
                }
                Some(k) if opts.redetect || k.detector.as_deref() != Some(detector) => out
                    .items
                    .push(item(Work::Redetect, Some(k.id), k.hash.clone())),
                Some(k) if lacking.contains(&k.id) => {
                    out.items
                        .push(item(Work::Embed, Some(k.id), k.hash.clone()))
                }
                Some(_) => out.unchanged += 1,
            }
        }
    }
    for (path, k) in &known {
        if k.status != "missing"
            && !seen.contains(path)
            && abs_roots.iter().any(|r| Path::new(path).starts_with(r))
        {
            out.vanished.push((k.id, path.clone(), k.hash.clone()));
        }
    }
    out.vanished.sort();
    Ok(out)
}

/// What the reader threads hand over.
enum Read {
    /// The file is gone.
    Vanished,
    /// Unreadable or undecodable.
    Failed { hash: Option<String>, error: String },
    /// Size/mtime changed, content did not.
    Same { hash: String },
    /// Decoded.
    Photo { hash: String, photo: Photo },
}

fn read(item: &Item, max_pixels: u64) -> Read {
    let bytes = match std::fs::read(&item.path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Vanished,
        Err(e) => {
            return Read::Failed {
                hash: None,
                error: format!(
                    "{}: cannot read: {e} (help: check that the file is readable)",
                    item.path.display()
                ),
            }
        }
    };
    let hash = format!("{:x}", Sha256::digest(&bytes));
    if item.work == Work::Changed && item.hash.as_deref() == Some(hash.as_str()) {
        return Read::Same { hash };
    }
    match decode_bytes(&item.path, &bytes, max_pixels) {
        Ok(photo) => Read::Photo { hash, photo },
        Err(e) => Read::Failed {
            hash: Some(hash),
            error: e.to_string(),
        },
    }
}

/// A stored face.
struct Stored {
    id: i64,
    face: Face,
    keep: bool,
    has_embedding: bool,
}

fn landmarks_blob(face: &Face) -> Option<Vec<u8>> {
    face.landmarks.as_ref().into_option().map(|l| {
        let v: Vec<f32> = l.points.iter().flat_map(|p| [p.x, p.y]).collect();
        to_blob(&v)
    })
}

fn landmarks_from_blob(blob: Option<Vec<u8>>) -> Option<Landmarks5> {
    let v = super::from_blob(&blob?);
    (v.len() == 10).then(|| Landmarks5 {
        points: std::array::from_fn(|i| Point2 {
            x: v[2 * i],
            y: v[2 * i + 1],
        }),
    })
}

fn stored_faces(lib: &Library, image: i64, model: Option<&str>) -> Result<Vec<Stored>> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT f.id, f.x, f.y, f.w, f.h, f.score, f.landmarks,
               EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed'),
               EXISTS (SELECT 1 FROM embeddings e WHERE e.face_id = f.id AND e.model_id = ?2)
             FROM faces f WHERE f.image_id = ?1 ORDER BY f.id",
        )
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map(params![image, model.unwrap_or("")], |r| {
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
            Ok(Stored {
                id: r.get(0)?,
                face,
                keep: r.get(7)?,
                has_embedding: r.get(8)?,
            })
        })
        .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    Ok(rows)
}

/// A face reference inside one photo's write: an existing row or the n-th inserted face.
#[derive(Clone, Copy)]
enum FaceRef {
    Old(i64),
    New(usize),
}

/// Everything one photo changes, written in its batch's transaction.
struct Write {
    id: Option<i64>,
    path: String,
    size: u64,
    mtime_ns: i64,
    hash: Option<String>,
    dims: Option<(u32, u32, u8)>,
    status: &'static str,
    error: Option<String>,
    detector: Option<String>,
    update: Vec<(i64, Face)>,
    insert: Vec<Face>,
    delete: Vec<i64>,
    embeddings: Vec<(FaceRef, Vec<f32>, bool)>,
    model: Option<String>,
}

impl Write {
    fn new(item: &Item, id: Option<i64>, hash: Option<String>) -> Write {
        Write {
            id,
            path: item.path.to_string_lossy().into_owned(),
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
            embeddings: vec![],
            model: None,
        }
    }
}

/// Greedy one-to-one matching of new boxes to stored faces by IoU, best pairs first.
/// Returns, for each new face, the index of its stored face.
pub fn match_by_iou(old: &[BBox], new: &[BBox], min_iou: f32) -> Vec<Option<usize>> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, o) in old.iter().enumerate() {
        for (j, n) in new.iter().enumerate() {
            let v = facelab_plugin_kit::geometry::iou(o, n);
            if v >= min_iou {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut used_old = vec![false; old.len()];
    let mut out = vec![None; new.len()];
    for (_, i, j) in pairs {
        if !used_old[i] && out[j].is_none() {
            used_old[i] = true;
            out[j] = Some(i);
        }
    }
    out
}

/// The pipeline a scan runs.
pub struct Pipeline<'a> {
    /// The detector.
    pub detector: &'a mut FaceDetector,
    /// Its key, stored with each face.
    pub detector_key: String,
    /// The recognizer, if configured.
    pub recognizer: Option<&'a mut FaceRecognizer>,
    /// Its model id, stored with each embedding.
    pub model: Option<String>,
}

/// Runs a plan: parallel reads, detection and embedding here, batched transactions.
/// `bar` shows progress; errors are printed above it and recorded in the library.
pub fn execute(
    lib: &mut Library,
    plan: Plan,
    pipe: &mut Pipeline<'_>,
    opts: &ScanOptions,
    bar: &indicatif::ProgressBar,
) -> Result<Summary> {
    let start = Instant::now();
    let mut summary = Summary {
        files: plan.items.len() + plan.unchanged,
        unchanged: plan.unchanged,
        ..Summary::default()
    };
    // Content hash → a vanished or missing photo that a new path may be a move of.
    let mut movable: HashMap<String, (i64, String)> = HashMap::new();
    for (id, path, hash) in plan.missing.iter().chain(&plan.vanished) {
        if let Some(h) = hash {
            movable.entry(h.clone()).or_insert((*id, path.clone()));
        }
    }
    let mut moved_from: HashSet<i64> = HashSet::new();
    let items = &plan.items;
    let threads = opts.threads.max(1);
    let next = AtomicUsize::new(0);
    let mut batch: Vec<Write> = Vec::new();
    let mut processed = 0usize;
    let mut last_commit = Instant::now();
    let mut result = Ok(());
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Read)>(threads * 2);
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                if tx.send((i, read(&items[i], opts.max_pixels))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            let item = &items[i];
            bar.inc(1);
            let write = match r {
                Read::Vanished => {
                    summary.vanished_during_scan += 1;
                    bar.suspend(|| {
                        eprintln!(
                            "facelab: {}: vanished during the scan (kept as missing if it was in the library)",
                            item.path.display()
                        )
                    });
                    item.id.map(|id| {
                        let mut w = Write::new(item, Some(id), item.hash.clone());
                        w.status = "missing";
                        w
                    })
                }
                Read::Failed { hash, error } => {
                    bar.suspend(|| eprintln!("facelab: {error}"));
                    summary
                        .failed
                        .push((item.path.display().to_string(), error.clone()));
                    let mut w = Write::new(item, item.id, hash);
                    w.status = "failed";
                    w.error = Some(error);
                    Some(w)
                }
                Read::Same { hash } => {
                    summary.touched += 1;
                    Some(Write::new(item, item.id, Some(hash)))
                }
                Read::Photo { hash, photo } => {
                    processed += 1;
                    let mut id = item.id;
                    let mut work = item.work.clone();
                    if id.is_none() {
                        if let Some((old, _)) =
                            movable.get(&hash).filter(|(o, _)| !moved_from.contains(o))
                        {
                            moved_from.insert(*old);
                            id = Some(*old);
                            summary.moved += 1;
                            work = Work::Embed;
                        }
                    }
                    match process(lib, item, id, work, hash, &photo, pipe, &mut summary) {
                        Ok(w) => Some(w),
                        Err(ProcessError::Library(e)) => {
                            result = Err(e);
                            break;
                        }
                        Err(ProcessError::Plugin(error)) => {
                            bar.suspend(|| eprintln!("facelab: {error}"));
                            summary
                                .failed
                                .push((item.path.display().to_string(), error.clone()));
                            let mut w = Write::new(item, id, None);
                            w.status = "failed";
                            w.error = Some(error);
                            Some(w)
                        }
                    }
                }
            };
            batch.extend(write);
            if batch.len() >= opts.batch_size || last_commit.elapsed().as_secs_f64() > 5.0 {
                if let Err(e) = flush(lib, &mut batch, &mut summary) {
                    result = Err(e);
                    break;
                }
                last_commit = Instant::now();
            }
        }
        // Stop the readers if we left early: the receiver is dropped here.
    });
    result?;
    flush(lib, &mut batch, &mut summary)?;
    mark_missing(lib, &plan, &moved_from, &mut summary)?;
    summary.seconds = start.elapsed().as_secs_f64();
    summary.photos_per_second = if summary.seconds > 0.0 {
        processed as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

/// Ends a scan that had nothing to decode: only vanished photos are marked missing.
pub fn finish_without_work(lib: &mut Library, plan: Plan) -> Result<Summary> {
    let start = Instant::now();
    let mut summary = Summary {
        files: plan.unchanged,
        unchanged: plan.unchanged,
        ..Summary::default()
    };
    mark_missing(lib, &plan, &HashSet::new(), &mut summary)?;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

fn mark_missing(
    lib: &mut Library,
    plan: &Plan,
    moved_from: &HashSet<i64>,
    summary: &mut Summary,
) -> Result<()> {
    // Photos that vanished and were not found elsewhere stay, with their faces and names,
    // marked missing; a later scan that finds them (or their content) brings them back.
    let gone: Vec<i64> = plan
        .vanished
        .iter()
        .map(|(id, _, _)| *id)
        .filter(|id| !moved_from.contains(id))
        .collect();
    summary.missing = gone.len();
    lib.write(|tx| {
        let mut stmt = tx.prepare("UPDATE images SET status = 'missing' WHERE id = ?1")?;
        for id in &gone {
            stmt.execute([id])?;
        }
        Ok(())
    })
}

enum ProcessError {
    Library(LibraryError),
    Plugin(String),
}

#[allow(clippy::too_many_arguments)]
fn process(
    lib: &Library,
    item: &Item,
    id: Option<i64>,
    work: Work,
    hash: String,
    photo: &Photo,
    pipe: &mut Pipeline<'_>,
    summary: &mut Summary,
) -> std::result::Result<Write, ProcessError> {
    let mut w = Write::new(item, id, Some(hash));
    w.dims = Some((photo.width, photo.height, photo.exif_orientation));
    let stored = match id {
        Some(id) => stored_faces(lib, id, pipe.model.as_deref()).map_err(ProcessError::Library)?,
        None => Vec::new(),
    };
    // A photo found at a new path keeps its faces unless its detector changed.
    let detect = match work {
        Work::Embed => {
            let current = lib
                .conn
                .query_row(
                    "SELECT detector FROM images WHERE id = ?1",
                    [id.unwrap_or(-1)],
                    |r| r.get::<_, Option<String>>(0),
                )
                .map_err(|e| ProcessError::Library(lib.err(e)))?;
            current.as_deref() != Some(pipe.detector_key.as_str())
        }
        _ => true,
    };
    // (face, reference) pairs that need an embedding of the active model.
    let mut to_embed: Vec<(Face, FaceRef)> = Vec::new();
    if detect {
        let (faces, _) = pipe.detector.detect(photo).map_err(|e| {
            ProcessError::Plugin(format!(
                "{}: detector `{}` failed: {e}",
                item.path.display(),
                pipe.detector.kind
            ))
        })?;
        w.detector = Some(pipe.detector_key.clone());
        let old: Vec<BBox> = stored.iter().map(|s| s.face.bbox).collect();
        let new: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let matched = match_by_iou(&old, &new, MATCH_IOU);
        let mut used = vec![false; stored.len()];
        for (face, m) in faces.iter().zip(&matched) {
            match m {
                Some(i) => {
                    used[*i] = true;
                    w.update.push((stored[*i].id, *face));
                    to_embed.push((*face, FaceRef::Old(stored[*i].id)));
                }
                None => {
                    to_embed.push((*face, FaceRef::New(w.insert.len())));
                    w.insert.push(*face);
                }
            }
        }
        for (s, used) in stored.iter().zip(used) {
            if used {
                continue;
            }
            if s.keep {
                // A confirmed face the new detector missed stays, with its old box.
                if !s.has_embedding {
                    to_embed.push((s.face, FaceRef::Old(s.id)));
                }
            } else {
                w.delete.push(s.id);
            }
        }
        summary.faces += faces.len();
        match work {
            Work::New => summary.new += 1,
            Work::Redetect | Work::Embed => summary.redetected += 1,
            Work::Changed | Work::Retry => summary.changed += 1,
        }
    } else {
        for s in stored.iter().filter(|s| !s.has_embedding) {
            to_embed.push((s.face, FaceRef::Old(s.id)));
        }
        if matches!(work, Work::Embed) && !to_embed.is_empty() {
            summary.embedded += 1;
        }
    }
    if let (Some(rec), Some(_)) = (pipe.recognizer.as_deref_mut(), &pipe.model) {
        if !to_embed.is_empty() {
            let faces: Vec<Face> = to_embed.iter().map(|(f, _)| *f).collect();
            let embeddings = rec.embed(photo, &faces).map_err(|e| {
                ProcessError::Plugin(format!(
                    "{}: recognizer `{}` failed: {e}",
                    item.path.display(),
                    rec.kind
                ))
            })?;
            w.model = pipe.model.clone();
            for ((_, r), e) in to_embed.iter().zip(embeddings) {
                w.embeddings.push((*r, e.values.to_vec(), e.normalized));
            }
        }
    }
    Ok(w)
}

fn flush(lib: &mut Library, batch: &mut Vec<Write>, summary: &mut Summary) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let writes = std::mem::take(batch);
    let embedded = lib.write(|tx| {
        let mut n = 0usize;
        for w in &writes {
            n += apply(tx, w)?;
        }
        Ok(n)
    })?;
    summary.embeddings += embedded;
    Ok(())
}

fn apply(tx: &rusqlite::Transaction<'_>, w: &Write) -> rusqlite::Result<usize> {
    let t = now();
    let (width, height, orientation) = match w.dims {
        Some((a, b, c)) => (Some(a), Some(b), Some(c)),
        None => (None, None, None),
    };
    let id = match w.id {
        Some(id) => {
            tx.execute(
                "UPDATE images SET path = ?2, size = ?3, mtime_ns = ?4, hash = COALESCE(?5, hash),
                   width = COALESCE(?6, width), height = COALESCE(?7, height),
                   orientation = COALESCE(?8, orientation), status = ?9, error = ?10,
                   detector = COALESCE(?11, detector), scanned_at = ?12
                 WHERE id = ?1",
                params![
                    id,
                    w.path,
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
            tx.execute(
                "INSERT INTO images(path, size, mtime_ns, hash, width, height, orientation, status, error, detector, scanned_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                   hash = excluded.hash, width = excluded.width, height = excluded.height,
                   orientation = excluded.orientation, status = excluded.status, error = excluded.error,
                   detector = excluded.detector, scanned_at = excluded.scanned_at",
                params![
                    w.path, w.size as i64, w.mtime_ns, w.hash, width, height, orientation, w.status,
                    w.error, w.detector, t
                ],
            )?;
            tx.query_row("SELECT id FROM images WHERE path = ?1", [&w.path], |r| {
                r.get(0)
            })?
        }
    };
    for face in &w.delete {
        tx.execute("DELETE FROM faces WHERE id = ?1", [face])?;
    }
    for (face_id, f) in &w.update {
        tx.execute(
            "UPDATE faces SET x = ?2, y = ?3, w = ?4, h = ?5, landmarks = ?6, score = ?7, detector = ?8 WHERE id = ?1",
            params![
                face_id, f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height, landmarks_blob(f),
                f.score, w.detector
            ],
        )?;
        // The box moved: every model's embedding of it is stale.
        tx.execute("DELETE FROM embeddings WHERE face_id = ?1", [face_id])?;
    }
    let mut new_ids = Vec::with_capacity(w.insert.len());
    for f in &w.insert {
        tx.execute(
            "INSERT INTO faces(image_id, x, y, w, h, landmarks, score, detector, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                f.bbox.x,
                f.bbox.y,
                f.bbox.width,
                f.bbox.height,
                landmarks_blob(f),
                f.score,
                w.detector,
                t
            ],
        )?;
        new_ids.push(tx.last_insert_rowid());
    }
    if let Some(model) = &w.model {
        for (r, values, normalized) in &w.embeddings {
            let face = match r {
                FaceRef::Old(id) => *id,
                FaceRef::New(i) => new_ids[*i],
            };
            tx.execute(
                "INSERT INTO embeddings(face_id, model_id, dim, normalized, vector) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(face_id, model_id) DO UPDATE SET dim = excluded.dim,
                   normalized = excluded.normalized, vector = excluded.vector",
                params![face, model, values.len() as i64, normalized, to_blob(values)],
            )?;
        }
    }
    Ok(w.embeddings.len())
}
