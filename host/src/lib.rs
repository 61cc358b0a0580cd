//! The facelab command line: argument definitions ([`cli`]), dispatch to the crates that do
//! the work, and the printers of their results. The binary (`main.rs`) only parses
//! arguments, calls [`cli::run`] and maps errors to an exit code.
//!
//! The layers below, each its own crate, depend one way: `facelab-report` (renderers) →
//! `facelab-eval` (protocols, bench) → `facelab-library` (the face library, XMP, the run
//! session) → `facelab-engine` (config, plugins, photos, detection) → `facelab-models`
//! (manifest and verified fetch).
#![deny(missing_docs)]

pub mod cli;
