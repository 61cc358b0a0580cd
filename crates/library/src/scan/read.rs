//! Reading a file: once, hashed, decoded with EXIF orientation and the pixel limit, at the
//! smallest DCT scale that keeps the long side the detector needs. Runs on the reader
//! threads.

use std::time::Instant;

use sha2::{Digest, Sha256};

use super::{Item, Work};
use crate::paths;
use facelab_engine::jpeg::{decode_scaled, Scaled};

/// What the reader threads hand over.
pub(super) enum Read {
    /// The file is gone.
    Vanished,
    /// Unreadable or undecodable.
    Failed { hash: Option<String>, error: String },
    /// Size/mtime changed, content did not.
    Same { hash: String },
    /// Decoded; `bytes` are kept when the photo was decoded below full size.
    Photo {
        hash: String,
        scaled: Scaled,
        bytes: Option<Vec<u8>>,
    },
}

/// Seconds a reader spent reading and hashing, and decoding.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ReadTime {
    pub read: f64,
    pub decode: f64,
}

pub(super) fn read(item: &Item, max_pixels: u64, long_side: u32) -> (Read, ReadTime) {
    let start = Instant::now();
    let mut time = ReadTime::default();
    let bytes = match std::fs::read(item.source.as_ref().unwrap_or(&item.path)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Read::Vanished, time),
        Err(e) => {
            let error = format!(
                "{}: cannot read: {e} (help: check that the file is readable)",
                paths::display_path(&item.path)
            );
            return (Read::Failed { hash: None, error }, time);
        }
    };
    let hash = format!("{:x}", Sha256::digest(&bytes));
    time.read = start.elapsed().as_secs_f64();
    if item.work == Work::Changed && item.hash.as_deref() == Some(hash.as_str()) {
        return (Read::Same { hash }, time);
    }
    let start = Instant::now();
    let read = match decode_scaled(&item.path, &bytes, max_pixels, long_side) {
        Ok(scaled) => {
            let bytes = (!scaled.is_full()).then_some(bytes);
            Read::Photo {
                hash,
                scaled,
                bytes,
            }
        }
        Err(e) => Read::Failed {
            hash: Some(hash),
            error: e.to_string(),
        },
    };
    time.decode = start.elapsed().as_secs_f64();
    (read, time)
}
