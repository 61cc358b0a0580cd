//! The stable contract between the `facelab` host and its plugins.
//!
//! A plugin is a `cdylib` that exports one [`PluginModule`] root module through
//! `abi_stable`. The host decodes photos itself and hands plugins borrowed pixels
//! ([`ImageView`]); plugins never open files other than the model files the host resolved
//! for them. Detectors return [`Face`]s in absolute pixels of the image they were given;
//! recognizers align each face with their own model's profile and return [`Embedding`]s.
//!
//! This crate holds the contract and nothing else: no logic, no I/O. Its version is the
//! ABI version. Root-module fields only grow below `#[sabi(last_prefix_field)]`, and read
//! as `Option` (`missing_field(option)`), so a newer plugin loads in an older host. The
//! other direction does not hold yet: abi_stable 0.11's layout check refuses a plugin whose
//! root module has fewer fields than the host's (a known abi_stable bug:
//! abi_stable_crates#118), so a
//! plugin built before a field was appended must be rebuilt; `facelab` says so in one line.
//! New abilities are announced through [`PluginInfo::capabilities`] rather than by
//! changing existing signatures.
//!
//! # A complete minimal plugin
//!
//! ```
//! use abi_stable::{export_root_module, prefix_type::PrefixTypeTrait, sabi_trait::TD_Opaque,
//!     std_types::{RResult::{self, RErr, ROk}, RString, RVec}};
//! use facelab_plugin_api::*;
//!
//! struct WholeImage;
//! impl Detector for WholeImage {
//!     fn info(&self) -> ModelInfo {
//!         ModelInfo { id: "whole-image".into(), backend: "doc".into(),
//!             licence: LicenceClass::Permissive, input_width: 0, input_height: 0,
//!             embedding: None.into() }
//!     }
//!     fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
//!         ROk(RVec::from(vec![Face::new(BBox::new(0.0, 0.0, image.width as f32,
//!             image.height as f32), 1.0)]))
//!     }
//! }
//! extern "C" fn plugin_info() -> PluginInfo {
//!     PluginInfo {
//!         name: "doc".into(), version: "0.1.0".into(),
//!         detectors: RVec::from(vec![KindInfo { name: "whole-image".into(),
//!             description: "the whole photo is one face".into() }]),
//!         recognizers: RVec::new(),
//!         capabilities: [CAP_DETECT_V1, CAP_PANIC_SAFE].into_iter().map(RString::from).collect(),
//!     }
//! }
//! extern "C" fn new_detector(args: &CreateArgs<'_>) -> RResult<DetectorBox, PluginError> {
//!     ROk(Detector_TO::from_value(WholeImage, TD_Opaque))
//! }
//! extern "C" fn new_recognizer(args: &CreateArgs<'_>) -> RResult<RecognizerBox, PluginError> {
//!     RErr(PluginError::new(ErrorCode::UNKNOWN_KIND, "no recognizers", ""))
//! }
//! extern "C" fn check_options(args: &CreateArgs<'_>) -> RResult<(), PluginError> {
//!     ROk(())
//! }
//! #[export_root_module]
//! fn root() -> PluginModule_Ref {
//!     PluginModule { plugin_info, new_detector, new_recognizer, check_options }
//!         .leak_into_prefix()
//! }
//!
//! # fn main() {
//! // The host reaches the same functions through the loaded library's root module.
//! let module = root();
//! assert_eq!((module.plugin_info())().detectors[0].name.as_str(), "whole-image");
//! let args = CreateArgs { kind: "whole-image".into(), model_id: "".into(),
//!     model_files: Default::default(), options_toml: "".into() };
//! let mut detector = (module.new_detector())(&args).unwrap();
//! let pixels = [0u8; 4 * 3 * 3];
//! let faces = detector.detect(ImageView::packed(&pixels, 4, 3, PixelFormat::Rgb8).unwrap()).unwrap();
//! assert_eq!(faces[0].bbox, BBox::new(0.0, 0.0, 4.0, 3.0));
//! assert!(module.check_options().is_some());
//! # }
//! ```
//!
//! `plugins/example` in the facelab repository is this plugin, complete and tested.
#![deny(missing_docs)]
// `#[sabi_trait]` expands to impls that rustc >= 1.80 flags as non-local definitions.
#![allow(non_local_definitions, non_camel_case_types)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

/// Capability: the plugin implements [`Detector`] kinds (ABI 0.1).
pub const CAP_DETECT_V1: &str = "detect.v1";
/// Capability: the plugin implements [`Recognizer`] kinds with batched `embed` (ABI 0.1).
pub const CAP_EMBED_V1: &str = "embed.v1";
/// Capability: every exported function catches panics and returns [`ErrorCode::PANIC`].
pub const CAP_PANIC_SAFE: &str = "panic-safe";

/// Layout of the pixels in an [`ImageView`]. Every format is 8 bits per channel.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Blue, green, red: 3 bytes per pixel (OpenCV's order).
    Bgr8,
    /// Red, green, blue: 3 bytes per pixel.
    Rgb8,
    /// One grey byte per pixel.
    Gray8,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub const fn channels(self) -> usize {
        match self {
            PixelFormat::Bgr8 | PixelFormat::Rgb8 => 3,
            PixelFormat::Gray8 => 1,
        }
    }
}

/// Borrowed 8-bit pixels of one decoded, EXIF-oriented photo.
///
/// Row `y` starts at byte `y * stride` of `pixels`; a row holds `width * channels` bytes
/// followed by optional padding up to `stride`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct ImageView<'a> {
    /// The pixel bytes, at least `stride * (height - 1) + width * channels` long.
    pub pixels: RSlice<'a, u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from the start of one row to the start of the next.
    pub stride: u32,
    /// Channel order.
    pub format: PixelFormat,
}

impl<'a> ImageView<'a> {
    /// A view of tightly packed rows, or `None` when `pixels` is too short for the size.
    pub fn packed(pixels: &'a [u8], width: u32, height: u32, format: PixelFormat) -> Option<Self> {
        let stride = (width as usize).checked_mul(format.channels())?;
        let needed = stride.checked_mul(height as usize)?;
        (pixels.len() >= needed && stride <= u32::MAX as usize).then_some(ImageView {
            pixels: RSlice::from_slice(pixels),
            width,
            height,
            stride: stride as u32,
            format,
        })
    }

    /// Whether the buffer is long enough for the declared size and stride.
    pub fn is_consistent(&self) -> bool {
        let row = self.width as usize * self.format.channels();
        if self.height == 0 || self.width == 0 {
            return true;
        }
        (self.stride as usize) >= row
            && self.stride as usize * (self.height as usize - 1) + row <= self.pixels.len()
    }
}

/// An axis-aligned box in absolute pixels of the EXIF-oriented image: top-left corner
/// `(x, y)`, size `width × height`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl BBox {
    /// A box from its top-left corner and size.
    pub const fn new(x: f32, y: f32, width: f32, height: f32) -> Self {
        BBox {
            x,
            y,
            width,
            height,
        }
    }
}

/// A point in absolute pixels of the EXIF-oriented image.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Default)]
pub struct Point2 {
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
}

/// Five facial landmarks, in this order (as seen in the image, not from the subject's
/// point of view): **0** eye on the left of the image, **1** eye on the right, **2** nose
/// tip, **3** mouth corner on the left, **4** mouth corner on the right. This is the order
/// of the ArcFace alignment template and of the YuNet/SCRFD/RetinaFace outputs.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Default)]
pub struct Landmarks5 {
    /// The five points, in the documented order.
    pub points: [Point2; 5],
}

/// One detected face.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// The face box, absolute pixels of the oriented image.
    pub bbox: BBox,
    /// Detector confidence; higher is more certain. Its range is the model's own.
    pub score: f32,
    /// Five landmarks when the detector provides them.
    pub landmarks: ROption<Landmarks5>,
}

impl Face {
    /// A face with no landmarks.
    pub const fn new(bbox: BBox, score: f32) -> Self {
        Face {
            bbox,
            score,
            landmarks: ROption::RNone,
        }
    }
}

/// A face embedding.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The vector; its length is the embedding's dimension.
    pub values: RVec<f32>,
    /// Whether `values` has unit L2 norm.
    pub normalized: bool,
}

impl Embedding {
    /// The embedding's dimension.
    pub fn dim(&self) -> usize {
        self.values.len()
    }
}

/// How a model's licence lets it be used.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceClass {
    /// MIT, Apache-2.0, BSD, public domain and alike: commercial use allowed.
    Permissive,
    /// Non-commercial research use only.
    Research,
    /// The source states no licence.
    Unknown,
}

/// How two embeddings of a model are compared.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Cosine similarity: higher is more alike.
    Cosine,
    /// Euclidean distance: lower is more alike.
    Euclidean,
}

/// What a recognizer's embeddings look like.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingSpec {
    /// Dimension.
    pub dim: u32,
    /// How to compare two embeddings.
    pub metric: Metric,
}

/// Facts about the model behind a detector or recognizer instance.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The model's id (from the host's manifest, or one the plugin chose).
    pub id: RString,
    /// The inference backend, for example `opencv-dnn 4.6.0`.
    pub backend: RString,
    /// The licence class of the weights.
    pub licence: LicenceClass,
    /// Network input width in pixels (0 when dynamic).
    pub input_width: u32,
    /// Network input height in pixels (0 when dynamic).
    pub input_height: u32,
    /// For recognizers, the embedding's dimension and metric.
    pub embedding: ROption<EmbeddingSpec>,
}

/// The class of a [`PluginError`]. New codes may be added; unknown ones read as "other".
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Anything else.
    pub const OTHER: ErrorCode = ErrorCode(0);
    /// The plugin's options table is invalid. When one option is at fault, the message
    /// begins with its dotted key (`detector.options.min_face_size = "big": expected a
    /// number`), which the host maps to the config file's line.
    pub const INVALID_CONFIG: ErrorCode = ErrorCode(1);
    /// The requested detector/recognizer kind does not exist in this plugin.
    pub const UNKNOWN_KIND: ErrorCode = ErrorCode(2);
    /// A model file is missing, corrupt, or not the model the kind expects.
    pub const MODEL: ErrorCode = ErrorCode(3);
    /// The image or faces passed in cannot be processed.
    pub const INVALID_INPUT: ErrorCode = ErrorCode(4);
    /// The inference backend failed.
    pub const INFERENCE: ErrorCode = ErrorCode(5);
    /// The plugin panicked; the panic was caught inside the plugin.
    pub const PANIC: ErrorCode = ErrorCode(6);

    /// A short lowercase name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::INVALID_CONFIG => "invalid-config",
            ErrorCode::UNKNOWN_KIND => "unknown-kind",
            ErrorCode::MODEL => "model",
            ErrorCode::INVALID_INPUT => "invalid-input",
            ErrorCode::INFERENCE => "inference",
            ErrorCode::PANIC => "panic",
            _ => "other",
        }
    }
}

/// An error that crosses the plugin boundary: what failed, and how to fix it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct PluginError {
    /// The class of error.
    pub code: ErrorCode,
    /// What went wrong, naming the file, key or input concerned.
    pub message: RString,
    /// How to fix it; may be empty.
    pub help: RString,
}

impl PluginError {
    /// An error from its parts.
    pub fn new(code: ErrorCode, message: impl Into<RString>, help: impl Into<RString>) -> Self {
        PluginError {
            code,
            message: message.into(),
            help: help.into(),
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if !self.help.is_empty() {
            write!(f, " (help: {})", self.help)?;
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}

/// A face detector instance, created by [`PluginModule::new_detector`].
#[sabi_trait]
pub trait Detector: Send {
    /// Facts about the loaded model.
    fn info(&self) -> ModelInfo;

    /// Finds the faces in one image. Boxes and landmarks are absolute pixels of `image`.
    #[sabi(last_prefix_field)]
    fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError>;
}

/// A face recognizer instance, created by [`PluginModule::new_recognizer`].
#[sabi_trait]
pub trait Recognizer: Send {
    /// Facts about the loaded model, including the embedding's dimension and metric.
    fn info(&self) -> ModelInfo;

    /// Aligns each of `faces` (found in `image`) with the model's own profile and embeds
    /// it. Returns one embedding per face, in order.
    #[sabi(last_prefix_field)]
    fn embed(
        &mut self,
        image: ImageView<'_>,
        faces: RSlice<'_, Face>,
    ) -> RResult<RVec<Embedding>, PluginError>;
}

/// An owned detector behind the ABI.
pub type DetectorBox = Detector_TO<'static, RBox<()>>;
/// An owned recognizer behind the ABI.
pub type RecognizerBox = Recognizer_TO<'static, RBox<()>>;

/// One detector or recognizer kind a plugin provides.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct KindInfo {
    /// The name used in the host config's `kind` key.
    pub name: RString,
    /// One line saying what it runs.
    pub description: RString,
}

/// What a plugin library provides.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct PluginInfo {
    /// The plugin's name, as the host config's `plugin` key names it.
    pub name: RString,
    /// The plugin crate's own version (not the ABI version).
    pub version: RString,
    /// Detector kinds.
    pub detectors: RVec<KindInfo>,
    /// Recognizer kinds.
    pub recognizers: RVec<KindInfo>,
    /// Capability strings such as [`CAP_DETECT_V1`]; the host checks for the ones it needs.
    pub capabilities: RVec<RString>,
}

/// Everything a constructor needs to build one detector or recognizer instance.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct CreateArgs<'a> {
    /// The kind, one of [`PluginInfo::detectors`] or [`PluginInfo::recognizers`].
    pub kind: RStr<'a>,
    /// The model id the host resolved (may be empty for a user-supplied file).
    pub model_id: RStr<'a>,
    /// Absolute paths of the model's files, already resolved and verified by the host.
    pub model_files: RSlice<'a, RStr<'a>>,
    /// The plugin's own options table, as TOML text; the plugin validates it.
    pub options_toml: RStr<'a>,
}

/// The root module every plugin exports with `#[export_root_module]`.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModule_Ref)))]
// `option`, not `panic`: a field appended below `last_prefix_field` reads as `None` from a
// plugin built before it existed, so that plugin still loads and works.
#[sabi(missing_field(option))]
pub struct PluginModule {
    /// Describes the plugin: name, kinds and capabilities.
    pub plugin_info: extern "C" fn() -> PluginInfo,
    /// Creates a detector of `args.kind`.
    pub new_detector: extern "C" fn(args: &CreateArgs<'_>) -> RResult<DetectorBox, PluginError>,
    /// Creates a recognizer of `args.kind`.
    #[sabi(last_prefix_field)]
    pub new_recognizer: extern "C" fn(args: &CreateArgs<'_>) -> RResult<RecognizerBox, PluginError>,
    /// Checks the options of `args.kind` without loading a model (`args.model_files` may
    /// be empty), so the host reports a wrong option before it fetches any model.
    /// Appended after the first release: the accessor returns `None` for an older plugin,
    /// whose options are then checked when the instance is created.
    pub check_options: extern "C" fn(args: &CreateArgs<'_>) -> RResult<(), PluginError>,
}

impl RootModule for PluginModule_Ref {
    declare_root_module_statics! {PluginModule_Ref}
    const BASE_NAME: &'static str = "facelab_plugin";
    const NAME: &'static str = "facelab_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The ABI version this crate defines (its own package version).
pub const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");
