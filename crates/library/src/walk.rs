//! A whole `facelab scan` over folders: plan, load the models only when something needs
//! work, run, and the summary the user reads. The command layer passes in how to open the
//! pipeline and draw progress, so this module does not depend on it.

use std::path::{Path, PathBuf};

use super::identity::ModelKeys;
use super::scan::{self, Filter, Pipeline, ScanOptions, Summary, Worker};
use super::{paths, Library, LibraryError};
use facelab_engine::config::Config;
use facelab_engine::pipeline::{FaceDetector, FaceRecognizer};

/// The scan options the config gives.
pub fn scan_options(config: &Config, redetect: bool, retry_failed: bool) -> ScanOptions {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    ScanOptions {
        include: config.library.include.clone(),
        exclude: config.library.exclude.clone(),
        batch_size: config.library.batch_size,
        max_pixels: config.images.max_pixels,
        redetect,
        retry_failed,
        threads: cores,
        embed_min_height: config.library.embed_min_height,
        workers: match config.library.workers {
            0 => cores,
            n => n,
        },
    }
}

/// What to scan and with which pipeline keys.
pub struct ScanRequest<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// Folders to scan.
    pub dirs: &'a [PathBuf],
    /// Re-detect every photo.
    pub redetect: bool,
    /// Retry photos that failed before.
    pub retry_failed: bool,
    /// The active detector's key.
    pub detector_key: String,
    /// The active recognizer's models, if any.
    pub models: Option<ModelKeys>,
}

/// Scans `req.dirs` into `lib`. Unreadable folders are printed and counted in the summary
/// (a failure each); only when none of the folders named exists is it an error. `open`
/// loads the models for the number of workers it is given (called only when a photo
/// needs work: one worker per core, at most one per photo); `progress` makes the bar.
pub fn scan_folders<E: From<LibraryError>>(
    lib: &mut Library,
    req: &ScanRequest<'_>,
    open: impl FnOnce(usize) -> Result<Vec<(FaceDetector, Option<FaceRecognizer>)>, E>,
    progress: impl FnOnce(usize) -> indicatif::ProgressBar,
) -> Result<Summary, E> {
    let opts = scan_options(req.config, req.redetect, req.retry_failed);
    let plan = scan::plan(lib, req.dirs, &opts, &req.detector_key, req.models.as_ref())?;
    for e in &plan.walk_errors {
        eprintln!("facelab: {}", e.error);
    }
    if plan.roots_read == 0 {
        return Err(LibraryError::NotFound(
            "nothing to scan: none of the folders named could be read (help: check the paths)"
                .into(),
        )
        .into());
    }
    if plan.items.is_empty() {
        // Nothing to decode: no model is loaded, so an unchanged rescan stays fast.
        return Ok(scan::finish_without_work(lib, plan)?);
    }
    let workers: Vec<Worker> = open(opts.workers.clamp(1, plan.items.len()))?
        .into_iter()
        .map(|(detector, recognizer)| Worker {
            detector,
            recognizer,
        })
        .collect();
    let has_recognizer = workers.first().is_some_and(|w| w.recognizer.is_some());
    if !has_recognizer {
        eprintln!(
            "facelab: no [recognizer] in {}: faces are stored without embeddings, so `suggest` and `cluster` have nothing to compare (help: add a [recognizer]; config/examples/ has some)",
            req.config.source.display()
        );
    }
    let mut pipe = Pipeline {
        workers,
        detector_key: req.detector_key.clone(),
        models: req.models.clone().filter(|_| has_recognizer),
    };
    let bar = progress(plan.items.len());
    let summary = scan::execute(lib, plan, &mut pipe, &opts, &bar);
    bar.finish_and_clear();
    Ok(summary?)
}

/// The summary of a scan as the user reads it: two lines of text, or one JSON document
/// with the scan and the library's counts.
pub fn summary_text(lib: &Library, s: &Summary, json: bool) -> Result<String, LibraryError> {
    let counts = lib.counts()?;
    if json {
        let doc = serde_json::json!({"scan": s, "library": counts});
        return Ok(serde_json::to_string_pretty(&doc).expect("plain values serialise") + "\n");
    }
    let mut text = format!(
        "scanned {} files in {:.1} s ({:.1} photos/s): {} new, {} changed, {} moved, {} re-detected, {} embedded for the active recognizer, {} unchanged, {} failed, {} missing",
        s.files,
        s.seconds,
        s.photos_per_second,
        s.new,
        s.changed + s.touched,
        s.moved,
        s.redetected,
        s.embedded,
        s.unchanged,
        s.failed.len(),
        s.missing + s.vanished_during_scan,
    );
    if s.small > 0 {
        text += &format!(
            "; {} faces below library.embed_min_height stored without an embedding",
            s.small
        );
    }
    if s.assessed > 0 {
        text += &format!(
            ", {} given the face quality an older facelab did not measure",
            s.assessed
        );
    }
    if s.concurrent > 0 {
        text += &format!(
            ", {} stored meanwhile by another facelab running at the same time",
            s.concurrent
        );
    }
    if !s.unreadable.is_empty() {
        let names: Vec<&str> = s.unreadable.iter().map(|e| e.path.as_str()).collect();
        text += &format!(
            "; {} could not be read: {}",
            if names.len() == 1 {
                "1 folder".to_owned()
            } else {
                format!("{} folders", names.len())
            },
            names.join(", ")
        );
    }
    text += &format!(
        "\nlibrary {}: {} photos, {} faces, {} embeddings, {} people, {} named faces ({} failed, {} missing photos)\n",
        lib.path().display(),
        counts.images,
        counts.faces,
        counts.embeddings,
        counts.people,
        counts.confirmed,
        counts.failed,
        counts.missing
    );
    Ok(text)
}

/// A person's folder of a folder-per-person layout (`ROOT/<person>/<photo>`).
pub struct PersonFolder {
    /// The folder's name: the person.
    pub name: String,
    /// The files in it (recursively) that a scan takes, sorted.
    pub photos: Vec<PathBuf>,
}

/// The person folders under `root` (hidden ones left out), each with the files a scan of
/// `root` takes (by `library.include`/`exclude`, as the scan matches them).
pub fn person_folders(root: &Path, opts: &ScanOptions) -> Result<Vec<PersonFolder>, LibraryError> {
    let filter = Filter::new(opts)?;
    let entries = std::fs::read_dir(root).map_err(|e| {
        LibraryError::NotFound(format!(
            "{}: cannot list: {e} (help: give a folder with one sub-folder per person)",
            paths::display_path(root)
        ))
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let photos = walkdir::WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .filter(|p| filter.takes(p.strip_prefix(root).unwrap_or(p)))
            .collect();
        out.push(PersonFolder { name, photos });
    }
    Ok(out)
}
