//! Face tiles and photo previews, cut once and kept on disk beside the library
//! (`<library>.thumbs/`), each under a key of what it was cut from: the photo file's size
//! and modification time and the box. A photo changed on disk has another key, so its
//! tiles are cut again (and the stale files of that face removed); the key is also the
//! ETag, so a browser asks again only with `If-None-Match` and gets a 304.
//!
//! A page has the tiles it shows that are missing cut in one batch in the background
//! ([`cut_missing`]: each photo decoded once, on every core); a request for one of those
//! tiles waits for it ([`InFlight`]), and a tile requested on its own ([`face_tile`]) is cut
//! then. The pixels are [`crate::cut`]'s.
//!
//! Files are written to a temporary name and renamed, so two workers cutting one tile at
//! once, or a reader, never see half a file. Only ids from the library name a file here.

use std::path::{Path, PathBuf};

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

/// The cache folder of the library at `library` (as the library names itself): beside an
/// SQLite file; for a PostgreSQL library, this machine's cache folder
/// (`$XDG_CACHE_HOME/facelab/thumbs/HOST-PORT-DATABASE`), as the photos are this machine's.
pub fn folder(library: &Path) -> PathBuf {
    if let Some(url) = library.to_str().filter(|l| l.starts_with("postgres")) {
        let name: String = url
            .split_once('@')
            .map_or(url, |(_, server)| server)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from("."));
        return cache.join("facelab/thumbs").join(name);
    }
    let mut s = library.as_os_str().to_owned();
    s.push(".thumbs");
    PathBuf::from(s)
}

/// What a photo file is now (its path, size and mtime), the start of every key cut from
/// it. `None` when the file is gone.
fn stamp(photo: &Path) -> Option<String> {
    let meta = std::fs::metadata(photo).ok()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some(format!("|{}|{mtime}", meta.len()))
}

/// The key of what was cut from `photo` as it is (`stamp`) with `extra` (the box).
fn key_of(photo: &Path, stamp: &str, extra: &str) -> String {
    let mut h = Sha256::new();
    h.update(photo.as_os_str().as_encoded_bytes());
    h.update(format!("{stamp}|{extra}").as_bytes());
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why an image could not be served.
#[derive(Debug)]
pub enum ThumbError {
    /// The photo file is missing.
    Missing,
    /// It could not be decoded or the tile written.
    Failed(String),
}

/// A face whose tile a page shows.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Face id.
    pub face: i64,
    /// Its photo file.
    pub photo: PathBuf,
    /// Its box (x, y, width, height in upright full-size pixels).
    pub bbox: [f32; 4],
}

/// Where the tile of `face` cut under `key` is kept.
fn tile_file(cache: &Path, face: i64, key: &str) -> (PathBuf, PathBuf) {
    let dir = cache.join(format!("f{}", face / 1000));
    let file = dir.join(format!("{face}-{key}.jpg"));
    (dir, file)
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
    let stamp = stamp(photo).ok_or(ThumbError::Missing)?;
    let key = key_of(photo, &stamp, &format!("{bbox:?}"));
    let (dir, file) = tile_file(cache, face, &key);
    if !file.is_file() {
        let decoded =
            crate::cut::decode_for(photo, &[bbox], TILE, max_pixels).map_err(ThumbError::Failed)?;
        let bytes = crate::cut::tile(&decoded, bbox, TILE).map_err(ThumbError::Failed)?;
        store(&dir, &file, &bytes)?;
        remove_stale(&dir, &[(face, file.clone())]);
    }
    Ok(Cached { file, key })
}

/// Faces whose tiles a page is having cut in the background: a request for one of those
/// tiles waits until it is written rather than cutting it a second time.
#[derive(Default)]
pub struct InFlight {
    faces: std::sync::Mutex<std::collections::HashSet<i64>>,
    written: std::sync::Condvar,
}

impl InFlight {
    /// Marks `faces` as being cut; returns those that were not already.
    pub fn start(&self, faces: &[i64]) -> Vec<i64> {
        match self.faces.lock() {
            Ok(mut f) => faces.iter().copied().filter(|x| f.insert(*x)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// `face`'s tile is written (or will not be: its request cuts it, or says why).
    pub fn done(&self, face: i64) {
        if let Ok(mut f) = self.faces.lock() {
            f.remove(&face);
        }
        self.written.notify_all();
    }

    /// Waits, at most `limit`, while `face` is being cut.
    pub fn wait(&self, face: i64, limit: std::time::Duration) {
        if let Ok(f) = self.faces.lock() {
            let _ = self
                .written
                .wait_timeout_while(f, limit, |f| f.contains(&face));
        }
    }
}

/// Cuts the tiles of `faces` the cache does not have yet: each photo decoded once for all
/// of its faces, the photos shared out over `workers` threads, in the order of `faces` (so
/// the first tiles of a page come first). A photo that is gone or cannot be decoded is
/// skipped: the request of each of its tiles says why. Calls `done` with each face once its
/// tile is written, found already cut, or skipped. Returns how many tiles it cut.
pub fn cut_missing(
    cache: &Path,
    faces: &[Wanted],
    max_pixels: u64,
    workers: usize,
    done: &(dyn Fn(i64) + Sync),
) -> usize {
    // Photo by photo, in order of first appearance: (photo, [(face, box, dir, file)]).
    type Job<'a> = (&'a Path, Vec<(i64, [f32; 4], PathBuf, PathBuf)>);
    let mut jobs: Vec<Job<'_>> = Vec::new();
    let mut at: std::collections::HashMap<&Path, usize> = std::collections::HashMap::new();
    let mut stamps: std::collections::HashMap<&Path, Option<String>> =
        std::collections::HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for w in faces {
        if !seen.insert(w.face) {
            continue;
        }
        let Some(stamp) = stamps
            .entry(w.photo.as_path())
            .or_insert_with(|| stamp(&w.photo))
        else {
            done(w.face);
            continue;
        };
        let key = key_of(&w.photo, stamp, &format!("{:?}", w.bbox));
        let (dir, file) = tile_file(cache, w.face, &key);
        if file.is_file() {
            done(w.face);
            continue;
        }
        let i = *at.entry(w.photo.as_path()).or_insert_with(|| {
            jobs.push((w.photo.as_path(), Vec::new()));
            jobs.len() - 1
        });
        jobs[i].1.push((w.face, w.bbox, dir, file));
    }
    if jobs.is_empty() {
        return 0;
    }
    // Workers decode and encode; this thread writes the files as they come, so two threads
    // never create files in one folder at once (the file system serialises that anyway).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, usize, Vec<u8>)>(64);
    let work = |tx: std::sync::mpsc::SyncSender<(usize, usize, Vec<u8>)>| loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some((photo, tiles)) = jobs.get(i) else {
            break;
        };
        let boxes: Vec<[f32; 4]> = tiles.iter().map(|t| t.1).collect();
        let Ok(decoded) = crate::cut::decode_for(photo, &boxes, TILE, max_pixels) else {
            tiles.iter().for_each(|t| done(t.0));
            continue;
        };
        for (j, (face, bbox, _, _)) in tiles.iter().enumerate() {
            match crate::cut::tile(&decoded, *bbox, TILE) {
                Ok(bytes) => {
                    if tx.send((i, j, bytes)).is_err() {
                        return;
                    }
                }
                Err(_) => done(*face),
            }
        }
    };
    let workers = workers.clamp(1, jobs.len());
    let mut cut = 0;
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            s.spawn(|| work(tx));
        }
        drop(tx);
        for (i, j, bytes) in rx {
            let (face, _, dir, file) = &jobs[i].1[j];
            if store(dir, file, &bytes).is_ok() {
                cut += 1;
            }
            done(*face);
        }
    });
    // Files of these faces cut from an older version of their photo, one listing per folder.
    let mut by_dir: std::collections::BTreeMap<&Path, Vec<(i64, PathBuf)>> =
        std::collections::BTreeMap::new();
    for (_, tiles) in &jobs {
        for (face, _, dir, file) in tiles {
            by_dir
                .entry(dir.as_path())
                .or_default()
                .push((*face, file.clone()));
        }
    }
    for (dir, fresh) in by_dir {
        remove_stale(dir, &fresh);
    }
    cut
}

/// The preview of photo `image` (at most [`PREVIEW`] pixels on its long side, upright).
pub fn preview(
    cache: &Path,
    image: i64,
    photo: &Path,
    max_pixels: u64,
) -> Result<Cached, ThumbError> {
    let stamp = stamp(photo).ok_or(ThumbError::Missing)?;
    let key = key_of(photo, &stamp, "preview");
    let dir = cache.join(format!("p{}", image / 1000));
    let file = dir.join(format!("{image}-{key}.jpg"));
    if !file.is_file() {
        let bytes = std::fs::read(photo).map_err(|e| ThumbError::Failed(e.to_string()))?;
        let p = facelab_engine::jpeg::decode_scaled(photo, &bytes, max_pixels, PREVIEW)
            .map_err(|e| ThumbError::Failed(e.to_string()))?
            .photo;
        let (w, h) = if p.width.max(p.height) > PREVIEW {
            scaled(p.width, p.height)
        } else {
            (p.width, p.height)
        };
        let pixels = crate::cut::resample_to(
            &p,
            p.format.channels(),
            (0.0, p.width as f32),
            (0.0, p.height as f32),
            (w as usize, h as usize),
        );
        let bytes = crate::cut::encode(&pixels, w, h, p.format).map_err(ThumbError::Failed)?;
        store(&dir, &file, &bytes)?;
        let prefix = format!("{image}-");
        remove_prefixed(&dir, |name| name.starts_with(&prefix), &file);
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

/// Writes `bytes` to `file` through a temporary name.
fn store(dir: &Path, file: &Path, bytes: &[u8]) -> Result<(), ThumbError> {
    let fail = |e: &dyn std::fmt::Display| ThumbError::Failed(format!("{}: {e}", file.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id() as u64 * 1000 + thread_number()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| fail(&e))?;
    std::fs::rename(&tmp, file).map_err(|e| fail(&e))?;
    Ok(())
}

/// Removes the tiles in `dir` of the faces of `fresh` other than their fresh file (cut
/// from an older version of the photo).
fn remove_stale(dir: &Path, fresh: &[(i64, PathBuf)]) {
    let by_face: std::collections::HashMap<String, &PathBuf> = fresh
        .iter()
        .map(|(face, file)| (format!("{face}"), file))
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Some((face, _)) = name.split_once('-') else {
            continue;
        };
        if by_face.get(face).is_some_and(|f| **f != e.path()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Removes the files in `dir` whose name `stale` accepts, except `keep`.
fn remove_prefixed(dir: &Path, stale: impl Fn(&str) -> bool, keep: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if stale(&e.file_name().to_string_lossy()) && e.path() != keep {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// A small number naming the current thread, for temporary file names.
fn thread_number() -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&std::thread::current().id(), &mut h);
    std::hash::Hasher::finish(&h) % 1000
}
