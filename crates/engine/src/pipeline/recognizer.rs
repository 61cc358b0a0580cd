//! [`FaceRecognizer`]: a recognizer plugin instance that aligns and embeds faces.

use abi_stable::std_types::RSlice;
use facelab_plugin_api::{Embedding, Face, ModelInfo, PluginError, RecognizerBox};

use crate::config::Config;
use crate::photo::Photo;

use super::*;

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

/// The largest face: the one a single-face photo (a face set's crop, or "compare these two
/// photos") is about.
pub fn largest(faces: &[Face]) -> Option<&Face> {
    faces
        .iter()
        .max_by(|a, b| (a.bbox.width * a.bbox.height).total_cmp(&(b.bbox.width * b.bbox.height)))
}
