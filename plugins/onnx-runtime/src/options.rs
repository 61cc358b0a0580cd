//! `[detector.options]` of every onnx-runtime detector kind, validated once into typed
//! values.

use facelab_plugin_kit::api::{ErrorCode, PluginError};
use facelab_plugin_kit::geometry::FaceFilter;
use serde::Deserialize;

use crate::runtime::{Provider, SessionConfig};

/// The options table. Same shape as the opencv-dnn plugin's, plus the ONNX Runtime keys
/// (`threads`, `execution_provider`, `ort_library`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorOptions {
    /// Faces scoring below this are dropped. facelab sets it from the model manifest's
    /// default when the config does not.
    pub score_threshold: f32,
    /// Faces whose shorter side is below this many photo pixels are dropped.
    pub min_face_size: f32,
    /// Boxes overlapping more than this IoU are merged by NMS.
    pub nms_iou: f32,
    /// Keep the aspect ratio (pad) instead of stretching the photo to the input shape.
    pub letterbox: bool,
    /// Network input width; default: the model's own, or the family's usual size for a
    /// model with a dynamic input. Must match a model with a fixed input.
    pub input_width: Option<u32>,
    /// Network input height; see `input_width`.
    pub input_height: Option<u32>,
    /// Run a model with a dynamic input at the photo's own size (long side capped at
    /// `max_input_side`, rounded up to a multiple of 32) instead of at a fixed size.
    /// Default: on for YuNet and RetinaFace, off for SCRFD (each as its authors evaluated
    /// it). Refused for a fixed-input model.
    pub photo_sized_input: Option<bool>,
    /// The longest input side with `photo_sized_input`.
    pub max_input_side: u32,
    /// ONNX Runtime intra-op threads for this detector.
    pub threads: u32,
    /// Where to run: `"cpu"`, or `"cuda"` / `"openvino"` in builds with those features.
    pub execution_provider: Provider,
    /// The ONNX Runtime library file; default: `ORT_DYLIB_PATH`, else the newest
    /// `libonnxruntime.so.1.*` that `scripts/setup.sh` unpacked.
    pub ort_library: Option<String>,
    /// Let idle ONNX Runtime workers spin between operators (lower latency on an idle
    /// machine, slower when the cores are shared).
    pub intra_op_spinning: bool,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            score_threshold: 0.5,
            min_face_size: 10.0,
            nms_iou: 0.4,
            letterbox: true,
            input_width: None,
            input_height: None,
            photo_sized_input: None,
            max_input_side: 1280,
            threads: 2,
            execution_provider: Provider::Cpu,
            ort_library: None,
            intra_op_spinning: false,
        }
    }
}

impl DetectorOptions {
    /// Checks every range, naming the key.
    pub fn validate(&self) -> Result<(), PluginError> {
        let bad = |key: &str, value: String, help: &str| {
            Err(PluginError::new(
                ErrorCode::INVALID_CONFIG,
                format!("detector.options.{key} = {value} is out of range"),
                help,
            ))
        };
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return bad(
                "score_threshold",
                self.score_threshold.to_string(),
                "use a value from 0 to 1",
            );
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return bad(
                "nms_iou",
                self.nms_iou.to_string(),
                "use a value from 0 to 1; 0.4 is usual",
            );
        }
        if self.min_face_size.is_nan() || self.min_face_size < 0.0 {
            return bad(
                "min_face_size",
                self.min_face_size.to_string(),
                "use 0 or more pixels",
            );
        }
        for (key, v) in [
            ("input_width", self.input_width),
            ("input_height", self.input_height),
        ] {
            if let Some(v) = v {
                if !(32..=4096).contains(&v) {
                    return bad(key, v.to_string(), "use a size from 32 to 4096");
                }
            }
        }
        if !(32..=8192).contains(&self.max_input_side) {
            return bad(
                "max_input_side",
                self.max_input_side.to_string(),
                "use a size from 32 to 8192",
            );
        }
        if !(1..=64).contains(&self.threads) {
            return bad(
                "threads",
                self.threads.to_string(),
                "use 1 to 64 threads; 2 is the default",
            );
        }
        Ok(())
    }

    /// The score, size and NMS filters.
    pub fn filter(&self) -> FaceFilter {
        FaceFilter {
            score_threshold: self.score_threshold,
            min_face_size: self.min_face_size,
            nms_iou: self.nms_iou,
        }
    }

    /// How to open the session.
    pub fn session(&self) -> SessionConfig<'_> {
        SessionConfig {
            ort_library: self.ort_library.as_deref(),
            threads: self.threads,
            provider: self.execution_provider,
            spinning: self.intra_op_spinning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_kit::parse_options;

    #[test]
    fn a_misspelt_key_is_an_error_naming_it() {
        let e = parse_options::<DetectorOptions>("treads = 4", "detector.options").unwrap_err();
        assert!(e.message.contains("treads"), "{e}");
    }

    #[test]
    fn an_out_of_range_value_names_the_key() {
        let o: DetectorOptions = parse_options("threads = 0", "detector.options").unwrap();
        assert!(o.validate().unwrap_err().message.contains("threads"));
        let o: DetectorOptions =
            parse_options("execution_provider = \"cpu\"", "detector.options").unwrap();
        assert!(o.validate().is_ok());
        assert!(parse_options::<DetectorOptions>(
            "execution_provider = \"tpu\"",
            "detector.options"
        )
        .is_err());
    }
}
