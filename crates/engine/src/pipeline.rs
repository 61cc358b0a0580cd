//! Detector and recognizer instances built from the config's sections, with errors that
//! name the config key.

use std::path::PathBuf;

use abi_stable::std_types::{RResult, RSlice, RStr};
use facelab_plugin_api::{
    CreateArgs, DetectorBox, Embedding, Face, LicenceClass, ModelInfo, PluginError, RecognizerBox,
};

use crate::config::RobustOptions;
use crate::config::{Config, ConfigError, ModelSection};
use crate::photo::Photo;
use crate::plugins::{LoadErrors, PluginSet, SearchPath};
use crate::robust::{detect_robust, Pass};
use crate::verify::{verify, Verify, VerifyCounts};
use facelab_models::fetch::{hash_file, FetchObserver};
use facelab_models::manifest::Threshold;
use facelab_models::{
    FetchError, LicenceClass as ManifestLicence, Manifest, ManifestError, ModelStore, Role,
    StoreSettings,
};

/// Why the configured pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Plugins failed to load.
    #[error(transparent)]
    Load(#[from] LoadErrors),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A model could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The plugin refused to create the detector or recognizer.
    #[error("{config}: [{section}] plugin `{plugin}`, kind `{kind}`: {error}")]
    Create {
        /// The config file.
        config: PathBuf,
        /// `detector` or `recognizer`.
        section: &'static str,
        /// The plugin name.
        plugin: String,
        /// The kind.
        kind: String,
        /// The plugin's error.
        error: Box<PluginError>,
    },
}

/// The model store a config describes; `cache_dir` (from `--cache-dir`) wins over the
/// config's.
pub fn model_store(
    config: &Config,
    cache_dir: Option<&std::path::Path>,
) -> Result<ModelStore, ManifestError> {
    let manifest = match &config.models.manifest {
        Some(path) => Manifest::load(path)?,
        None => Manifest::embedded(),
    };
    let settings = StoreSettings {
        cache_dir: cache_dir
            .map(PathBuf::from)
            .or_else(|| config.models.cache_dir.clone())
            .unwrap_or_else(StoreSettings::default_cache_dir),
        mirror: config
            .models
            .mirror
            .clone()
            .or_else(StoreSettings::default_mirror),
        python: config
            .models
            .python
            .clone()
            .unwrap_or_else(|| "python3".to_owned()),
        http_timeout: std::time::Duration::from_secs(config.models.http_timeout_secs.unwrap_or(30)),
    };
    Ok(ModelStore::new(manifest, settings))
}

/// A section's model, resolved to verified local files.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// The id (manifest id, or the config's label for user files).
    pub id: String,
    /// Absolute or config-relative paths of its files.
    pub files: Vec<PathBuf>,
    /// The licence class, when the manifest knows the model.
    pub licence: Option<ManifestLicence>,
    /// The manifest's threshold, when it has one.
    pub threshold: Option<Threshold>,
    /// The plugin kinds (`plugin:kind`) the manifest says run it.
    pub runs_on: Vec<String>,
    /// The manifest entry, when the manifest knows the model.
    pub manifest: Option<facelab_models::Model>,
}

/// Resolves `[<section>]`'s model: a manifest id is fetched and verified through `store`;
/// user files are checked for existence and, when given, their sha256.
pub fn resolve_model(
    config: &Config,
    name: &'static str,
    role: Role,
    section: &ModelSection,
    store: &ModelStore,
    observer: &dyn FetchObserver,
) -> Result<ResolvedModel, PipelineError> {
    if !section.model_files.is_empty() || section.model.is_empty() {
        for (i, file) in section.model_files.iter().enumerate() {
            if !file.is_file() {
                return Err(config
                    .invalid(
                        format!("{name}.model_files[{i}]"),
                        format!("names {}, which does not exist", file.display()),
                        "fix the path (relative paths are relative to the config file)",
                    )
                    .into());
            }
            if let Some(expected) = section.model_sha256.get(i) {
                let (actual, _) = hash_file(file).map_err(|e| {
                    config.invalid(
                        format!("{name}.model_files[{i}]"),
                        format!("cannot read {}: {e}", file.display()),
                        "check the file's permissions",
                    )
                })?;
                if !actual.eq_ignore_ascii_case(expected) {
                    return Err(config
                        .invalid(
                            format!("{name}.model_sha256[{i}]"),
                            format!("does not match {}: expected {expected}, the file has {actual}", file.display()),
                            "the file is corrupt or a different version; fetch it again or fix the sha256",
                        )
                        .into());
                }
            }
        }
        let known = store.manifest.get(&section.model);
        return Ok(ResolvedModel {
            id: if section.model.is_empty() {
                section.kind.clone()
            } else {
                section.model.clone()
            },
            files: section.model_files.clone(),
            licence: known.map(|m| m.licence.class),
            threshold: known.and_then(|m| m.threshold),
            runs_on: known.map(|m| m.runs_on.clone()).unwrap_or_default(),
            manifest: known.cloned(),
        });
    }
    let model = store.model(&section.model).map_err(|e| {
        config.invalid(
            format!("{name}.model"),
            format!("= \"{}\" is not a known model", section.model),
            e.to_string(),
        )
    })?;
    if model.role != role {
        return Err(config
            .invalid(
                format!("{name}.model"),
                format!(
                    "= \"{}\" is a {} model, not a {}",
                    model.id,
                    model.role.name(),
                    role.name()
                ),
                "pick a model of the right role from `facelab models list`",
            )
            .into());
    }
    let mut files = store.fetch(model, observer)?;
    if let Some(id) = &section.landmarks {
        let lm = store.model(id).map_err(|e| {
            config.invalid(
                format!("{name}.landmarks"),
                format!("= \"{id}\" is not a known model"),
                e.to_string(),
            )
        })?;
        if lm.role != Role::Landmarks {
            return Err(config
                .invalid(
                    format!("{name}.landmarks"),
                    format!("= \"{id}\" is a {} model", lm.role.name()),
                    "use a landmarks model, e.g. \"landmark106\"",
                )
                .into());
        }
        files.extend(store.fetch(lm, observer)?);
    }
    Ok(ResolvedModel {
        id: model.id.clone(),
        files,
        licence: Some(model.licence.class),
        threshold: model.threshold,
        runs_on: model.runs_on.clone(),
        manifest: Some(model.clone()),
    })
}

/// The plugins a config names, loaded from the config's search path.
pub fn load_plugins(config: &Config) -> Result<PluginSet, LoadErrors> {
    let search = SearchPath::new(&config.plugins.search_path, Some(&config.dir()));
    let names = std::iter::once(config.detector.plugin.as_str())
        .chain(config.recognizer.as_ref().map(|r| r.plugin.as_str()));
    PluginSet::load(names, &search)
}

/// A detector instance with the facts the host shows about it.
pub struct FaceDetector {
    inner: DetectorBox,
    /// The plugin's name as the config gives it.
    pub plugin: String,
    /// The detector kind.
    pub kind: String,
    /// The model's facts.
    pub info: ModelInfo,
    /// Things the user should know about this configuration.
    pub warnings: Vec<String>,
    /// Tiling, padding and rotation options.
    robust: RobustOptions,
    /// The score threshold faces are kept from (the config's, else the manifest's default);
    /// `None` when neither sets one.
    threshold: Option<f32>,
    /// The second look at unsure faces, when the model and config have one.
    verify: Option<Verify>,
    /// What the second look did so far.
    verified: VerifyCounts,
    /// The long side a photo needs for this detector, so a scan can decode JPEGs at a
    /// reduced DCT scale: the plugin's `max_input_side` (photo-sized input; the kit's
    /// default when unset) or its fixed input side, whichever is larger; 0 (full size) with
    /// tiling, which wants full-resolution tiles.
    decode_side: u32,
}

/// Checks that `section.kind` is one of `kinds` and merges the manifest's declared facts
/// into the plugin's options (for the plugin kinds the manifest says run the model), so
/// each default lives in one place: the manifest.
fn prepared_options(
    config: &Config,
    name: &'static str,
    section: &ModelSection,
    kinds: &abi_stable::std_types::RVec<facelab_plugin_api::KindInfo>,
    manifest: Option<&facelab_models::Model>,
    warnings: &mut Vec<String>,
) -> Result<toml::Table, PipelineError> {
    if !kinds.iter().any(|k| k.name == section.kind.as_str()) {
        let known: Vec<_> = kinds.iter().map(|k| k.name.to_string()).collect();
        return Err(config
            .invalid(
                format!("{name}.kind"),
                format!(
                    "= \"{}\" is not a {name} of plugin `{}`",
                    section.kind, section.plugin
                ),
                if known.is_empty() {
                    format!("this plugin has no {name}s; choose another plugin")
                } else {
                    format!("use one of: {}", known.join(", "))
                },
            )
            .into());
    }
    let mut options = section.options.clone();
    let plugin_kind = format!("{}:{}", section.plugin, section.kind);
    let Some(m) = manifest.filter(|m| m.runs_on.contains(&plugin_kind)) else {
        return Ok(options);
    };
    match m.role {
        Role::Detector => {
            if let Some(t) = m.threshold {
                // Only an absent key takes the model's default. A value of the wrong type
                // (`"0.3"`) goes to the plugin as written, which refuses it naming the key
                // and type; replacing it with the default would hide the mistake.
                match options.get("score_threshold") {
                    None => {
                        options.insert(
                            "score_threshold".into(),
                            toml::Value::Float(t.default as f64),
                        );
                    }
                    Some(v) => {
                        let number = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                        if let Some(v) = number.filter(|v| *v < t.min as f64 || *v > t.max as f64) {
                            warnings.push(format!(
                                "{name}.options.score_threshold = {v} is outside the usable range {}..{} of model `{}`",
                                t.min, t.max, m.id
                            ));
                        }
                    }
                }
            }
        }
        Role::Recognizer => {
            // Declared, never guessed: the alignment profile and input spec come from the
            // manifest entry of the model.
            let float = |v: f32| toml::Value::Float(v as f64);
            options
                .entry("profile")
                .or_insert(toml::Value::String(m.preprocessing.clone()));
            options
                .entry("colour")
                .or_insert(toml::Value::String(m.input.colour.clone()));
            options.entry("mean").or_insert(toml::Value::Array(
                m.input.mean.iter().map(|v| float(*v)).collect(),
            ));
            options.entry("scale").or_insert(float(m.input.scale));
            if let Some(e) = m.embedding {
                options
                    .entry("dim")
                    .or_insert(toml::Value::Integer(e.dim as i64));
            }
            if let Some(id) = &section.landmarks {
                options
                    .entry("landmarks")
                    .or_insert(toml::Value::String(id.clone()));
            }
        }
        Role::Landmarks => {}
    }
    Ok(options)
}

/// The error for a plugin's refusal. An option error (its message begins with the dotted
/// key, see [`facelab_plugin_kit::options::option_key`]) names the config file's line of
/// that key; a key the config does not set (a manifest default) falls back to naming the
/// plugin and kind.
fn create_error(
    config: &Config,
    section_name: &'static str,
    section: &ModelSection,
    error: PluginError,
) -> PipelineError {
    let at_line = facelab_plugin_kit::options::option_key(&error)
        .and_then(|key| config.invalid_at(key, error.message.as_str(), error.help.as_str()));
    if let Some(e) = at_line {
        return e.into();
    }
    PipelineError::Create {
        config: config.source.clone(),
        section: section_name,
        plugin: section.plugin.clone(),
        kind: section.kind.clone(),
        error: Box::new(error),
    }
}

impl FaceDetector {
    /// Tiling, padding and rotation options.
    pub fn robust(&self) -> &RobustOptions {
        &self.robust
    }

    /// The score threshold faces are kept from (the config's, else the manifest's default);
    /// `None` when neither sets one.
    pub fn threshold(&self) -> Option<f32> {
        self.threshold
    }

    /// The second look at unsure faces, when the model and config have one.
    pub fn second_look(&self) -> Option<&Verify> {
        self.verify.as_ref()
    }

    /// What the second look did so far.
    pub fn verified(&self) -> VerifyCounts {
        self.verified
    }

    /// Starts the second look's counts again (a new set of photos).
    pub fn reset_verified(&mut self) {
        self.verified = VerifyCounts::default();
    }

    /// The long side a photo needs for this detector, so a scan can decode JPEGs at a
    /// reduced DCT scale: the plugin's `max_input_side` (photo-sized input; the kit's
    /// default when unset) or its fixed input side, whichever is larger; 0 (full size) with
    /// tiling, which wants full-resolution tiles.
    pub fn decode_side(&self) -> u32 {
        self.decode_side
    }

    /// Builds the `[detector]` of `config` from `plugins`, with its model resolved.
    pub fn from_config(
        config: &Config,
        plugins: &PluginSet,
        model: &ResolvedModel,
    ) -> Result<Self, PipelineError> {
        let section = &config.detector;
        let plugin = plugins
            .get(&section.plugin)
            .expect("load_plugins loads every configured plugin");
        let mut warnings = Vec::new();
        let mut options = prepared_options(
            config,
            "detector",
            section,
            &plugin.info.detectors,
            model.manifest.as_ref(),
            &mut warnings,
        )?;
        let (threshold, verify) = crate::verify::for_detector(
            &config.detection,
            &format!("{}:{}", section.plugin, section.kind),
            model.manifest.as_ref(),
            &mut options,
            &mut warnings,
        );
        let create = plugin.module.new_detector();
        let inner = with_args(section, model, &options, |args| create(args))
            .into_result()
            .map_err(|e| create_error(config, "detector", section, e))?;
        let info = inner.info();
        let max_input_side = options
            .get("max_input_side")
            .and_then(|v| v.as_integer())
            .map(|v| v.clamp(0, u32::MAX as i64) as u32)
            .unwrap_or(facelab_plugin_kit::options::DetectorOptions::default().max_input_side);
        let decode_side = if config.detection.tiling {
            0
        } else {
            max_input_side.max(info.input_width).max(info.input_height)
        };
        Ok(FaceDetector {
            inner,
            plugin: section.plugin.clone(),
            kind: section.kind.clone(),
            info,
            warnings,
            robust: config.detection,
            threshold,
            verify,
            verified: VerifyCounts::default(),
            decode_side,
        })
    }

    /// Finds the faces in `photo` with one pass of the plugin.
    pub fn detect_once(&mut self, photo: &Photo) -> Result<Vec<Face>, PluginError> {
        run_detector(&mut self.inner, photo)
    }

    /// Finds the faces in `photo` with the configured robust options (tiling, close-up
    /// padding, rotation retry), each pass's unsure faces verified on the image that pass
    /// saw, and says which pass found them. A plugin error (or caught panic) fails this
    /// photo only.
    pub fn detect(&mut self, photo: &Photo) -> Result<(Vec<Face>, Pass), PluginError> {
        let side = self.info.input_width.max(self.info.input_height);
        let side = if side == 0 { 640 } else { side };
        let (robust, check) = (self.robust, self.verify);
        let mut counts = VerifyCounts::default();
        let inner = &mut self.inner;
        let mut once = |p: &Photo| run_detector(inner, p);
        let result = detect_robust(photo, &robust, side, &mut |p| {
            let faces = once(p)?;
            let Some(v) = check else {
                return Ok(faces);
            };
            let (faces, c) = verify(p, faces, &v, &mut once)?;
            counts.add(c);
            Ok(faces)
        });
        self.verified.add(counts);
        result
    }
}

fn run_detector(inner: &mut DetectorBox, photo: &Photo) -> Result<Vec<Face>, PluginError> {
    inner
        .detect(photo.view())
        .into_result()
        .map(|v| v.into_vec())
}

/// Resolves the `[detector]` model of `config` (fetching through `observer`), builds the
/// detector and prints its licence notice and option warnings on stderr.
pub fn open_detector(
    config: &Config,
    plugins: &PluginSet,
    store: &ModelStore,
    observer: &dyn FetchObserver,
) -> Result<(FaceDetector, ResolvedModel), PipelineError> {
    check_options(config, plugins, store, "detector", &config.detector)?;
    let model = resolve_model(
        config,
        "detector",
        Role::Detector,
        &config.detector,
        store,
        observer,
    )?;
    let detector = FaceDetector::from_config(config, plugins, &model)?;
    print_notices(&detector.info, &model, &detector.warnings);
    Ok((detector, model))
}

/// [`open_detector`] for the `[recognizer]`; `None` when the config has none.
pub fn open_recognizer(
    config: &Config,
    plugins: &PluginSet,
    store: &ModelStore,
    observer: &dyn FetchObserver,
) -> Result<Option<(FaceRecognizer, ResolvedModel)>, PipelineError> {
    let Some(section) = config.recognizer.as_ref() else {
        return Ok(None);
    };
    check_options(config, plugins, store, "recognizer", section)?;
    let model = resolve_model(
        config,
        "recognizer",
        Role::Recognizer,
        section,
        store,
        observer,
    )?;
    let recognizer = FaceRecognizer::from_config(config, plugins, &model)?;
    print_notices(&recognizer.info, &model, &recognizer.warnings);
    Ok(Some((recognizer, model)))
}

/// Checks `[<name>]`'s options (with the manifest's declared values merged in) through
/// the plugin's `check_options` before its model is resolved, so a wrong option is
/// reported before any download. A plugin built before `check_options` existed has
/// none; its options are checked when the instance is created.
fn check_options(
    config: &Config,
    plugins: &PluginSet,
    store: &ModelStore,
    name: &'static str,
    section: &ModelSection,
) -> Result<(), PipelineError> {
    let plugin = plugins
        .get(&section.plugin)
        .expect("load_plugins loads every configured plugin");
    let kinds = if name == "detector" {
        &plugin.info.detectors
    } else {
        &plugin.info.recognizers
    };
    let manifest = store.manifest.get(&section.model);
    let options = prepared_options(config, name, section, kinds, manifest, &mut Vec::new())?;
    let Some(check) = plugin.module.check_options() else {
        return Ok(());
    };
    let text = toml::to_string(&options).unwrap_or_default();
    let args = CreateArgs {
        kind: section.kind.as_str().into(),
        model_id: section.model.as_str().into(),
        model_files: RSlice::from_slice(&[]),
        options_toml: text.as_str().into(),
    };
    check(&args)
        .into_result()
        .map_err(|e| create_error(config, name, section, e))
}

fn print_notices(info: &ModelInfo, model: &ResolvedModel, warnings: &[String]) {
    for n in licence_notice(info, model).iter().chain(warnings) {
        eprintln!("facelab: {n}");
    }
}

/// A one-line notice for models that are not free for commercial use, or `None`. The
/// manifest's class wins over what the plugin reports.
pub fn licence_notice(info: &ModelInfo, model: &ResolvedModel) -> Option<String> {
    let class = match model.licence {
        Some(ManifestLicence::Permissive) => LicenceClass::Permissive,
        Some(ManifestLicence::Research) => LicenceClass::Research,
        Some(ManifestLicence::Unknown) => LicenceClass::Unknown,
        None => info.licence,
    };
    match class {
        LicenceClass::Permissive => None,
        LicenceClass::Research => Some(format!(
            "notice: model `{}` is licensed for non-commercial research only",
            info.id
        )),
        LicenceClass::Unknown => Some(format!(
            "notice: model `{}` has no stated licence; check before any commercial use",
            info.id
        )),
    }
}

/// Calls `f` with the ABI arguments for `section`.
fn with_args<T>(
    section: &ModelSection,
    model: &ResolvedModel,
    options: &toml::Table,
    f: impl FnOnce(&CreateArgs<'_>) -> RResult<T, PluginError>,
) -> RResult<T, PluginError> {
    let options = toml::to_string(options).unwrap_or_default();
    let files: Vec<String> = model
        .files
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    let file_strs: Vec<RStr<'_>> = files.iter().map(|s| RStr::from(s.as_str())).collect();
    let args = CreateArgs {
        kind: section.kind.as_str().into(),
        model_id: model.id.as_str().into(),
        model_files: RSlice::from_slice(&file_strs),
        options_toml: options.as_str().into(),
    };
    f(&args)
}

/// A recognizer instance with the facts the host shows about it.
pub struct FaceRecognizer {
    inner: RecognizerBox,
    /// The plugin's name as the config gives it.
    pub plugin: String,
    /// The recognizer kind.
    pub kind: String,
    /// The model's facts, including the embedding's dimension.
    pub info: ModelInfo,
    /// The model's same-person threshold (cosine similarity), from the manifest.
    pub threshold: Option<Threshold>,
    /// The manifest's alignment profile, for drawing aligned crops.
    pub profile: Option<String>,
    /// Things the user should know about this configuration.
    pub warnings: Vec<String>,
}

impl FaceRecognizer {
    /// Builds the `[recognizer]` of `config` from `plugins`, with its model resolved.
    pub fn from_config(
        config: &Config,
        plugins: &PluginSet,
        model: &ResolvedModel,
    ) -> Result<Self, PipelineError> {
        let section = config.recognizer.as_ref().ok_or_else(|| {
            config.invalid(
                "recognizer".into(),
                "is missing",
                "add a [recognizer] section; config/facelab.toml shows one",
            )
        })?;
        let plugin = plugins
            .get(&section.plugin)
            .expect("load_plugins loads every configured plugin");
        let mut warnings = Vec::new();
        let options = prepared_options(
            config,
            "recognizer",
            section,
            &plugin.info.recognizers,
            model.manifest.as_ref(),
            &mut warnings,
        )?;
        let profile = options
            .get("profile")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let create = plugin.module.new_recognizer();
        let inner = with_args(section, model, &options, |args| create(args))
            .into_result()
            .map_err(|e| create_error(config, "recognizer", section, e))?;
        let info = inner.info();
        Ok(FaceRecognizer {
            inner,
            plugin: section.plugin.clone(),
            kind: section.kind.clone(),
            info,
            threshold: model.threshold,
            profile,
            warnings,
        })
    }

    /// Embeds `faces` of `photo`, one embedding per face. A plugin error fails this photo.
    pub fn embed(&mut self, photo: &Photo, faces: &[Face]) -> Result<Vec<Embedding>, PluginError> {
        let out = self
            .inner
            .embed(photo.view(), RSlice::from_slice(faces))
            .into_result()?
            .into_vec();
        if out.len() != faces.len() {
            return Err(PluginError::new(
                facelab_plugin_api::ErrorCode::INFERENCE,
                format!(
                    "recognizer returned {} embeddings for {} faces",
                    out.len(),
                    faces.len()
                ),
                "this is a bug in the plugin",
            ));
        }
        Ok(out)
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Euclidean distance of two vectors as the model gave them (dlib's same-person metric).
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// The largest face: the one a single-face photo (a face set's crop, or "compare these two
/// photos") is about.
pub fn largest(faces: &[Face]) -> Option<&Face> {
    faces
        .iter()
        .max_by(|a, b| (a.bbox.width * a.bbox.height).total_cmp(&(b.bbox.width * b.bbox.height)))
}
