//! The facelab host: it reads a TOML config, loads detector and recognizer plugins as
//! stable-ABI shared libraries, decodes photos itself (EXIF-oriented) and runs them
//! through the configured pipeline.
//!
//! The binary (`main.rs`) only parses arguments, calls [`cli::run`] and maps errors to an
//! exit code. Each module here owns one concern: [`config`] validates the TOML once into
//! typed values; [`plugins`] finds and loads plugin libraries and reports every failure
//! together; [`pipeline`] turns config sections into detector instances; [`photo`] decodes
//! images; [`models`] is the model registry (manifest, sources, verified cache); [`draw`] renders results for a person to check; [`voc`] measures detection
//! accuracy against labelled boxes; [`xmp`] reads and writes face regions in XMP.
#![deny(missing_docs)]

pub mod bench;
pub mod cli;
pub mod config;
pub mod draw;
pub mod faceeval;
pub mod jpeg;
pub mod library;
pub mod models;
pub mod operating;
pub mod photo;
pub mod pipeline;
pub mod plugins;
pub mod quality;
pub mod robust;
pub mod session;
pub mod stats;
pub mod ui;
pub mod verify;
pub mod voc;
pub mod wider;
pub mod xmp;
