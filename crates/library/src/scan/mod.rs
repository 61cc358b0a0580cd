//! `facelab scan`: walk folders, skip what is unchanged, decode in parallel, detect and
//! embed with the configured pipeline, and write each batch of photos in one transaction.
//!
//! A photo is written together with its faces and embeddings, so a scan killed at any point
//! leaves whole photos or nothing, and the next scan does the rest. Unchanged means same
//! size and mtime, or else the same content hash. A new path whose content hash matches a
//! photo that vanished is a move: the row (and so every face and name) follows the file.
//!
//! [`plan`] walks and compares; [`read`] hashes and decodes on the reader threads, at the
//! smallest DCT scale the detector allows ([`facelab_engine::jpeg`]); [`process`] detects, measures
//! each face's quality ([`facelab_engine::quality`]) and embeds, on worker threads ([`worker`]: one
//! per core, each with its own models, taking whole photos);
//! [`write`] stores each batch (re-checking every photo against the plan, so scans running
//! at once never store a photo twice). [`execute`] runs the stages at once.

mod plan;
mod process;
mod read;
mod worker;
mod write;

pub(crate) use plan::mtime_ns;
pub use plan::plan;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use facelab_plugin_api::BBox;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use self::process::Tally;
use self::read::{read, Read, ReadTime};
use self::worker::Shared;
use self::write::{flush, mark_missing, Write};
use super::{paths, Library, LibraryError, Result};
use facelab_engine::pipeline::{FaceDetector, FaceRecognizer};

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
    /// Detected faces shorter than this (full-size pixels) get no embedding; faces the user
    /// made always do (`library.embed_min_height`).
    pub embed_min_height: f32,
    /// Workers (each with its own models), at least 1.
    pub workers: usize,
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
    /// Faces found that are shorter than `library.embed_min_height`: stored, measured, not
    /// embedded.
    pub small: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Photos processed (decoded) per second.
    pub photos_per_second: f64,
    /// Photos decoded (the others were unchanged, gone or unreadable).
    pub decoded: usize,
    /// Of those, decoded at a reduced DCT scale because the detector needs less.
    pub reduced: usize,
    /// Of those, decoded again at a larger scale because a face was too small for the
    /// embedder's input.
    pub redecoded: usize,
    /// Workers that detected and embedded (each with its own models).
    pub workers: usize,
    /// Where the time went.
    pub stage_seconds: StageSeconds,
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

    fn add(&mut self, t: &Tally) {
        self.new += t.new;
        self.changed += t.changed;
        self.redetected += t.redetected;
        self.embedded += t.embedded;
        self.assessed += t.assessed;
        self.moved += t.moved;
        self.faces += t.faces;
        self.small += t.small;
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

/// One scan worker's models: it detects, measures and embeds whole photos.
pub struct Worker {
    /// The detector.
    pub detector: FaceDetector,
    /// The recognizer, if configured.
    pub recognizer: Option<FaceRecognizer>,
}

/// The pipeline a scan runs: one worker per core, each with its own instances of the
/// models (plugins hold per-instance state, and a model instance runs one call at a time).
pub struct Pipeline {
    /// At least one.
    pub workers: Vec<Worker>,
    /// The detector's key, stored with each face.
    pub detector_key: String,
    /// The recognizer's model id, stored with each embedding.
    pub model: Option<String>,
}

/// Busy seconds of each stage of a scan, summed over its threads (so with several reader
/// threads `read` + `decode` can exceed the wall time).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct StageSeconds {
    /// Reading files and hashing them (reader threads).
    pub read: f64,
    /// Decoding (reader threads).
    pub decode: f64,
    /// The detector, second look included (workers).
    pub detect: f64,
    /// Matching with stored faces and measuring quality (workers).
    pub quality: f64,
    /// Decoding again at a larger scale for faces too small for the embedder (workers).
    pub redecode: f64,
    /// The recognizer (workers).
    pub embed: f64,
    /// Library transactions (main thread).
    pub write: f64,
}

/// A photo's result from the stage threads, in walk order.
struct Done {
    index: usize,
    write: Option<Write>,
    tally: Tally,
    /// The file failed: the message to print and store.
    failed: Option<String>,
    vanished: bool,
    touched: bool,
    decoded: bool,
    reduced: bool,
    redecoded: bool,
    time: StageSeconds,
}

impl Done {
    fn new(index: usize) -> Done {
        Done {
            index,
            write: None,
            tally: Tally::default(),
            failed: None,
            vanished: false,
            touched: false,
            decoded: false,
            reduced: false,
            redecoded: false,
            time: StageSeconds::default(),
        }
    }
}

/// Runs a plan on three kinds of threads at once, so decoding, detection, embedding and
/// writing overlap: reader threads (read, hash, decode at the scale the detector needs),
/// one worker thread per [`Worker`] (detector, matching, quality, then the recognizer on the
/// photo's faces in one batch) and this one (progress, transactions). Whole photos go to
/// whichever worker is free, so detection-heavy and face-heavy photos balance across the
/// cores. Every channel holds at most two photos, so at most `threads + workers + 4`
/// decoded photos are in memory. `bar` shows progress; errors are printed above it and
/// recorded in the library.
pub fn execute(
    lib: &mut Library,
    plan: Plan,
    pipe: &mut Pipeline,
    opts: &ScanOptions,
    bar: &indicatif::ProgressBar,
) -> Result<Summary> {
    if pipe.workers.is_empty() {
        // The readers would wait for a worker forever.
        return Err(LibraryError::Conflict(
            "a scan needs at least one worker with a detector".into(),
        ));
    }
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
    let priors = process::preload(lib, &plan, pipe.model.as_deref())?;
    summary.workers = pipe.workers.len();
    let moved_from: Mutex<HashSet<i64>> = Mutex::new(HashSet::new());
    let items = &plan.items;
    let threads = opts.threads.max(1);
    let next = AtomicUsize::new(0);
    // Every worker runs the same detector.
    let long_side = pipe.workers[0].detector.decode_side();
    let mut batch: Vec<Write> = Vec::new();
    let mut last_commit = Instant::now();
    let mut result = Ok(());
    let Pipeline {
        workers,
        detector_key,
        model,
    } = pipe;
    let shared = Shared {
        items,
        movable: &movable,
        moved_from: &moved_from,
        priors: &priors,
        detector_key: detector_key.as_str(),
        model: model.as_deref(),
        opts,
    };
    let (read_tx, read_rx) = std::sync::mpsc::sync_channel::<(usize, Read, ReadTime)>(2);
    // Workers take photos in the order the readers finish (as the serial scan did): a
    // reorder buffer would hold every photo a fast reader decodes while a slow one works on
    // a large photo, and memory would no longer be bounded.
    let read_rx = Mutex::new(read_rx);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = read_tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let (r, t) = read(&items[i], opts.max_pixels, long_side);
                if tx.send((i, r, t)).is_err() {
                    break;
                }
            });
        }
        drop(read_tx);
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Done>(2);
        for worker in workers.iter_mut() {
            let (tx, read_rx, shared, next) = (done_tx.clone(), &read_rx, &shared, &next);
            scope.spawn(move || loop {
                // The lock is held only while waiting for the next photo.
                let photo = read_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((i, r, t))) = photo else { break };
                // A bug in facelab's own code on one photo fails that photo, not the scan
                // (plugins' panics are caught at the plugin boundary already).
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    shared.process(worker, i, r, t)
                }))
                .unwrap_or_else(|p| shared.panicked(i, p.as_ref()));
                if tx.send(done).is_err() {
                    // The writer stopped (a failed transaction): no reader takes another
                    // file, and the ones waiting to hand one over are let go.
                    next.store(items.len(), Ordering::Relaxed);
                    if let Ok(rx) = read_rx.lock() {
                        while rx.recv().is_ok() {}
                    }
                    break;
                }
            });
        }
        drop(done_tx);
        for done in done_rx {
            let item = &items[done.index];
            bar.inc(1);
            let t = done.time;
            for (sum, part) in [
                (&mut summary.stage_seconds.read, t.read),
                (&mut summary.stage_seconds.decode, t.decode),
                (&mut summary.stage_seconds.detect, t.detect),
                (&mut summary.stage_seconds.quality, t.quality),
                (&mut summary.stage_seconds.redecode, t.redecode),
                (&mut summary.stage_seconds.embed, t.embed),
            ] {
                *sum += part;
            }
            if done.vanished {
                summary.vanished_during_scan += 1;
                bar.suspend(|| {
                    eprintln!(
                        "facelab: {}: vanished during the scan (kept as missing if it was in the library)",
                        paths::display_path(&item.path)
                    )
                });
            }
            if let Some(error) = &done.failed {
                bar.suspend(|| eprintln!("facelab: {error}"));
                summary
                    .failed
                    .push((paths::display_path(&item.path), error.clone()));
            }
            summary.touched += usize::from(done.touched);
            summary.decoded += usize::from(done.decoded);
            summary.reduced += usize::from(done.reduced);
            summary.redecoded += usize::from(done.redecoded);
            summary.add(&done.tally);
            batch.extend(done.write);
            if batch.len() >= opts.batch_size || last_commit.elapsed().as_secs_f64() > 5.0 {
                let start = Instant::now();
                let flushed = flush(lib, &mut batch, &mut summary);
                summary.stage_seconds.write += start.elapsed().as_secs_f64();
                if let Err(e) = flushed {
                    result = Err(e);
                    break;
                }
                last_commit = Instant::now();
            }
        }
        // Leaving early drops the receiver, and each stage stops at its next send.
    });
    result?;
    let write_start = Instant::now();
    flush(lib, &mut batch, &mut summary)?;
    summary.stage_seconds.write += write_start.elapsed().as_secs_f64();
    let moved_from = moved_from.into_inner().unwrap_or_else(|e| e.into_inner());
    mark_missing(lib, &plan, &moved_from, &mut summary)?;
    summary.seconds = start.elapsed().as_secs_f64();
    summary.photos_per_second = if summary.seconds > 0.0 {
        summary.decoded as f64 / summary.seconds
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
