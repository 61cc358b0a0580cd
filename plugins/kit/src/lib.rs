//! What every facelab plugin needs and should not write again.
//!
//! The plugin ABI ([`facelab_plugin_api`]) is a contract with no logic. This crate is the
//! logic that plugins share, linked statically into each one: the panic guard that keeps a
//! plugin's panic from crossing the FFI boundary, the kind table that drives a plugin's
//! info, dispatch and help ([`kinds`]), the options every backend shares, typed once with
//! errors that name the key and type ([`options`]), model-file lookup, the error for a model
//! that is not the one its kind runs ([`model_mismatch`]), and the detector geometry
//! (letterbox, box mapping, score and size filters, NMS) so every detector maps its output
//! back to the photo the same way.
#![deny(missing_docs)]

pub mod align;
pub mod decode;
pub mod geometry;
pub mod kinds;
pub mod options;
pub mod pixels;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::{RResult, RStr, RString, RVec};
pub use facelab_plugin_api as api;
use facelab_plugin_api::{
    CreateArgs, Embedding, ErrorCode, ImageView, LicenceClass, ModelInfo, PluginError,
};
use serde::de::DeserializeOwned;

/// Runs `f`, turning a panic into a [`PluginError`] with [`ErrorCode::PANIC`].
///
/// Every `extern "C"` function and trait method a plugin exports must run its body through
/// this: a panic that unwinds across the FFI boundary aborts the host.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.into(),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            RResult::RErr(PluginError::new(
                ErrorCode::PANIC,
                format!("plugin panicked during {what}: {text}"),
                "this is a bug in the plugin; the host skipped this input and carried on",
            ))
        }
    }
}

/// The frame of every recognizer's `embed`: under [`guard`], checks `image`'s pixels, gives
/// no embeddings for no faces (`faces` is their number) without calling `f`, and wraps the
/// vectors `f` computes, one per face, as embeddings that are `normalized` or not.
pub fn embed_guarded(
    image: &ImageView<'_>,
    faces: usize,
    normalized: bool,
    f: impl FnOnce() -> Result<Vec<Vec<f32>>, PluginError>,
) -> RResult<RVec<Embedding>, PluginError> {
    guard("embedding", || {
        pixels::validate(image)?;
        if faces == 0 {
            return Ok(RVec::new());
        }
        Ok(f()?
            .into_iter()
            .map(|v| Embedding {
                values: RVec::from(v),
                normalized,
            })
            .collect())
    })
}

/// Parses a plugin's options table (TOML text) into its typed options; an error names the
/// key, its value and the type it takes (see [`options`]).
///
/// Options structs should use `#[serde(deny_unknown_fields, default)]`, so a typo is an
/// error naming the key rather than a silently ignored setting.
pub fn parse_options<T: DeserializeOwned>(
    toml_text: &str,
    section: &str,
) -> Result<T, PluginError> {
    options::parse(toml_text, section)
}

/// Picks the model file whose name ends with one of `extensions` (case-insensitive).
pub fn model_file<'a>(
    files: &'a [RStr<'a>],
    extensions: &[&str],
    kind: &str,
) -> Result<&'a str, PluginError> {
    files
        .iter()
        .map(RStr::as_str)
        .find(|f| {
            let lower = f.to_ascii_lowercase();
            extensions.iter().any(|ext| lower.ends_with(ext))
        })
        .ok_or_else(|| {
            PluginError::new(
                ErrorCode::MODEL,
                format!(
                    "the {kind} model needs a file ending in {} but got [{}]",
                    extensions.join(" or "),
                    files
                        .iter()
                        .map(RStr::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "name a model id with `model` (see `facelab models list`), or list its files in `model_files`",
            )
        })
}

/// Fails with [`ErrorCode::MODEL`] when a model file does not exist or cannot be read.
pub fn check_readable(path: &str) -> Result<(), PluginError> {
    std::fs::File::open(path).map(drop).map_err(|e| {
        PluginError::new(
            ErrorCode::MODEL,
            format!("cannot read model file {path}: {e}"),
            "check the path in the config, or fetch the model again",
        )
    })
}

/// The fix [`model_mismatch`] suggests when its caller has no more precise one.
pub const MODEL_MISMATCH_HELP: &str =
    "check `model` / `model_files` and `kind` in the config: each kind runs one model family";

/// The one [`ErrorCode::MODEL`] error for a model file that is readable but is not the model
/// its kind runs: another family, another input or embedding size, a damaged file.
///
/// The message names the file, then what the kind expected, then what the file is or does
/// instead: `model file {file} {expected}: {found}`. `expected` is worded to follow the file
/// name (`does not fit kind YuNet`, `is not the model the SCRFD detector expects`,
/// `is not dlib's MMOD face detector (mmod_human_face_detector.dat)`), so it says both the
/// kind and what that kind needs. A multi-line `found` (a backend's own message) is folded
/// onto the one line the host prints. `help` is the fix; when empty, [`MODEL_MISMATCH_HELP`].
pub fn model_mismatch(
    file: &str,
    expected: impl Display,
    found: impl Display,
    help: &str,
) -> PluginError {
    let found = found.to_string();
    let found = if found.contains('\n') {
        found
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        found
    };
    PluginError::new(
        ErrorCode::MODEL,
        format!("model file {file} {expected}: {found}"),
        if help.is_empty() {
            MODEL_MISMATCH_HELP
        } else {
            help
        },
    )
}

/// The [`ModelInfo`] of a loaded model: the id the host resolved (`default_id` when it gave
/// none, as for a config that lists only `model_files`), and no embedding (a recognizer sets
/// [`ModelInfo::embedding`] once it knows it). `input` is the network input's
/// `(width, height)`, `(0, 0)` when it has none or it is dynamic.
pub fn model_info(
    args: &CreateArgs<'_>,
    default_id: &str,
    backend: impl Into<RString>,
    licence: LicenceClass,
    input: (u32, u32),
) -> ModelInfo {
    ModelInfo {
        id: if args.model_id.is_empty() {
            default_id.into()
        } else {
            args.model_id.into()
        },
        backend: backend.into(),
        licence,
        input_width: input.0,
        input_height: input.1,
        embedding: None.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_stable::std_types::RSlice;

    #[test]
    fn a_model_mismatch_names_the_file_the_expectation_and_the_finding_on_one_line() {
        let e = model_mismatch(
            "/m/ultraface.onnx",
            "does not fit kind YuNet",
            "outputs are missing\n  at line 3\n",
            "",
        );
        assert_eq!(e.code, ErrorCode::MODEL);
        assert_eq!(
            e.message.as_str(),
            "model file /m/ultraface.onnx does not fit kind YuNet: outputs are missing at line 3"
        );
        assert_eq!(
            e.help.as_str(),
            MODEL_MISMATCH_HELP,
            "an empty help gets the default"
        );
        let e = model_mismatch("a.dat", "is not dlib's MMOD detector", 3, "fetch it again");
        assert_eq!(
            e.message.as_str(),
            "model file a.dat is not dlib's MMOD detector: 3"
        );
        assert_eq!(e.help.as_str(), "fetch it again");
    }

    #[test]
    fn model_info_takes_the_hosts_id_or_the_default() {
        let files = [RStr::from_str("/m/a.onnx")];
        let mut args = CreateArgs {
            kind: "yunet".into(),
            model_id: "".into(),
            model_files: RSlice::from_slice(&files),
            options_toml: "".into(),
        };
        let info = model_info(
            &args,
            "yunet",
            "test 1.0",
            LicenceClass::Permissive,
            (640, 480),
        );
        assert_eq!(info.id.as_str(), "yunet");
        assert_eq!((info.input_width, info.input_height), (640, 480));
        assert_eq!(info.backend.as_str(), "test 1.0");
        assert!(info.embedding.is_none());
        args.model_id = "yunet-2023mar".into();
        let info = model_info(&args, "yunet", "test 1.0", LicenceClass::Permissive, (0, 0));
        assert_eq!(info.id.as_str(), "yunet-2023mar");
    }
}
