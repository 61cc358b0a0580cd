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

use abi_stable::std_types::{RResult, RSlice, RString, RVec};
use facelab_plugin_kit::api::{
    BBox, Detector, Embedding, EmbeddingSpec, ErrorCode, Face, ImageView, LicenceClass, Metric,
    ModelInfo, PluginError, Recognizer,
};
use facelab_plugin_kit::kinds::{detector_box, recognizer_box, Constructor, Kind, Plugin};
use facelab_plugin_kit::options::{out_of_range, parse_with_backend};
use facelab_plugin_kit::{guard, pixels};
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

/// Options of the `whole-image` detector (besides [`FaultOptions`], read from the same
/// table by [`parse_with_backend`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WholeImageOptions {
    /// Fraction of each side to leave out around the face box (0 to 0.45).
    pub margin: f32,
}

impl WholeImageOptions {
    /// Parses and checks `[detector.options]`.
    pub fn parse(text: &str) -> Result<(Self, FaultOptions), PluginError> {
        let (options, faults): (Self, FaultOptions) = parse_with_backend(text, "detector.options")?;
        if !(0.0..0.45).contains(&options.margin) {
            return Err(out_of_range(
                "detector.options",
                "margin",
                options.margin,
                "a fraction from 0 to 0.45",
            ));
        }
        Ok((options, faults))
    }
}

/// Detector `whole-image`: the whole photo is one face.
pub struct WholeImage {
    options: WholeImageOptions,
    faults: FaultOptions,
}

impl Detector for WholeImage {
    fn info(&self) -> ModelInfo {
        model_info("whole-image", None)
    }

    fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
        guard("whole-image detection", || {
            pixels::validate(&image)?;
            self.faults.check(&image)?;
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

/// Options of the `pixels` recognizer (besides [`FaultOptions`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PixelsOptions {
    /// Thumbnail side; the embedding has `size²` dimensions.
    pub size: u32,
}

impl Default for PixelsOptions {
    fn default() -> Self {
        PixelsOptions { size: 16 }
    }
}

impl PixelsOptions {
    /// Parses and checks `[recognizer.options]`.
    pub fn parse(text: &str) -> Result<(Self, FaultOptions), PluginError> {
        let (options, faults): (Self, FaultOptions) =
            parse_with_backend(text, "recognizer.options")?;
        if !(2..=64).contains(&options.size) {
            return Err(out_of_range(
                "recognizer.options",
                "size",
                options.size,
                "a whole number from 2 to 64",
            ));
        }
        Ok((options, faults))
    }
}

/// Recognizer `pixels`: the face's grey thumbnail, zero-mean, unit length.
pub struct Pixels {
    options: PixelsOptions,
    faults: FaultOptions,
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
            self.faults.check(&image)?;
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

/// The plugin's kinds: info, dispatch and help all come from this table.
static PLUGIN: Plugin = Plugin {
    name: "example",
    version: env!("CARGO_PKG_VERSION"),
    kinds: &[
        Kind {
            name: "whole-image",
            help: "the whole photo is one face (for pre-cropped face sets)",
            new: Constructor::Detector(|args| {
                let (options, faults) = WholeImageOptions::parse(args.options_toml.as_str())?;
                Ok(detector_box(WholeImage { options, faults }))
            }),
            check_options: |text| WholeImageOptions::parse(text).map(drop),
        },
        Kind {
            name: "pixels",
            help: "grey thumbnail baseline, size² dimensions",
            new: Constructor::Recognizer(|args| {
                let (options, faults) = PixelsOptions::parse(args.options_toml.as_str())?;
                Ok(recognizer_box(Pixels { options, faults }))
            }),
            check_options: |text| PixelsOptions::parse(text).map(drop),
        },
    ],
};

facelab_plugin_kit::export_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_kit::api::{CreateArgs, PixelFormat};
    use facelab_plugin_kit::options::option_key;

    #[test]
    fn own_and_fault_keys_share_one_table_and_typos_are_errors() {
        let (o, f) = WholeImageOptions::parse("margin = 0.1\nfail_on_width = 7").unwrap();
        assert_eq!((o.margin, f.fail_on_width), (0.1, Some(7)));
        // With `flatten`, this typo used to be swallowed.
        let e = WholeImageOptions::parse("fail_on_widht = 7").unwrap_err();
        assert_eq!(
            option_key(&e),
            Some("detector.options.fail_on_widht"),
            "{e}"
        );
        let e = WholeImageOptions::parse("margin = 0.5").unwrap_err();
        assert_eq!(option_key(&e), Some("detector.options.margin"), "{e}");
        let e = PixelsOptions::parse("size = \"big\"").unwrap_err();
        assert_eq!(
            e.message.as_str(),
            "recognizer.options.size = \"big\": expected a whole number"
        );
    }

    #[test]
    fn the_root_module_creates_the_kinds_of_its_table() {
        let module = root_module();
        let info = (module.plugin_info())();
        assert_eq!(info.detectors[0].name.as_str(), "whole-image");
        assert_eq!(info.recognizers[0].name.as_str(), "pixels");
        let files = [];
        let args = CreateArgs {
            kind: "whole-image".into(),
            model_id: "".into(),
            model_files: RSlice::from_slice(&files),
            options_toml: "margin = 0.25".into(),
        };
        let mut detector = (module.new_detector())(&args).unwrap();
        let pixels = [0u8; 8 * 4 * 3];
        let view = ImageView::packed(&pixels, 8, 4, PixelFormat::Rgb8).unwrap();
        let faces = detector.detect(view).unwrap();
        assert_eq!(faces[0].bbox, BBox::new(2.0, 1.0, 4.0, 2.0));
        let check = module.check_options().expect("check_options is exported");
        assert!(check(&args).is_ok());
    }
}
