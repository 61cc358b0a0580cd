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

pub(crate) mod job;
mod plan;
mod process;
mod read;
mod run;
mod worker;
mod write;

pub(crate) use plan::mtime_ns;
pub use plan::plan;
pub use run::{execute, finish_without_work};

use std::path::{Path, PathBuf};

use facelab_plugin_api::BBox;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use self::process::Tally;
use self::write::Write;
use super::identity::ModelKeys;
use super::{paths, LibraryError, Result};
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
    /// Unchanged, but some faces lack an embedding of a model of the active recognizer
    /// (only those models' embeddings are added).
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
    /// Where this machine reads the file when that is not `path` (a queue worker that
    /// mounts the photos' root elsewhere, [`crate::queue`]).
    pub source: Option<PathBuf>,
    /// The queue job this item is (its id and how many times it was taken), completed in
    /// the transaction that writes the photo.
    pub job: Option<(i64, i64)>,
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
    /// Given embeddings of the active recognizer only (of the models their faces lacked;
    /// nothing detected again).
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
    /// The recognizer's models, each embedding stored under its model's key.
    pub models: Option<ModelKeys>,
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
