//! The checks a suite passes once parsed: each error names the suite file and the key, with
//! a hint.

use facelab_engine::config::{check_model_sections, ConfigError};

use super::{ClusteringTask, NamingTask, OrlTask, SpeedTask, Suite, TASK_NAMES};

impl Suite {
    /// An error at `key` of the suite file, with a hint.
    fn invalid(
        &self,
        key: String,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ConfigError {
        ConfigError::invalid(&self.source, key, message, help)
    }

    /// Every check in turn; the first that fails is the error.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_pipelines()?;
        self.validate_task_pipelines()?;
        let t = &self.tasks;
        if let Some(orl) = &t.orl {
            self.validate_orl(orl)?;
        }
        self.validate_iou()?;
        if let Some(c) = &t.clustering {
            self.validate_clustering(c)?;
        }
        if let Some(n) = &t.naming {
            self.validate_naming(n)?;
        }
        if let Some(s) = &t.speed {
            self.validate_speed(s)?;
        }
        if let Some(s) = &t.scan {
            s.validate(&self.source)?;
        }
        Ok(())
    }

    /// At least one pipeline; usable, unique names; each stage names a plugin and a kind.
    fn validate_pipelines(&self) -> Result<(), ConfigError> {
        if self.pipelines.is_empty() {
            return Err(self.invalid(
                "pipeline".into(),
                "is missing",
                "add at least one [[pipeline]] table; config/bench.toml shows how",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.pipelines.iter().enumerate() {
            let key = |k: &str| format!("pipeline[{i}].{k}");
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(self.invalid(
                    key("name"),
                    format!("= {:?} is not a usable name", p.name),
                    "use letters, digits, `.`, `_` and `-` (it names a cache folder)",
                ));
            }
            if !seen.insert(p.name.as_str()) {
                return Err(self.invalid(
                    key("name"),
                    format!("= {:?} is used twice", p.name),
                    "give every pipeline its own name",
                ));
            }
            check_model_sections(&p.detector, p.recognizer.as_ref())
                .map_err(|e| self.invalid(key(&e.key), e.message, e.help))?;
        }
        Ok(())
    }

    /// Every task's `pipelines` names pipelines of the suite.
    fn validate_task_pipelines(&self) -> Result<(), ConfigError> {
        for name in TASK_NAMES {
            let plan = self.task(name, None);
            for p in plan.pipelines.iter().flatten() {
                if !self.pipelines.iter().any(|q| &q.name == p) {
                    return Err(self.invalid(
                        format!("tasks.{name}.pipelines"),
                        format!("names {p:?}, which is not a pipeline"),
                        "use the `name` of a [[pipeline]]",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_orl(&self, orl: &OrlTask) -> Result<(), ConfigError> {
        if let Some(f) = orl
            .tagged
            .iter()
            .find(|f| !(0.0..1.0).contains(*f) || **f == 0.0)
        {
            return Err(self.invalid(
                "tasks.orl.tagged".into(),
                format!("holds {f}, which is not a fraction between 0 and 1"),
                "use fractions such as [0.1, 0.2, 0.5]",
            ));
        }
        if orl.splits == 0 {
            return Err(self.invalid("tasks.orl.splits".into(), "= 0", "use 10"));
        }
        Ok(())
    }

    /// The WIDER and voc-groups match IoUs.
    fn validate_iou(&self) -> Result<(), ConfigError> {
        let t = &self.tasks;
        for (key, iou) in [
            ("tasks.wider.iou", t.wider.as_ref().map(|w| w.iou)),
            ("tasks.voc.iou", t.voc.as_ref().map(|v| v.iou)),
        ] {
            if let Some(iou) = iou.filter(|v| !(*v > 0.0 && *v <= 1.0)) {
                return Err(self.invalid(
                    key.into(),
                    format!("= {iou} is out of range"),
                    "use an IoU in (0, 1], normally 0.5",
                ));
            }
        }
        Ok(())
    }

    fn validate_clustering(&self, c: &ClusteringTask) -> Result<(), ConfigError> {
        if c.min_images < 2 {
            return Err(self.invalid(
                "tasks.clustering.min_images".into(),
                format!("= {}", c.min_images),
                "use at least 2 (the protocol uses 5)",
            ));
        }
        if c.min_quality
            .is_some_and(|q| facelab_engine::config::MinQuality::new(q).is_none())
        {
            return Err(self.invalid(
                "tasks.clustering.min_quality".into(),
                "is out of range",
                "use a quality from 0 to 1, for example 0.3",
            ));
        }
        for (i, m) in c.methods.iter().enumerate() {
            if !m.get("method").is_some_and(|v| v.is_str()) {
                return Err(self.invalid(
                    format!("tasks.clustering.methods[{i}].method"),
                    "is missing",
                    "name the method, for example method = \"chinese-whispers\"",
                ));
            }
        }
        Ok(())
    }

    /// The split leaves photos to suggest and people to name: ORL has 40 people with 10
    /// photos each.
    fn validate_naming(&self, n: &NamingTask) -> Result<(), ConfigError> {
        if !(1..=9).contains(&n.named) {
            return Err(self.invalid(
                "tasks.naming.named".into(),
                format!("= {} is out of range", n.named),
                "name 1 to 9 of each person's 10 photos, for example 2",
            ));
        }
        if n.strangers > 39 {
            return Err(self.invalid(
                "tasks.naming.strangers".into(),
                format!("= {} leaves nobody to name", n.strangers),
                "use 0 to 39 of the 40 people, for example 4",
            ));
        }
        Ok(())
    }

    fn validate_speed(&self, s: &SpeedTask) -> Result<(), ConfigError> {
        if let Some(size) = s.sizes.iter().find(|s| !(32..=8192).contains(*s)) {
            return Err(self.invalid(
                "tasks.speed.sizes".into(),
                format!("holds {size}"),
                "use long sides from 32 to 8192 pixels",
            ));
        }
        if !s.sizes.contains(&s.headline_size) {
            return Err(self.invalid(
                "tasks.speed.headline_size".into(),
                format!("= {} is not one of sizes {:?}", s.headline_size, s.sizes),
                "add it to sizes or pick one of them",
            ));
        }
        if s.repeats == 0 {
            return Err(self.invalid("tasks.speed.repeats".into(), "= 0", "use 3"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::bench::suite::tests::MINIMAL;

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (format!("{MINIMAL}[tasks.orl]\nsplit = 3\n"), "unknown field `split`"),
            (format!("{MINIMAL}scor_threshold = 1\n"), "scor_threshold"),
            (format!("{MINIMAL}[tasks.orl]\npipelines = [\"nope\"]\n"), "`tasks.orl.pipelines` names \"nope\""),
            (format!("{MINIMAL}[tasks.speed]\nsizes = [640]\n"), "`tasks.speed.headline_size`"),
            (format!("{MINIMAL}[[pipeline]]\nname = \"ex\"\n[pipeline.detector]\nplugin = \"a\"\nkind = \"b\"\n"), "`pipeline[1].name`"),
            ("[tasks.orl]\n".to_owned(), "`pipeline` is missing"),
            (format!("{MINIMAL}[tasks.clustering]\nmethods = [{{ method = \"dbscan\" }}]\nmin_quality = 1.5\n"), "`tasks.clustering.min_quality` is out of range"),
            (format!("{MINIMAL}[tasks.scan]\nsets = []\n"), "`tasks.scan.sets` is empty"),
            (format!("{MINIMAL}[tasks.naming]\nname = 2\n"), "unknown field `name`"),
            (format!("{MINIMAL}[tasks.naming]\nnamed = 0\n"), "`tasks.naming.named` = 0 is out of range"),
            (format!("{MINIMAL}[tasks.naming]\nstrangers = 40\n"), "`tasks.naming.strangers` = 40"),
            (format!("{MINIMAL}[tasks.naming]\npipelines = [\"nope\"]\n"), "`tasks.naming.pipelines` names \"nope\""),
            (format!("{MINIMAL}[tasks.scan]\nsets = [{{ name = \"a\", path = \"a\", compare = 640 }}]\n"), "`tasks.scan.sets[0].compare` = 640 is not one of variants [0, 1280]"),
            (format!("{MINIMAL}[tasks.scan]\nsets = [{{ name = \"a\", generate = \"phone\" }}]\n"), "`tasks.scan.sets[0].generate`"),
            (format!("{MINIMAL}[tasks.scan]\nsets = [{{ name = \"a\" }}]\n"), "`tasks.scan.sets[0].path` is missing"),
            (format!("{MINIMAL}[tasks.scan]\nruns = 0\nsets = [{{ name = \"a\", path = \"a\" }}]\n"), "`tasks.scan.runs` = 0"),
            (format!("{MINIMAL}[[pipeline.detector.fuse]]\nplugin = \"a\"\nkind = \"b\"\n"), "`pipeline[0].detector.fuse` is only for [recognizer]"),
            (format!("{MINIMAL}[pipeline.recognizer]\nplugin = \"a\"\nkind = \"b\"\n[[pipeline.recognizer.fuse]]\nplugin = \"c\"\nkind = \"\"\n"), "`pipeline[0].recognizer.fuse[0].kind` is empty"),
        ];
        for (text, expected) in cases {
            let e = Suite::parse(&text, Path::new("b.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(expected) && e.contains("b.toml"),
                "{e:?} lacks {expected:?}"
            );
        }
    }
}
