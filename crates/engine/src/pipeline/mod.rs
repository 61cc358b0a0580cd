//! Detector and recognizer instances built from the config's sections, with errors that
//! name the config key.

use std::path::PathBuf;

use abi_stable::std_types::{RResult, RSlice, RStr};
use facelab_plugin_api::{CreateArgs, LicenceClass, ModelInfo, PluginError};

use crate::config::{Config, ConfigError, ModelSection};
use crate::plugins::{LoadErrors, PluginSet, SearchPath};
use facelab_models::fetch::{hash_file, FetchObserver};
use facelab_models::manifest::Threshold;
use facelab_models::{
    FetchError, LicenceClass as ManifestLicence, Manifest, ManifestError, ModelStore, Role,
    StoreSettings,
};

mod detector;
mod recognizer;

pub use detector::FaceDetector;
pub use facelab_cluster::linalg::{cosine, distance};
pub use recognizer::{largest, FaceRecognizer, RecognizerMember};

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
        /// `detector`, `recognizer` or `recognizer.fuse[i]`.
        section: String,
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

/// Resolves the model of the section `name` (`detector`, `recognizer`,
/// `recognizer.fuse[i]`): a manifest id is fetched and verified through `store`; user files
/// are checked for existence and, when given, their sha256.
pub fn resolve_model(
    config: &Config,
    name: &str,
    role: Role,
    section: &ModelSection,
    store: &ModelStore,
    observer: &dyn FetchObserver,
) -> Result<ResolvedModel, PipelineError> {
    if !section.model_files.is_empty() || section.model.is_empty() {
        check_user_files(config, name, section)?;
        return Ok(user_model(section, store));
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
        files.extend(fetch_landmarks(config, name, id, store, observer)?);
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

/// Checks the user's `model_files`: each exists and, when `model_sha256` gives one, has
/// that sha256.
fn check_user_files(
    config: &Config,
    name: &str,
    section: &ModelSection,
) -> Result<(), PipelineError> {
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
    Ok(())
}

/// The user's own files as a [`ResolvedModel`], with the manifest's facts when it knows
/// the model's label.
fn user_model(section: &ModelSection, store: &ModelStore) -> ResolvedModel {
    let known = store.manifest.get(&section.model);
    ResolvedModel {
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
    }
}

/// The files of `[<name>].landmarks`, which must name a landmarks model.
fn fetch_landmarks(
    config: &Config,
    name: &str,
    id: &str,
    store: &ModelStore,
    observer: &dyn FetchObserver,
) -> Result<Vec<PathBuf>, PipelineError> {
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
    Ok(store.fetch(lm, observer)?)
}

/// The plugins a config names (the detector's and every recognizer model's), loaded from
/// the config's search path.
pub fn load_plugins(config: &Config) -> Result<PluginSet, LoadErrors> {
    let search = SearchPath::new(&config.plugins.search_path, Some(&config.dir()));
    let members = config.recognizer_members();
    let names = std::iter::once(config.detector.plugin.as_str())
        .chain(members.iter().map(|(_, m)| m.plugin.as_str()));
    PluginSet::load(names, &search)
}

/// Checks that `section.kind` (of the section `name`, a `role` model) is one of the
/// plugin's `kinds` and merges the manifest's declared facts into the plugin's options (for
/// the plugin kinds the manifest says run the model), so each default lives in one place:
/// the manifest.
fn prepared_options(
    config: &Config,
    (name, role): (&str, Role),
    section: &ModelSection,
    kinds: &abi_stable::std_types::RVec<facelab_plugin_api::KindInfo>,
    manifest: Option<&facelab_models::Model>,
    warnings: &mut Vec<String>,
) -> Result<toml::Table, PipelineError> {
    check_kind(config, (name, role), section, kinds)?;
    let mut options = section.options.clone();
    let plugin_kind = format!("{}:{}", section.plugin, section.kind);
    let Some(m) = manifest.filter(|m| m.runs_on.contains(&plugin_kind)) else {
        return Ok(options);
    };
    match m.role {
        Role::Detector => merge_detector_defaults(&mut options, name, m, warnings),
        Role::Recognizer => merge_recognizer_defaults(&mut options, section, m),
        Role::Landmarks => {}
    }
    Ok(options)
}

/// `section.kind` must be one of the plugin's `kinds` of this role.
fn check_kind(
    config: &Config,
    (name, role): (&str, Role),
    section: &ModelSection,
    kinds: &abi_stable::std_types::RVec<facelab_plugin_api::KindInfo>,
) -> Result<(), PipelineError> {
    if kinds.iter().any(|k| k.name == section.kind.as_str()) {
        return Ok(());
    }
    let known: Vec<_> = kinds.iter().map(|k| k.name.to_string()).collect();
    let role = role.name();
    Err(config
        .invalid(
            format!("{name}.kind"),
            format!(
                "= \"{}\" is not a {role} of plugin `{}`",
                section.kind, section.plugin
            ),
            if known.is_empty() {
                format!("this plugin has no {role}s; choose another plugin")
            } else {
                format!("use one of: {}", known.join(", "))
            },
        )
        .into())
}

/// A detector's `score_threshold`: the model's default when absent, a warning when it is
/// outside the model's usable range.
fn merge_detector_defaults(
    options: &mut toml::Table,
    name: &str,
    m: &facelab_models::Model,
    warnings: &mut Vec<String>,
) {
    let Some(t) = m.threshold else {
        return;
    };
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

/// A recognizer's alignment profile, input spec, embedding size and landmark model.
fn merge_recognizer_defaults(
    options: &mut toml::Table,
    section: &ModelSection,
    m: &facelab_models::Model,
) {
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

/// The error for a plugin's refusal. An option error (its message begins with the dotted
/// key, see [`facelab_plugin_kit::options::option_key`]) names the config file's line of
/// that key; a key the config does not set (a manifest default) falls back to naming the
/// plugin and kind. A plugin names a recognizer's option `recognizer.options.KEY`; for a
/// fuse member (`section_name` `recognizer.fuse[i]`) that becomes
/// `recognizer.fuse[i].options.KEY`, the key the user wrote.
fn create_error(
    config: &Config,
    section_name: &str,
    section: &ModelSection,
    mut error: PluginError,
) -> PipelineError {
    let mut key = facelab_plugin_kit::options::option_key(&error).map(str::to_owned);
    if let (true, Some(rest)) = (
        section_name.starts_with("recognizer.fuse"),
        key.as_deref()
            .and_then(|k| k.strip_prefix("recognizer.options.")),
    ) {
        let member_key = format!("{section_name}.options.{rest}");
        let message = error
            .message
            .as_str()
            .replacen("recognizer.options.", "", 1);
        error.message = format!("{section_name}.options.{message}").into();
        key = Some(member_key);
    }
    let at_line =
        key.and_then(|key| config.invalid_at(&key, error.message.as_str(), error.help.as_str()));
    if let Some(e) = at_line {
        return e.into();
    }
    PipelineError::Create {
        config: config.source.clone(),
        section: section_name.to_owned(),
        plugin: section.plugin.clone(),
        kind: section.kind.clone(),
        error: Box::new(error),
    }
}

/// Resolves the `[detector]` model of `config` (fetching through `observer`), builds the
/// detector and prints its licence notice and option warnings on stderr.
pub fn open_detector(
    config: &Config,
    plugins: &PluginSet,
    store: &ModelStore,
    observer: &dyn FetchObserver,
) -> Result<(FaceDetector, ResolvedModel), PipelineError> {
    check_options(
        config,
        plugins,
        store,
        ("detector", Role::Detector),
        &config.detector,
    )?;
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

/// [`open_detector`] for the `[recognizer]` and its `[[recognizer.fuse]]` models: every
/// model's options are checked before any is fetched, and a licence notice is printed for
/// each model that needs one. Returns the recognizer with the resolved model of each
/// member, in config order; `None` when the config has no `[recognizer]`.
pub fn open_recognizer(
    config: &Config,
    plugins: &PluginSet,
    store: &ModelStore,
    observer: &dyn FetchObserver,
) -> Result<Option<(FaceRecognizer, Vec<ResolvedModel>)>, PipelineError> {
    let members = config.recognizer_members();
    if members.is_empty() {
        return Ok(None);
    }
    for (name, section) in &members {
        check_options(config, plugins, store, (name, Role::Recognizer), section)?;
    }
    let models = members
        .iter()
        .map(|(name, section)| {
            resolve_model(config, name, Role::Recognizer, section, store, observer)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let recognizer = FaceRecognizer::from_config(config, plugins, &models)?;
    // A notice for each model that needs one, then the warnings once.
    for (i, (member, model)) in recognizer.members().iter().zip(&models).enumerate() {
        let warnings: &[String] = if i == 0 { &recognizer.warnings } else { &[] };
        print_notices(&member.info, model, warnings);
    }
    Ok(Some((recognizer, models)))
}

/// Checks `[<name>]`'s options (with the manifest's declared values merged in) through
/// the plugin's `check_options` before its model is resolved, so a wrong option is
/// reported before any download. A plugin built before `check_options` existed has
/// none; its options are checked when the instance is created.
fn check_options(
    config: &Config,
    plugins: &PluginSet,
    store: &ModelStore,
    (name, role): (&str, Role),
    section: &ModelSection,
) -> Result<(), PipelineError> {
    let plugin = plugins
        .get(&section.plugin)
        .expect("load_plugins loads every configured plugin");
    let kinds = if role == Role::Detector {
        &plugin.info.detectors
    } else {
        &plugin.info.recognizers
    };
    let manifest = store.manifest.get(&section.model);
    let options = prepared_options(
        config,
        (name, role),
        section,
        kinds,
        manifest,
        &mut Vec::new(),
    )?;
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
