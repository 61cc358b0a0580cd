//! The scan task's results: `facelab scan` beside the Python reference script, each side
//! measured from outside, the ratios between them and each set's headline.

use serde::{Deserialize, Serialize};

use super::nan_if_null;

/// A median over runs, with the smallest and largest run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Spread {
    /// Median.
    #[serde(deserialize_with = "nan_if_null")]
    pub median: f64,
    /// Smallest.
    #[serde(deserialize_with = "nan_if_null")]
    pub min: f64,
    /// Largest.
    #[serde(deserialize_with = "nan_if_null")]
    pub max: f64,
}

/// One run of one side, measured from outside the process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanRun {
    /// Spawn to exit, seconds.
    pub wall_seconds: f64,
    /// User + system CPU time of the process, seconds (`wait4`).
    pub cpu_seconds: f64,
    /// Peak resident memory, MiB (`ru_maxrss`).
    pub peak_rss_mib: f64,
    /// Faces found.
    pub faces: usize,
    /// The time the process reported for its own work, seconds (facelab's scan summary,
    /// the script's `wall_seconds`).
    pub inner_seconds: Option<f64>,
    /// facelab's time per stage, seconds, when its scan summary has `stage_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_seconds: Option<std::collections::BTreeMap<String, f64>>,
}

/// One side of the comparison on one set: facelab scan, or one variant of the script.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSide {
    /// `facelab` or `script`.
    pub side: String,
    /// The script's `--max-side` (0: the photo's own size); `null` for facelab.
    pub max_side: Option<u32>,
    /// Photos it read.
    pub photos: usize,
    /// Photos it could not read.
    pub failed: usize,
    /// Wall seconds, median over runs.
    pub wall_seconds: f64,
    /// Photos of the set per wall second, median over runs.
    pub photos_per_s: f64,
    /// CPU seconds per photo, median over runs.
    pub cpu_seconds_per_photo: f64,
    /// Peak RSS, MiB, median over runs.
    pub peak_rss_mib: f64,
    /// Faces found (first run).
    pub faces: usize,
    /// Taggable faces found and false positives against the set's ground truth (first run;
    /// `null` without one).
    pub point: Option<crate::operating::OperatingPoint>,
    /// facelab's median seconds per stage, when its scan reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_seconds: Option<std::collections::BTreeMap<String, f64>>,
    /// Each run.
    pub runs: Vec<ScanRun>,
}

/// facelab ÷ one script variant, per run (each ratio from one run's pair), then the median.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanRatio {
    /// The script's `--max-side`.
    pub max_side: u32,
    /// facelab photos/s ÷ the script's (higher: facelab is faster).
    pub photos_per_s: Spread,
    /// facelab CPU s per photo ÷ the script's (lower: facelab uses less).
    pub cpu_per_photo: Spread,
    /// facelab peak RSS ÷ the script's (lower: facelab uses less).
    pub peak_rss: Spread,
    /// Faces facelab found − faces the script found.
    pub faces_difference: i64,
    /// Taggable faces facelab found − the script's (`null` without ground truth).
    pub taggable_difference: Option<i64>,
}

/// The headline comparison of one set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanHeadline {
    /// The set.
    pub set: String,
    /// The script variant compared with.
    pub max_side: u32,
    /// The median photos/s ratio.
    #[serde(deserialize_with = "nan_if_null")]
    pub photos_per_s_ratio: f64,
    /// The ratio the set should reach, when the suite gives one.
    pub target_ratio: Option<f64>,
    /// Whether the target asks for a peak RSS no higher than the script's.
    pub target_rss: bool,
    /// facelab found at least as many taggable faces (faces, without ground truth).
    pub faces_ok: bool,
    /// facelab's median peak RSS is no higher than the script's.
    pub rss_ok: bool,
    /// The target is met: the ratio, the faces and (when asked) the memory; `null` without a
    /// target.
    pub met: Option<bool>,
}

/// One photo set of the scan task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSetResult {
    /// Its name.
    pub set: String,
    /// The folder of photos.
    pub folder: String,
    /// Made by `make_camera_set.py`.
    pub generated: bool,
    /// Photos in the set (after `limit`).
    pub photos: usize,
    /// Taggable faces in its ground truth (`null` without one).
    pub taggable: Option<usize>,
    /// facelab first, then each script variant.
    pub sides: Vec<ScanSide>,
    /// facelab ÷ each script variant.
    pub ratios: Vec<ScanRatio>,
    /// The comparison the headline quotes.
    pub headline: Option<ScanHeadline>,
    /// Why the set was not measured: its photos or ground truth are missing.
    pub skipped: Option<String>,
    /// Why the set could not be measured, when it failed.
    pub error: Option<String>,
    /// Things to know (a count that differs between the sides, for example).
    pub notes: Vec<String>,
}

/// The scan task for one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanResult {
    /// The pipeline.
    pub pipeline: String,
    /// Runs per set.
    pub runs: usize,
    /// The script, as it names itself, and its OpenCV version.
    pub script: Option<String>,
    /// The script's `--threads`.
    pub threads: u32,
    /// The script's `--score`.
    pub score: f32,
    /// One entry per set.
    pub sets: Vec<ScanSetResult>,
}
