//! What the task prepares once for every pipeline: the reference script's venv, and each
//! set's photos and ground truth (making the camera-size set when asked).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::{last_line, run_shown};
use super::{EXTENSIONS, GENERATOR, GROUND_TRUTH, SCRIPT, SETUP};
use crate::bench::suite::scan::{ScanSet, ScanTask};
use crate::bench::suite::Suite;
use crate::operating::Truth;

/// The task's data, prepared once for every pipeline.
pub struct Prepared {
    /// The venv's Python.
    pub(super) python: PathBuf,
    /// The scripts folder.
    pub(super) scripts: PathBuf,
    /// Each set of the suite, in order.
    pub(super) sets: Vec<(ScanSet, Result<SetData, String>)>,
}

/// One set's photos and ground truth.
pub(super) struct SetData {
    /// The folder (canonical).
    pub(super) folder: PathBuf,
    /// The photos, sorted, after `limit` (canonical).
    pub(super) photos: Vec<PathBuf>,
    /// Labelled faces by path relative to `folder`.
    pub(super) truth: Option<HashMap<PathBuf, Truth>>,
    pub(super) notes: Vec<String>,
}

/// The scripts folder: `scripts`, else `benches/python` of the repository holding the suite
/// file, the working folder or the running binary.
fn scripts_dir(task: &ScanTask, suite: &Suite) -> Result<PathBuf, String> {
    if let Some(dir) = &task.scripts {
        return if dir.join(SCRIPT).is_file() {
            Ok(dir.clone())
        } else {
            Err(format!(
                "{} not found in {} (tasks.scan.scripts)",
                SCRIPT,
                dir.display()
            ))
        };
    }
    let mut starts = vec![suite.dir()];
    starts.extend(std::env::current_dir().ok());
    starts.extend(std::env::current_exe().ok());
    for start in starts {
        let start = std::path::absolute(&start).unwrap_or(start);
        for dir in start.ancestors() {
            let candidate = dir.join("benches/python");
            if candidate.join(SCRIPT).is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "benches/python/{SCRIPT} not found beside the suite file, the working folder or the facelab binary (help: set tasks.scan.scripts)"
    ))
}

/// Sets up the script's venv and every set's photos (making the camera set when asked).
/// Fails only when nothing can run; a set that cannot is kept with its reason.
pub fn prepare(task: &ScanTask, suite: &Suite, root: &Path) -> Result<Prepared, String> {
    let scripts = scripts_dir(task, suite)?;
    let setup = scripts.join(SETUP);
    eprintln!(
        "bench: scan: setting up the Python reference ({})",
        setup.display()
    );
    let out = run_shown(
        Command::new("bash").arg(&setup),
        &setup.display().to_string(),
    )?;
    let python = PathBuf::from(
        last_line(&out).ok_or_else(|| format!("{} printed no interpreter", setup.display()))?,
    );
    let sets: Vec<_> = task
        .sets
        .iter()
        .map(|set| (set.clone(), load_set(set, root, &python, &scripts)))
        .collect();
    if sets.iter().all(|(_, s)| s.is_err()) {
        let reasons: Vec<String> = sets
            .iter()
            .filter_map(|(set, s)| s.as_ref().err().map(|e| format!("{}: {e}", set.name)))
            .collect();
        return Err(reasons.join("; "));
    }
    Ok(Prepared {
        python,
        scripts,
        sets,
    })
}

/// One set's photos and ground truth; the reason the set cannot run is the error.
fn load_set(set: &ScanSet, root: &Path, python: &Path, scripts: &Path) -> Result<SetData, String> {
    let folder = match set.generate.as_deref() {
        Some(_) => make_camera_set(set, root, python, scripts)?,
        None => root.join(set.path.as_deref().expect("checked by the suite")),
    };
    let folder = std::fs::canonicalize(&folder)
        .map_err(|e| format!("photos not found at {}: {e}", folder.display()))?;
    let photos = list_photos(&folder, set.limit)?;
    let mut notes = Vec::new();
    let truth = read_truth(&folder, &mut notes);
    Ok(SetData {
        folder,
        photos,
        truth,
        notes,
    })
}

/// Makes the camera-size set from the set's WIDER FACE source with the generator script;
/// returns its folder.
fn make_camera_set(
    set: &ScanSet,
    root: &Path,
    python: &Path,
    scripts: &Path,
) -> Result<PathBuf, String> {
    let src = root.join(
        set.path
            .as_deref()
            .unwrap_or(Path::new("wider-face-val-mini")),
    );
    if !src.join(GROUND_TRUTH).is_file() {
        return Err(format!(
            "the camera set's source (a WIDER FACE set) not found at {}",
            src.display()
        ));
    }
    let mut cmd = Command::new(python);
    cmd.arg(scripts.join(GENERATOR)).arg("--src").arg(&src);
    if let Some(n) = set.limit {
        cmd.arg("--limit").arg(n.to_string());
    }
    eprintln!(
        "bench: scan: making the camera-size set from {}",
        src.display()
    );
    let out = run_shown(&mut cmd, GENERATOR)?;
    Ok(PathBuf::from(
        last_line(&out).ok_or(format!("{GENERATOR} printed no folder"))?,
    ))
}

/// The photos a scan of `folder` takes, sorted, the first `limit` of them.
fn list_photos(folder: &Path, limit: Option<usize>) -> Result<Vec<PathBuf>, String> {
    let mut photos: Vec<PathBuf> = walkdir::WalkDir::new(folder)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    photos.sort();
    if let Some(n) = limit {
        photos.truncate(n);
    }
    if photos.is_empty() {
        return Err(format!("no photos in {}", folder.display()));
    }
    Ok(photos)
}

/// The labelled faces of a set with WIDER FACE ground truth, by path relative to `folder`;
/// `None` without one, or with a note when it cannot be read.
fn read_truth(folder: &Path, notes: &mut Vec<String>) -> Option<HashMap<PathBuf, Truth>> {
    if folder.join(GROUND_TRUTH).is_file() {
        match crate::wider::WiderSet::load(folder) {
            Ok(wider) => Some(
                wider
                    .images
                    .iter()
                    .filter_map(|i| {
                        Some((
                            i.path.strip_prefix(folder).ok()?.to_owned(),
                            Truth::wider(i),
                        ))
                    })
                    .collect(),
            ),
            Err(e) => {
                notes.push(format!(
                    "ground truth not read, so no taggable faces: {e:#}"
                ));
                None
            }
        }
    } else {
        None
    }
}
