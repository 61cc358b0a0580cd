//! The model registry: one manifest (`models/manifest.toml`, embedded in the binary) that
//! names every model by id with its files' sha256 and size, ordered sources, licence,
//! input spec and thresholds; and a store that fetches files from those sources into a
//! cache, verifying each one, so plugins only ever receive verified local paths.

pub mod fetch;
pub mod manifest;

pub use fetch::{FetchError, FileState, ModelStore, StoreSettings};
pub use manifest::{LicenceClass, Manifest, ManifestError, Model, Role, Source};
