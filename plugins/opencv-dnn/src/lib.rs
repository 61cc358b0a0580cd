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

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RString, RVec},
};
use facelab_plugin_kit::api::{
    CreateArgs, DetectorBox, Detector_TO, ErrorCode, KindInfo, PluginError, PluginInfo,
    PluginModule, PluginModule_Ref, RecognizerBox, Recognizer_TO, CAP_DETECT_V1, CAP_EMBED_V1,
    CAP_PANIC_SAFE,
};
use facelab_plugin_kit::{guard, parse_options};

fn kind(name: &str, description: &str) -> KindInfo {
    KindInfo {
        name: name.into(),
        description: description.into(),
    }
}

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

extern "C" fn plugin_info() -> PluginInfo {
    PluginInfo {
        name: "opencv-dnn".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        detectors: RVec::from(vec![
            kind(
                "ssd",
                "OpenCV ResNet-10 SSD face detector (TensorFlow uint8 or Caffe), letterboxed",
            ),
            kind(
                "yunet",
                "YuNet face detector with 5 landmarks (ONNX, 2023mar), letterboxed",
            ),
            kind(
                "yolo",
                "Darknet YOLOv3-family face detector (.cfg + .weights), letterboxed",
            ),
        ]),
        recognizers: RVec::from(vec![kind(
            "embedder",
            "face embedding network (ONNX, TensorFlow .pb or Torch .t7) with its declared alignment profile",
        )]),
        capabilities: [CAP_DETECT_V1, CAP_EMBED_V1, CAP_PANIC_SAFE]
            .into_iter()
            .map(RString::from)
            .collect(),
    }
}

extern "C" fn new_detector(args: &CreateArgs<'_>) -> RResult<DetectorBox, PluginError> {
    guard("detector creation", || {
        quiet_opencv_log();
        let options: dnn::DetectorOptions =
            parse_options(args.options_toml.as_str(), "detector.options")?;
        options.validate()?;
        match args.kind.as_str() {
            "ssd" => Ok(Detector_TO::from_value(
                ssd::load(args, options)?,
                TD_Opaque,
            )),
            "yunet" => Ok(Detector_TO::from_value(
                yunet::load(args, options)?,
                TD_Opaque,
            )),
            "yolo" => Ok(Detector_TO::from_value(
                darknet::load(args, options)?,
                TD_Opaque,
            )),
            other => Err(PluginError::new(
                ErrorCode::UNKNOWN_KIND,
                format!("the opencv-dnn plugin has no detector kind `{other}`"),
                "use kind = \"ssd\", \"yunet\" or \"yolo\"",
            )),
        }
    })
}

extern "C" fn new_recognizer(args: &CreateArgs<'_>) -> RResult<RecognizerBox, PluginError> {
    guard("recognizer creation", || {
        quiet_opencv_log();
        match args.kind.as_str() {
            "embedder" => Ok(Recognizer_TO::from_value(
                embedder::Embedder::new(args)?,
                TD_Opaque,
            )),
            other => Err(PluginError::new(
                ErrorCode::UNKNOWN_KIND,
                format!("the opencv-dnn plugin has no recognizer kind `{other}`"),
                "use kind = \"embedder\"",
            )),
        }
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
