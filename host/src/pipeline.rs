//! Detector and recognizer instances built from the config's sections, with errors that
//! name the config key.

use std::path::PathBuf;

use abi_stable::std_types::{RResult, RSlice, RStr};
use facelab_plugin_api::{CreateArgs, DetectorBox, Face, LicenceClass, ModelInfo, PluginError};

use crate::config::{Config, ConfigError, ModelSection};
use crate::photo::Photo;
use crate::plugins::{LoadErrors, PluginSet, SearchPath};

/// Why the configured pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Plugins failed to load.
    #[error(transparent)]
    Load(#[from] LoadErrors),
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
}

impl FaceDetector {
    /// Builds the `[detector]` of `config` from `plugins`.
    pub fn from_config(config: &Config, plugins: &PluginSet) -> Result<Self, PipelineError> {
        let section = &config.detector;
        let plugin = plugins
            .get(&section.plugin)
            .expect("load_plugins loads every configured plugin");
        if !plugin
            .info
            .detectors
            .iter()
            .any(|k| k.name == section.kind.as_str())
        {
            let known: Vec<_> = plugin
                .info
                .detectors
                .iter()
                .map(|k| k.name.to_string())
                .collect();
            return Err(config
                .invalid(
                    "detector.kind".into(),
                    format!(
                        "= \"{}\" is not a detector of plugin `{}`",
                        section.kind, section.plugin
                    ),
                    if known.is_empty() {
                        "this plugin has no detectors; choose another plugin".to_owned()
                    } else {
                        format!("use one of: {}", known.join(", "))
                    },
                )
                .into());
        }
        let create = plugin.module.new_detector();
        let inner = with_args(section, |args| create(args))
            .into_result()
            .map_err(|error| PipelineError::Create {
                config: config.source.clone(),
                section: "detector",
                plugin: section.plugin.clone(),
                kind: section.kind.clone(),
                error: Box::new(error),
            })?;
        let info = inner.info();
        Ok(FaceDetector {
            inner,
            plugin: section.plugin.clone(),
            kind: section.kind.clone(),
            info,
        })
    }

    /// Finds the faces in `photo`. A plugin error (or caught panic) fails this photo only.
    pub fn detect(&mut self, photo: &Photo) -> Result<Vec<Face>, PluginError> {
        self.inner
            .detect(photo.view())
            .into_result()
            .map(|v| v.into_vec())
    }
}

/// A one-line notice for models that are not free for commercial use, or `None`.
pub fn licence_notice(info: &ModelInfo) -> Option<String> {
    match info.licence {
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
    f: impl FnOnce(&CreateArgs<'_>) -> RResult<T, PluginError>,
) -> RResult<T, PluginError> {
    let options = toml::to_string(&section.options).unwrap_or_default();
    let files: Vec<String> = section
        .model_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let file_strs: Vec<RStr<'_>> = files.iter().map(|s| RStr::from(s.as_str())).collect();
    let args = CreateArgs {
        kind: section.kind.as_str().into(),
        model_id: section.model_id.as_str().into(),
        model_files: RSlice::from_slice(&file_strs),
        options_toml: options.as_str().into(),
    };
    f(&args)
}
