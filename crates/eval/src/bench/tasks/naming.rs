//! The naming task: naming people through the face library, exactly as a user does it, with
//! the real binary. A few photos of each person go into person folders for `facelab
//! import-labels`; their other photos and every photo of a few strangers are scanned with
//! `facelab scan`; `facelab suggest --json` then answers a name or "unknown" for each.
//!
//! Every command runs in a child process with the pipeline's config (as the scan task
//! writes it), a private library and private copies of the photos in a temporary folder,
//! removed afterwards. The library's own settings are its built-in defaults, so runs compare.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, Context as _};
use serde_json::Value;

use crate::bench::report::NamingResult;
use crate::bench::scan::process::{child_config, parse_json, run_shown, TempDir};
use crate::bench::suite::NamingTask;
use facelab_engine::config::Config;
use facelab_library::session::RunContext;

/// One photo of the split: its person (the name of its ORL folder, `s1`) and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamingPhoto {
    /// The person.
    pub person: String,
    /// The photo.
    pub path: PathBuf,
}

/// The task's photos: the ones named, and the ones left to `suggest`.
#[derive(Debug, Clone, Default)]
pub struct NamingSplit {
    /// The first `named` photos of each person but the strangers, for `import-labels`.
    pub named: Vec<NamingPhoto>,
    /// The other photos of the named people.
    pub known: Vec<NamingPhoto>,
    /// Every photo of the last `strangers` people, whom nobody names.
    pub strangers: Vec<NamingPhoto>,
}

/// Splits the ORL images (path and 0-based subject, in subject and photo order, as
/// [`crate::faceeval::orl_images`] lists them) by the task's `named` and `strangers`.
pub fn naming_split(images: &[(PathBuf, usize)], task: &NamingTask) -> NamingSplit {
    let subjects = images.iter().map(|(_, s)| s + 1).max().unwrap_or(0);
    let first_stranger = subjects.saturating_sub(task.strangers);
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut split = NamingSplit::default();
    for (path, subject) in images {
        let person = path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("s{}", subject + 1));
        let photo = NamingPhoto {
            person,
            path: path.clone(),
        };
        let nth = seen.entry(*subject).or_default();
        *nth += 1;
        if *subject >= first_stranger {
            split.strangers.push(photo);
        } else if *nth <= task.named {
            split.named.push(photo);
        } else {
            split.known.push(photo);
        }
    }
    split
}

/// Runs the task on one pipeline (`config` runs it) and counts what `suggest` answered.
pub fn naming(
    ctx: &RunContext,
    config: &Config,
    pipeline: &str,
    split: &NamingSplit,
) -> anyhow::Result<NamingResult> {
    let tmp = TempDir::new().context("cannot make a temporary folder")?;
    let root = std::fs::canonicalize(&tmp.0)
        .with_context(|| format!("cannot read the temporary folder {}", tmp.0.display()))?;
    let (named_dir, photos_dir) = (root.join("named"), root.join("photos"));
    place(&split.named, &named_dir)?;
    let known = place(&split.known, &photos_dir)?;
    let strangers = place(&split.strangers, &photos_dir)?;
    let store = facelab_engine::pipeline::model_store(config, ctx.cache_dir.as_deref())?;
    let config_path = root.join("facelab.toml");
    std::fs::write(&config_path, child_config(config, &store)?)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let library = root.join("library.sqlite");
    let exe = std::env::current_exe().context("cannot find the facelab binary")?;
    let facelab = |args: &[&OsStr], what: &str| -> anyhow::Result<Value> {
        let mut cmd = Command::new(&exe);
        cmd.arg("--config")
            .arg(&config_path)
            .env("FACELAB_LIBRARY", &library)
            .args(args)
            .arg("--json");
        let out = run_shown(&mut cmd, what).map_err(|e| anyhow!("{pipeline}: {e}"))?;
        parse_json(&out, what)
    };
    let start = Instant::now();
    facelab(&["scan".as_ref(), photos_dir.as_os_str()], "facelab scan")?;
    let import = facelab(
        &["import-labels".as_ref(), named_dir.as_os_str()],
        "facelab import-labels",
    )?;
    let suggest = facelab(&["suggest".as_ref()], "facelab suggest")?;
    let seconds = start.elapsed().as_secs_f64();

    let answers = Answers::read(&suggest, &library)?;
    let mut result = NamingResult {
        pipeline: pipeline.to_owned(),
        people: split
            .named
            .iter()
            .map(|p| &p.person)
            .collect::<HashSet<_>>()
            .len(),
        named_photos: split.named.len(),
        labelled: count(&import, "labelled"),
        right: 0,
        known: known.len(),
        wrong: 0,
        strangers_unknown: 0,
        strangers: strangers.len(),
        no_answer: 0,
        threshold: number(&suggest["threshold"]["value"], "threshold.value")?,
        threshold_source: suggest["threshold"]["source"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned(),
        margin: number(&suggest["margin"], "margin")?,
        seconds,
    };
    for photo in &known {
        match answers.of(&photo.path)? {
            Some(Some(name)) if name == photo.person => result.right += 1,
            Some(Some(_)) => result.wrong += 1,
            Some(None) => {}
            None => result.no_answer += 1,
        }
    }
    for photo in &strangers {
        match answers.of(&photo.path)? {
            Some(None) => result.strangers_unknown += 1,
            Some(Some(_)) => {}
            None => result.no_answer += 1,
        }
    }
    Ok(result)
}

/// What `suggest` answered for each face, and the library that says which face of a photo
/// is its largest.
struct Answers {
    by_face: HashMap<i64, Option<String>>,
    library: facelab_library::Library,
}

impl Answers {
    /// The answers of `suggest --json` (`doc`), with the library it ran on.
    fn read(doc: &Value, library: &Path) -> anyhow::Result<Answers> {
        let suggestions = doc["suggestions"]
            .as_array()
            .ok_or_else(|| anyhow!("facelab suggest printed no suggestions: {doc}"))?;
        let by_face = suggestions
            .iter()
            .filter_map(|s| {
                let person = s["person"].as_str().map(str::to_owned);
                Some((s["face"].as_i64()?, person))
            })
            .collect();
        Ok(Answers {
            by_face,
            library: facelab_library::Library::open(library, 10_000)?,
        })
    }

    /// The answer for a photo's largest face: a name, `Some(None)` for "unknown", `None`
    /// when there is none (no face found, or its face left out of `suggest`).
    fn of(&self, photo: &Path) -> anyhow::Result<Option<Option<String>>> {
        let Some(image) = self.library.image_id(photo)? else {
            return Ok(None);
        };
        let faces = self.library.image_faces(image)?;
        Ok(faces
            .first()
            .and_then(|(face, _)| self.by_face.get(face).cloned()))
    }
}

/// Links (or, across file systems, copies) each photo into `dir/<person>/`; returns the
/// photos at their new paths. `facelab scan` does not follow symbolic links.
fn place(photos: &[NamingPhoto], dir: &Path) -> anyhow::Result<Vec<NamingPhoto>> {
    photos
        .iter()
        .map(|p| {
            let folder = dir.join(&p.person);
            std::fs::create_dir_all(&folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
            let name = p
                .path
                .file_name()
                .ok_or_else(|| anyhow!("{} is not a file", p.path.display()))?;
            let to = folder.join(name);
            if std::fs::hard_link(&p.path, &to).is_err() {
                std::fs::copy(&p.path, &to).with_context(|| {
                    format!("cannot copy {} to {}", p.path.display(), to.display())
                })?;
            }
            Ok(NamingPhoto {
                person: p.person.clone(),
                path: to,
            })
        })
        .collect()
}

/// A count in a command's JSON summary (0 when it is not there).
fn count(doc: &Value, key: &str) -> usize {
    doc[key].as_u64().unwrap_or(0) as usize
}

/// A number `suggest` must print.
fn number(v: &Value, key: &str) -> anyhow::Result<f64> {
    v.as_f64()
        .ok_or_else(|| anyhow!("facelab suggest printed no `{key}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_names_the_first_photos_and_keeps_the_last_people_strangers() {
        let images: Vec<(PathBuf, usize)> = (0..5)
            .flat_map(|s| {
                (1..=4).map(move |i| (PathBuf::from(format!("orl/s{}/{i}.pgm", s + 1)), s))
            })
            .collect();
        let task: NamingTask = toml::from_str("named = 1\nstrangers = 2\n").unwrap();
        let split = naming_split(&images, &task);
        let names = |v: &[NamingPhoto]| -> Vec<String> {
            v.iter().map(|p| p.path.display().to_string()).collect()
        };
        assert_eq!(
            names(&split.named),
            ["orl/s1/1.pgm", "orl/s2/1.pgm", "orl/s3/1.pgm"]
        );
        assert_eq!(split.known.len(), 3 * 3);
        assert!(split.known.iter().all(|p| !p.path.ends_with("1.pgm")));
        assert_eq!(split.strangers.len(), 2 * 4);
        assert!(split
            .strangers
            .iter()
            .all(|p| p.person == "s4" || p.person == "s5"));
        assert_eq!(split.known[0].person, "s1");
    }

    #[test]
    fn the_default_split_is_the_library_protocol() {
        let images: Vec<(PathBuf, usize)> = (0..40)
            .flat_map(|s| (1..=10).map(move |i| (PathBuf::from(format!("s{}/{i}.pgm", s + 1)), s)))
            .collect();
        let task: NamingTask = toml::from_str("").unwrap();
        let split = naming_split(&images, &task);
        assert_eq!(
            (split.named.len(), split.known.len(), split.strangers.len()),
            (72, 288, 40)
        );
        assert_eq!(split.strangers[0].person, "s37");
    }
}
