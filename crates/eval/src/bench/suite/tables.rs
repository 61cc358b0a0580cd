//! `[tasks]` and the tables of the tasks in it, with their defaults; `[tasks.scan]` is in
//! [`super::scan`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::scan;

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
    /// Naming people through the face library, as a user does it.
    pub naming: Option<NamingTask>,
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
    /// Robustness variants of the people, each a folder with the same
    /// `images/<Name>/` layout, relative to the data-set root, absolute, or from `~/`
    /// (made by `benches/python/make_robustness_sets.py`). Every method runs on each with the
    /// same parameters; a missing folder is reported, not fatal.
    #[serde(default)]
    pub variants: Vec<PathBuf>,
    /// Held-out checks: folders like `variants`, clustered the same way and reported, but
    /// kept out of the worst case ([`crate::bench::clustering::worst`]) that defaults are
    /// chosen on.
    #[serde(default)]
    pub checks: Vec<PathBuf>,
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

/// `[tasks.naming]`: the first `named` photos of each person but the last `strangers` are
/// named with `facelab import-labels`; every other photo is scanned and `facelab suggest`
/// names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamingTask {
    /// Set to false to keep the table but not run the task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The ORL folder (`sX/Y.pgm`).
    #[serde(default = "OrlTask::default_path")]
    pub path: PathBuf,
    /// The pipelines to run it on [default: every pipeline with a recognizer].
    pub pipelines: Option<Vec<String>>,
    /// Photos named per person: photos 1 to `named` of each.
    #[serde(default = "NamingTask::default_named")]
    pub named: usize,
    /// People nobody names, the last of the set (s37 to s40 at 4): every photo of theirs
    /// should be answered "unknown".
    #[serde(default = "NamingTask::default_strangers")]
    pub strangers: usize,
}

impl NamingTask {
    fn default_named() -> usize {
        2
    }
    fn default_strangers() -> usize {
        4
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
