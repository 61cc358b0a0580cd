//! The bench suite file (`config/bench.toml`): the pipelines to compare and the tasks to run
//! them on, validated once into typed values.
//!
//! Like the main config, every table denies unknown keys, so a typo is an error that names
//! the file, line and key instead of a setting that is silently ignored. Paths in the file are
//! relative to the file's folder; data-set paths are relative to the data-set root.

mod plan;
pub mod scan;
mod tables;
mod validate;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use facelab_engine::config::RobustOptions;
use facelab_engine::config::{Config, ConfigError, ModelSection};

pub use plan::{TaskPlan, TASK_NAMES};
pub use tables::{
    ClusteringTask, LfwTask, NamingTask, OrlTask, SpeedTask, Tasks, VocTask, WiderTask,
};

/// The whole suite file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Where the data sets are.
    #[serde(default)]
    pub datasets: DatasetsSection,
    /// The pipelines, in report order (`[[pipeline]]`).
    #[serde(rename = "pipeline", default)]
    pub pipelines: Vec<PipelineSpec>,
    /// The tasks; a task without a table does not run.
    #[serde(default)]
    pub tasks: Tasks,
    /// The file this was read from.
    #[serde(skip)]
    pub source: PathBuf,
    /// Each pipeline's table as written, for cache keys.
    #[serde(skip)]
    pub raw_pipelines: Vec<String>,
}

/// `[datasets]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetsSection {
    /// The folder the tasks' `path`s are relative to (relative to the suite file)
    /// [default: `$FACELAB_SHARED/datasets`, else `../shared/datasets` from the working
    /// folder, like the `eval-*` commands].
    pub root: Option<PathBuf>,
}

/// One `[[pipeline]]`: a detector, optionally a recognizer, and their options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// A short unique name (letters, digits, `.`, `_`, `-`): report rows and cache folders.
    pub name: String,
    /// One line for the report.
    #[serde(default)]
    pub description: String,
    /// The detector, with the keys of the main config's `[detector]`.
    pub detector: ModelSection,
    /// The recognizer, with the keys of the main config's `[recognizer]`; without one the
    /// recognition tasks skip this pipeline.
    #[serde(default)]
    pub recognizer: Option<ModelSection>,
    /// Robust detection, as the main config's `[detection]` [default: its defaults, not the
    /// user's config, so that runs are comparable].
    #[serde(default)]
    pub detection: RobustOptions,
    /// Detector options that replace `detector.options` entries for the WIDER task only
    /// (the evaluation wants low-score detections for a full PR curve).
    #[serde(default)]
    pub wider_options: toml::Table,
}

const HELP: &str = "config/bench.toml in the repository documents every key";

impl Suite {
    /// Reads and validates a suite file.
    pub fn load(path: &Path) -> Result<Suite, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
            help: "pass an existing file with --suite, or run from the repository root where config/bench.toml is",
        })?;
        Suite::parse(&text, path)
    }

    /// Parses suite text as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Suite, ConfigError> {
        let mut suite: Suite = toml::from_str(text).map_err(|e| parse_error(text, path, &e))?;
        suite.source = path.to_owned();
        // The tables as written (toml's tables are sorted, so this is stable).
        let raw: toml::Table = toml::from_str(text).map_err(|e| parse_error(text, path, &e))?;
        suite.raw_pipelines = raw
            .get("pipeline")
            .and_then(|p| p.as_array())
            .map(|a| a.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        let base = suite.dir();
        for p in &mut suite.pipelines {
            let mut rebase = |section: &mut ModelSection| {
                for f in &mut section.model_files {
                    *f = base.join(&*f);
                }
            };
            p.detector.for_each_member_mut(&mut rebase);
            if let Some(r) = p.recognizer.as_mut() {
                r.for_each_member_mut(&mut rebase);
            }
        }
        if let Some(root) = &mut suite.datasets.root {
            *root = base.join(&*root);
        }
        if let Some(voc) = &mut suite.tasks.voc {
            for l in &mut voc.labels {
                *l = base.join(&*l);
            }
        }
        if let Some(dir) = suite.tasks.scan.as_mut().and_then(|s| s.scripts.as_mut()) {
            *dir = base.join(&*dir);
        }
        suite.validate()?;
        Ok(suite)
    }

    /// The folder the suite file is in.
    pub fn dir(&self) -> PathBuf {
        match self.source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// The data-set root: `--datasets`, else `[datasets] root`, else `$FACELAB_SHARED/datasets`,
    /// else `../shared/datasets` from the working folder.
    pub fn datasets_root(&self, override_root: Option<&Path>) -> PathBuf {
        override_root
            .map(Path::to_owned)
            .or_else(|| self.datasets.root.clone())
            .or_else(|| {
                std::env::var_os("FACELAB_SHARED")
                    .filter(|v| !v.is_empty())
                    .map(|s| PathBuf::from(s).join("datasets"))
            })
            .unwrap_or_else(|| PathBuf::from("../shared/datasets"))
    }

    /// The config that runs `pipeline`: `base` (for the plugin search path, model store and
    /// image limits) with the pipeline's detector, recognizer and robust options. Its source
    /// is the suite file, so errors and plugin search name the suite.
    pub fn pipeline_config(&self, base: &Config, pipeline: &PipelineSpec) -> Config {
        let mut config = base.clone();
        config.detector = pipeline.detector.clone();
        config.recognizer = pipeline.recognizer.clone();
        config.detection = pipeline.detection;
        config.source = self.source.clone();
        config
    }
}

impl Suite {
    /// A suite of one pipeline, named `config`: the config's own detector, recognizer and
    /// robust-detection options, for the `eval-*` commands.
    pub fn single_pipeline(config: &Config, tasks: Tasks, wider_options: toml::Table) -> Suite {
        Suite {
            datasets: DatasetsSection::default(),
            pipelines: vec![PipelineSpec {
                name: "config".into(),
                description: config.source.display().to_string(),
                detector: config.detector.clone(),
                recognizer: config.recognizer.clone(),
                detection: config.detection,
                wider_options,
            }],
            tasks,
            source: config.source.clone(),
            raw_pipelines: vec![String::new()],
        }
    }
}

fn parse_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    facelab_engine::config::toml_error(text, path, e, HELP)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const MINIMAL: &str = "[[pipeline]]\nname = \"ex\"\n[pipeline.detector]\nplugin = \"example\"\nkind = \"whole-image\"\n";

    #[test]
    fn a_minimal_suite_parses_with_defaults() {
        let text = format!("{MINIMAL}[tasks.orl]\n[tasks.speed]\n");
        let s = Suite::parse(&text, Path::new("/x/bench.toml")).unwrap();
        assert_eq!(s.pipelines[0].name, "ex");
        let orl = s.tasks.orl.as_ref().unwrap();
        assert_eq!((orl.tagged.len(), orl.splits), (3, 10));
        assert!(s.task("orl", None).enabled && !s.task("lfw", None).enabled);
        // ORL needs a recognizer, which this pipeline has not.
        assert!(!s.task("orl", None).applies_to(&s.pipelines[0]));
        assert!(s.task("speed", None).applies_to(&s.pipelines[0]));
        assert_eq!(s.raw_pipelines.len(), 1);
    }

    #[test]
    fn the_naming_task_defaults_to_the_library_protocol() {
        let text = format!("{MINIMAL}[tasks.naming]\n");
        let s = Suite::parse(&text, Path::new("/x/bench.toml")).unwrap();
        let naming = s.tasks.naming.as_ref().unwrap();
        assert_eq!(
            (naming.path.as_path(), naming.named, naming.strangers),
            (Path::new("orl"), 2, 4)
        );
        let plan = s.task("naming", Some(Path::new("/data")));
        assert_eq!(plan.path.as_deref(), Some(Path::new("/data/orl")));
        // It names people, so it needs a recognizer, which this pipeline has not.
        assert!(plan.enabled && !plan.applies_to(&s.pipelines[0]));
    }

    #[test]
    fn a_fused_recognizer_parses_into_the_same_section_and_its_table_keys_the_cache() {
        let single = format!(
            "{MINIMAL}[pipeline.recognizer]\nplugin = \"example\"\nkind = \"pixels\"\nmodel = \"a\"\n"
        );
        let fused = format!(
            "{single}[[pipeline.recognizer.fuse]]\nplugin = \"example\"\nkind = \"pixels\"\nmodel = \"b\"\nmodel_files = [\"m.bin\"]\n"
        );
        let path = Path::new("/x/bench.toml");
        let (single, fused) = (
            Suite::parse(&single, path).unwrap(),
            Suite::parse(&fused, path).unwrap(),
        );
        let r = fused.pipelines[0].recognizer.as_ref().unwrap();
        assert_eq!(r.fuse[0].model, "b");
        assert_eq!(r.fuse[0].model_files, [PathBuf::from("/x/m.bin")]);
        // The table as written, the pipeline's part of every cache key, names the fused
        // model: a fused pipeline never reuses a single model's cached embeddings.
        assert_ne!(single.raw_pipelines[0], fused.raw_pipelines[0]);
        assert!(fused.raw_pipelines[0].contains("fuse"));
        let base = Config::parse(
            "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n",
            path,
        )
        .unwrap();
        let config = fused.pipeline_config(&base, &fused.pipelines[0]);
        let members: Vec<String> = config
            .recognizer_members()
            .into_iter()
            .map(|(n, m)| format!("{n}={}", m.model))
            .collect();
        assert_eq!(members, ["recognizer=a", "recognizer.fuse[0]=b"]);
    }
}
