//! `facelab scan`: walk folders, skip what is unchanged, decode in parallel, detect and
//! embed with the configured pipeline, and write each batch of photos in one transaction.
//!
//! A photo is written together with its faces and embeddings, so a scan killed at any point
//! leaves whole photos or nothing, and the next scan does the rest. Unchanged means same
//! size and mtime, or else the same content hash. A new path whose content hash matches a
//! photo that vanished is a move: the row (and so every face and name) follows the file.
//!
//! [`plan`] walks and compares, [`read`] hashes and decodes on the reader threads, this
//! module detects, measures each face's quality ([`crate::quality`]) and embeds, and
//! [`write`] stores each batch (re-checking every photo against the plan, so scans running
//! at once never store a photo twice).

mod plan;
mod read;
mod write;

pub use plan::plan;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use facelab_plugin_api::{BBox, Face};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use self::read::{read, Read};
use self::write::{flush, mark_missing, stored_faces, FaceRef, Write};
use super::{paths, Library, LibraryError, Result};
use crate::photo::Photo;
use crate::pipeline::{FaceDetector, FaceRecognizer};
use crate::quality;

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
    /// Unchanged, but some faces were stored before facelab measured quality: the photo is
    /// decoded again to measure them (no detection, no embedding).
    Quality,
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
    /// The library row's revision when planned, for known files: the photo is written only
    /// if it is still the same.
    pub revision: Option<i64>,
}

/// A stored photo that was not found where it was.
#[derive(Debug, Clone)]
pub struct Gone {
    /// Library row.
    pub id: i64,
    /// Its stored path (bytes).
    pub path: Vec<u8>,
    /// Its content hash: a new file with the same content is this photo moved.
    pub hash: Option<String>,
    /// The row's revision when planned.
    pub revision: i64,
}

/// A folder or file the walk could not read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WalkError {
    /// The folder or file (display form).
    pub path: String,
    /// The message, naming it and the fix.
    pub error: String,
}

/// What a scan will do, computed before any photo is decoded.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files to process.
    pub items: Vec<Item>,
    /// Files skipped as unchanged.
    pub unchanged: usize,
    /// Known photos under the scanned folders that were not found.
    pub vanished: Vec<Gone>,
    /// Photos marked missing by an earlier scan; a new file with the same content is taken
    /// as that photo moved.
    pub missing: Vec<Gone>,
    /// Folders or entries that could not be read.
    pub walk_errors: Vec<WalkError>,
    /// How many of the folders named exist and were walked.
    pub roots_read: usize,
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
    /// Photos whose stored faces were given the quality an older facelab did not measure.
    pub assessed: usize,
    /// Skipped as unchanged.
    pub unchanged: usize,
    /// Failed, with the reason (also stored in the library).
    pub failed: Vec<(String, String)>,
    /// Folders (or entries) that could not be read: each counts as a failure; the photos
    /// stored under them are kept as they are.
    pub unreadable: Vec<WalkError>,
    /// Photos another process (a scan running at the same time) stored while this one
    /// worked on them: its result was kept and this one dropped.
    pub concurrent: usize,
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

impl Summary {
    fn of(plan: &Plan) -> Summary {
        Summary {
            files: plan.items.len() + plan.unchanged,
            unchanged: plan.unchanged,
            unreadable: plan.walk_errors.clone(),
            ..Summary::default()
        }
    }

    /// Failures of any kind: files and unreadable folders.
    pub fn failures(&self) -> usize {
        self.failed.len() + self.unreadable.len()
    }
}

/// Which files a scan takes: `library.include` and not `library.exclude`, matched against
/// the path below the scanned folder, ignoring case.
pub struct Filter {
    include: GlobSet,
    exclude: GlobSet,
}

impl Filter {
    /// The filter of `opts`; a bad glob is an error naming it.
    pub fn new(opts: &ScanOptions) -> Result<Filter> {
        let set = |globs: &[String]| {
            globset(globs).map_err(|e| {
                LibraryError::Conflict(format!(
                    "library.include/exclude: {e} (help: fix the glob in the config)"
                ))
            })
        };
        Ok(Filter {
            include: set(&opts.include)?,
            exclude: set(&opts.exclude)?,
        })
    }

    /// Whether a scan takes the file at `rel` (below the scanned folder).
    pub fn takes(&self, rel: &Path) -> bool {
        self.include.is_match(rel) && !self.exclude.is_match(rel)
    }
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
    let mut summary = Summary::of(&plan);
    // Content hash → a vanished or missing photo (id, revision) that a new path may be a
    // move of.
    let mut movable: HashMap<String, (i64, i64)> = HashMap::new();
    for g in plan.missing.iter().chain(&plan.vanished) {
        if let Some(h) = &g.hash {
            movable.entry(h.clone()).or_insert((g.id, g.revision));
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
                            paths::display_path(&item.path)
                        )
                    });
                    item.id.map(|id| {
                        let mut w = Write::new(item, Some(id), item.revision, item.hash.clone());
                        w.status = "missing";
                        w
                    })
                }
                Read::Failed { hash, error } => {
                    bar.suspend(|| eprintln!("facelab: {error}"));
                    summary
                        .failed
                        .push((paths::display_path(&item.path), error.clone()));
                    let mut w = Write::new(item, item.id, item.revision, hash);
                    w.status = "failed";
                    w.error = Some(error);
                    Some(w)
                }
                Read::Same { hash } => {
                    summary.touched += 1;
                    Some(Write::new(item, item.id, item.revision, Some(hash)))
                }
                Read::Photo { hash, photo } => {
                    processed += 1;
                    let (mut id, mut revision) = (item.id, item.revision);
                    let mut work = item.work.clone();
                    if id.is_none() {
                        if let Some((old, old_revision)) =
                            movable.get(&hash).filter(|(o, _)| !moved_from.contains(o))
                        {
                            moved_from.insert(*old);
                            (id, revision) = (Some(*old), Some(*old_revision));
                            summary.moved += 1;
                            work = Work::Embed;
                        }
                    }
                    let target = (id, revision);
                    match process(lib, item, target, work, hash, &photo, pipe, &mut summary) {
                        Ok(w) => Some(w),
                        Err(ProcessError::Library(e)) => {
                            result = Err(e);
                            break;
                        }
                        Err(ProcessError::Plugin(error)) => {
                            bar.suspend(|| eprintln!("facelab: {error}"));
                            summary
                                .failed
                                .push((paths::display_path(&item.path), error.clone()));
                            let mut w = Write::new(item, id, revision, None);
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
    let mut summary = Summary::of(&plan);
    mark_missing(lib, &plan, &HashSet::new(), &mut summary)?;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

enum ProcessError {
    Library(LibraryError),
    Plugin(String),
}

#[allow(clippy::too_many_arguments)]
fn process(
    lib: &Library,
    item: &Item,
    (id, revision): (Option<i64>, Option<i64>),
    work: Work,
    hash: String,
    photo: &Photo,
    pipe: &mut Pipeline<'_>,
    summary: &mut Summary,
) -> std::result::Result<Write, ProcessError> {
    let mut w = Write::new(item, id, revision, Some(hash));
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
        Work::Quality => false,
        _ => true,
    };
    // (face, reference) pairs that need an embedding of the active model.
    let mut to_embed: Vec<(Face, FaceRef)> = Vec::new();
    if detect {
        let (faces, _) = pipe.detector.detect(photo).map_err(|e| {
            ProcessError::Plugin(format!(
                "{}: detector `{}` failed: {e}",
                paths::display_path(&item.path),
                pipe.detector.kind
            ))
        })?;
        w.detector = Some(pipe.detector_key.clone());
        let old: Vec<BBox> = stored.iter().map(|s| s.face.bbox).collect();
        let new: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let matched = match_by_iou(&old, &new, MATCH_IOU);
        let mut used = vec![false; stored.len()];
        for (face, m) in faces.iter().zip(&matched) {
            let q = quality::assess(photo, face);
            match m {
                Some(i) => {
                    used[*i] = true;
                    w.update.push((stored[*i].id, *face, q));
                    to_embed.push((*face, FaceRef::Old(stored[*i].id)));
                }
                None => {
                    to_embed.push((*face, FaceRef::New(w.insert.len())));
                    w.insert.push((*face, q));
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
                // Measured again on this photo: its content may have changed.
                w.assessed.push((s.id, quality::assess(photo, &s.face)));
            } else {
                w.delete.push(s.id);
            }
        }
        summary.faces += faces.len();
        match work {
            Work::New => summary.new += 1,
            Work::Redetect | Work::Embed | Work::Quality => summary.redetected += 1,
            Work::Changed | Work::Retry => summary.changed += 1,
        }
    } else {
        for s in stored.iter().filter(|s| !s.has_embedding) {
            to_embed.push((s.face, FaceRef::Old(s.id)));
        }
        if matches!(work, Work::Embed) && !to_embed.is_empty() {
            summary.embedded += 1;
        }
        for s in stored.iter().filter(|s| !s.has_quality) {
            w.assessed.push((s.id, quality::assess(photo, &s.face)));
        }
        if !w.assessed.is_empty() {
            summary.assessed += 1;
        }
    }
    if let (Some(rec), Some(_)) = (pipe.recognizer.as_deref_mut(), &pipe.model) {
        if !to_embed.is_empty() {
            let faces: Vec<Face> = to_embed.iter().map(|(f, _)| *f).collect();
            let embeddings = rec.embed(photo, &faces).map_err(|e| {
                ProcessError::Plugin(format!(
                    "{}: recognizer `{}` failed: {e}",
                    paths::display_path(&item.path),
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
