//! facelab plugin for face detectors that run on OpenCV's DNN module (Debian's OpenCV 4.6).
//!
//! Kinds, all letterboxed (aspect-preserving) with boxes mapped back to photo pixels:
//! - `ssd`: OpenCV's ResNet-10 SSD face detector, as the TensorFlow 8-bit graph
//!   (`.pb` + `.pbtxt`) or the Caffe model (`.caffemodel` + `.prototxt`);
//! - `yunet`: YuNet 2023mar (`.onnx`) with 5 landmarks, decoded here because OpenCV 4.6's
//!   `FaceDetectorYN` cannot load it;
//! - `yolo`: Darknet YOLOv3-family face detectors (`.cfg` + `.weights`), with the input size
//!   and heads read from the `.cfg`.
//!
//! Every exported function runs behind [`facelab_plugin_kit::guard`], and OpenCV errors
//! become [`PluginError`]s that name the model file.
#![deny(missing_docs)]
#![allow(non_local_definitions)]

mod darknet;
mod dnn;
mod embedder;
mod image;
mod ssd;
mod yunet;

use std::sync::Mutex;

use abi_stable::std_types::RString;
use facelab_plugin_kit::api::{CreateArgs, ErrorCode, PluginError};
use facelab_plugin_kit::kinds::{load_detector, recognizer_box, Constructor, Kind, Plugin};
use facelab_plugin_kit::options::out_of_range;
use serde::Deserialize;

use crate::dnn::DetectorOptions;
use crate::embedder::EmbedderOptions;

/// The OpenCV keys, taken by every kind (detectors and the embedder).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenCvKeys {
    /// OpenCV worker threads; 0 keeps OpenCV's default (all cores). OpenCV's thread pool
    /// is process-wide, so this is a plugin-level setting: see [`OpenCvKeys::apply_threads`].
    pub threads: u32,
}

/// The thread count this process's OpenCV was set to, once set.
static THREADS: Mutex<Option<u32>> = Mutex::new(None);

impl OpenCvKeys {
    /// Sets OpenCV's process-wide thread count once: the first instance that asks for a
    /// count (> 0) sets it; a later one asking for the same count is fine, a different
    /// count is refused (it would silently change the instances already running), and 0
    /// leaves it alone.
    pub fn apply_threads(&self, section: &str) -> Result<(), PluginError> {
        if self.threads == 0 {
            return Ok(());
        }
        let mut set = THREADS.lock().unwrap_or_else(|p| p.into_inner());
        match *set {
            Some(n) if n == self.threads => Ok(()),
            Some(n) => Err(out_of_range(
                section,
                "threads",
                self.threads,
                &format!(
                    "{n} or 0: OpenCV's thread count is process-wide and an earlier opencv-dnn instance set it to {n}; give every opencv-dnn section the same `threads`"
                ),
            )),
            None => {
                opencv::core::set_num_threads(self.threads as i32)
                    .map_err(|e| cv_error(ErrorCode::OTHER, "set_num_threads", e))?;
                *set = Some(self.threads);
                Ok(())
            }
        }
    }
}

/// Parses the detector options, quiets OpenCV's log and applies the thread count: what
/// every detector constructor does first.
fn detector_options(args: &CreateArgs<'_>) -> Result<DetectorOptions, PluginError> {
    quiet_opencv_log();
    let options = DetectorOptions::parse(args.options_toml.as_str())?;
    options.cv.apply_threads("detector.options")?;
    Ok(options)
}

fn check_detector(text: &str) -> Result<(), PluginError> {
    DetectorOptions::parse(text).map(drop)
}

/// The plugin's kinds: info, dispatch and help all come from this table.
static PLUGIN: Plugin = Plugin {
    name: "opencv-dnn",
    version: env!("CARGO_PKG_VERSION"),
    kinds: &[
        Kind {
            name: "ssd",
            help: "OpenCV ResNet-10 SSD face detector (TensorFlow uint8 or Caffe), letterboxed",
            new: Constructor::Detector(|args| load_detector(args, detector_options, ssd::load)),
            check_options: check_detector,
        },
        Kind {
            name: "yunet",
            help: "YuNet face detector with 5 landmarks (ONNX, 2023mar), letterboxed",
            new: Constructor::Detector(|args| load_detector(args, detector_options, yunet::load)),
            check_options: check_detector,
        },
        Kind {
            name: "yolo",
            help: "Darknet YOLOv3-family face detector (.cfg + .weights), letterboxed",
            new: Constructor::Detector(|args| load_detector(args, detector_options, darknet::load)),
            check_options: check_detector,
        },
        Kind {
            name: "embedder",
            help: "face embedding network (ONNX, TensorFlow .pb or Torch .t7) with its declared alignment profile",
            new: Constructor::Recognizer(|args| {
                quiet_opencv_log();
                Ok(recognizer_box(embedder::Embedder::new(args)?))
            }),
            check_options: |text| EmbedderOptions::parse(text).map(drop),
        },
    ],
};

facelab_plugin_kit::export_plugin!(PLUGIN);

/// The OpenCV version string, for [`facelab_plugin_kit::api::ModelInfo::backend`].
pub(crate) fn backend_name() -> RString {
    format!(
        "opencv-dnn {}",
        opencv::core::get_version_string().unwrap_or_default()
    )
    .into()
}

/// OpenCV prints its own `[ERROR]` lines to stderr; its errors reach the user as facelab
/// errors naming the file, so its log is kept to fatal messages unless `OPENCV_LOG_LEVEL`
/// asks for more.
fn quiet_opencv_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("OPENCV_LOG_LEVEL").is_none() {
            let _ = opencv::core::set_log_level(opencv::core::LogLevel::LOG_LEVEL_FATAL);
        }
    });
}

/// Maps an OpenCV error to a [`PluginError`] with context.
pub(crate) fn cv_error(code: ErrorCode, context: &str, e: opencv::Error) -> PluginError {
    PluginError::new(code, format!("{context}: {}", e.message), "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_kit::options::option_key;

    #[test]
    fn opencv_threads_are_set_once_per_process() {
        let keys = |threads| OpenCvKeys { threads };
        keys(0).apply_threads("detector.options").unwrap();
        keys(2).apply_threads("detector.options").unwrap();
        assert_eq!(opencv::core::get_num_threads().unwrap(), 2);
        keys(2).apply_threads("recognizer.options").unwrap();
        keys(0).apply_threads("recognizer.options").unwrap();
        let e = keys(1).apply_threads("recognizer.options").unwrap_err();
        assert_eq!(option_key(&e), Some("recognizer.options.threads"), "{e}");
        assert!(e.message.contains("process-wide"), "{e}");
        assert_eq!(
            opencv::core::get_num_threads().unwrap(),
            2,
            "a refused request leaves the count alone"
        );
    }
}
