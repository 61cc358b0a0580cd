//! The `facelab` command line: argument definitions and one function per command.
//!
//! Results go to stdout (a table, or JSON with `--json`); errors and progress go to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use facelab_plugin_api::{Face, LicenceClass, ModelInfo};
use serde::Serialize;

use crate::config::Config;
use crate::models::fetch::FetchObserver;
use crate::models::{FileState, ModelStore};
use crate::photo::{decode, Photo};
use crate::pipeline::{
    cosine, load_plugins, model_store, open_recognizer, FaceDetector, FaceRecognizer,
};
use crate::plugins::{load, LoadedPlugin, SearchPath};
use crate::robust::Pass;
use crate::{draw, voc};

/// facelab: a face engine for photo libraries.
#[derive(Debug, Parser)]
#[command(name = "facelab", version, about)]
pub struct Cli {
    /// Config file [default: config/facelab.toml if it exists, else the built-in default].
    #[arg(long, global = true, env = "FACELAB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Model cache folder [default: models.cache_dir, else $XDG_CACHE_HOME/facelab/models].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Face library database [default: library.path, else
    /// $XDG_DATA_HOME/facelab/library.sqlite].
    #[arg(long, global = true, env = "FACELAB_LIBRARY", value_name = "FILE")]
    pub library: Option<PathBuf>,
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
    /// Detect, align and embed the faces in photos with the configured recognizer.
    Embed(DetectArgs),
    /// The similarity of the largest face in each of two photos, and the model's verdict.
    Compare {
        /// First photo.
        a: PathBuf,
        /// Second photo.
        b: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List, fetch, verify and describe the models of the manifest.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Measure the configured detector's recall and precision against an imglab XML file
    /// (for example ../shared/datasets/samples/voc-groups/testing.xml).
    EvalVoc(EvalVocArgs),
    /// ORL identification with the configured pipeline: a fraction of each subject's images
    /// tagged, the rest predicted by nearest class centroid (cosine) and by 1-NN.
    EvalOrl {
        /// The ORL folder (sX/Y.pgm).
        #[arg(default_value = "../shared/datasets/orl")]
        root: PathBuf,
        /// Fractions of each subject's 10 images that are tagged.
        #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.5")]
        tagged: Vec<f64>,
        /// Seeded random splits per fraction.
        #[arg(long, default_value_t = 10)]
        splits: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// LFW View 2 verification with the configured pipeline: 10-fold accuracy, ROC AUC,
    /// TAR at FAR 1e-3.
    EvalLfw {
        /// The LFW folder (pairs.txt, images/).
        #[arg(default_value = "../shared/datasets/lfw")]
        root: PathBuf,
        /// Print JSON (with the ROC curve).
        #[arg(long)]
        json: bool,
    },
    /// Average precision of the configured detector on WIDER FACE (easy, medium, hard) by
    /// the official rules, with its median time per photo.
    EvalWider(EvalWiderArgs),
    /// Compare pipelines on ORL, LFW, WIDER FACE, clustering and speed; write a report.
    Bench(crate::bench::BenchArgs),
    /// The face library commands.
    #[command(flatten)]
    Library(crate::library_cli::LibraryCommand),
}

/// `facelab models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// A table of every model: id, role, licence class, size, cached, plugin kinds.
    List(JsonFlag),
    /// Fetch models into the cache from their sources, verifying each file's sha256.
    Fetch {
        /// Model ids.
        ids: Vec<String>,
        /// Fetch every model in the manifest.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Check cached files against their sha256; corrupt ones are fetched again.
    Verify {
        /// Model ids [default: every model with a file in the cache].
        ids: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything the manifest says about one model, and its cache state.
    Info {
        /// The model id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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

/// `facelab eval-wider`.
#[derive(Debug, Args)]
pub struct EvalWiderArgs {
    /// The WIDER FACE folder (images/, wider_face_val_bbx_gt.txt, difficulty.txt).
    #[arg(default_value = "../shared/datasets/wider-face-val-mini")]
    pub root: PathBuf,
    /// Override a detector option for this run, e.g. `-o score_threshold=0.02` (the
    /// evaluation wants low-score detections for a full PR curve).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Evaluate only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print JSON (with the PR curves) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Applies `KEY=VALUE` overrides (values in TOML syntax) to the detector's options.
fn override_options(config: &Config, overrides: &[String]) -> anyhow::Result<Config> {
    let mut config = config.clone();
    for o in overrides {
        let (key, value) = o
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--option {o}: expected KEY=VALUE"))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .map(|mut t| t.remove("v").expect("parsed"))
            .or_else(|_| Ok::<_, anyhow::Error>(toml::Value::String(value.to_owned())))?;
        config.detector.options.insert(key.trim().to_owned(), value);
    }
    Ok(config)
}

/// How a command ended, for the exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// The command ran, but some inputs failed (each was reported on stderr).
    SomeFailed,
}

impl Outcome {
    /// Success when nothing failed.
    pub fn from_failures(failed: usize) -> Outcome {
        if failed == 0 {
            Outcome::Success
        } else {
            Outcome::SomeFailed
        }
    }
}

/// What every command needs: the validated config and the global flags.
pub struct RunContext {
    /// The config.
    pub config: Config,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--verbose`.
    pub verbose: bool,
    /// `--library`.
    pub library: Option<PathBuf>,
}

impl RunContext {
    /// The model store (manifest, mirror, cache) of the config.
    pub fn store(&self) -> anyhow::Result<ModelStore> {
        Ok(model_store(&self.config, self.cache_dir.as_deref())?)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let ctx = RunContext {
        config: Config::load_or_default(cli.config.as_deref())?,
        cache_dir: cli.cache_dir,
        verbose: cli.verbose,
        library: cli.library,
    };
    match cli.command {
        Command::Plugins(a) => plugins(&ctx, a.json),
        Command::Detect(a) => detect(&ctx, &a),
        Command::Embed(a) => embed(&ctx, &a),
        Command::Compare { a, b, json } => compare(&ctx, &a, &b, json),
        Command::Models(m) => models(&ctx, m),
        Command::EvalVoc(a) => eval_voc(&ctx, &a),
        Command::EvalWider(a) => eval_wider(&ctx, &a),
        Command::EvalOrl {
            root,
            tagged,
            splits,
            json,
        } => eval_orl(&ctx, &root, &tagged, splits, json),
        Command::EvalLfw { root, json } => eval_lfw(&ctx, &root, json),
        Command::Bench(a) => crate::bench::run(&ctx, &a),
        Command::Library(c) => crate::library_cli::run(&ctx, c),
    }
}

/// Progress bars for downloads and notices on stderr.
#[derive(Default)]
struct FetchBars {
    bar: std::cell::RefCell<Option<indicatif::ProgressBar>>,
}

impl FetchObserver for FetchBars {
    fn start(&self, file: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:32} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        bar.set_message(file.to_owned());
        if let Some(old) = self.bar.replace(Some(bar)) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(n);
        }
    }

    fn notice(&self, message: &str) {
        match self.bar.borrow().as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("facelab: {message}")),
            None => eprintln!("facelab: {message}"),
        }
    }
}

impl Drop for FetchBars {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
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

fn plugins(ctx: &RunContext, json: bool) -> anyhow::Result<Outcome> {
    let (config, verbose) = (&ctx.config, ctx.verbose);
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
    let detector = open_detector(ctx);
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
    Ok(Outcome::from_failures(failures.len()))
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
    /// Which robust pass found the faces, when not the direct one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pass: Option<Pass>,
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
    pass: Option<Pass>,
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
                    pass: None,
                    ms: 0.0,
                    error: Some(e.to_string()),
                },
                Ok(photo) => {
                    let start = Instant::now();
                    let result = detector.detect(&photo);
                    let ms = start.elapsed().as_secs_f64() * 1e3;
                    let (faces, pass, error) = match result {
                        Ok((f, pass)) => (f, Some(pass).filter(|p| *p != Pass::Direct), None),
                        Err(e) => (
                            vec![],
                            None,
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
                        pass,
                        ms,
                        error,
                    }
                }
            };
            each(path, detection);
        }
    });
}

/// A progress bar for `n` photos (hidden for fewer than two).
pub fn progress(n: usize) -> indicatif::ProgressBar {
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

fn open_detector(ctx: &RunContext) -> anyhow::Result<FaceDetector> {
    let plugins = load_plugins(&ctx.config)?;
    open_detector_with(ctx, &plugins, &ctx.store()?)
}

/// The configured detector from already loaded plugins and manifest, with its notices.
fn open_detector_with(
    ctx: &RunContext,
    plugins: &crate::plugins::PluginSet,
    store: &ModelStore,
) -> anyhow::Result<FaceDetector> {
    Ok(crate::pipeline::open_detector(&ctx.config, plugins, store, &FetchBars::default())?.0)
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

fn detect(ctx: &RunContext, args: &DetectArgs) -> anyhow::Result<Outcome> {
    let config = &ctx.config;
    let mut detector = open_detector(ctx)?;
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
                pass: d.pass,
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
    Ok(Outcome::from_failures(failed))
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

fn eval_voc(ctx: &RunContext, args: &EvalVocArgs) -> anyhow::Result<Outcome> {
    let config = &ctx.config;
    let images = voc::read_imglab(&args.xml)?;
    let mut detector = open_detector(ctx)?;
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
    Ok(Outcome::from_failures(failed))
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} kB", bytes as f64 / 1024.0)
    }
}

fn models(ctx: &RunContext, command: ModelsCommand) -> anyhow::Result<Outcome> {
    let store = ctx.store()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        ModelsCommand::List(JsonFlag { json }) => {
            if json {
                let list: Vec<_> = store
                    .manifest
                    .models
                    .iter()
                    .map(|m| serde_json::json!({"id": m.id, "role": m.role, "licence": m.licence, "size": m.size(), "cached": store.is_cached(m), "runs_on": m.runs_on, "description": m.description}))
                    .collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"manifest": store.manifest.origin, "cache_dir": store.settings.cache_dir, "models": list})
                    )?
                )?;
            } else {
                writeln!(
                    out,
                    "{:<24} {:<10} {:<10} {:>9} {:<6} RUNS ON",
                    "ID", "ROLE", "LICENCE", "SIZE", "CACHED"
                )?;
                for m in &store.manifest.models {
                    let runs_on = if m.runs_on.is_empty() {
                        "-".to_owned()
                    } else {
                        m.runs_on.join(", ")
                    };
                    writeln!(
                        out,
                        "{:<24} {:<10} {:<10} {:>9} {:<6} {runs_on}",
                        m.id,
                        m.role.name(),
                        m.licence.class.name(),
                        human_size(m.size()),
                        if store.is_cached(m) { "yes" } else { "no" }
                    )?;
                }
                writeln!(out, "\ncache: {}", store.settings.cache_dir.display())?;
            }
            Ok(Outcome::Success)
        }
        ModelsCommand::Fetch { ids, all, json } => {
            if ids.is_empty() && !all {
                anyhow::bail!("name the model ids to fetch, or pass --all (help: `facelab models list` shows the ids)");
            }
            let models: Vec<_> = if all {
                store.manifest.models.iter().collect()
            } else {
                ids.iter()
                    .map(|id| store.model(id))
                    .collect::<Result<_, _>>()?
            };
            let mut failed = 0;
            let mut report = Vec::new();
            for m in models {
                let bars = FetchBars::default();
                let result = store.fetch(m, &bars);
                drop(bars);
                match result {
                    Ok(paths) => {
                        if !json {
                            writeln!(
                                out,
                                "ok      {:<24} {} file(s), {} [{}]",
                                m.id,
                                paths.len(),
                                human_size(m.size()),
                                m.licence.class.name()
                            )?;
                        }
                        report.push(serde_json::json!({"id": m.id, "ok": true, "files": paths}));
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("facelab: {e}");
                        if !json {
                            writeln!(out, "FAILED  {}", m.id)?;
                        }
                        report.push(
                            serde_json::json!({"id": m.id, "ok": false, "error": e.to_string()}),
                        );
                    }
                }
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
            Ok(Outcome::from_failures(failed))
        }
        ModelsCommand::Verify { ids, json } => {
            let models: Vec<_> = if ids.is_empty() {
                store
                    .manifest
                    .models
                    .iter()
                    .filter(|m| m.files.iter().any(|f| store.cached_path(m, f).exists()))
                    .collect()
            } else {
                ids.iter()
                    .map(|id| store.model(id))
                    .collect::<Result<_, _>>()?
            };
            let mut bad = 0;
            let mut report = Vec::new();
            if !json {
                writeln!(out, "{:<24} {:<44} STATE", "ID", "FILE")?;
            }
            for m in models {
                let states = store.verify(m);
                let corrupt = states
                    .iter()
                    .any(|(_, s)| matches!(s, FileState::Corrupt { .. }));
                for (file, state) in &states {
                    let shown = match state {
                        FileState::Ok => "ok".to_owned(),
                        FileState::Missing => "missing".to_owned(),
                        FileState::Corrupt { actual, size } => {
                            format!("CORRUPT ({size} bytes, sha256 {actual})")
                        }
                    };
                    if !json {
                        writeln!(out, "{:<24} {:<44} {shown}", m.id, file)?;
                    }
                }
                // A corrupt file is reported, removed and fetched again.
                let repaired = if corrupt {
                    match store.fetch(m, &FetchBars::default()) {
                        Ok(_) => {
                            eprintln!(
                                "facelab: {}: corrupt file(s) fetched again and verified",
                                m.id
                            );
                            true
                        }
                        Err(e) => {
                            eprintln!("facelab: {e}");
                            false
                        }
                    }
                } else {
                    false
                };
                let missing = states.iter().any(|(_, s)| *s == FileState::Missing);
                if (corrupt && !repaired) || (missing && !ids.is_empty()) {
                    bad += 1;
                }
                report.push(serde_json::json!({"id": m.id, "files": states.iter().map(|(f, s)| serde_json::json!({"file": f, "result": s})).collect::<Vec<_>>(), "repaired": repaired}));
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
            Ok(Outcome::from_failures(bad))
        }
        ModelsCommand::Info { id, json } => {
            let m = store.model(&id)?;
            let states = store.verify(m);
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"model": m, "cache": states.iter().map(|(f, s)| serde_json::json!({"file": f, "path": store.settings.cache_dir.join(&m.id).join(f), "result": s})).collect::<Vec<_>>()})
                    )?
                )?;
                return Ok(Outcome::Success);
            }
            writeln!(out, "{} ({})\n  {}", m.id, m.role.name(), m.description)?;
            writeln!(
                out,
                "  licence:       {} — {}",
                m.licence.class.name(),
                m.licence.text
            )?;
            writeln!(
                out,
                "  runs on:       {}",
                if m.runs_on.is_empty() {
                    "no plugin kind yet".to_owned()
                } else {
                    m.runs_on.join(", ")
                }
            )?;
            writeln!(out, "  preprocessing: {}", m.preprocessing)?;
            let i = &m.input;
            writeln!(
                out,
                "  input:         {}x{} {}, mean {:?}, scale {}",
                i.width, i.height, i.colour, i.mean, i.scale
            )?;
            if let Some(t) = m.threshold {
                writeln!(
                    out,
                    "  threshold:     {:?} default {}, usable {}..{}",
                    t.kind, t.default, t.min, t.max
                )?;
            }
            if let Some(e) = m.embedding {
                writeln!(
                    out,
                    "  embedding:     {}-D, {:?}, normalised: {}",
                    e.dim, e.metric, e.normalized
                )?;
            }
            for (f, (_, state)) in m.files.iter().zip(&states) {
                writeln!(
                    out,
                    "  file {} ({} bytes, sha256 {}): {:?}",
                    f.name, f.size, f.sha256, state
                )?;
                for s in &f.sources {
                    writeln!(out, "    source {s}")?;
                }
            }
            Ok(Outcome::Success)
        }
    }
}

fn eval_wider(ctx: &RunContext, args: &EvalWiderArgs) -> anyhow::Result<Outcome> {
    let mut set = crate::wider::WiderSet::load(&args.root)?;
    if let Some(n) = args.limit {
        set.images.truncate(n);
    }
    let config = override_options(&ctx.config, &args.options)?;
    let ctx = RunContext {
        config,
        cache_dir: ctx.cache_dir.clone(),
        verbose: ctx.verbose,
        library: ctx.library.clone(),
    };
    let mut detector = open_detector(&ctx)?;
    let paths: Vec<PathBuf> = set.images.iter().map(|i| i.path.clone()).collect();
    let mut detections = Vec::with_capacity(paths.len());
    let mut times = Vec::new();
    let mut failed = 0;
    let bar = progress(paths.len());
    detect_all(&ctx.config, &mut detector, &paths, |_, d| {
        bar.inc(1);
        if let Some(e) = &d.error {
            failed += 1;
            bar.suspend(|| eprintln!("facelab: {e}"));
        } else {
            times.push(d.ms);
        }
        detections.push(d.faces);
    });
    bar.finish_and_clear();
    let results = crate::wider::evaluate(&set, &detections, 0.5);
    let median_ms = median(&mut times.clone());
    let p90 = {
        times.sort_by(f64::total_cmp);
        times
            .get((((times.len() as f64) * 0.9).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let doc = serde_json::json!({
            "root": args.root,
            "images": set.images.len(),
            "detector": {"plugin": detector.plugin, "kind": detector.kind, "model": ModelJson::from(&detector.info)},
            "options": ctx.config.detector.options,
            "detection": ctx.config.detection,
            "levels": results,
            "median_ms": median_ms,
            "p90_ms": p90,
            "failed_images": failed,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        writeln!(
            out,
            "{} ({}, {}) on {} images of {}",
            detector.info.id,
            detector.plugin,
            detector.kind,
            set.images.len(),
            args.root.display()
        )?;
        for r in &results {
            writeln!(
                out,
                "  {:<6} AP {:.3}  ({} faces)",
                r.level.name(),
                r.ap,
                r.faces
            )?;
        }
        writeln!(out, "  median {median_ms:.1} ms/photo, p90 {p90:.1} ms")?;
    }
    Ok(Outcome::from_failures(failed))
}

/// Loads the configured detector and recognizer.
pub fn open_pipeline(ctx: &RunContext) -> anyhow::Result<(FaceDetector, FaceRecognizer)> {
    let config = &ctx.config;
    if config.recognizer.is_none() {
        anyhow::bail!(
            "{}: no [recognizer] section (help: add one; config/facelab.toml shows how)",
            config.source.display()
        );
    }
    let (detector, recognizer) = open_detector_and_recognizer(ctx)?;
    Ok((detector, recognizer.expect("checked above")))
}

/// Loads the configured detector and, when the config has one, the recognizer.
pub fn open_detector_and_recognizer(
    ctx: &RunContext,
) -> anyhow::Result<(FaceDetector, Option<FaceRecognizer>)> {
    let config = &ctx.config;
    // One load of the plugins and the manifest serves both models.
    let plugins = load_plugins(config)?;
    let store = ctx.store()?;
    let detector = open_detector_with(ctx, &plugins, &store)?;
    let recognizer = open_recognizer(config, &plugins, &store, &FetchBars::default())?;
    Ok((detector, recognizer.map(|(r, _)| r)))
}

/// The largest face, the one a "compare these two photos" user means.
pub fn largest(faces: &[Face]) -> Option<&Face> {
    faces
        .iter()
        .max_by(|a, b| (a.bbox.width * a.bbox.height).total_cmp(&(b.bbox.width * b.bbox.height)))
}

fn embed(ctx: &RunContext, args: &DetectArgs) -> anyhow::Result<Outcome> {
    let (mut detector, mut recognizer) = open_pipeline(ctx)?;
    if let Some(dir) = &args.draw {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --draw folder {}", dir.display()))?;
    }
    let bar = progress(args.photos.len());
    let mut failed = 0;
    let mut results = Vec::new();
    let stdout = std::io::stdout();
    let profile = recognizer
        .profile
        .as_deref()
        .and_then(facelab_plugin_kit::align::Profile::parse);
    detect_all(&ctx.config, &mut detector, &args.photos, |path, d| {
        bar.inc(1);
        let mut error = d.error.clone();
        let mut embeddings = Vec::new();
        if let (Ok(photo), None) = (&d.photo, &error) {
            match recognizer.embed(photo, &d.faces) {
                Ok(e) => embeddings = e,
                Err(e) => {
                    error = Some(format!(
                        "{}: recognizer `{}` failed: {e}",
                        path.display(),
                        recognizer.kind
                    ))
                }
            }
            if let (Some(dir), Some(profile)) = (&args.draw, profile) {
                for (i, face) in d.faces.iter().enumerate() {
                    let m =
                        profile.crop_to_photo(&face.bbox, face.landmarks.as_ref().into_option());
                    let crop =
                        facelab_plugin_kit::align::warp(&photo.view(), &m, profile.size(), true);
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("photo");
                    let out = dir.join(format!("{stem}-face{}.png", i + 1));
                    if let Some(img) =
                        image::RgbImage::from_raw(profile.size(), profile.size(), crop)
                    {
                        let _ = img.save(&out);
                    }
                }
            }
        }
        if let Some(e) = &error {
            failed += 1;
            bar.suspend(|| eprintln!("facelab: {e}"));
        }
        let faces: Vec<serde_json::Value> = d
            .faces
            .iter()
            .zip(embeddings.iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(f, e)| serde_json::json!({"face": FaceJson::from(f), "embedding": e.map(|e| e.values.to_vec()), "normalized": e.map(|e| e.normalized)}))
            .collect();
        if args.json {
            results.push(serde_json::json!({"path": path.display().to_string(), "faces": faces, "error": error}));
        } else if error.is_none() {
            bar.suspend(|| {
                let mut out = stdout.lock();
                for (i, e) in embeddings.iter().enumerate() {
                    let head: Vec<String> =
                        e.values.iter().take(4).map(|v| format!("{v:.3}")).collect();
                    let _ = writeln!(
                        out,
                        "{}\tface {}\t{}-D\t[{}, …]",
                        path.display(),
                        i + 1,
                        e.dim(),
                        head.join(", ")
                    );
                }
            });
        }
    });
    bar.finish_and_clear();
    if args.json {
        writeln!(
            stdout.lock(),
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": ModelJson::from(&recognizer.info),
                "photos": results,
            }))?
        )?;
    }
    Ok(Outcome::from_failures(failed))
}

fn compare(ctx: &RunContext, a: &Path, b: &Path, json: bool) -> anyhow::Result<Outcome> {
    let (mut detector, mut recognizer) = open_pipeline(ctx)?;
    let mut vectors = Vec::new();
    for path in [a, b] {
        let photo = decode(path, ctx.config.images.max_pixels)?;
        let (faces, _) = detector
            .detect(&photo)
            .map_err(|e| anyhow::anyhow!("{}: detector failed: {e}", path.display()))?;
        let face = largest(&faces).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no face found (help: try [detection] closeup_padding or rotation_retry)",
                path.display()
            )
        })?;
        let e = recognizer
            .embed(&photo, std::slice::from_ref(face))
            .map_err(|e| anyhow::anyhow!("{}: recognizer failed: {e}", path.display()))?;
        vectors.push(e[0].values.to_vec());
    }
    let similarity = cosine(&vectors[0], &vectors[1]);
    let threshold = recognizer.threshold.map(|t| t.default);
    let same = threshold.map(|t| similarity >= t);
    if json {
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "a": a, "b": b, "model": recognizer.info.id.to_string(), "similarity": similarity, "threshold": threshold, "same_person": same,
            }))?
        )?;
    } else {
        let verdict = match same {
            Some(true) => "same person",
            Some(false) => "different people",
            None => "no calibrated threshold for this model",
        };
        writeln!(
            std::io::stdout(),
            "similarity {similarity:.3} ({}; threshold {}) — {verdict}",
            recognizer.info.id,
            threshold.map(|t| format!("{t:.3}")).unwrap_or("-".into())
        )?;
    }
    Ok(Outcome::Success)
}

/// Embeddings of the largest face of each photo. A photo where the detector finds nothing
/// is embedded from its whole frame (the sets are face crops), and counted.
pub struct PhotoEmbeddings {
    /// One vector per photo (`None` when the photo failed).
    pub vectors: Vec<Option<Vec<f32>>>,
    /// Photos embedded from the whole frame because no face was found.
    pub whole_frame: usize,
    /// Embedding time per face (alignment + forward), ms.
    pub embed_ms: Vec<f64>,
}

/// Detects, picks the largest face and embeds it, for every photo.
pub fn embed_photos(
    config: &Config,
    detector: &mut FaceDetector,
    recognizer: &mut FaceRecognizer,
    paths: &[PathBuf],
) -> PhotoEmbeddings {
    let bar = progress(paths.len());
    let mut out = PhotoEmbeddings {
        vectors: Vec::with_capacity(paths.len()),
        whole_frame: 0,
        embed_ms: Vec::new(),
    };
    detect_all(config, detector, paths, |path, d| {
        bar.inc(1);
        let vector = match (&d.photo, &d.error) {
            (Ok(photo), None) => {
                let face = largest(&d.faces).copied().unwrap_or_else(|| {
                    out.whole_frame += 1;
                    Face::new(
                        facelab_plugin_api::BBox::new(
                            0.0,
                            0.0,
                            photo.width as f32,
                            photo.height as f32,
                        ),
                        0.0,
                    )
                });
                let start = Instant::now();
                let r = recognizer.embed(photo, &[face]);
                out.embed_ms.push(start.elapsed().as_secs_f64() * 1e3);
                match r {
                    Ok(e) => Some(e[0].values.to_vec()),
                    Err(e) => {
                        bar.suspend(|| eprintln!("facelab: {}: {e}", path.display()));
                        None
                    }
                }
            }
            (_, Some(e)) | (Err(e), _) => {
                bar.suspend(|| eprintln!("facelab: {e}"));
                None
            }
        };
        out.vectors.push(vector);
    });
    bar.finish_and_clear();
    out
}

fn pipeline_json(detector: &FaceDetector, recognizer: &FaceRecognizer) -> serde_json::Value {
    serde_json::json!({"detector": ModelJson::from(&detector.info), "recognizer": ModelJson::from(&recognizer.info)})
}

fn eval_orl(
    ctx: &RunContext,
    root: &Path,
    tagged: &[f64],
    splits: u64,
    json: bool,
) -> anyhow::Result<Outcome> {
    let images = crate::faceeval::orl_images(root)?;
    let (mut detector, mut recognizer) = open_pipeline(ctx)?;
    let paths: Vec<PathBuf> = images.iter().map(|(p, _)| p.clone()).collect();
    let embedded = embed_photos(&ctx.config, &mut detector, &mut recognizer, &paths);
    if embedded.vectors.iter().any(Option::is_none) {
        anyhow::bail!("some ORL images could not be embedded (see above)");
    }
    let vectors: Vec<Vec<f32>> = embedded.vectors.into_iter().flatten().collect();
    let labels: Vec<usize> = images.iter().map(|(_, l)| *l).collect();
    let mut rows = Vec::new();
    for &fraction in tagged {
        let per = ((fraction * 10.0).round() as usize).clamp(1, 9);
        let (mut c, mut k) = (Vec::new(), Vec::new());
        for seed in 0..splits {
            let (ac, ak) = crate::faceeval::identification(&vectors, &labels, per, seed);
            c.push(ac);
            k.push(ak);
        }
        let (cm, cs) = crate::faceeval::mean_sd(&c);
        let (km, ks) = crate::faceeval::mean_sd(&k);
        rows.push(serde_json::json!({"tagged": fraction, "tagged_per_subject": per, "centroid": {"mean": cm, "sd": cs}, "knn": {"mean": km, "sd": ks}}));
    }
    let mut ms = embedded.embed_ms.clone();
    let median_ms = median(&mut ms);
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"pipeline": pipeline_json(&detector, &recognizer), "splits": splits, "results": rows, "whole_frame": embedded.whole_frame, "median_embed_ms": median_ms})
            )?
        )?;
    } else {
        writeln!(
            out,
            "ORL, {} + {}, {splits} seeded splits ({} of 400 photos embedded from the whole frame)",
            detector.info.id, recognizer.info.id, embedded.whole_frame
        )?;
        for r in &rows {
            writeln!(
                out,
                "  {:>3.0}% tagged: nearest centroid {:.2}% ± {:.2}, 1-NN {:.2}% ± {:.2}",
                r["tagged"].as_f64().unwrap_or(0.0) * 100.0,
                r["centroid"]["mean"].as_f64().unwrap_or(0.0) * 100.0,
                r["centroid"]["sd"].as_f64().unwrap_or(0.0) * 100.0,
                r["knn"]["mean"].as_f64().unwrap_or(0.0) * 100.0,
                r["knn"]["sd"].as_f64().unwrap_or(0.0) * 100.0
            )?;
        }
        writeln!(out, "  median embed {median_ms:.1} ms/face")?;
    }
    Ok(Outcome::Success)
}

fn eval_lfw(ctx: &RunContext, root: &Path, json: bool) -> anyhow::Result<Outcome> {
    let pairs = crate::faceeval::lfw_pairs(root)?;
    let mut unique: Vec<PathBuf> = pairs
        .iter()
        .flat_map(|p| [p.a.clone(), p.b.clone()])
        .collect();
    unique.sort();
    unique.dedup();
    let (mut detector, mut recognizer) = open_pipeline(ctx)?;
    let embedded = embed_photos(&ctx.config, &mut detector, &mut recognizer, &unique);
    let index = |p: &PathBuf| {
        unique
            .binary_search(p)
            .ok()
            .and_then(|i| embedded.vectors[i].as_ref())
    };
    let mut scores = Vec::with_capacity(pairs.len());
    let mut missing = 0;
    for p in &pairs {
        scores.push(match (index(&p.a), index(&p.b)) {
            (Some(a), Some(b)) => cosine(a, b) as f64,
            _ => {
                missing += 1;
                -1.0
            }
        });
    }
    let v = crate::faceeval::verification(&scores, &pairs);
    let mut ms = embedded.embed_ms.clone();
    let median_ms = median(&mut ms);
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"pipeline": pipeline_json(&detector, &recognizer), "pairs": pairs.len(), "images": unique.len(), "unreadable_pairs": missing, "whole_frame": embedded.whole_frame, "median_embed_ms": median_ms, "verification": v})
            )?
        )?;
    } else {
        writeln!(
            out,
            "LFW View 2, {} + {}: accuracy {:.4} ± {:.4}, ROC AUC {:.4}, TAR@FAR=1e-3 {:.4}, threshold {:.3} ({} images, {} from the whole frame, {missing} pairs unreadable); median embed {median_ms:.1} ms/face",
            detector.info.id, recognizer.info.id, v.accuracy, v.accuracy_sd, v.roc_auc, v.tar_at_far_1e3, v.threshold, unique.len(), embedded.whole_frame
        )?;
    }
    Ok(Outcome::Success)
}
