//! dlib's two face detectors, `hog` (frontal_face_detector, built into dlib) and `mmod`
//! (the CNN in `mmod_human_face_detector.dat`), run as face_recognition runs them: on the
//! photo itself, upsampled `upsample` times (default 1, face_recognition's default).
//!
//! Scores: dlib reports a detection margin (an SVM or CNN output, unbounded, kept when
//! above 0 by default). facelab's score is its logistic, `1 / (1 + e^-margin)`, so the
//! kit's default `score_threshold` 0.5 is dlib's own threshold 0, and a lower threshold
//! asks dlib for the candidates below it (the margin is passed as dlib's
//! `adjust_threshold`). dlib's rectangles are inclusive; a box is
//! `(left, top, right − left + 1, bottom − top + 1)`.

use std::path::Path;

use abi_stable::std_types::{RResult, RVec};
use facelab_plugin_kit::api::{
    BBox, CreateArgs, Detector, ErrorCode, Face, ImageView, LicenceClass, ModelInfo, PluginError,
};
use facelab_plugin_kit::options::{self, check_threads, out_of_range, parse_with_backend};
use facelab_plugin_kit::{check_readable, guard, model_file, model_info, pixels};
use serde::Deserialize;

use crate::ffi::{Detection, FaceDetector};
use crate::image::fit;
use crate::{backend_name, model_error};

/// The dlib keys of `[detector.options]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlibDetectorKeys {
    /// How many times the photo is doubled before detection (dlib's `pyramid_up`); each
    /// doubling finds faces half as small at four times the cost. face_recognition's
    /// default is 1.
    pub upsample: u32,
    /// BLAS threads for `mmod`'s network (OpenBLAS, shared by the whole process; `hog`
    /// uses none). Unset: OpenBLAS's own default. facelab's scan sets 1 per worker.
    pub threads: Option<u32>,
}

impl Default for DlibDetectorKeys {
    fn default() -> Self {
        DlibDetectorKeys {
            upsample: 1,
            threads: None,
        }
    }
}

/// `[detector.options]` of kinds `hog` and `mmod`: the kit's shared keys plus `upsample`.
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    /// The keys every detector takes. `max_input_side` caps the photo's long side before
    /// upsampling (dlib has no fixed input); the network-input keys do not apply.
    pub shared: options::DetectorOptions,
    /// The dlib keys.
    pub dlib: DlibDetectorKeys,
}

impl DetectorOptions {
    /// Parses and validates the options table.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let section = options::DetectorOptions::SECTION;
        let (shared, dlib): (options::DetectorOptions, DlibDetectorKeys) =
            parse_with_backend(text, section)?;
        shared.validate()?;
        for (key, set) in [
            ("input_width", shared.input_width.map(|v| v.to_string())),
            ("input_height", shared.input_height.map(|v| v.to_string())),
            (
                "photo_sized_input",
                shared.photo_sized_input.map(|v| v.to_string()),
            ),
        ] {
            if let Some(value) = set {
                return Err(out_of_range(
                    section,
                    key,
                    value,
                    "no value: dlib's detectors run on the photo itself; use `upsample` and `max_input_side`",
                ));
            }
        }
        if let Some(t) = dlib.threads {
            check_threads(section, t, None)?;
        }
        if dlib.upsample > 3 {
            return Err(out_of_range(
                section,
                "upsample",
                dlib.upsample,
                "0 to 3 (each doubles the photo; 1 is face_recognition's default)",
            ));
        }
        Ok(DetectorOptions { shared, dlib })
    }
}

/// The margin dlib is asked to keep from, for a score threshold (the logit of the score).
fn margin_for(score_threshold: f32) -> f64 {
    let t = (score_threshold as f64).clamp(1e-6, 1.0 - 1e-6);
    (t / (1.0 - t)).ln()
}

/// facelab's score for a dlib margin.
pub fn score_of(margin: f64) -> f32 {
    (1.0 / (1.0 + (-margin).exp())) as f32
}

/// A dlib detection as a face in photo pixels, given the reduction factors.
pub fn face_of(d: &Detection, scale: [f32; 2]) -> Face {
    let (x, y) = (d.left as f32 * scale[0], d.top as f32 * scale[1]);
    let w = (d.right - d.left + 1) as f32 * scale[0];
    let h = (d.bottom - d.top + 1) as f32 * scale[1];
    Face::new(BBox::new(x, y, w, h), score_of(d.confidence))
}

/// A loaded dlib detector.
pub struct DlibDetector {
    engine: FaceDetector,
    options: DetectorOptions,
    info: ModelInfo,
}

/// A detector's info: dlib's detectors have no fixed network input.
fn info(args: &CreateArgs<'_>, default_id: &str, licence: LicenceClass) -> ModelInfo {
    model_info(args, default_id, backend_name(), licence, (0, 0))
}

impl DlibDetector {
    /// `hog`: dlib's built-in frontal face detector; it takes no model file.
    pub fn hog(args: &CreateArgs<'_>) -> Result<Self, PluginError> {
        let options = DetectorOptions::parse(args.options_toml.as_str())?;
        if let Some(f) = args.model_files.first() {
            return Err(PluginError::new(
                ErrorCode::MODEL,
                format!("the hog detector is built into dlib and takes no model file, but got {f}"),
                "remove `model` and `model_files` from [detector]",
            ));
        }
        let hog = FaceDetector::hog().map_err(|e| {
            PluginError::new(
                ErrorCode::MODEL,
                format!("dlib's frontal face detector: {e}"),
                "",
            )
        })?;
        Ok(DlibDetector {
            engine: hog,
            options,
            // dlib's detector is trained on public data and ships under the Boost licence.
            info: info(args, "dlib-hog", LicenceClass::Permissive),
        })
    }

    /// `mmod`: the CNN in `mmod_human_face_detector.dat`.
    pub fn mmod(args: &CreateArgs<'_>) -> Result<Self, PluginError> {
        let options = DetectorOptions::parse(args.options_toml.as_str())?;
        if let Some(t) = options.dlib.threads {
            crate::ffi::set_blas_threads(t);
        }
        let file = model_file(args.model_files.as_slice(), &[".dat"], "mmod")?;
        check_readable(file)?;
        let net = FaceDetector::mmod(Path::new(file)).map_err(|e| {
            model_error(
                file,
                "dlib's MMOD CNN face detector (mmod_human_face_detector.dat)",
                &e,
            )
        })?;
        Ok(DlibDetector {
            engine: net,
            options,
            info: info(args, "dlib-mmod", LicenceClass::Permissive),
        })
    }
}

impl Detector for DlibDetector {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
        guard("detection", || {
            pixels::validate(&image)?;
            let (img, scale) = fit(&image, self.options.shared.max_input_side);
            let (upsample, margin) = (
                self.options.dlib.upsample,
                margin_for(self.options.shared.score_threshold),
            );
            let found = self
                .engine
                .detect(&img.as_rgb(), upsample, margin)
                .map_err(|e| PluginError::new(ErrorCode::INFERENCE, format!("dlib: {e}"), ""))?;
            let faces = found.iter().map(|d| face_of(d, scale)).collect();
            Ok(self
                .options
                .shared
                .filter()
                .apply(faces, image.width, image.height)
                .into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_kit::options::option_key;

    #[test]
    fn the_default_threshold_is_dlibs_own() {
        assert!(margin_for(0.5).abs() < 1e-9);
        assert!((score_of(0.0) - 0.5).abs() < 1e-6);
        assert!((score_of(margin_for(0.3) + 1e-9) - 0.3).abs() < 1e-5);
    }

    #[test]
    fn inclusive_rectangles_become_boxes() {
        let d = Detection {
            left: 10,
            top: 20,
            right: 109,
            bottom: 219,
            confidence: 1.0,
        };
        let f = face_of(&d, [1.0, 1.0]);
        assert_eq!(f.bbox, BBox::new(10.0, 20.0, 100.0, 200.0));
        assert_eq!(
            face_of(&d, [2.0, 2.0]).bbox,
            BBox::new(20.0, 40.0, 200.0, 400.0)
        );
    }

    #[test]
    fn network_input_keys_and_big_upsampling_are_refused_by_key() {
        for (text, key) in [
            ("input_width = 640", "detector.options.input_width"),
            (
                "photo_sized_input = true",
                "detector.options.photo_sized_input",
            ),
            ("upsample = 5", "detector.options.upsample"),
            ("upsample = \"2\"", "detector.options.upsample"),
        ] {
            let e = DetectorOptions::parse(text).unwrap_err();
            assert_eq!(option_key(&e), Some(key), "{e}");
        }
        let o = DetectorOptions::parse("upsample = 2\nscore_threshold = 0.4").unwrap();
        assert_eq!((o.dlib.upsample, o.shared.score_threshold), (2, 0.4));
    }
}
