//! [`FaceDetector`]: a detector plugin instance with the robust passes, the second look
//! and the facts the host shows about it.

use facelab_plugin_api::{DetectorBox, Face, ModelInfo, PluginError};

use crate::config::Config;
use crate::config::RobustOptions;
use crate::photo::Photo;
use crate::robust::{detect_robust, Pass};
use crate::verify::{verify, Verify, VerifyCounts};

use super::*;

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
            ("detector", Role::Detector),
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
