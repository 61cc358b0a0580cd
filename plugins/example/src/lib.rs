//! The template for a new facelab backend: copy this crate, rename it, and replace the two
//! model implementations. See this crate's README for a walk-through.
//!
//! It provides, in pure Rust and with no model file:
//! - detector `whole-image`: treats the photo as one face crop (for pre-cropped sets such
//!   as ORL or LFW), optionally inset by a margin;
//! - recognizer `pixels`: a grey `size × size` thumbnail of the face, zero-mean and
//!   L2-normalised — a weak but honest baseline for the benchmark.
//!
//! Both accept `fail_on_width` and `panic_on_width` options, which make them fail or panic
//! on images of that width. The host's tests use these to prove that a failing or
//! panicking plugin costs one photo, not the run.
#![deny(missing_docs)]
#![allow(non_local_definitions)]

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RString, RVec},
};
use facelab_plugin_kit::api::{
    BBox, CreateArgs, Detector, DetectorBox, Detector_TO, Embedding, EmbeddingSpec, ErrorCode,
    Face, ImageView, KindInfo, LicenceClass, Metric, ModelInfo, PluginError, PluginInfo,
    PluginModule, PluginModule_Ref, Recognizer, RecognizerBox, Recognizer_TO, CAP_DETECT_V1,
    CAP_EMBED_V1, CAP_PANIC_SAFE,
};
use facelab_plugin_kit::{guard, parse_options, pixels};
use serde::Deserialize;

/// Options that make a model misbehave on demand, for testing the host's containment.
#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct FaultOptions {
    /// Return an error for images of this width.
    pub fail_on_width: Option<u32>,
    /// Panic on images of this width.
    pub panic_on_width: Option<u32>,
}

impl FaultOptions {
    fn check(&self, image: &ImageView<'_>) -> Result<(), PluginError> {
        if self.panic_on_width == Some(image.width) {
            panic!("panic_on_width = {} was requested", image.width);
        }
        if self.fail_on_width == Some(image.width) {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!("fail_on_width = {} was requested", image.width),
                "remove fail_on_width from the options",
            ));
        }
        Ok(())
    }
}

/// Options of the `whole-image` detector.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WholeImageOptions {
    /// Fraction of each side to leave out around the face box (0 to 0.45).
    pub margin: f32,
    /// Fault injection.
    #[serde(flatten)]
    pub faults: FaultOptions,
}

/// Detector `whole-image`: the whole photo is one face.
pub struct WholeImage {
    options: WholeImageOptions,
}

impl Detector for WholeImage {
    fn info(&self) -> ModelInfo {
        model_info("whole-image", None)
    }

    fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
        guard("whole-image detection", || {
            pixels::validate(&image)?;
            self.options.faults.check(&image)?;
            let (w, h) = (image.width as f32, image.height as f32);
            let m = self.options.margin;
            let face = Face::new(
                BBox::new(w * m, h * m, w * (1.0 - 2.0 * m), h * (1.0 - 2.0 * m)),
                1.0,
            );
            Ok(RVec::from(vec![face]))
        })
    }
}

/// Options of the `pixels` recognizer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PixelsOptions {
    /// Thumbnail side; the embedding has `size²` dimensions.
    pub size: u32,
    /// Fault injection.
    #[serde(flatten)]
    pub faults: FaultOptions,
}

impl Default for PixelsOptions {
    fn default() -> Self {
        PixelsOptions {
            size: 16,
            faults: FaultOptions::default(),
        }
    }
}

/// Recognizer `pixels`: the face's grey thumbnail, zero-mean, unit length.
pub struct Pixels {
    options: PixelsOptions,
}

impl Pixels {
    fn embed_one(&self, image: &ImageView<'_>, face: &Face) -> Embedding {
        let n = self.options.size as usize;
        let b = face.bbox;
        let mut values = Vec::with_capacity(n * n);
        // Box-filter each cell of an n×n grid over the face box.
        for gy in 0..n {
            for gx in 0..n {
                let x0 = b.x + b.width * gx as f32 / n as f32;
                let y0 = b.y + b.height * gy as f32 / n as f32;
                let x1 = b.x + b.width * (gx + 1) as f32 / n as f32;
                let y1 = b.y + b.height * (gy + 1) as f32 / n as f32;
                let clampx = |v: f32| (v.max(0.0) as u32).min(image.width - 1);
                let clampy = |v: f32| (v.max(0.0) as u32).min(image.height - 1);
                let (xa, xb) = (clampx(x0), clampx(x1 - 1e-3).max(clampx(x0)));
                let (ya, yb) = (clampy(y0), clampy(y1 - 1e-3).max(clampy(y0)));
                let mut sum = 0u64;
                for y in ya..=yb {
                    for x in xa..=xb {
                        sum += pixels::luma(image, x, y) as u64;
                    }
                }
                values.push(sum as f32 / ((xb - xa + 1) * (yb - ya + 1)) as f32);
            }
        }
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        values.iter_mut().for_each(|v| *v -= mean);
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            values.iter_mut().for_each(|v| *v /= norm);
        }
        Embedding {
            values: RVec::from(values),
            normalized: norm > 0.0,
        }
    }
}

impl Recognizer for Pixels {
    fn info(&self) -> ModelInfo {
        model_info(
            "pixels",
            Some(EmbeddingSpec {
                dim: self.options.size * self.options.size,
                metric: Metric::Cosine,
            }),
        )
    }

    fn embed(
        &mut self,
        image: ImageView<'_>,
        faces: RSlice<'_, Face>,
    ) -> RResult<RVec<Embedding>, PluginError> {
        guard("pixels embedding", || {
            pixels::validate(&image)?;
            self.options.faults.check(&image)?;
            Ok(faces.iter().map(|f| self.embed_one(&image, f)).collect())
        })
    }
}

fn model_info(id: &str, embedding: Option<EmbeddingSpec>) -> ModelInfo {
    ModelInfo {
        id: RString::from(id),
        backend: RString::from(concat!("facelab-example ", env!("CARGO_PKG_VERSION"))),
        licence: LicenceClass::Permissive,
        input_width: 0,
        input_height: 0,
        embedding: embedding.into(),
    }
}

fn kind(name: &str, description: &str) -> KindInfo {
    KindInfo {
        name: name.into(),
        description: description.into(),
    }
}

fn unknown_kind(kind: &str, known: &str) -> PluginError {
    PluginError::new(
        ErrorCode::UNKNOWN_KIND,
        format!("the example plugin has no kind `{kind}`"),
        format!("use {known}"),
    )
}

extern "C" fn plugin_info() -> PluginInfo {
    PluginInfo {
        name: "example".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        detectors: RVec::from(vec![kind(
            "whole-image",
            "the whole photo is one face (for pre-cropped face sets)",
        )]),
        recognizers: RVec::from(vec![kind(
            "pixels",
            "grey thumbnail baseline, size² dimensions",
        )]),
        capabilities: [CAP_DETECT_V1, CAP_EMBED_V1, CAP_PANIC_SAFE]
            .into_iter()
            .map(RString::from)
            .collect(),
    }
}

extern "C" fn new_detector(args: &CreateArgs<'_>) -> RResult<DetectorBox, PluginError> {
    guard("detector creation", || match args.kind.as_str() {
        "whole-image" => {
            let options: WholeImageOptions =
                parse_options(args.options_toml.as_str(), "detector.options")?;
            if !(0.0..0.45).contains(&options.margin) {
                return Err(PluginError::new(
                    ErrorCode::INVALID_CONFIG,
                    format!(
                        "detector.options.margin = {} is out of range",
                        options.margin
                    ),
                    "use a value from 0 to 0.45",
                ));
            }
            Ok(Detector_TO::from_value(WholeImage { options }, TD_Opaque))
        }
        other => Err(unknown_kind(other, "`whole-image`")),
    })
}

extern "C" fn new_recognizer(args: &CreateArgs<'_>) -> RResult<RecognizerBox, PluginError> {
    guard("recognizer creation", || match args.kind.as_str() {
        "pixels" => {
            let options: PixelsOptions =
                parse_options(args.options_toml.as_str(), "recognizer.options")?;
            if !(2..=64).contains(&options.size) {
                return Err(PluginError::new(
                    ErrorCode::INVALID_CONFIG,
                    format!("recognizer.options.size = {} is out of range", options.size),
                    "use a value from 2 to 64",
                ));
            }
            Ok(Recognizer_TO::from_value(Pixels { options }, TD_Opaque))
        }
        other => Err(unknown_kind(other, "`pixels`")),
    })
}

/// The export, in its own module: the macro adds an undocumented static.
#[allow(missing_docs)]
mod export {
    use super::*;

    /// The plugin's root module, found by the host through `abi_stable`.
    #[export_root_module]
    pub fn root_module() -> PluginModule_Ref {
        PluginModule {
            plugin_info,
            new_detector,
            new_recognizer,
        }
        .leak_into_prefix()
    }
}
