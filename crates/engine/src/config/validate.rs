//! Checks of a parsed config, one step per section, in the order their errors are
//! reported.

use super::{Config, ConfigError, ModelSection};

impl Config {
    /// Every check, first failure wins: model sections, detection, library, cluster,
    /// images.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (name, section) in std::iter::once(("detector", &self.detector))
            .chain(self.recognizer.as_ref().map(|r| ("recognizer", r)))
        {
            self.check_model_section(name, section)?;
        }
        self.check_detection()?;
        self.check_library()?;
        self.check_cluster()?;
        self.check_images()
    }

    /// `[detector]` or `[recognizer]`: plugin and kind named, landmarks only for the
    /// recognizer, one sha256 per model file.
    fn check_model_section(&self, name: &str, section: &ModelSection) -> Result<(), ConfigError> {
        if section.plugin.trim().is_empty() {
            return Err(self.invalid(
                format!("{name}.plugin"),
                "is empty",
                "name a plugin, for example \"opencv-dnn\"",
            ));
        }
        if section.kind.trim().is_empty() {
            return Err(self.invalid(
                format!("{name}.kind"),
                "is empty",
                "name a kind; `facelab plugins` lists them",
            ));
        }
        if name == "detector" && section.landmarks.is_some() {
            return Err(self.invalid(
                "detector.landmarks".into(),
                "is only for [recognizer]",
                "move it to the [recognizer] section",
            ));
        }
        if !section.model_sha256.is_empty()
            && section.model_sha256.len() != section.model_files.len()
        {
            return Err(self.invalid(
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
