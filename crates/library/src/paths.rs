//! Paths as the library stores them: the exact bytes the OS gives for a file name, so every
//! name round-trips (names that are not UTF-8, names with newlines, NFC and NFD spellings of
//! one name are all distinct files), and a display form for people and exports.

use std::path::{Path, PathBuf};

/// The exact bytes of `path`.
#[cfg(unix)]
pub fn to_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

/// The exact bytes of `path`. Windows names are UTF-16 and may hold unpaired surrogates;
/// WTF-8 (what `OsStr` holds) keeps them exactly.
#[cfg(not(unix))]
pub fn to_bytes(path: &Path) -> Vec<u8> {
    path.as_os_str().as_encoded_bytes().to_vec()
}

/// The path whose bytes [`to_bytes`] gave.
#[cfg(unix)]
pub fn from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// The path whose bytes [`to_bytes`] gave.
#[cfg(not(unix))]
pub fn from_bytes(bytes: &[u8]) -> PathBuf {
    // SAFETY: the bytes come from `as_encoded_bytes` of this platform (stored by `to_bytes`).
    PathBuf::from(unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(bytes) })
}

/// The display form: the name itself when it is UTF-8, else each byte that is not written
/// as `\xNN` (unlike a lossy conversion, two different names never look the same, except a
/// UTF-8 name that really contains the text `\xNN`, which [`is_utf8`] tells apart).
pub fn display(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// The display form of `path`.
pub fn display_path(path: &Path) -> String {
    display(&to_bytes(path))
}

/// Whether the stored bytes are UTF-8 (the display form is then the exact name).
pub fn is_utf8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_utf8_round_trip_and_display_distinctly() {
        let a = from_bytes(b"/p/\xfe.jpg");
        let b = from_bytes(b"/p/\xff.jpg");
        assert_eq!(to_bytes(&a), b"/p/\xfe.jpg");
        assert_ne!(display_path(&a), display_path(&b));
        assert_eq!(display_path(&a), "/p/\\xFE.jpg");
        assert!(!is_utf8(&to_bytes(&a)));
        let nfd = "/p/Cafe\u{301}.jpg";
        assert_eq!(display(nfd.as_bytes()), nfd);
        assert!(is_utf8(nfd.as_bytes()));
    }
}
