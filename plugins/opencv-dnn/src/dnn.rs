//! What the OpenCV detectors share: options, loading with clear errors, and the
//! letterbox → forward → decode → map back → filter pipeline. Each family only says how
//! to make its blob and how to decode its outputs.

use abi_stable::std_types::{RResult, RVec};
use facelab_plugin_kit::api::{Detector, ErrorCode, Face, ImageView, ModelInfo, PluginError};
use facelab_plugin_kit::geometry::{photo_sized_input, Letterbox};
use facelab_plugin_kit::options::{self, parse_with_backend};
use facelab_plugin_kit::{guard, model_mismatch};
use opencv::core::{Mat, Scalar, Vector};
use opencv::dnn::Net;
use opencv::prelude::*;

use crate::{cv_error, image, OpenCvKeys};

/// `[detector.options]` of every OpenCV detector kind: the kit's shared keys plus
/// `threads`.
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    /// The keys every detector backend takes.
    pub shared: options::DetectorOptions,
    /// The OpenCV keys.
    pub cv: OpenCvKeys,
}

impl DetectorOptions {
    /// Parses and validates the options table (without touching OpenCV's threads).
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let (shared, cv): (options::DetectorOptions, OpenCvKeys) =
            parse_with_backend(text, options::DetectorOptions::SECTION)?;
        shared.validate()?;
        Ok(DetectorOptions { shared, cv })
    }
}

// The families read the shared keys (`options.input_width`) as if they were this struct's.
impl std::ops::Deref for DetectorOptions {
    type Target = options::DetectorOptions;
    fn deref(&self) -> &Self::Target {
        &self.shared
    }
}

impl std::ops::DerefMut for DetectorOptions {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.shared
    }
}

/// How a family turns pixels into a blob.
#[derive(Debug, Clone, Copy)]
pub struct BlobSpec {
    /// Mean subtracted per channel (in the blob's channel order).
    pub mean: Scalar,
    /// Factor applied after subtracting the mean.
    pub scale: f64,
    /// Swap BGR to RGB.
    pub swap_rb: bool,
    /// Padding colour (BGR); the mean, so padding reads as zero.
    pub pad: Scalar,
}

/// One detector family on OpenCV DNN.
pub trait Family: Send {
    /// Blob parameters.
    fn blob(&self) -> BlobSpec;
    /// Decodes the outputs (in `output_names` order) into faces in network pixels.
    fn decode(
        &self,
        outputs: &[Mat],
        input_w: u32,
        input_h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError>;
}

/// The fix for a model file of another family than the kind's.
const CHECK_FILES: &str =
    "check `model` / `model_files` and `kind` in [detector]: each kind runs one model family";

/// A loaded network of some family.
pub struct DnnDetector<F: Family> {
    net: Net,
    family: F,
    outputs: Vector<String>,
    input_w: u32,
    input_h: u32,
    options: DetectorOptions,
    info: ModelInfo,
}

/// An error for a model file OpenCV cannot read.
pub fn load_error(file: &str, e: opencv::Error) -> PluginError {
    PluginError::new(
        ErrorCode::MODEL,
        format!("cannot load model {file}: {}", e.message.lines().next().unwrap_or("")),
        "the file is corrupt or not the format its name says; `facelab models verify` re-checks cached models",
    )
}

impl<F: Family> DnnDetector<F> {
    /// Wraps a loaded network; checks that it has `expected_outputs` (when given) and that a
    /// probe forward succeeds and decodes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        net: Net,
        family: F,
        file: &str,
        kind: &str,
        expected_outputs: Option<&[&str]>,
        (input_w, input_h): (u32, u32),
        options: DetectorOptions,
        info: ModelInfo,
    ) -> Result<Self, PluginError> {
        let mismatch = |what: &str, help: &str| {
            model_mismatch(file, format_args!("does not fit kind {kind}"), what, help)
        };
        if net.empty().unwrap_or(true) {
            return Err(mismatch("the network is empty", CHECK_FILES));
        }
        let outputs = net
            .get_unconnected_out_layers_names()
            .map_err(|e| load_error(file, e))?;
        if let Some(expected) = expected_outputs {
            let found = outputs.to_vec();
            let missing: Vec<_> = expected
                .iter()
                .filter(|e| !found.iter().any(|f| f == *e))
                .collect();
            if !missing.is_empty() {
                return Err(mismatch(
                    &format!("outputs {missing:?} missing (found {found:?})"),
                    CHECK_FILES,
                ));
            }
        }
        let mut detector = DnnDetector {
            net,
            family,
            outputs: expected_outputs
                .map(|e| Vector::from_iter(e.iter().copied()))
                .unwrap_or(outputs),
            input_w,
            input_h,
            options,
            info,
        };
        let probe =
            Mat::new_rows_cols_with_default(64, 64, opencv::core::CV_8UC3, Scalar::all(0.0))
                .map_err(|e| load_error(file, e))?;
        let lb = Letterbox::fit(64, 64, input_w, input_h);
        detector
            .run(&probe, &lb)
            .map_err(|e| mismatch(e.message.as_str(), CHECK_FILES))?;
        Ok(detector)
    }

    /// The network input for a `width × height` photo.
    fn input_size(&self, width: u32, height: u32) -> (u32, u32) {
        if !self.options.photo_sized_input.unwrap_or(false) {
            return (self.input_w, self.input_h);
        }
        photo_sized_input(width, height, self.options.max_input_side)
    }

    fn run(&mut self, bgr: &Mat, lb: &Letterbox) -> Result<Vec<Face>, PluginError> {
        let spec = self.family.blob();
        let blob = image::letterbox_blob(bgr, lb, spec.pad, spec.mean, spec.scale, spec.swap_rb)?;
        self.net
            .set_input(&blob, "", 1.0, Scalar::default())
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "set_input", e))?;
        let mut outs = Vector::<Mat>::new();
        self.net
            .forward(&mut outs, &self.outputs)
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "forward", e))?;
        self.family.decode(
            &outs.to_vec(),
            lb.dst_w,
            lb.dst_h,
            self.options.score_threshold,
        )
    }

    fn detect_faces(&mut self, view: &ImageView<'_>) -> Result<Vec<Face>, PluginError> {
        let bgr = image::to_bgr_mat(view)?;
        let (in_w, in_h) = self.input_size(view.width, view.height);
        let lb = self.options.fit_input(view.width, view.height, in_w, in_h);
        let faces = self.run(&bgr, &lb)?;
        Ok(self
            .options
            .faces_in_photo(&lb, faces, view.width, view.height))
    }
}

impl<F: Family> Detector for DnnDetector<F> {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
        guard("detection", || self.detect_faces(&image).map(RVec::from))
    }
}

/// The f32 data of output `index`, named `name` for messages.
pub fn output_data<'a>(
    outputs: &'a [Mat],
    index: usize,
    name: &str,
) -> Result<&'a [f32], PluginError> {
    let m = outputs.get(index).ok_or_else(|| {
        PluginError::new(
            ErrorCode::INFERENCE,
            format!("output {name} is missing"),
            "",
        )
    })?;
    m.data_typed::<f32>()
        .map_err(|e| cv_error(ErrorCode::INFERENCE, &format!("output {name}"), e))
}
