//! facelab plugin for face detectors and embedders that run on ONNX Runtime, with pixel preprocessing in
//! Rust (no OpenCV).
//!
//! ONNX Runtime runs graphs that Debian's OpenCV 4.6 cannot (SCRFD's dynamic `Shape` op,
//! YuNet at any input size), so this plugin carries the families that need it. Kinds, each
//! letterboxed with boxes and landmarks mapped back to photo pixels:
//! - `yunet`: YuNet 2023mar with 5 landmarks, the dynamic model at the photo's own size or
//!   the fixed 640×640 model; decoded by the kit's YuNet decoder, shared with opencv-dnn;
//! - `scrfd`: InsightFace SCRFD (`*_bnkps`) with 5 landmarks;
//! - `ultraface`: Ultra-Light-Fast RFB-320/640, boxes only;
//! - `retinaface`: RetinaFace MobileNet-0.25 with 5 landmarks, priors decoded here;
//! - recognizer `embedder`: an ONNX embedding model aligned by its declared profile
//!   (`facelab_plugin_kit::align`, shared with the opencv-dnn embedder).
//!
//! Each kind reads its model's declared inputs and outputs when it loads and refuses a model
//! of another family, naming the file and the mismatch; outputs are identified by their
//! declared row lengths and actual row counts, never by guessing from node names. The ONNX
//! Runtime library is found and loaded in one place (`runtime.rs`) with an error, not a
//! panic, when it is missing or too old. Every exported function runs behind
//! [`facelab_plugin_kit::guard`].
#![deny(missing_docs)]
// `#[sabi_trait]`-generated impls (through the API's trait objects) are non-local.
#![allow(non_local_definitions)]

mod detector;
mod embedder;
mod options;
mod retinaface;
mod runtime;
mod scrfd;
mod tensor;
mod ultraface;
mod yunet;

use abi_stable::std_types::RString;
use facelab_plugin_kit::api::{CreateArgs, LicenceClass, ModelInfo, PluginError};
use facelab_plugin_kit::kinds::{load_detector, recognizer_box, Constructor, Kind, Plugin};
use facelab_plugin_kit::{check_readable, model_file};
use ort::session::Session;

use crate::detector::{InputSize, ModelIo};
use crate::options::{DetectorOptions, EmbedderOptions};

/// The plugin's name, as the host config's `plugin` key names it.
pub const PLUGIN_NAME: &str = "onnx-runtime";

fn check_detector(text: &str) -> Result<(), PluginError> {
    DetectorOptions::parse(text).map(drop)
}

/// Every detector kind's options, parsed from its arguments before it loads.
fn detector_options(args: &CreateArgs<'_>) -> Result<DetectorOptions, PluginError> {
    DetectorOptions::parse(args.options_toml.as_str())
}

/// The plugin's kinds: info, dispatch and help all come from this table.
static PLUGIN: Plugin = Plugin {
    name: PLUGIN_NAME,
    version: env!("CARGO_PKG_VERSION"),
    kinds: &[
        Kind {
            name: "yunet",
            help: "YuNet face detector with 5 landmarks (ONNX 2023mar; dynamic input at the photo's size, or fixed 640x640)",
            new: Constructor::Detector(|args| load_detector(args, detector_options, yunet::load)),
            check_options: check_detector,
        },
        Kind {
            name: "scrfd",
            help: "InsightFace SCRFD face detector with 5 landmarks (*_bnkps.onnx), letterboxed",
            new: Constructor::Detector(|args| load_detector(args, detector_options, scrfd::load)),
            check_options: check_detector,
        },
        Kind {
            name: "ultraface",
            help: "Ultra-Light-Fast face detector RFB-320/640 (ONNX), boxes only, letterboxed",
            new: Constructor::Detector(|args| load_detector(args, detector_options, ultraface::load)),
            check_options: check_detector,
        },
        Kind {
            name: "retinaface",
            help: "RetinaFace MobileNet-0.25 face detector with 5 landmarks (ONNX), letterboxed",
            new: Constructor::Detector(|args| load_detector(args, detector_options, retinaface::load)),
            check_options: check_detector,
        },
        Kind {
            name: "embedder",
            help: "face embedding ONNX model with its declared alignment profile",
            new: Constructor::Recognizer(|args| Ok(recognizer_box(embedder::Embedder::new(args)?))),
            check_options: |text| EmbedderOptions::parse(text).map(drop),
        },
    ],
};

facelab_plugin_kit::export_plugin!(PLUGIN);

/// Opens the `.onnx` among `args.model_files` and reads its declared interface.
pub(crate) fn load_model(
    args: &CreateArgs<'_>,
    options: &DetectorOptions,
    family: &'static str,
) -> Result<(Session, ModelIo), PluginError> {
    let file = model_file(args.model_files.as_slice(), &[".onnx"], args.kind.as_str())?;
    check_readable(file)?;
    let session = runtime::open_session(file, &options.ort.session())?;
    let io = ModelIo::read(&session, file, family)?;
    Ok((session, io))
}

/// The backend name: ONNX Runtime's version (from the loaded library's versioned file
/// name; `ort` checked it is at least 1.31 when loading) and the execution provider.
fn backend_name(options: &DetectorOptions) -> RString {
    let version = runtime::loaded_library()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .map(|n| match n.strip_prefix("libonnxruntime.so.") {
            Some(v) => v.to_owned(),
            None => format!("({n})"),
        })
        .unwrap_or_default();
    let provider = format!("{:?}", options.ort.execution_provider).to_lowercase();
    format!("onnxruntime {version} ({provider})").into()
}

/// The [`ModelInfo`] of a loaded model.
pub(crate) fn model_info(
    args: &CreateArgs<'_>,
    options: &DetectorOptions,
    default_id: &str,
    licence: LicenceClass,
    size: InputSize,
) -> ModelInfo {
    facelab_plugin_kit::model_info(
        args,
        default_id,
        backend_name(options),
        licence,
        size.declared(),
    )
}
