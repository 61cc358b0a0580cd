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

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RString, RVec},
};
use facelab_plugin_kit::api::{
    CreateArgs, DetectorBox, Detector_TO, ErrorCode, KindInfo, LicenceClass, ModelInfo,
    PluginError, PluginInfo, PluginModule, PluginModule_Ref, RecognizerBox, Recognizer_TO,
    CAP_DETECT_V1, CAP_EMBED_V1, CAP_PANIC_SAFE,
};
use facelab_plugin_kit::{check_readable, guard, model_file, parse_options};
use ort::session::Session;

use crate::detector::{InputSize, ModelIo};
use crate::options::DetectorOptions;

pub use export::root_module;

/// The plugin's name, as the host config's `plugin` key names it.
pub const PLUGIN_NAME: &str = "onnx-runtime";

/// The detector kinds and what each runs.
const KINDS: [(&str, &str); 4] = [
    (
        "yunet",
        "YuNet face detector with 5 landmarks (ONNX 2023mar; dynamic input at the photo's size, or fixed 640x640)",
    ),
    (
        "scrfd",
        "InsightFace SCRFD face detector with 5 landmarks (*_bnkps.onnx), letterboxed",
    ),
    (
        "ultraface",
        "Ultra-Light-Fast face detector RFB-320/640 (ONNX), boxes only, letterboxed",
    ),
    (
        "retinaface",
        "RetinaFace MobileNet-0.25 face detector with 5 landmarks (ONNX), letterboxed",
    ),
];

/// Opens the `.onnx` among `args.model_files` and reads its declared interface.
pub(crate) fn load_model(
    args: &CreateArgs<'_>,
    options: &DetectorOptions,
    family: &'static str,
) -> Result<(Session, ModelIo), PluginError> {
    let file = model_file(args.model_files.as_slice(), &[".onnx"], args.kind.as_str())?;
    check_readable(file)?;
    let session = runtime::open_session(file, &options.session())?;
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
    let provider = format!("{:?}", options.execution_provider).to_lowercase();
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
    let (input_width, input_height) = size.declared();
    ModelInfo {
        id: if args.model_id.is_empty() {
            default_id.into()
        } else {
            args.model_id.into()
        },
        backend: backend_name(options),
        licence,
        input_width,
        input_height,
        embedding: None.into(),
    }
}

extern "C" fn plugin_info() -> PluginInfo {
    PluginInfo {
        name: PLUGIN_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        detectors: KINDS
            .iter()
            .map(|(name, description)| KindInfo {
                name: (*name).into(),
                description: (*description).into(),
            })
            .collect(),
        recognizers: RVec::from(vec![KindInfo {
            name: "embedder".into(),
            description: "face embedding ONNX model with its declared alignment profile".into(),
        }]),
        capabilities: [CAP_DETECT_V1, CAP_EMBED_V1, CAP_PANIC_SAFE]
            .into_iter()
            .map(RString::from)
            .collect(),
    }
}

extern "C" fn new_detector(args: &CreateArgs<'_>) -> RResult<DetectorBox, PluginError> {
    guard("detector creation", || {
        let options: DetectorOptions =
            parse_options(args.options_toml.as_str(), "detector.options")?;
        options.validate()?;
        match args.kind.as_str() {
            "yunet" => Ok(Detector_TO::from_value(
                yunet::load(args, options)?,
                TD_Opaque,
            )),
            "scrfd" => Ok(Detector_TO::from_value(
                scrfd::load(args, options)?,
                TD_Opaque,
            )),
            "ultraface" => Ok(Detector_TO::from_value(
                ultraface::load(args, options)?,
                TD_Opaque,
            )),
            "retinaface" => Ok(Detector_TO::from_value(
                retinaface::load(args, options)?,
                TD_Opaque,
            )),
            other => Err(PluginError::new(
                ErrorCode::UNKNOWN_KIND,
                format!("the {PLUGIN_NAME} plugin has no detector kind `{other}`"),
                "use kind = \"yunet\", \"scrfd\", \"ultraface\" or \"retinaface\"",
            )),
        }
    })
}

extern "C" fn new_recognizer(args: &CreateArgs<'_>) -> RResult<RecognizerBox, PluginError> {
    guard("recognizer creation", || match args.kind.as_str() {
        "embedder" => Ok(Recognizer_TO::from_value(
            embedder::Embedder::new(args)?,
            TD_Opaque,
        )),
        other => Err(PluginError::new(
            ErrorCode::UNKNOWN_KIND,
            format!("the {PLUGIN_NAME} plugin has no recognizer kind `{other}`"),
            "use kind = \"embedder\"",
        )),
    })
}

/// The export, in its own module: the macro adds an undocumented static.
#[allow(missing_docs)]
mod export {
    use super::*;

    /// The plugin's root module, found by the host through `abi_stable`; in-process tests
    /// call it directly.
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
