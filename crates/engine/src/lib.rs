//! The engine: everything between a config file and the faces of one photo.
//!
//! [`config`] validates the TOML once into typed option structs; [`plugins`] finds and loads
//! plugin libraries and reports every failure together; [`pipeline`] turns config sections
//! into detector and recognizer instances (detection with its retries, the second look of
//! [`verify`], the quality of [`quality`], the robust settings of [`robust`]), a recognizer
//! possibly several models fused ([`fusion`]); [`photo`] and
//! [`jpeg`] decode images (EXIF-oriented, at a reduced DCT scale where it is enough);
//! [`draw`] renders results for a person to check; [`stats`] holds the small statistics the
//! layers above share; [`ui`] draws progress bars and fetch notices on stderr.
#![deny(missing_docs)]

pub mod config;
pub mod draw;
pub mod fusion;
pub mod jpeg;
pub mod photo;
pub mod pipeline;
pub mod plugins;
pub mod quality;
pub mod robust;
pub mod stats;
pub mod ui;
pub mod verify;
