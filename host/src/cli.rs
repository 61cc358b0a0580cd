//! The `facelab` command line: argument definitions and one function per command.
//!
//! Results go to stdout (a table, or JSON with `--json`); errors and progress go to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use facelab_plugin_api::{Face, LicenceClass, ModelInfo};
use serde::Serialize;

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::photo::{decode, Photo};
use crate::pipeline::{licence_notice, load_plugins, FaceDetector};
use crate::plugins::{load, LoadedPlugin, SearchPath};
use crate::{draw, voc};

/// facelab: a face engine for photo libraries.
#[derive(Debug, Parser)]
#[command(name = "facelab", version, about)]
pub struct Cli {
    /// Config file [default: config/facelab.toml].
    #[arg(long, global = true, env = "FACELAB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Show full error details (for example abi_stable's layout report).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the plugins on the search path, their kinds, and the configured models' licences.
    Plugins(JsonFlag),
    /// Detect faces in photos.
    Detect(DetectArgs),
    /// Measure the configured detector's recall and precision against an imglab XML file
    /// (for example ../shared/datasets/samples/voc-groups/testing.xml).
    EvalVoc(EvalVocArgs),
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `facelab detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Photos to read.
    #[arg(required = true)]
    pub photos: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write each photo with its faces drawn into this folder.
    #[arg(long, value_name = "OUT_DIR")]
    pub draw: Option<PathBuf>,
}

/// `facelab eval-voc`.
#[derive(Debug, Args)]
pub struct EvalVocArgs {
    /// The imglab XML file with labelled boxes.
    pub xml: PathBuf,
    /// IoU needed to match a detection to a labelled face.
    #[arg(long, default_value_t = 0.5)]
    pub iou: f32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How a command ended, for the exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// The command ran, but some inputs failed (each was reported on stderr).
    SomeFailed,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let verbose = cli.verbose;
    let config = || Config::load(&config_path);
    match cli.command {
        Command::Plugins(a) => plugins(&config()?, a.json, verbose),
        Command::Detect(a) => detect(&config()?, &a),
        Command::EvalVoc(a) => eval_voc(&config()?, &a),
    }
}

fn licence_name(l: LicenceClass) -> &'static str {
    match l {
        LicenceClass::Permissive => "permissive",
        LicenceClass::Research => "research",
        LicenceClass::Unknown => "unknown",
    }
}

/// JSON form of a model's facts.
#[derive(Serialize)]
struct ModelJson {
    id: String,
    backend: String,
    licence: &'static str,
    input_width: u32,
    input_height: u32,
}

impl From<&ModelInfo> for ModelJson {
    fn from(i: &ModelInfo) -> Self {
        ModelJson {
            id: i.id.to_string(),
            backend: i.backend.to_string(),
            licence: licence_name(i.licence),
            input_width: i.input_width,
            input_height: i.input_height,
        }
    }
}

/// Every `libfacelab_*` library on the search path, first of each name.
fn discover(search: &SearchPath) -> Vec<PathBuf> {
    let (prefix, suffix) = (
        format!("{}facelab_", std::env::consts::DLL_PREFIX),
        std::env::consts::DLL_SUFFIX,
    );
    let mut seen = std::collections::BTreeMap::new();
    for dir in &search.dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if name.starts_with(&prefix) && name.ends_with(suffix) && path.is_file() {
                seen.entry(name).or_insert(path);
            }
        }
    }
    seen.into_values().collect()
}

fn plugins(config: &Config, json: bool, verbose: bool) -> anyhow::Result<Outcome> {
    let search = SearchPath::new(&config.plugins.search_path, Some(&config.dir()));
    let mut loaded: Vec<LoadedPlugin> = Vec::new();
    let mut failures = Vec::new();
    for path in discover(&search) {
        match load(&path) {
            Ok(p) => loaded.push(p),
            Err(e) => failures.push(if verbose { e.verbose() } else { e.to_string() }),
        }
    }
    // The configured detector: instantiating it is what reveals its model's licence.
    let detector = load_plugins(config)
        .map_err(anyhow::Error::from)
        .and_then(|set| FaceDetector::from_config(config, &set).map_err(anyhow::Error::from));
    let configured = match &detector {
        Ok(d) => Some(ModelJson::from(&d.info)),
        Err(e) => {
            failures.push(format!("configured detector: {e:#}"));
            None
        }
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    if json {
        #[derive(Serialize)]
        struct Kind {
            name: String,
            description: String,
        }
        #[derive(Serialize)]
        struct PluginJson {
            name: String,
            version: String,
            path: String,
            detectors: Vec<Kind>,
            recognizers: Vec<Kind>,
            capabilities: Vec<String>,
        }
        let kinds = |v: &abi_stable::std_types::RVec<facelab_plugin_api::KindInfo>| {
            v.iter()
                .map(|k| Kind {
                    name: k.name.to_string(),
                    description: k.description.to_string(),
                })
                .collect()
        };
        let list: Vec<_> = loaded
            .iter()
            .map(|p| PluginJson {
                name: p.info.name.to_string(),
                version: p.info.version.to_string(),
                path: p.path.display().to_string(),
                detectors: kinds(&p.info.detectors),
                recognizers: kinds(&p.info.recognizers),
                capabilities: p.info.capabilities.iter().map(|c| c.to_string()).collect(),
            })
            .collect();
        let doc = serde_json::json!({
            "abi_version": facelab_plugin_api::ABI_VERSION,
            "plugins": list,
            "configured_detector": configured,
            "errors": failures,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        writeln!(
            out,
            "{:<12} {:<8} {:<10} {:<14} DESCRIPTION",
            "PLUGIN", "VERSION", "ROLE", "KIND"
        )?;
        for p in &loaded {
            for (role, kinds) in [
                ("detector", &p.info.detectors),
                ("recognizer", &p.info.recognizers),
            ] {
                for k in kinds.iter() {
                    writeln!(
                        out,
                        "{:<12} {:<8} {:<10} {:<14} {}",
                        p.info.name, p.info.version, role, k.name, k.description
                    )?;
                }
            }
        }
        if let Some(m) = &configured {
            writeln!(
                out,
                "\nconfigured detector: {} ({}), model {} [licence: {}]",
                config.detector.plugin, config.detector.kind, m.id, m.licence
            )?;
        }
    }
    for f in &failures {
        eprintln!("facelab: {f}");
    }
    Ok(if failures.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// One photo's result, as printed with `--json`.
#[derive(Serialize)]
struct PhotoResult {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exif_orientation: Option<u8>,
    faces: Vec<FaceJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detect_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct FaceJson {
    x: f32,
    y: f32,
    width: f32,
    height: f32,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    landmarks: Option<[[f32; 2]; 5]>,
}

impl From<&Face> for FaceJson {
    fn from(f: &Face) -> Self {
        FaceJson {
            x: f.bbox.x,
            y: f.bbox.y,
            width: f.bbox.width,
            height: f.bbox.height,
            score: f.score,
            landmarks: f
                .landmarks
                .as_ref()
                .into_option()
                .map(|l| l.points.map(|p| [p.x, p.y])),
        }
    }
}

/// What happened to one photo.
struct Detection {
    photo: Result<Photo, String>,
    faces: Vec<Face>,
    ms: f64,
    error: Option<String>,
}

/// Decodes on a second thread while the detector works on the previous photo.
fn detect_all(
    config: &Config,
    detector: &mut FaceDetector,
    paths: &[PathBuf],
    mut each: impl FnMut(&Path, Detection),
) {
    let max_pixels = config.images.max_pixels;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || {
            for path in paths {
                if tx.send((path, decode(path, max_pixels))).is_err() {
                    break;
                }
            }
        });
        for (path, decoded) in rx {
            let detection = match decoded {
                Err(e) => Detection {
                    photo: Err(e.to_string()),
                    faces: vec![],
                    ms: 0.0,
                    error: Some(e.to_string()),
                },
                Ok(photo) => {
                    let start = Instant::now();
                    let result = detector.detect(&photo);
                    let ms = start.elapsed().as_secs_f64() * 1e3;
                    let (faces, error) = match result {
                        Ok(f) => (f, None),
                        Err(e) => (
                            vec![],
                            Some(format!(
                                "{}: detector `{}` failed: {e}",
                                path.display(),
                                detector.kind
                            )),
                        ),
                    };
                    Detection {
                        photo: Ok(photo),
                        faces,
                        ms,
                        error,
                    }
                }
            };
            each(path, detection);
        }
    });
}

fn progress(n: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} photos ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    if n < 2 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

fn open_detector(config: &Config) -> anyhow::Result<FaceDetector> {
    let plugins = load_plugins(config)?;
    let detector = FaceDetector::from_config(config, &plugins)?;
    if let Some(notice) = licence_notice(&detector.info) {
        eprintln!("facelab: {notice}");
    }
    Ok(detector)
}

fn draw_path(dir: &Path, photo: &Path, used: &mut std::collections::HashSet<PathBuf>) -> PathBuf {
    let stem = photo
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("photo");
    let mut candidate = dir.join(format!("{stem}.jpg"));
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = dir.join(format!("{stem}-{n}.jpg"));
        n += 1;
    }
    candidate
}

fn detect(config: &Config, args: &DetectArgs) -> anyhow::Result<Outcome> {
    let mut detector = open_detector(config)?;
    if let Some(dir) = &args.draw {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --draw folder {}", dir.display()))?;
    }
    let bar = progress(args.photos.len());
    let mut results = Vec::new();
    let mut failed = 0usize;
    let mut used = std::collections::HashSet::new();
    let stdout = std::io::stdout();
    if !args.json {
        writeln!(
            stdout.lock(),
            "{:<40} {:>4} {:>7} {:>7} {:>7} {:>7} {:>6}",
            "PHOTO",
            "FACE",
            "X",
            "Y",
            "W",
            "H",
            "SCORE"
        )?;
    }
    detect_all(config, &mut detector, &args.photos, |path, d| {
        bar.inc(1);
        if let Some(e) = &d.error {
            failed += 1;
            bar.suspend(|| eprintln!("facelab: {e}"));
        }
        if let (Some(dir), Ok(photo)) = (&args.draw, &d.photo) {
            let mut img = photo.to_rgb();
            draw::draw_faces(&mut img, &d.faces);
            let out = draw_path(dir, path, &mut used);
            if let Err(e) = img.save(&out) {
                failed += 1;
                bar.suspend(|| eprintln!("facelab: cannot write {}: {e}", out.display()));
            }
        }
        let shown = path.display().to_string();
        if args.json {
            let photo = d.photo.as_ref().ok();
            results.push(PhotoResult {
                path: shown,
                width: photo.map(|p| p.width),
                height: photo.map(|p| p.height),
                exif_orientation: photo.map(|p| p.exif_orientation),
                faces: d.faces.iter().map(FaceJson::from).collect(),
                detect_ms: photo.map(|_| d.ms),
                error: d.error,
            });
        } else if d.error.is_none() {
            bar.suspend(|| {
                let mut out = stdout.lock();
                if d.faces.is_empty() {
                    let _ = writeln!(out, "{shown:<40} {:>4}", "-");
                }
                for (i, f) in d.faces.iter().enumerate() {
                    let b = f.bbox;
                    let _ = writeln!(
                        out,
                        "{shown:<40} {:>4} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>6.3}",
                        i + 1,
                        b.x,
                        b.y,
                        b.width,
                        b.height,
                        f.score
                    );
                }
            });
        }
    });
    bar.finish_and_clear();
    if args.json {
        writeln!(stdout.lock(), "{}", serde_json::to_string_pretty(&results)?)?;
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// Median of a non-empty slice (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn eval_voc(config: &Config, args: &EvalVocArgs) -> anyhow::Result<Outcome> {
    let images = voc::read_imglab(&args.xml)?;
    let mut detector = open_detector(config)?;
    let paths: Vec<PathBuf> = images.iter().map(|i| i.path.clone()).collect();
    let mut total = voc::MatchCounts::default();
    let mut times = Vec::new();
    let mut per_image = Vec::new();
    let mut failed = 0;
    let bar = progress(paths.len());
    let mut index = 0;
    detect_all(config, &mut detector, &paths, |path, d| {
        bar.inc(1);
        let labels = &images[index].boxes;
        index += 1;
        if let Some(e) = d.error {
            failed += 1;
            bar.suspend(|| eprintln!("facelab: {e}"));
            return;
        }
        let counts = voc::match_faces(labels, &d.faces, args.iou);
        total.add(counts);
        times.push(d.ms);
        per_image.push(serde_json::json!({"path": path.display().to_string(), "counts": counts, "detect_ms": d.ms}));
    });
    bar.finish_and_clear();
    let median_ms = median(&mut times);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let doc = serde_json::json!({
            "xml": args.xml.display().to_string(),
            "detector": {"plugin": detector.plugin, "kind": detector.kind, "model": ModelJson::from(&detector.info)},
            "iou": args.iou,
            "counts": total,
            "recall": total.recall(),
            "precision": total.precision(),
            "median_detect_ms": median_ms,
            "images": per_image,
            "failed_images": failed,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        writeln!(
            out,
            "{} ({}, {}): {} labelled, {} detected, {} matched at IoU >= {}\nrecall {:.3}  precision {:.3}  median detect {:.1} ms/photo over {} photos",
            detector.info.id,
            detector.plugin,
            detector.kind,
            total.labelled,
            total.detected,
            total.matched,
            args.iou,
            total.recall(),
            total.precision(),
            median_ms,
            times.len()
        )?;
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
