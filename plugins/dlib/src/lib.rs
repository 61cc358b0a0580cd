//! facelab plugin for dlib (Debian's `libdlib-dev` 19.24), the third framework behind the
//! same ABI: what a native C++ library backend takes.
//!
//! Kinds:
//! - `hog`: dlib's frontal face detector (HOG + linear SVM, built into dlib, no model file);
//! - `mmod`: dlib's CNN face detector (`mmod_human_face_detector.dat`);
//! - `resnet`: dlib's ResNet face embedder, 128-D, euclidean, with dlib's 5-point shape
//!   predictor for alignment, giving face_recognition 1.3's embeddings.
//!
//! The C++ side is one translation unit (`cpp/bridge.cpp`) behind a small `extern "C"` API
//! ([`ffi`]). It catches every C++ exception (dlib reports a bad model file by throwing
//! `serialization_error`) and returns it as a one-line message, because an exception that
//! unwinds into Rust is undefined behaviour. Above it, every exported function runs behind
//! [`facelab_plugin_kit::guard`] as in the other plugins.
#![deny(missing_docs)]
#![allow(non_local_definitions)]

pub mod detector;
pub mod embedder;
pub mod ffi;
pub mod image;

use abi_stable::std_types::RString;
use facelab_plugin_kit::api::PluginError;
use facelab_plugin_kit::kinds::{detector_box, recognizer_box, Constructor, Kind, Plugin};
use facelab_plugin_kit::model_mismatch;

use crate::detector::{DetectorOptions, DlibDetector};
use crate::embedder::{DlibResnet, ResnetOptions};

/// The plugin's kinds: info, dispatch and help all come from this table.
static PLUGIN: Plugin = Plugin {
    name: "dlib",
    version: env!("CARGO_PKG_VERSION"),
    kinds: &[
        Kind {
            name: "hog",
            help: "dlib's HOG frontal face detector (built in, no model file), on the photo upsampled `upsample` times",
            new: Constructor::Detector(|args| Ok(detector_box(DlibDetector::hog(args)?))),
            check_options: |text| DetectorOptions::parse(text).map(drop),
        },
        Kind {
            name: "mmod",
            help: "dlib's MMOD CNN face detector (mmod_human_face_detector.dat), on the photo upsampled `upsample` times",
            new: Constructor::Detector(|args| Ok(detector_box(DlibDetector::mmod(args)?))),
            check_options: |text| DetectorOptions::parse(text).map(drop),
        },
        Kind {
            name: "resnet",
            help: "dlib's ResNet 128-D face embedder (euclidean), aligned by dlib's 5-point shape predictor as face_recognition does",
            new: Constructor::Recognizer(|args| Ok(recognizer_box(DlibResnet::new(args)?))),
            check_options: |text| ResnetOptions::parse(text).map(drop),
        },
    ],
};

facelab_plugin_kit::export_plugin!(PLUGIN);

/// `dlib 19.24.0`, for [`facelab_plugin_kit::api::ModelInfo::backend`].
pub(crate) fn backend_name() -> RString {
    format!("dlib {}", ffi::dlib_version()).into()
}

/// The one-line error for a model file dlib cannot read as `expected`.
pub(crate) fn model_error(file: &str, expected: &str, e: &ffi::BridgeError) -> PluginError {
    model_mismatch(
        file,
        format_args!("is not {expected}"),
        e,
        "the file is truncated, damaged or another model; fetch it again (`facelab models fetch`) or fix `model_files`",
    )
}
