//! The scan task: `facelab scan` beside the pinned Python reference script
//! (`benches/python/scan_reference.py`: OpenCV's YuNet and MobileFaceNet through `cv2`) on the
//! same photos, each run in turn, so both see the same machine.
//!
//! Both are child processes measured the same way from outside: wall time from spawn to
//! exit, and user + system CPU time and peak RSS from `wait4(2)`. A run is one `facelab scan`
//! of the set into a new, empty library, then each script variant (`--max-side`); a ratio is
//! taken within one run, then the median over runs. Faces found come from the library file
//! and the script's per-photo boxes; on a set with WIDER FACE ground truth they are matched
//! as the operating point does ([`crate::operating`]).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

mod prepare;
pub mod process;
mod set_run;
pub mod summary;

pub use prepare::{prepare, Prepared};

use super::report::{ScanResult, ScanSetResult};
use super::suite::scan::{ScanSet, ScanTask};
use facelab_engine::config::Config;
use prepare::SetData;
use process::TempDir;
use set_run::{measure_set, Programs, SetRun};

/// The reference script, its set generator and its venv setup, in the scripts folder.
const SCRIPT: &str = "scan_reference.py";
const GENERATOR: &str = "make_camera_set.py";
const SETUP: &str = "setup_venv.sh";
/// A WIDER FACE set's ground truth, in its folder.
const GROUND_TRUTH: &str = "wider_face_val_bbx_gt.txt";
/// The manifest models the script runs.
const SCRIPT_DETECTOR: &str = "yunet-2023mar";
const SCRIPT_EMBEDDER: &str = "mobilefacenet-128";
/// The files a scan takes (the library's default `include`).
const EXTENSIONS: [&str; 11] = [
    "jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif", "pgm", "ppm", "pnm",
];

/// Runs the task on one pipeline into `results`, with a notice for each set that failed
/// or was skipped; returns the number that failed.
pub fn run_pipeline(
    ctx: &facelab_library::session::RunContext,
    config: &Config,
    pipeline: &str,
    task: &ScanTask,
    prepared: &Prepared,
    results: &mut crate::bench::report::Task<ScanResult>,
    notices: &mut Vec<String>,
) -> usize {
    let mut failures = 0;
    match run(ctx, config, pipeline, task, prepared) {
        Ok(r) => {
            for set in &r.sets {
                let name = format!("pipeline {pipeline}, scan set {}", set.set);
                if let Some(e) = &set.error {
                    eprintln!("facelab: {name}: {e}");
                    notices.push(format!("{name}: {e}"));
                    failures += 1;
                }
                if let Some(reason) = &set.skipped {
                    notices.push(format!("skipped: {name}: {reason}"));
                }
            }
            results.results.push(r);
        }
        Err(e) => {
            eprintln!("facelab: pipeline {pipeline}, task scan: {e:#}");
            notices.push(format!("pipeline {pipeline}, task scan: {e:#}"));
            failures += 1;
        }
    }
    failures
}

/// Runs the task on one pipeline (its config) for every set.
pub fn run(
    ctx: &facelab_library::session::RunContext,
    config: &Config,
    pipeline: &str,
    task: &ScanTask,
    prepared: &Prepared,
) -> anyhow::Result<ScanResult> {
    let tmp = TempDir::new().context("cannot make a temporary folder")?;
    let programs = Programs::set_up(ctx, config, task, prepared, &tmp.0)?;
    let mut result = ScanResult {
        pipeline: pipeline.to_owned(),
        runs: task.runs,
        script: None,
        threads: task.threads,
        score: task.score,
        sets: Vec::new(),
    };
    for (i, (set, data)) in prepared.sets.iter().enumerate() {
        let mut entry = ScanSetResult {
            set: set.name.clone(),
            folder: String::new(),
            generated: set.generate.is_some(),
            photos: 0,
            taggable: None,
            sides: Vec::new(),
            ratios: Vec::new(),
            headline: None,
            skipped: None,
            error: None,
            notes: Vec::new(),
        };
        match data {
            Err(reason) => entry.skipped = Some(reason.clone()),
            Ok(data) => {
                let dir = tmp.0.join(format!("set-{i}"));
                std::fs::create_dir_all(&dir)?;
                let label = format!("{pipeline} scan {}", set.name);
                let measured = run_set(
                    &programs,
                    set,
                    data,
                    &dir,
                    &label,
                    &mut entry,
                    &mut result.script,
                );
                if let Err(e) = measured {
                    entry.error = Some(format!("{e:#}"));
                }
            }
        }
        result.sets.push(entry);
    }
    Ok(result)
}

/// One set: its photos linked into `dir` when it is limited, then both sides measured.
fn run_set(
    programs: &Programs<'_>,
    set: &ScanSet,
    data: &SetData,
    dir: &Path,
    label: &str,
    entry: &mut ScanSetResult,
    script_name: &mut Option<String>,
) -> anyhow::Result<()> {
    let scan_root = match set.limit {
        Some(_) => linked(data, &dir.join("photos"))?,
        None => data.folder.clone(),
    };
    let run = SetRun {
        programs,
        scan_root,
        list: dir.join("photos.list"),
        folder: &data.folder,
        photos: data.photos.len(),
    };
    measure_set(&run, set, data, dir, label, entry, script_name)
}

/// The scan folder of a limited set: the photos hard-linked (copied across file systems)
/// under `dir` at their relative paths. `facelab scan` does not follow symbolic links.
fn linked(data: &SetData, dir: &Path) -> anyhow::Result<PathBuf> {
    for p in &data.photos {
        let to = dir.join(p.strip_prefix(&data.folder)?);
        std::fs::create_dir_all(to.parent().expect("a file in a folder"))?;
        if std::fs::hard_link(p, &to).is_err() {
            std::fs::copy(p, &to)
                .with_context(|| format!("cannot copy {} to {}", p.display(), to.display()))?;
        }
    }
    Ok(std::fs::canonicalize(dir)?)
}
