//! The run-state every command shares: the validated config with the global flags
//! ([`RunContext`]), how a command ended ([`Outcome`]), and opening the configured
//! detector and recognizer with their notices.
//!
//! Commands (`cli`), the face library commands and the bench all build on this module;
//! it imports none of them, so the host's modules form no cycle.

use std::path::PathBuf;

use crate::identity::{self, ModelKeys};
use crate::suggest::Prior;
use crate::Library;
use facelab_engine::config::Config;
use facelab_engine::pipeline::{load_plugins, model_store, FaceDetector, FaceRecognizer};
use facelab_engine::ui::FetchBars;
use facelab_models::ModelStore;

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
#[derive(Clone)]
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

    /// The same flags with another config (a bench pipeline, or `-o` overrides).
    pub fn with_config(&self, config: Config) -> RunContext {
        RunContext {
            config,
            ..self.clone()
        }
    }
}

/// The configured detector, with its licence notices and fetch progress.
pub fn open_detector(ctx: &RunContext) -> anyhow::Result<FaceDetector> {
    let plugins = load_plugins(&ctx.config)?;
    let store = ctx.store()?;
    Ok(facelab_engine::pipeline::open_detector(
        &ctx.config,
        &plugins,
        &store,
        &FetchBars::default(),
    )?
    .0)
}

/// Fails, naming the config, when it has no `[recognizer]`: the commands that compare
/// faces need one.
pub fn require_recognizer(config: &Config) -> anyhow::Result<()> {
    if config.recognizer.is_none() {
        anyhow::bail!(
            "{}: no [recognizer] section (help: add one; config/facelab.toml shows how)",
            config.source.display()
        );
    }
    Ok(())
}

/// The configured detector and recognizer; an error naming the config when it has no
/// `[recognizer]`.
pub fn open_pipeline(ctx: &RunContext) -> anyhow::Result<(FaceDetector, FaceRecognizer)> {
    require_recognizer(&ctx.config)?;
    let (detector, recognizer) = open_detector_and_recognizer(ctx)?;
    Ok((detector, recognizer.expect("checked above")))
}

/// The configured recognizer and its models' embedding keys; `None` without a
/// `[recognizer]`.
pub fn open_recognizer(ctx: &RunContext) -> anyhow::Result<Option<(FaceRecognizer, ModelKeys)>> {
    let Some(keys) = ModelKeys::of_config(&ctx.config)? else {
        return Ok(None);
    };
    let plugins = load_plugins(&ctx.config)?;
    let store = ctx.store()?;
    let r = facelab_engine::pipeline::open_recognizer(
        &ctx.config,
        &plugins,
        &store,
        &FetchBars::default(),
    )?;
    Ok(r.map(|(r, _)| (r, keys)))
}

/// The configured detector and, when the config has one, the recognizer.
pub fn open_detector_and_recognizer(
    ctx: &RunContext,
) -> anyhow::Result<(FaceDetector, Option<FaceRecognizer>)> {
    let mut one = open_instances(ctx, 1)?;
    Ok(one.remove(0))
}

/// `n` (at least 1) instances of the configured detector and recognizer. The plugins and
/// the manifest are loaded once, and each model is fetched, verified (sha256) and its
/// licence notice printed once; the other instances are built from the resolved models.
fn open_instances(
    ctx: &RunContext,
    n: usize,
) -> anyhow::Result<Vec<(FaceDetector, Option<FaceRecognizer>)>> {
    let config = &ctx.config;
    let plugins = load_plugins(config)?;
    let store = ctx.store()?;
    let bars = FetchBars::default();
    let (detector, det_model) =
        facelab_engine::pipeline::open_detector(config, &plugins, &store, &bars)?;
    let (recognizer, rec_models) =
        match facelab_engine::pipeline::open_recognizer(config, &plugins, &store, &bars)? {
            Some((r, m)) => (Some(r), Some(m)),
            None => (None, None),
        };
    let mut out = vec![(detector, recognizer)];
    for _ in 1..n {
        let detector = FaceDetector::from_config(config, &plugins, &det_model)?;
        let recognizer = rec_models
            .as_deref()
            .map(|m| FaceRecognizer::from_config(config, &plugins, m))
            .transpose()?;
        out.push((detector, recognizer));
    }
    Ok(out)
}

/// The plugins whose detectors and embedders take a `threads` option (intra-op threads).
const THREADED_PLUGINS: [&str; 3] = ["onnx-runtime", "opencv-dnn", "dlib"];

/// The configured detector and recognizer for each of a scan's `workers`, which run on
/// threads of their own (one per core): each model gets `threads = 1` unless the config
/// sets it: the workers are the parallelism, and no model waits for its second thread while
/// another worker holds the core (measured in docs/speed.md, "Workers and threads").
pub fn open_for_scan(
    ctx: &RunContext,
    workers: usize,
) -> anyhow::Result<Vec<(FaceDetector, Option<FaceRecognizer>)>> {
    let mut config = ctx.config.clone();
    let one = |plugin: &str, options: &mut toml::Table| {
        if THREADED_PLUGINS.contains(&plugin) {
            options.entry("threads").or_insert(toml::Value::Integer(1));
        }
    };
    one(
        &config.detector.plugin.clone(),
        &mut config.detector.options,
    );
    if let Some(r) = config.recognizer.as_mut() {
        r.for_each_member_mut(|m| one(&m.plugin.clone(), &mut m.options));
    }
    open_instances(&ctx.with_config(config), workers)
}

/// Opens the library named by `--library`, else the config.
pub fn open_library(ctx: &RunContext) -> anyhow::Result<Library> {
    Ok(Library::open(
        &library_path(ctx),
        ctx.config.library.busy_timeout_ms,
    )?)
}

/// The library: `--library`, else the config's (`library.url`, else `library.path`): an
/// SQLite file, or a PostgreSQL URL ([`Library::open`] tells them apart).
pub fn library_path(ctx: &RunContext) -> PathBuf {
    ctx.library
        .clone()
        .unwrap_or_else(|| ctx.config.library.location())
}

/// The active recognizer's models (their embedding keys); an error without a
/// `[recognizer]`.
pub fn active_models(ctx: &RunContext) -> anyhow::Result<ModelKeys> {
    ModelKeys::of_config(&ctx.config)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no [recognizer] section: suggestions and clusters compare embeddings (help: add a [recognizer] and run `facelab scan` again)",
            ctx.config.source.display()
        )
    })
}

/// Prints one notice on stderr for each model `lib` holds embeddings of that `models`
/// does not name (a recognizer taken out of the config): its embeddings are kept, and
/// unused until the config names it again.
pub fn note_unused_models(lib: &Library, models: &ModelKeys) -> anyhow::Result<()> {
    for (model, faces) in lib.unused_models(models)? {
        eprintln!(
            "facelab: {faces} faces have embeddings of {model}, which the config no longer names: kept, unused"
        );
    }
    Ok(())
}

/// The active recognizer's same-person rule from the manifest, as a cosine threshold (for
/// fused models the mean of theirs, [`identity::declared_rule`]); `None` for a model the
/// manifest does not know (the library then calibrates on the user's named faces, or says
/// it cannot).
pub fn prior(ctx: &RunContext) -> anyhow::Result<Option<Prior>> {
    if ctx.config.recognizer.is_none() {
        return Ok(None);
    }
    let store = ctx.store()?;
    Ok(identity::declared_rule(&ctx.config, &store.manifest))
}
