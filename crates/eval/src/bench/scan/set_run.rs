//! One set's measurement: `facelab scan` into a new library and the script at each variant,
//! in turn, for every run; each side's output parsed into faces per photo, then the runs
//! summarised into the set's sides, ratios and headline.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Context as _};
use facelab_plugin_api::{BBox, Face};
use serde_json::Value;

use super::prepare::{Prepared, SetData};
use super::process::{child_config, measure, parse_json};
use super::summary::{headline, ratio, side, SideRun};
use super::{SCRIPT, SCRIPT_DETECTOR, SCRIPT_EMBEDDER};
use crate::bench::report::{ScanRun, ScanSetResult};
use crate::bench::suite::scan::{ScanSet, ScanTask};
use crate::operating::Truth;
use facelab_engine::config::Config;

/// What every set's runs share: the two programs, the models and config they run with, and
/// the task's settings.
pub(super) struct Programs<'a> {
    /// The facelab binary and the config `facelab scan` runs with.
    exe: PathBuf,
    config: PathBuf,
    /// The venv's Python and the reference script.
    python: &'a Path,
    script: PathBuf,
    /// The script's detector and embedder `.onnx` files.
    models: (PathBuf, PathBuf),
    task: &'a ScanTask,
}

impl<'a> Programs<'a> {
    /// Fetches the script's models and writes facelab's config (for `config`'s pipeline) into
    /// `tmp`.
    pub(super) fn set_up(
        ctx: &facelab_library::session::RunContext,
        config: &Config,
        task: &'a ScanTask,
        prepared: &'a Prepared,
        tmp: &Path,
    ) -> anyhow::Result<Programs<'a>> {
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
        let config_path = tmp.join("facelab.toml");
        std::fs::write(&config_path, child_config(config, &store)?)?;
        let exe = std::env::current_exe().context("cannot find the facelab binary")?;
        Ok(Programs {
            exe,
            config: config_path,
            python: &prepared.python,
            script: prepared.scripts.join(SCRIPT),
            models,
            task,
        })
    }
}

fn count(v: Option<&Value>) -> usize {
    match v {
        Some(Value::Array(a)) => a.len(),
        Some(v) => v.as_u64().unwrap_or(0) as usize,
        None => 0,
    }
}

/// What one run of the task on one set needs.
pub(super) struct SetRun<'a> {
    pub(super) programs: &'a Programs<'a>,
    /// The folder facelab scans (canonical) and the list the script reads.
    pub(super) scan_root: PathBuf,
    pub(super) list: PathBuf,
    pub(super) folder: &'a Path,
    pub(super) photos: usize,
}

impl SetRun<'_> {
    fn facelab(&self, dir: &Path, run: usize) -> anyhow::Result<SideRun> {
        let library = dir.join(format!("library-{run}.sqlite"));
        let mut cmd = Command::new(&self.programs.exe);
        cmd.arg("--config").arg(&self.programs.config).arg("scan");
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
        let mut cmd = Command::new(self.programs.python);
        cmd.arg(&self.programs.script)
            .arg("--detector")
            .arg(&self.programs.models.0);
        cmd.arg("--embedder").arg(&self.programs.models.1);
        cmd.args([
            "--max-side",
            &max_side.to_string(),
            "--threads",
            &self.programs.task.threads.to_string(),
        ]);
        cmd.args([
            "--score",
            &self.programs.task.score.to_string(),
            "--json",
            "--list",
        ])
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

/// Runs both sides on one set into `entry`: its photos, taggable faces, sides, ratios,
/// notes and headline; `script_name` is the script's own name and OpenCV version.
pub(super) fn measure_set(
    run: &SetRun<'_>,
    set: &ScanSet,
    data: &SetData,
    dir: &Path,
    label: &str,
    entry: &mut ScanSetResult,
    script_name: &mut Option<String>,
) -> anyhow::Result<()> {
    let task = run.programs.task;
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
    let (facelab, scripts) = run_sides(run, variants, dir, label, script_name)?;
    summarise(
        entry,
        set,
        variants,
        run.photos,
        &facelab,
        &scripts,
        truth.as_ref(),
    );
    Ok(())
}

/// `runs` times: `facelab scan`, then the script at each variant. Returns facelab's runs and
/// each variant's.
fn run_sides(
    run: &SetRun<'_>,
    variants: &[u32],
    dir: &Path,
    label: &str,
    script_name: &mut Option<String>,
) -> anyhow::Result<(Vec<SideRun>, Vec<Vec<SideRun>>)> {
    let task = run.programs.task;
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
    Ok((facelab, scripts))
}

/// The sides (facelab first), the ratios to each variant, the notes on failed photos and the
/// headline of a set from its runs.
fn summarise(
    entry: &mut ScanSetResult,
    set: &ScanSet,
    variants: &[u32],
    photos: usize,
    facelab: &[SideRun],
    scripts: &[Vec<SideRun>],
    truth: Option<&HashMap<PathBuf, Truth>>,
) {
    let facelab = side(None, facelab, photos, truth);
    if facelab.photos != photos {
        entry.notes.push(format!(
            "facelab scan took {} files; the set has {} photos",
            facelab.photos, photos
        ));
    }
    entry.sides.push(facelab);
    for (v, runs) in scripts.iter().enumerate() {
        let s = side(Some(variants[v]), runs, photos, truth);
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
}
