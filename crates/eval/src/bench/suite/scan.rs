//! `[tasks.scan]` of the suite file: the photo sets, the runs and the script's settings.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use facelab_engine::config::ConfigError;

fn yes() -> bool {
    true
}

/// `[tasks.scan]`: `facelab scan` and the pinned Python reference script
/// (`benches/python/scan_reference.py`) on the same photos, in turn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The photo sets.
    pub sets: Vec<ScanSet>,
    /// The pipelines to run it on [default: the first pipeline].
    pub pipelines: Option<Vec<String>>,
    /// Runs; each is one `facelab scan` into a new library, then each script variant.
    #[serde(default = "ScanTask::default_runs")]
    pub runs: usize,
    /// The script's `--max-side` values: 0 is the photo's own size.
    #[serde(default = "ScanTask::default_variants")]
    pub variants: Vec<u32>,
    /// The script's `--threads`.
    #[serde(default = "ScanTask::default_threads")]
    pub threads: u32,
    /// The script's `--score`: the detector's score threshold.
    #[serde(default = "ScanTask::default_score")]
    pub score: f32,
    /// The folder of `scan_reference.py`, `make_camera_set.py` and `setup_venv.sh`
    /// (relative to the suite file) [default: `benches/python` of the repository that holds
    /// the suite file, the working folder or the facelab binary].
    pub scripts: Option<PathBuf>,
}

/// One photo set of `[tasks.scan]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSet {
    /// A short name for the report.
    pub name: String,
    /// The folder of photos, scanned recursively (for a WIDER FACE set, the folder holding
    /// `images/` and `wider_face_val_bbx_gt.txt`). With `generate`, the source set
    /// [default: `wider-face-val-mini`].
    pub path: Option<PathBuf>,
    /// `"camera"`: the set is made from `path` by `make_camera_set.py` (3× Lanczos, JPEG
    /// q92, ground truth scaled) into the cache.
    pub generate: Option<String>,
    /// Only the first N photos by sorted path.
    pub limit: Option<usize>,
    /// The script variant (`--max-side`) the set's headline ratio is against [default: 0 if
    /// it is a variant, else the first].
    pub compare: Option<u32>,
    /// The photos/s ratio (facelab ÷ script at `compare`) the set should reach.
    pub target_ratio: Option<f64>,
    /// Whether the target also asks for a peak RSS no higher than the script's.
    #[serde(default)]
    pub target_rss: bool,
    /// This set's script variants [default: the task's `variants`]: the script at a
    /// camera photo's own size takes minutes per run.
    pub variants: Option<Vec<u32>>,
}

impl ScanTask {
    fn default_runs() -> usize {
        3
    }
    fn default_variants() -> Vec<u32> {
        vec![0, 1280]
    }
    fn default_threads() -> u32 {
        2
    }
    fn default_score() -> f32 {
        0.9
    }
}

impl ScanSet {
    /// The script variants this set runs.
    pub fn variants<'a>(&'a self, task: &'a ScanTask) -> &'a [u32] {
        self.variants.as_deref().unwrap_or(&task.variants)
    }

    /// The variant the headline ratio is against.
    pub fn compare_with(&self, variants: &[u32]) -> u32 {
        self.compare.unwrap_or(if variants.contains(&0) {
            0
        } else {
            variants[0]
        })
    }
}

impl ScanTask {
    /// Checks the values; an error names the suite file (`source`) and the key.
    pub fn validate(&self, source: &Path) -> Result<(), ConfigError> {
        let s = self;
        let bad = |key: &str, message: String, help: &str| invalid(source, key, message, help);
        if s.runs == 0 {
            return bad("runs", "= 0".into(), "use 3 (the medians want at least 3)");
        }
        if s.threads == 0 {
            return bad("threads", "= 0".into(), "use 2");
        }
        if s.variants.is_empty() {
            return bad("variants", "is empty".into(), "use [0, 1280]");
        }
        if let Some(v) = s
            .variants
            .iter()
            .find(|v| **v != 0 && !(32..=16384).contains(*v))
        {
            return bad(
                "variants",
                format!("holds {v}"),
                "use 0 (own size) or a long side from 32 to 16384 pixels",
            );
        }
        if !(s.score > 0.0 && s.score < 1.0) {
            return bad(
                "score",
                format!("= {}", s.score),
                "use a score threshold in (0, 1), such as 0.9",
            );
        }
        if s.sets.is_empty() {
            return bad(
                "sets",
                "is empty".into(),
                "add { name = \"wider-face-val-mini\", path = \"wider-face-val-mini\" }",
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, set) in s.sets.iter().enumerate() {
            if set.name.is_empty() || !seen.insert(set.name.as_str()) {
                return bad(
                    &format!("sets[{i}].name"),
                    format!("= {:?} is empty or used twice", set.name),
                    "give every set its own name",
                );
            }
            set.validate(i, s, source)?;
        }
        Ok(())
    }
}

impl ScanSet {
    /// Checks set `i` of `task` (all but its name, which needs the other sets).
    fn validate(&self, i: usize, task: &ScanTask, source: &Path) -> Result<(), ConfigError> {
        let set = self;
        let bad = |k: &str, message: String, help: &str| {
            invalid(source, &format!("sets[{i}].{k}"), message, help)
        };
        if set.generate.as_deref().is_some_and(|g| g != "camera") {
            return bad(
                "generate",
                format!("= {:?}", set.generate.as_deref().unwrap_or("")),
                "the only generator is \"camera\"",
            );
        }
        if set.generate.is_none() && set.path.is_none() {
            return bad(
                "path",
                "is missing".into(),
                "name the folder of photos, relative to the data-set root",
            );
        }
        if set.limit == Some(0) {
            return bad("limit", "= 0".into(), "leave it out for every photo");
        }
        let variants = set.variants(task);
        if variants.is_empty() {
            return bad("variants", "is empty".into(), "use [1280]");
        }
        if let Some(v) = variants
            .iter()
            .find(|v| **v != 0 && !(32..=16384).contains(*v))
        {
            return bad(
                "variants",
                format!("holds {v}"),
                "use 0 (own size) or a long side from 32 to 16384 pixels",
            );
        }
        if let Some(c) = set.compare.filter(|c| !variants.contains(c)) {
            return bad(
                "compare",
                format!("= {c} is not one of variants {variants:?}"),
                "use one of the variants",
            );
        }
        if set.target_ratio.is_some_and(|r| r.is_nan() || r <= 0.0) {
            return bad(
                "target_ratio",
                "is not positive".into(),
                "use a ratio such as 2.0",
            );
        }
        Ok(())
    }
}

/// The error for `tasks.scan.<key>` of the suite file `source`.
fn invalid(source: &Path, key: &str, message: String, help: &str) -> Result<(), ConfigError> {
    Err(ConfigError::invalid(
        source,
        format!("tasks.scan.{key}"),
        message,
        help,
    ))
}
