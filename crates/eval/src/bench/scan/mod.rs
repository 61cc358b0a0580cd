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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Context as _};
use facelab_plugin_api::{BBox, Face};
use serde_json::Value;

pub mod process;
pub mod summary;

use super::report::{ScanResult, ScanRun, ScanSetResult};
use super::suite::scan::{ScanSet, ScanTask};
use super::suite::Suite;
use crate::operating::Truth;
use facelab_engine::config::Config;
use process::{child_config, last_line, measure, parse_json, run_shown, TempDir};
use summary::{headline, ratio, side, SideRun};

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

/// The task's data, prepared once for every pipeline.
pub struct Prepared {
    /// The venv's Python.
    python: PathBuf,
    /// The scripts folder.
    scripts: PathBuf,
    /// Each set of the suite, in order.
    sets: Vec<(ScanSet, Result<SetData, String>)>,
}

/// One set's photos and ground truth.
struct SetData {
    /// The folder (canonical).
    folder: PathBuf,
    /// The photos, sorted, after `limit` (canonical).
    photos: Vec<PathBuf>,
    /// Labelled faces by path relative to `folder`.
    truth: Option<HashMap<PathBuf, Truth>>,
    notes: Vec<String>,
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

fn load_set(set: &ScanSet, root: &Path, python: &Path, scripts: &Path) -> Result<SetData, String> {
    let folder = match set.generate.as_deref() {
        Some(_) => {
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
            PathBuf::from(last_line(&out).ok_or(format!("{GENERATOR} printed no folder"))?)
        }
        None => root.join(set.path.as_deref().expect("checked by the suite")),
    };
    let folder = std::fs::canonicalize(&folder)
        .map_err(|e| format!("photos not found at {}: {e}", folder.display()))?;
    let mut photos: Vec<PathBuf> = walkdir::WalkDir::new(&folder)
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
    if let Some(n) = set.limit {
        photos.truncate(n);
    }
    if photos.is_empty() {
        return Err(format!("no photos in {}", folder.display()));
    }
    let mut notes = Vec::new();
    let truth = if folder.join(GROUND_TRUTH).is_file() {
        match crate::wider::WiderSet::load(&folder) {
            Ok(wider) => Some(
                wider
                    .images
                    .iter()
                    .filter_map(|i| {
                        Some((
                            i.path.strip_prefix(&folder).ok()?.to_owned(),
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
    };
    Ok(SetData {
        folder,
        photos,
        truth,
        notes,
    })
}

fn count(v: Option<&Value>) -> usize {
    match v {
        Some(Value::Array(a)) => a.len(),
        Some(v) => v.as_u64().unwrap_or(0) as usize,
        None => 0,
    }
}

/// What one run of the task on one set needs.
struct SetRun<'a> {
    exe: &'a Path,
    config: &'a Path,
    python: &'a Path,
    script: PathBuf,
    models: &'a (PathBuf, PathBuf),
    task: &'a ScanTask,
    /// The folder facelab scans (canonical) and the list the script reads.
    scan_root: PathBuf,
    list: PathBuf,
    folder: &'a Path,
    photos: usize,
}

impl SetRun<'_> {
    fn facelab(&self, dir: &Path, run: usize) -> anyhow::Result<SideRun> {
        let library = dir.join(format!("library-{run}.sqlite"));
        let mut cmd = Command::new(self.exe);
        cmd.arg("--config").arg(self.config).arg("scan");
        cmd.arg("--library")
            .arg(&library)
            .arg("--json")
            .arg(&self.scan_root);
        // Exit code 1: the scan ran, and some photos failed (counted below).
        let m = measure(&mut cmd, dir, &[0, 1])?;
        let doc = parse_json(&m.stdout, "facelab scan")?;
        let summary = doc.get("scan").unwrap_or(&doc);
        let stage_seconds = summary
            .get("stage_seconds")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect::<BTreeMap<_, _>>()
            });
        let lib = facelab_library::Library::open(&library, 10_000)?;
        let mut faces: HashMap<PathBuf, Vec<Face>> = HashMap::new();
        for f in lib.faces(None)? {
            let rel = Path::new(&f.path)
                .strip_prefix(&self.scan_root)
                .unwrap_or(Path::new(&f.path));
            let [x, y, w, h] = f.bbox;
            faces
                .entry(rel.to_owned())
                .or_default()
                .push(Face::new(BBox::new(x, y, w, h), f.score));
        }
        drop(lib);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", library.display()));
        }
        Ok(SideRun {
            run: ScanRun {
                wall_seconds: m.wall,
                cpu_seconds: m.cpu,
                peak_rss_mib: m.rss_mib,
                faces: faces.values().map(Vec::len).sum(),
                inner_seconds: summary.get("seconds").and_then(Value::as_f64),
                stage_seconds,
            },
            photos: count(summary.get("files")),
            failed: count(summary.get("failed")),
            faces,
        })
    }

    fn script(&self, dir: &Path, max_side: u32) -> anyhow::Result<(SideRun, String)> {
        let mut cmd = Command::new(self.python);
        cmd.arg(&self.script).arg("--detector").arg(&self.models.0);
        cmd.arg("--embedder").arg(&self.models.1);
        cmd.args([
            "--max-side",
            &max_side.to_string(),
            "--threads",
            &self.task.threads.to_string(),
        ]);
        cmd.args(["--score", &self.task.score.to_string(), "--json", "--list"])
            .arg(&self.list);
        // Exit code 1: some photos could not be decoded (counted below).
        let m = measure(&mut cmd, dir, &[0, 1])?;
        let doc = parse_json(&m.stdout, SCRIPT)?;
        let mut faces: HashMap<PathBuf, Vec<Face>> = HashMap::new();
        for p in doc
            .get("per_photo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = PathBuf::from(p.get("path").and_then(Value::as_str).unwrap_or(""));
            let rel = path
                .strip_prefix(self.folder)
                .map(Path::to_owned)
                .unwrap_or(path);
            let list = faces.entry(rel).or_default();
            for f in p
                .get("faces")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let n = |i: usize| f.get(i).and_then(Value::as_f64).unwrap_or(0.0) as f32;
                list.push(Face::new(BBox::new(n(0), n(1), n(2), n(3)), n(4)));
            }
        }
        let name = format!(
            "{} (OpenCV {})",
            doc.get("script").and_then(Value::as_str).unwrap_or(SCRIPT),
            doc.get("opencv_version")
                .and_then(Value::as_str)
                .unwrap_or("?")
        );
        let side = SideRun {
            run: ScanRun {
                wall_seconds: m.wall,
                cpu_seconds: m.cpu,
                peak_rss_mib: m.rss_mib,
                faces: faces.values().map(Vec::len).sum(),
                inner_seconds: doc.get("wall_seconds").and_then(Value::as_f64),
                stage_seconds: None,
            },
            photos: count(doc.get("decoded")),
            failed: count(doc.get("failed")),
            faces,
        };
        Ok((side, name))
    }
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
    let store = facelab_engine::pipeline::model_store(config, ctx.cache_dir.as_deref())?;
    let onnx = |id: &str| -> anyhow::Result<PathBuf> {
        let model = store.model(id)?;
        let files = store.fetch(model, &facelab_engine::ui::FetchBars::default())?;
        files
            .into_iter()
            .find(|f| f.extension().is_some_and(|e| e == "onnx"))
            .ok_or_else(|| anyhow!("model {id} has no .onnx file"))
    };
    let models = (onnx(SCRIPT_DETECTOR)?, onnx(SCRIPT_EMBEDDER)?);
    let config_path = tmp.0.join("facelab.toml");
    std::fs::write(&config_path, child_config(config, &store)?)?;
    let exe = std::env::current_exe().context("cannot find the facelab binary")?;
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
                let scan_root = match set.limit {
                    Some(_) => linked(data, &dir.join("photos")),
                    None => Ok(data.folder.clone()),
                };
                let scan_root = match scan_root {
                    Ok(r) => r,
                    Err(e) => {
                        entry.error = Some(format!("{e:#}"));
                        result.sets.push(entry);
                        continue;
                    }
                };
                let run = SetRun {
                    exe: &exe,
                    config: &config_path,
                    python: &prepared.python,
                    script: prepared.scripts.join(SCRIPT),
                    models: &models,
                    task,
                    scan_root,
                    list: dir.join("photos.list"),
                    folder: &data.folder,
                    photos: data.photos.len(),
                };
                if let Err(e) = measure_set(
                    &run,
                    set,
                    data,
                    &dir,
                    &label,
                    &mut entry,
                    &mut result.script,
                ) {
                    entry.error = Some(format!("{e:#}"));
                }
            }
        }
        result.sets.push(entry);
    }
    Ok(result)
}

fn measure_set(
    run: &SetRun<'_>,
    set: &ScanSet,
    data: &SetData,
    dir: &Path,
    label: &str,
    entry: &mut ScanSetResult,
    script_name: &mut Option<String>,
) -> anyhow::Result<()> {
    let task = run.task;
    entry.folder = data.folder.display().to_string();
    entry.photos = data.photos.len();
    entry.notes.extend(data.notes.iter().cloned());
    let lines: Vec<String> = data
        .photos
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    std::fs::write(&run.list, lines.join("\n") + "\n")?;
    // Both sides then read the photos from the page cache.
    for p in &data.photos {
        let _ = std::fs::read(p);
    }
    // The ground truth of the photos in the set (all of them, or the first `limit`).
    let truth: Option<HashMap<PathBuf, Truth>> = data.truth.as_ref().map(|t| {
        data.photos
            .iter()
            .filter_map(|p| {
                let rel = p.strip_prefix(&data.folder).ok()?;
                Some((rel.to_owned(), t.get(rel)?.clone()))
            })
            .collect()
    });
    entry.taggable = truth.as_ref().map(|t| {
        t.values()
            .map(|t| t.taggable.iter().filter(|&&x| x).count())
            .sum()
    });
    let variants = set.variants(task);
    let bar = facelab_engine::ui::labelled_progress(task.runs * (1 + variants.len()), label);
    let mut facelab = Vec::new();
    let mut scripts: Vec<Vec<SideRun>> = variants.iter().map(|_| Vec::new()).collect();
    for r in 0..task.runs {
        facelab.push(run.facelab(dir, r)?);
        bar.inc(1);
        for (v, &max_side) in variants.iter().enumerate() {
            let (side, name) = run.script(dir, max_side)?;
            *script_name = Some(name);
            scripts[v].push(side);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let facelab = side(None, &facelab, run.photos, truth.as_ref());
    if facelab.photos != run.photos {
        entry.notes.push(format!(
            "facelab scan took {} files; the set has {} photos",
            facelab.photos, run.photos
        ));
    }
    entry.sides.push(facelab);
    for (v, runs) in scripts.iter().enumerate() {
        let s = side(Some(variants[v]), runs, run.photos, truth.as_ref());
        entry.ratios.push(ratio(variants[v], &entry.sides[0], &s));
        entry.sides.push(s);
    }
    for s in &entry.sides {
        if s.failed > 0 {
            entry.notes.push(format!(
                "{} {}: {} photos failed",
                s.side,
                s.max_side
                    .map(|m| format!("--max-side {m}"))
                    .unwrap_or_default(),
                s.failed
            ));
        }
    }
    entry.headline = headline(set, variants, &entry.sides, &entry.ratios);
    Ok(())
}
