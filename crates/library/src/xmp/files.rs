//! Where a photo's XMP lives and how it is written: sidecars (`photo.jpg.xmp`, digiKam's
//! and darktable's name, and `photo.xmp`, Lightroom's) and the packet in a JPEG's APP1
//! segment, found and replaced with img-parts. Every write is atomic: a temporary file in
//! the same folder, fsync, rename over the original, fsync of the folder; a crash leaves
//! the old file or the new one, never half of either.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::Bytes;

use super::{XmpError, MAX_PACKET_BYTES};
use crate::paths::display_path;

/// The APP1 prefix of a JPEG's main XMP packet.
pub const XMP_APP1_PREFIX: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// The most packet bytes one APP1 segment holds (65535 minus the length field and prefix).
pub const MAX_APP1_PACKET: usize = 65533 - XMP_APP1_PREFIX.len();

/// The sidecar facelab writes: the photo's full name plus `.xmp` (digiKam's default).
pub fn sidecar_path(photo: &Path) -> PathBuf {
    let mut s: OsString = photo.as_os_str().to_owned();
    s.push(".xmp");
    PathBuf::from(s)
}

/// The sidecars facelab reads: `photo.jpg.xmp`, then `photo.xmp`.
pub fn sidecar_candidates(photo: &Path) -> Vec<PathBuf> {
    let mut out = vec![sidecar_path(photo)];
    let other = photo.with_extension("xmp");
    if other != photo && !out.contains(&other) {
        out.push(other);
    }
    out
}

/// The file's bytes, or `None` when it does not exist; a file above `max` bytes is refused
/// before it is read.
pub fn read_capped(path: &Path, max: u64) -> Result<Option<Vec<u8>>, XmpError> {
    let read = |source| XmpError::Read {
        path: display_path(path),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read(e)),
    };
    if meta.len() > max {
        return Err(XmpError::TooLarge {
            path: display_path(path),
            size: meta.len(),
            max,
        });
    }
    std::fs::read(path).map(Some).map_err(read)
}

/// A sidecar's bytes, size-capped at [`MAX_PACKET_BYTES`].
pub fn read_sidecar(path: &Path) -> Result<Option<Vec<u8>>, XmpError> {
    read_capped(path, MAX_PACKET_BYTES)
}

/// Whether `bytes` are a JPEG (by content, not by name).
pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

fn parse_jpeg(path: &Path, bytes: &[u8]) -> Result<Jpeg, XmpError> {
    Jpeg::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|e| XmpError::Jpeg {
        path: display_path(path),
        message: e.to_string(),
    })
}

fn is_xmp(s: &JpegSegment) -> bool {
    s.marker() == markers::APP1 && s.contents().starts_with(XMP_APP1_PREFIX)
}

/// The main XMP packet of the JPEG `bytes`, if it has one.
pub fn jpeg_packet(path: &Path, bytes: &[u8]) -> Result<Option<Vec<u8>>, XmpError> {
    let jpeg = parse_jpeg(path, bytes)?;
    let packet = jpeg
        .segments()
        .iter()
        .find(|s| is_xmp(s))
        .map(|s| s.contents()[XMP_APP1_PREFIX.len()..].to_vec());
    Ok(packet)
}

/// The JPEG `bytes` with its main XMP packet replaced by `packet` (or added after the
/// APP0/EXIF segments). Every other segment and the image data are kept; a file whose
/// re-encoding would not add up to exactly that (data after the end marker, such as a
/// motion photo's video) is refused rather than shortened.
pub fn jpeg_with_packet(path: &Path, bytes: &[u8], packet: &[u8]) -> Result<Vec<u8>, XmpError> {
    if packet.len() > MAX_APP1_PACKET {
        return Err(XmpError::PacketTooLarge {
            path: display_path(path),
            size: packet.len(),
            max: MAX_APP1_PACKET,
        });
    }
    let mut jpeg = parse_jpeg(path, bytes)?;
    let mut contents = Vec::with_capacity(XMP_APP1_PREFIX.len() + packet.len());
    contents.extend_from_slice(XMP_APP1_PREFIX);
    contents.extend_from_slice(packet);
    let new_len = 4 + contents.len();
    let segment = JpegSegment::new_with_contents(markers::APP1, Bytes::from(contents));
    let segments = jpeg.segments_mut();
    let old_len = match segments.iter().position(is_xmp) {
        Some(i) => {
            let old = 4 + segments[i].contents().len();
            segments[i] = segment;
            old
        }
        None => {
            // After the leading APP0 (JFIF) and APP1 (EXIF) segments, where readers look.
            let at = segments
                .iter()
                .take_while(|s| matches!(s.marker(), markers::APP0 | markers::APP1))
                .count();
            segments.insert(at, segment);
            0
        }
    };
    let mut out = Vec::with_capacity(bytes.len() + new_len);
    jpeg.encoder()
        .write_to(&mut out)
        .map_err(|e| XmpError::Jpeg {
            path: display_path(path),
            message: e.to_string(),
        })?;
    if out.len() + old_len != bytes.len() + new_len {
        return Err(XmpError::Jpeg {
            path: display_path(path),
            message: format!(
                "rewriting its segments would change its size by {} bytes more than the packet does (data after the end marker, or padding facelab would drop)",
                (bytes.len() + new_len) as i64 - (out.len() + old_len) as i64
            ),
        });
    }
    Ok(out)
}

/// Refuses to replace a read-only file: its permission bits are checked explicitly, since
/// a rename over it would succeed (and root ignores the bits when opening).
pub fn check_writable(path: &Path) -> Result<(), XmpError> {
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().readonly() => Err(XmpError::ReadOnly {
            path: display_path(path),
        }),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, the original's
/// permissions, rename, fsync of the folder. On failure the original is untouched and the
/// temporary file removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), XmpError> {
    check_writable(path)?;
    let fail = |source| XmpError::Write {
        path: display_path(path),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".facelab-{}.tmp", std::process::id()));
    let tmp = dir.join(name);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if let Ok(m) = std::fs::metadata(path) {
            f.set_permissions(m.permissions())?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable only once the folder is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}
