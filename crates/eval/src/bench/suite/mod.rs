//! The bench suite file (`config/bench.toml`): the pipelines to compare and the tasks to run
//! them on, validated once into typed values.
//!
//! Like the main config, every table denies unknown keys, so a typo is an error that names
//! the file, line and key instead of a setting that is silently ignored. Paths in the file are
//! relative to the file's folder; data-set paths are relative to the data-set root.

pub mod scan;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use facelab_engine::config::RobustOptions;
use facelab_engine::config::{Config, ConfigError, ModelSection};

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

/// `[tasks]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tasks {
    /// ORL identification.
    pub orl: Option<OrlTask>,
    /// LFW View 2 verification.
    pub lfw: Option<LfwTask>,
    /// WIDER FACE detection AP.
    pub wider: Option<WiderTask>,
    /// voc-groups detection precision and recall.
    pub voc: Option<VocTask>,
    /// Clustering of the LFW people with enough images.
    pub clustering: Option<ClusteringTask>,
    /// Speed and memory.
    pub speed: Option<SpeedTask>,
    /// `facelab scan` beside the Python reference script, side by side.
    pub scan: Option<scan::ScanTask>,
}

fn yes() -> bool {
    true
}

/// `[tasks.orl]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrlTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The ORL folder (`sX/Y.pgm`).
    #[serde(default = "OrlTask::default_path")]
    pub path: PathBuf,
    /// The pipelines to run it on [default: every pipeline with a recognizer].
    pub pipelines: Option<Vec<String>>,
    /// Fractions of each subject's 10 images that are tagged.
    #[serde(default = "OrlTask::default_tagged")]
    pub tagged: Vec<f64>,
    /// Seeded random splits per fraction (seeds 0..splits).
    #[serde(default = "OrlTask::default_splits")]
    pub splits: u64,
}

impl OrlTask {
    fn default_path() -> PathBuf {
        "orl".into()
    }
    fn default_tagged() -> Vec<f64> {
        vec![0.1, 0.2, 0.5]
    }
    fn default_splits() -> u64 {
        10
    }
}

/// `[tasks.lfw]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LfwTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The LFW folder (`pairs.txt`, `images/`).
    #[serde(default = "LfwTask::default_path")]
    pub path: PathBuf,
    /// The pipelines to run it on [default: every pipeline with a recognizer].
    pub pipelines: Option<Vec<String>>,
}

impl LfwTask {
    fn default_path() -> PathBuf {
        "lfw".into()
    }
}

/// `[tasks.wider]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WiderTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The WIDER FACE folder (`images/`, `wider_face_val_bbx_gt.txt`, `difficulty.txt`): the
    /// mini set by default; point it at a full validation set prepared the same way.
    #[serde(default = "WiderTask::default_path")]
    pub path: PathBuf,
    /// The pipelines to run it on [default: all].
    pub pipelines: Option<Vec<String>>,
    /// IoU at which a detection matches a face (0.5 in every WIDER FACE report).
    #[serde(default = "WiderTask::default_iou")]
    pub iou: f32,
    /// Evaluate only the first N images (for quick runs).
    pub limit: Option<usize>,
}

impl WiderTask {
    fn default_path() -> PathBuf {
        "wider-face-val-mini".into()
    }
    fn default_iou() -> f32 {
        0.5
    }
}

/// `[tasks.voc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The imglab XML file.
    #[serde(default = "VocTask::default_path")]
    pub path: PathBuf,
    /// The pipelines to run it on [default: all].
    pub pipelines: Option<Vec<String>>,
    /// IoU at which a detection matches a labelled face.
    #[serde(default = "WiderTask::default_iou")]
    pub iou: f32,
    /// More hand-labelled imglab files (relative to the suite file) whose image names are
    /// relative to the data-set root, such as benches/labels/samples.xml. Each image folder
    /// is reported as its own set.
    #[serde(default)]
    pub labels: Vec<PathBuf>,
}

impl VocTask {
    fn default_path() -> PathBuf {
        "samples/voc-groups/testing.xml".into()
    }
}

/// `[tasks.clustering]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusteringTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The LFW folder; every person with at least `min_images` images takes part.
    #[serde(default = "LfwTask::default_path")]
    pub path: PathBuf,
    /// The pipelines to run it on [default: every pipeline with a recognizer].
    pub pipelines: Option<Vec<String>>,
    /// Fewest images of a person to take part.
    #[serde(default = "ClusteringTask::default_min_images")]
    pub min_images: usize,
    /// The methods to compare, each a table in facelab-cluster's `[cluster]` syntax
    /// (`method = "chinese-whispers"`, `threshold = 0.4`, ...).
    #[serde(default)]
    pub methods: Vec<toml::Table>,
    /// Also run every method on the faces at or above this quality, as `[library]
    /// min_quality` would (docs/library.md) [default: not run].
    pub min_quality: Option<f32>,
    /// Robustness variants of the people (issue 18), each a folder with the same
    /// `images/<Name>/` layout, relative to the data-set root, absolute, or from `~/`
    /// (made by `benches/python/make_robustness_sets.py`). Every method runs on each with the
    /// same parameters; a missing folder is reported, not fatal.
    #[serde(default)]
    pub variants: Vec<PathBuf>,
}

impl ClusteringTask {
    /// Where a variant's folder is: `~/` from $HOME, a relative path under `root`.
    pub fn variant_path(path: &Path, root: &Path) -> PathBuf {
        match path.strip_prefix("~") {
            Ok(rest) => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(rest),
            Err(_) => root.join(path),
        }
    }
}

impl ClusteringTask {
    fn default_min_images() -> usize {
        5
    }
}

/// `[tasks.speed]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Photos and folders of photos (not recursive) to time on.
    #[serde(default = "SpeedTask::default_photos")]
    pub photos: Vec<PathBuf>,
    /// The pipelines to run it on [default: all].
    pub pipelines: Option<Vec<String>>,
    /// Long sides, in pixels, that the photos are resized to for detection timing.
    #[serde(default = "SpeedTask::default_sizes")]
    pub sizes: Vec<u32>,
    /// The size whose median goes into the headline table; one of `sizes`.
    #[serde(default = "SpeedTask::default_headline_size")]
    pub headline_size: u32,
    /// Timed runs per photo and size (after one untimed warm-up run).
    #[serde(default = "SpeedTask::default_repeats")]
    pub repeats: usize,
}

impl SpeedTask {
    fn default_photos() -> Vec<PathBuf> {
        vec!["samples/voc-groups".into(), "samples/sprint".into()]
    }
    fn default_sizes() -> Vec<u32> {
        vec![640, 1024]
    }
    fn default_headline_size() -> u32 {
        1024
    }
    fn default_repeats() -> usize {
        3
    }
}

/// The task names, in report order.
pub const TASK_NAMES: [&str; 7] = ["orl", "lfw", "wider", "voc", "clustering", "speed", "scan"];

/// What [`Suite::task`] says about one task.
#[derive(Debug, Clone)]
pub struct TaskPlan {
    /// The task's table is present and enabled.
    pub enabled: bool,
    /// The data path (resolved against the data-set root); `None` for tasks without one.
    pub path: Option<PathBuf>,
    /// Pipeline names it runs on, when restricted.
    pub pipelines: Option<Vec<String>>,
    /// Only pipelines with a recognizer.
    pub needs_recognizer: bool,
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
            for section in std::iter::once(&mut p.detector).chain(p.recognizer.as_mut()) {
                for f in &mut section.model_files {
                    *f = base.join(&*f);
                }
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

    pub(super) fn invalid(
        &self,
        key: String,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.source.clone(),
            key,
            message: message.into(),
            help: help.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
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
            for (section_name, section) in std::iter::once(("detector", &p.detector))
                .chain(p.recognizer.as_ref().map(|r| ("recognizer", r)))
            {
                if section.plugin.trim().is_empty() {
                    return Err(self.invalid(
                        key(&format!("{section_name}.plugin")),
                        "is empty",
                        "name a plugin, for example \"opencv-dnn\"",
                    ));
                }
                if section.kind.trim().is_empty() {
                    return Err(self.invalid(
                        key(&format!("{section_name}.kind")),
                        "is empty",
                        "name a kind; `facelab plugins` lists them",
                    ));
                }
            }
            if p.detector.landmarks.is_some() {
                return Err(self.invalid(
                    key("detector.landmarks"),
                    "is only for a recognizer",
                    "move it to the pipeline's recognizer table",
                ));
            }
        }
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
        let t = &self.tasks;
        if let Some(orl) = &t.orl {
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
        }
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
        if let Some(c) = &t.clustering {
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
        }
        if let Some(s) = &t.speed {
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
        }
        if let Some(s) = &t.scan {
            s.validate(&self.source)?;
        }
        Ok(())
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

    /// The plan of task `name` (one of [`TASK_NAMES`]), with its data path resolved against
    /// `root` (absolute paths stay as they are).
    pub fn task(&self, name: &str, root: Option<&Path>) -> TaskPlan {
        let at = |p: &Path| match root {
            Some(r) => r.join(p),
            None => p.to_owned(),
        };
        let t = &self.tasks;
        let (enabled, path, pipelines, needs_recognizer) = match name {
            "orl" => t
                .orl
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), true)),
            "lfw" => t
                .lfw
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), true)),
            "wider" => t
                .wider
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), false)),
            "voc" => t
                .voc
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), false)),
            "clustering" => t
                .clustering
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), true)),
            "speed" => t
                .speed
                .as_ref()
                .map(|x| (x.enabled, None, x.pipelines.clone(), false)),
            // The script embeds every face, so facelab does too; on the first pipeline by
            // default (the script's models are YuNet and MobileFaceNet).
            "scan" => t.scan.as_ref().map(|x| {
                let first = self.pipelines.first().map(|p| vec![p.name.clone()]);
                (x.enabled, None, x.pipelines.clone().or(first), true)
            }),
            _ => None,
        }
        .unwrap_or((false, None, None, false));
        TaskPlan {
            enabled,
            path,
            pipelines,
            needs_recognizer,
        }
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

impl TaskPlan {
    /// Whether the task runs on `pipeline`.
    pub fn applies_to(&self, pipeline: &PipelineSpec) -> bool {
        self.enabled
            && (!self.needs_recognizer || pipeline.recognizer.is_some())
            && self
                .pipelines
                .as_ref()
                .is_none_or(|names| names.contains(&pipeline.name))
    }
}

fn parse_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    facelab_engine::config::toml_error(text, path, e, HELP)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[[pipeline]]\nname = \"ex\"\n[pipeline.detector]\nplugin = \"example\"\nkind = \"whole-image\"\n";

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
    fn the_scan_task_defaults_to_the_first_pipeline() {
        let text = format!("{MINIMAL}[pipeline.recognizer]\nplugin = \"example\"\nkind = \"pixels\"\n[[pipeline]]\nname = \"second\"\n[pipeline.detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[tasks.scan]\nsets = [{{ name = \"camera\", generate = \"camera\" }}]\n");
        let s = Suite::parse(&text, Path::new("/x/bench.toml")).unwrap();
        let scan = s.tasks.scan.as_ref().unwrap();
        assert_eq!(
            (scan.runs, scan.threads, &scan.variants[..]),
            (3, 2, &[0, 1280][..])
        );
        assert_eq!(scan.sets[0].compare_with(&scan.variants), 0);
        let plan = s.task("scan", None);
        assert!(plan.applies_to(&s.pipelines[0]) && !plan.applies_to(&s.pipelines[1]));
    }

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
            (format!("{MINIMAL}[tasks.scan]\nsets = [{{ name = \"a\", path = \"a\", compare = 640 }}]\n"), "`tasks.scan.sets[0].compare` = 640 is not one of variants [0, 1280]"),
            (format!("{MINIMAL}[tasks.scan]\nsets = [{{ name = \"a\", generate = \"phone\" }}]\n"), "`tasks.scan.sets[0].generate`"),
            (format!("{MINIMAL}[tasks.scan]\nsets = [{{ name = \"a\" }}]\n"), "`tasks.scan.sets[0].path` is missing"),
            (format!("{MINIMAL}[tasks.scan]\nruns = 0\nsets = [{{ name = \"a\", path = \"a\" }}]\n"), "`tasks.scan.runs` = 0"),
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
