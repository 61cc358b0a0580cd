//! Reading a file: once, hashed, decoded with EXIF orientation and the pixel limit. Runs on
//! the reader threads.

use sha2::{Digest, Sha256};

use super::{Item, Work};
use crate::library::paths;
use crate::photo::{decode_bytes, Photo};

/// What the reader threads hand over.
pub(super) enum Read {
    /// The file is gone.
    Vanished,
    /// Unreadable or undecodable.
    Failed { hash: Option<String>, error: String },
    /// Size/mtime changed, content did not.
    Same { hash: String },
    /// Decoded.
    Photo { hash: String, photo: Photo },
}

pub(super) fn read(item: &Item, max_pixels: u64) -> Read {
    let bytes = match std::fs::read(&item.path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Vanished,
        Err(e) => {
            return Read::Failed {
                hash: None,
                error: format!(
                    "{}: cannot read: {e} (help: check that the file is readable)",
                    paths::display_path(&item.path)
                ),
            }
        }
    };
    let hash = format!("{:x}", Sha256::digest(&bytes));
    if item.work == Work::Changed && item.hash.as_deref() == Some(hash.as_str()) {
        return Read::Same { hash };
    }
    match decode_bytes(&item.path, &bytes, max_pixels) {
        Ok(photo) => Read::Photo { hash, photo },
        Err(e) => Read::Failed {
            hash: Some(hash),
            error: e.to_string(),
        },
    }
}
