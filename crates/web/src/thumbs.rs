//! Face tiles and photo previews, cut once and kept on disk beside the library
//! (`<library>.thumbs/`), each under a key of what it was cut from: the photo file's size
//! and modification time and the box. A photo changed on disk has another key, so its
//! tiles are cut again (and the stale files of that face removed); the key is also the
//! ETag, so a browser asks again only with `If-None-Match` and gets a 304.
//!
//! Files are written to a temporary name and renamed, so two workers cutting one tile at
//! once, or a reader, never see half a file. Only ids from the library name a file here.

use std::path::{Path, PathBuf};

use facelab_plugin_api::BBox;
use sha2::{Digest, Sha256};

/// Side of a face tile in pixels (shown at 112 CSS pixels: sharp on 1.5× screens).
pub const TILE: u32 = 160;
/// Long side of a photo preview.
pub const PREVIEW: u32 = 1600;

/// A cached image: its file and its key (the ETag).
pub struct Cached {
    /// The JPEG file.
    pub file: PathBuf,
    /// Hex key of what it was cut from.
    pub key: String,
}

/// The cache folder of the library at `library`.
pub fn folder(library: &Path) -> PathBuf {
    let mut s = library.as_os_str().to_owned();
    s.push(".thumbs");
    PathBuf::from(s)
}

/// What a tile or preview of `photo` is cut from, as a key: the file's size and mtime and
/// `extra` (the box). `None` when the photo file is gone.
fn key(photo: &Path, extra: &str) -> Option<String> {
    let meta = std::fs::metadata(photo).ok()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut h = Sha256::new();
    h.update(photo.as_os_str().as_encoded_bytes());
    h.update(format!("|{}|{mtime}|{extra}", meta.len()).as_bytes());
    Some(
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// Why an image could not be served.
#[derive(Debug)]
pub enum ThumbError {
    /// The photo file is missing.
    Missing,
    /// It could not be decoded or the tile written.
    Failed(String),
}

/// The tile of face `face` (box `bbox` on `photo`), cut now if the cache has none for the
/// photo as it is on disk.
pub fn face_tile(
    cache: &Path,
    face: i64,
    photo: &Path,
    bbox: [f32; 4],
    max_pixels: u64,
) -> Result<Cached, ThumbError> {
    let key = key(photo, &format!("{bbox:?}")).ok_or(ThumbError::Missing)?;
    let dir = cache.join(format!("f{}", face / 1000));
    let file = dir.join(format!("{face}-{key}.jpg"));
    if !file.is_file() {
        let img = facelab_engine::photo::decode(photo, max_pixels)
            .map_err(|e| ThumbError::Failed(e.to_string()))?
            .to_rgb();
        let b = BBox::new(bbox[0], bbox[1], bbox[2], bbox[3]);
        let tile = facelab_engine::draw::face_tile(&img, &b, TILE);
        store(&dir, &file, &format!("{face}-"), &tile)?;
    }
    Ok(Cached { file, key })
}

/// The preview of photo `image` (at most [`PREVIEW`] pixels on its long side, upright).
pub fn preview(
    cache: &Path,
    image: i64,
    photo: &Path,
    max_pixels: u64,
) -> Result<Cached, ThumbError> {
    let key = key(photo, "preview").ok_or(ThumbError::Missing)?;
    let dir = cache.join(format!("p{}", image / 1000));
    let file = dir.join(format!("{image}-{key}.jpg"));
    if !file.is_file() {
        let img = facelab_engine::photo::decode(photo, max_pixels)
            .map_err(|e| ThumbError::Failed(e.to_string()))?
            .to_rgb();
        let img = if img.width().max(img.height()) > PREVIEW {
            image::imageops::thumbnail(
                &img,
                scaled(img.width(), img.height()).0,
                scaled(img.width(), img.height()).1,
            )
        } else {
            img
        };
        store(&dir, &file, &format!("{image}-"), &img)?;
    }
    Ok(Cached { file, key })
}

fn scaled(w: u32, h: u32) -> (u32, u32) {
    let s = PREVIEW as f64 / w.max(h) as f64;
    (
        ((w as f64 * s).round() as u32).max(1),
        ((h as f64 * s).round() as u32).max(1),
    )
}

/// Writes `img` as JPEG to `file` through a temporary name, and removes the files of the
/// same face or photo (`prefix`) cut from an older version.
fn store(dir: &Path, file: &Path, prefix: &str, img: &image::RgbImage) -> Result<(), ThumbError> {
    let fail = |e: &dyn std::fmt::Display| ThumbError::Failed(format!("{}: {e}", file.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(img)
        .map_err(|e| fail(&e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id() as u64 * 1000 + thread_number()
    ));
    std::fs::write(&tmp, &bytes).map_err(|e| fail(&e))?;
    std::fs::rename(&tmp, file).map_err(|e| fail(&e))?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(prefix) && e.path() != file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// A small number naming the current thread, for temporary file names.
fn thread_number() -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&std::thread::current().id(), &mut h);
    std::hash::Hasher::finish(&h) % 1000
}
