//! Checks of a parsed config, one step per section, in the order their errors are
//! reported.

use super::{Config, ConfigError, ModelSection};

/// What is wrong with a model section: the dotted key (relative to the file's top, as
/// `recognizer.fuse[0].kind`), what is wrong, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionProblem {
    /// The dotted key.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl SectionProblem {
    fn new(key: String, message: impl Into<String>, help: impl Into<String>) -> SectionProblem {
        SectionProblem {
            key,
            message: message.into(),
            help: help.into(),
        }
    }
}

/// Checks a `[detector]` and a `[recognizer]` with its `[[recognizer.fuse]]` members, as a
/// config file or a bench pipeline writes them: each names a plugin and a kind, `landmarks`
/// and `fuse` only where they belong, one sha256 per model file. The first problem wins.
pub fn check_model_sections(
    detector: &ModelSection,
    recognizer: Option<&ModelSection>,
) -> Result<(), SectionProblem> {
    check_section("detector", detector)?;
    if detector.landmarks.is_some() {
        return Err(SectionProblem::new(
            "detector.landmarks".into(),
            "is only for [recognizer]",
            "move it to the [recognizer] section",
        ));
    }
    if !detector.fuse.is_empty() {
        return Err(SectionProblem::new(
            "detector.fuse".into(),
            "is only for [recognizer]: detectors are not fused",
            "remove the [[detector.fuse]] tables; to fuse recognizers, add [[recognizer.fuse]] tables",
        ));
    }
    let members = recognizer
        .map(|r| r.members("recognizer"))
        .unwrap_or_default();
    for (i, (name, section)) in members.iter().enumerate() {
        check_section(name, section)?;
        if i > 0 && !section.fuse.is_empty() {
            return Err(SectionProblem::new(
                format!("{name}.fuse"),
                "is inside a fuse entry: a fused model cannot have fuse entries of its own",
                "list every model to fuse as a [[recognizer.fuse]] table of its own",
            ));
        }
    }
    Ok(())
}

/// One model section named `name`: plugin and kind named, one sha256 per model file.
fn check_section(name: &str, section: &ModelSection) -> Result<(), SectionProblem> {
    if section.plugin.trim().is_empty() {
        return Err(SectionProblem::new(
            format!("{name}.plugin"),
            "is empty",
            "name a plugin, for example \"opencv-dnn\"",
        ));
    }
    if section.kind.trim().is_empty() {
        return Err(SectionProblem::new(
            format!("{name}.kind"),
            "is empty",
            "name a kind; `facelab plugins` lists them",
        ));
    }
    if !section.model_sha256.is_empty() && section.model_sha256.len() != section.model_files.len() {
        return Err(SectionProblem::new(
            format!("{name}.model_sha256"),
            format!(
                "has {} entries for {} model_files",
                section.model_sha256.len(),
                section.model_files.len()
            ),
            "give one sha256 per file, in the same order, or none",
        ));
    }
    Ok(())
}

impl Config {
    /// Every check, first failure wins: model sections, detection, library, cluster,
    /// images.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        check_model_sections(&self.detector, self.recognizer.as_ref()).map_err(|p| {
            let at_line = format!("{} {}", p.key, p.message);
            self.invalid_at(&p.key, at_line, p.help.as_str())
                .unwrap_or_else(|| self.invalid(p.key, p.message, p.help))
        })?;
        self.check_detection()?;
        self.check_library()?;
        self.check_cluster()?;
        self.check_images()
    }

    /// `[detection]`, named at its line when the file sets the key.
    fn check_detection(&self) -> Result<(), ConfigError> {
        if let Err((key, message, fix)) = self.detection.check() {
            let key = format!("detection.{key}");
            return Err(self
                .invalid_at(&key, format!("{key} {message}"), fix)
                .unwrap_or_else(|| self.invalid(key, message, fix)));
        }
        Ok(())
    }

    /// `[library]`: globs, batch size, suggest margin, embedding height, quality floor.
    fn check_library(&self) -> Result<(), ConfigError> {
        let lib = &self.library;
        for (key, globs) in [
            ("library.include", &lib.include),
            ("library.exclude", &lib.exclude),
        ] {
            for g in globs {
                if let Err(e) = globset::Glob::new(g) {
                    return Err(self.invalid(
                        key.into(),
                        format!("has an invalid glob {g:?}: {}", e.kind()),
                        "use globs like \"**/*.jpg\" or \"**/Trash/**\"",
                    ));
                }
            }
        }
        if let Some(url) = &lib.url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(self.invalid(
                    "library.url".into(),
                    "is not a PostgreSQL URL",
                    "write postgres://USER@HOST:PORT/DATABASE (the password in PGPASSWORD or ~/.pgpass), or leave library.url out for the embedded SQLite file",
                ));
            }
            if lib.path.is_some() {
                return Err(self.invalid(
                    "library.url".into(),
                    "and library.path are both set",
                    "keep one: library.path for an SQLite file, library.url for a PostgreSQL server",
                ));
            }
        }
        for (name, dir) in &lib.roots {
            if !dir.is_absolute() {
                return Err(self.invalid(
                    format!("library.roots.{name}"),
                    format!("= {:?} is not an absolute path", dir.display().to_string()),
                    "give the folder where this machine mounts the photos, for example \"/mnt/photos\"",
                ));
            }
        }
        if lib.batch_size == 0 {
            return Err(self.invalid(
                "library.batch_size".into(),
                "= 0",
                "use a positive number of photos per transaction, for example 32",
            ));
        }
        if !(0.0..=1.0).contains(&lib.suggest_margin) {
            return Err(self.invalid(
                "library.suggest_margin".into(),
                format!("= {} is out of range", lib.suggest_margin),
                "use a fraction from 0 to 1 of the distance from the threshold to a perfect match, for example 0.04",
            ));
        }
        if !(lib.embed_min_height.is_finite() && lib.embed_min_height >= 0.0) {
            return Err(self.invalid(
                "library.embed_min_height".into(),
                format!("= {} is out of range", lib.embed_min_height),
                "use a face height in pixels, 0 or more, for example 32 (0 embeds every face)",
            ));
        }
        if !lib.min_quality.is_valid() {
            return Err(self.invalid(
                "library.min_quality".into(),
                format!("= {} is out of range", lib.min_quality.value()),
                "use a face quality from 0 (off) to 1, for example 0.3",
            ));
        }
        Ok(())
    }

    /// `[cluster]`: the algorithm's own parameter checks.
    fn check_cluster(&self) -> Result<(), ConfigError> {
        if let Err(e) = self.cluster.validate() {
            return Err(self.invalid(
                "cluster".into(),
                e.to_string(),
                "see the [cluster] keys in config/facelab.toml, for example threshold = \"auto\" (the default) or a cosine similarity such as 0.45",
            ));
        }
        Ok(())
    }

    /// `[images]`: a positive decoding limit.
    fn check_images(&self) -> Result<(), ConfigError> {
        if self.images.max_pixels == 0 {
            return Err(self.invalid(
                "images.max_pixels".into(),
                "is 0",
                "use a positive pixel count, e.g. 250000000",
            ));
        }
        Ok(())
    }
}
