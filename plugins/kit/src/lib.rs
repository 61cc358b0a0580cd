//! What every facelab plugin needs and should not write again.
//!
//! The plugin ABI ([`facelab_plugin_api`]) is a contract with no logic. This crate is the
//! logic that plugins share, linked statically into each one: the panic guard that keeps a
//! plugin's panic from crossing the FFI boundary, the kind table that drives a plugin's
//! info, dispatch and help ([`kinds`]), the options every backend shares, typed once with
//! errors that name the key and type ([`options`]), model-file lookup, and the detector geometry
//! (letterbox, box mapping, score and size filters, NMS) so every detector maps its output
//! back to the photo the same way.
#![deny(missing_docs)]

pub mod align;
pub mod decode;
pub mod geometry;
pub mod kinds;
pub mod options;
pub mod pixels;

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::{RResult, RStr, RVec};
pub use facelab_plugin_api as api;
use facelab_plugin_api::{Embedding, ErrorCode, ImageView, PluginError};
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
