//! The bench report as data: what `report.json` holds, field for field. `report.md`,
//! `report.html` and `docs/results.md` are rendered from it, after a run or from a
//! `report.json` read back (`facelab bench --render`): every type reads what it writes. The
//! schema is documented in `docs/bench.md` and `docs/bench.schema.json`; [`SCHEMA_VERSION`]
//! changes whenever a field changes meaning or goes away (adding a field does not change it).

use serde::{Deserialize, Deserializer, Serialize};

mod scan;

pub use scan::{ScanHeadline, ScanRatio, ScanResult, ScanRun, ScanSetResult, ScanSide, Spread};

/// The version of the `report.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

/// A number that is not finite is written as `null` (serde_json's way, and the schema's for
/// the fields that can be): read back as NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `facelab <version>`.
    pub generated_by: String,
    /// The suite file.
    pub suite: String,
    /// The data-set root the tasks read.
    pub datasets_root: String,
    /// Whether cached detections and embeddings were reused.
    pub resumed: bool,
    /// Wall time of the whole run, seconds.
    pub wall_seconds: f64,
    /// Where and with what it ran.
    pub environment: Environment,
    /// Every model the pipelines used.
    pub models: Vec<ModelEntry>,
    /// The pipelines, in suite order.
    pub pipelines: Vec<PipelineEntry>,
    /// The tasks.
    pub tasks: TaskResults,
    /// One row per pipeline: the numbers people compare first.
    pub headline: Vec<HeadlineRow>,
    /// Measured against published figures.
    pub harness_check: Vec<HarnessCheck>,
    /// Skipped tasks and other things the reader should know.
    pub notices: Vec<String>,
}

/// The machine and software.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    /// UTC, RFC 3339 (`2026-01-31T12:00:00Z`).
    pub date: String,
    /// From `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// Logical CPUs available to the process.
    pub cores: usize,
    /// `PRETTY_NAME` of `/etc/os-release` and the kernel release.
    pub os: Option<String>,
    /// OpenCV version (from the OpenCV plugin's backend string, else `pkg-config`).
    pub opencv_version: Option<String>,
    /// ONNX Runtime version (from the ONNX Runtime plugin's backend string, else the
    /// library's file name).
    pub onnxruntime_version: Option<String>,
    /// `git rev-parse HEAD` in the working folder.
    pub git_commit: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// The facelab version.
    pub facelab_version: String,
}

/// A model used by some pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    /// The manifest id (or the config's label for user files).
    pub id: String,
    /// `detector`, `recognizer` or `landmarks`.
    pub role: String,
    /// `permissive`, `research` or `unknown`.
    pub licence_class: String,
    /// The licence text from the manifest.
    pub licence_text: Option<String>,
    /// The backend the plugin reports (e.g. `opencv-dnn 4.6.0`).
    pub backend: Option<String>,
    /// Each file and its sha256.
    pub files: Vec<ModelFileEntry>,
}

/// One model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFileEntry {
    /// File name.
    pub name: String,
    /// Lowercase hex sha256.
    pub sha256: String,
}

/// One model of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageEntry {
    /// The plugin.
    pub plugin: String,
    /// The kind within the plugin.
    pub kind: String,
    /// The model id.
    pub model: String,
    /// Its licence class.
    pub licence_class: String,
    /// Alignment-point model, for a recognizer.
    pub landmarks: Option<String>,
    /// The plugin options as given in the suite (before the manifest's defaults).
    pub options: serde_json::Value,
}

/// One pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineEntry {
    /// Its name.
    pub name: String,
    /// Its one-line description.
    pub description: String,
    /// The detector.
    pub detector: StageEntry,
    /// The recognizer, if any.
    pub recognizer: Option<StageEntry>,
    /// Whether any of its models is for research only (not for commercial use).
    pub research_only: bool,
    /// Why it could not run, when it could not (its task results are then missing).
    pub error: Option<String>,
}

/// Whether a task ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran (on at least one pipeline).
    Ran,
    /// It was configured but could not run; `reason` says why.
    Skipped,
    /// It is not in the suite (or `enabled = false`).
    Off,
}

/// One task: its status and one result per pipeline it ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task<R> {
    /// Whether it ran.
    pub status: Status,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// The data set it read.
    pub dataset: Option<String>,
    /// Results, in pipeline order.
    pub results: Vec<R>,
}

impl<R> Task<R> {
    /// A task that is not in the suite.
    pub fn off() -> Self {
        Task {
            status: Status::Off,
            reason: None,
            dataset: None,
            results: Vec::new(),
        }
    }
}

/// Every task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResults {
    /// ORL identification.
    pub orl: Task<OrlResult>,
    /// LFW View 2 verification.
    pub lfw: Task<LfwResult>,
    /// WIDER FACE detection.
    pub wider: Task<WiderResult>,
    /// voc-groups detection.
    pub voc: Task<VocResult>,
    /// Clustering.
    pub clustering: Task<ClusteringResult>,
    /// Naming through the face library (`import-labels`, then `suggest`); off in a report
    /// written before the task existed.
    #[serde(default = "Task::off")]
    pub naming: Task<NamingResult>,
    /// Speed and memory.
    pub speed: Task<SpeedResult>,
    /// `facelab scan` beside the Python reference script.
    pub scan: Task<ScanResult>,
}

/// Mean and standard deviation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MeanSd {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub sd: f64,
}

/// How the photos of a recognition set went through the pipeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmbedStats {
    /// Images in the set.
    pub images: usize,
    /// Images where the detector found no face, embedded from the whole frame.
    pub whole_frame: usize,
    /// Images that could not be read or embedded.
    pub failed: usize,
    /// Images taken from the cache.
    pub cached: usize,
    /// Median embedding time per face, ms (alignment + forward), over the images embedded
    /// in this run (cached ones keep the time of the run that made them).
    pub median_embed_ms: Option<f64>,
}

/// ORL at one tagged fraction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrlFraction {
    /// Fraction of each subject's images tagged.
    pub tagged: f64,
    /// Images tagged per subject.
    pub tagged_per_subject: usize,
    /// Nearest class centroid (cosine).
    pub centroid: MeanSd,
    /// 1-nearest neighbour (cosine).
    pub knn: MeanSd,
}

/// ORL for one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrlResult {
    /// The pipeline.
    pub pipeline: String,
    /// Seeded splits per fraction.
    pub splits: u64,
    /// How the images went.
    pub embedding: EmbedStats,
    /// One entry per fraction.
    pub fractions: Vec<OrlFraction>,
    /// Why it failed, when it did (the numbers are then missing).
    pub error: Option<String>,
}

/// LFW for one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LfwResult {
    /// The pipeline.
    pub pipeline: String,
    /// Pairs.
    pub pairs: usize,
    /// Pairs with an unreadable image (scored -1).
    pub unreadable_pairs: usize,
    /// How the images went.
    pub embedding: EmbedStats,
    /// Mean 10-fold accuracy.
    pub accuracy: f64,
    /// Its standard deviation.
    pub accuracy_sd: f64,
    /// Accuracy per fold.
    pub fold_accuracy: Vec<f64>,
    /// Area under the ROC curve over all pairs.
    pub roc_auc: f64,
    /// True-accept rate at a false-accept rate of 1e-3.
    pub tar_at_far_1e3: f64,
    /// The threshold chosen on all folds, in `metric`.
    pub threshold: f64,
    /// How pairs were scored: the model's declared metric, `cosine` (similarity, higher is
    /// more alike) or `euclidean` (distance, lower is more alike).
    pub metric: String,
    /// (FAR, TAR) points, thinned to at most a few hundred.
    pub roc: Vec<(f64, f64)>,
}

/// WIDER FACE at one level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WiderLevel {
    /// `easy`, `medium` or `hard`.
    pub level: String,
    /// Average precision.
    pub ap: f64,
    /// Faces that count at this level.
    pub faces: usize,
    /// (recall, precision) at 100 of the 1,000 thresholds, highest first.
    pub pr_curve: Vec<(f64, f64)>,
}

/// WIDER FACE for one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WiderResult {
    /// The pipeline.
    pub pipeline: String,
    /// Images evaluated.
    pub images: usize,
    /// Images taken from the cache.
    pub cached: usize,
    /// Images that failed.
    pub failed: usize,
    /// The detector options used (the pipeline's, with its WIDER overrides).
    pub options: serde_json::Value,
    /// IoU threshold.
    pub iou: f32,
    /// Easy, medium, hard.
    pub levels: Vec<WiderLevel>,
    /// Median detection time per image of this run, ms (at a low score threshold, so NMS
    /// can dominate; the speed task is the speed reference).
    pub median_ms: Option<f64>,
    /// What a user gets at the pipeline's own settings (its config, without the WIDER
    /// overrides): taggable faces found, false positives, precision.
    pub operating_point: Option<WiderOperating>,
    /// The default-threshold rule applied to this run's detections (only when they were
    /// made at a threshold low enough to sweep).
    pub threshold_rule: Option<ThresholdRule>,
}

/// WIDER at a pipeline's own settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WiderOperating {
    /// The score threshold faces are kept from.
    pub threshold: Option<f64>,
    /// The second look (`from`, `second`, context, size), when on.
    pub verify: Option<[f64; 4]>,
    /// Taggable faces (≥ 32 px, not invalid) found, false positives, precision.
    pub point: crate::operating::OperatingPoint,
    /// (recall, precision) at each level (easy, medium, hard) by the official rules: the
    /// point marked on the PR charts.
    pub levels: Vec<(f64, f64)>,
    /// Candidates looked at again and kept (photos detected in this run only).
    pub verified: facelab_engine::verify::VerifyCounts,
    /// Median detection time per photo at these settings, ms.
    pub median_ms: Option<f64>,
    /// Photos that failed.
    pub failed: usize,
}

/// The default-threshold rule on one run's detections.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdRule {
    /// The rule.
    pub rule: String,
    /// The lowest threshold within it.
    pub threshold: Option<f64>,
    /// The measures there.
    pub point: Option<crate::operating::OperatingPoint>,
}

/// A hand-labelled photo set (voc-groups, the sprint and bbt samples) for one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VocResult {
    /// The pipeline.
    pub pipeline: String,
    /// The labelled set.
    pub set: String,
    /// Labelled faces.
    pub labelled: usize,
    /// Detections.
    pub detected: usize,
    /// Matches at the IoU threshold (one to one).
    pub matched: usize,
    /// Matched / labelled.
    pub recall: f64,
    /// Matched / detected.
    pub precision: f64,
    /// Images that failed.
    pub failed: usize,
    /// Taggable faces (≥ 32 px, not ignored) found, false positives, precision.
    pub operating_point: crate::operating::OperatingPoint,
}

/// Precision, recall, F.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// Harmonic mean.
    pub f: f64,
}

/// One clustering method's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterMethodResult {
    /// The method and its parameters, as facelab-cluster prints it.
    pub method: String,
    /// The cosine threshold Chinese Whispers used (resolved from `"auto"` on this set).
    pub threshold: Option<f32>,
    /// Pairwise precision/recall/F.
    pub pairwise: Prf,
    /// BCubed precision/recall/F.
    pub bcubed: Prf,
    /// Clusters found (noise not counted).
    pub clusters: usize,
    /// Faces left in no cluster.
    pub noise: usize,
    /// Clustering time, ms.
    pub ms: f64,
    /// The same method on the faces that pass `[library] min_quality` only; absent when the
    /// embeddings carry no quality (a cache written before facelab measured it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality_gate: Option<QualityGated>,
    /// What `clusters suggest-merges` proposes on these groups, and the scores once every
    /// likely pair is merged; absent when the recognizer declares no same-person rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merges: Option<MergeResult>,
}

/// The merge suggestions on one clustering: pairs of groups (of two or more faces) whose
/// average-linkage similarity reaches the same-person threshold, as `clusters
/// suggest-merges` lists them, and the scores after merging every one (in order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergeResult {
    /// The same-person threshold (the recognizer's declared rule, on cosine similarity).
    pub threshold: f32,
    /// Pairs of groups at or above it.
    pub likely: usize,
    /// Of those, pairs whose groups are mostly the same person.
    pub right: usize,
    /// Pairs of groups that are mostly the same person: the splits there are to mend.
    pub splits: usize,
    /// Groups (two or more faces) per true person, before and after the merges.
    pub groups_per_person: f64,
    /// After merging every likely pair.
    pub groups_per_person_after: f64,
    /// BCubed precision/recall/F after merging every likely pair.
    pub bcubed_after: Prf,
}

/// Clustering for one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusteringResult {
    /// The pipeline.
    pub pipeline: String,
    /// The set: `lfw` (the task's `path`), or a robustness variant's folder name.
    pub set: String,
    /// Faces clustered (the largest detected face of each photo).
    pub faces: usize,
    /// Photos left out because the detector found no face in them.
    pub without_face: usize,
    /// True identities among them.
    pub identities: usize,
    /// One entry per method.
    pub methods: Vec<ClusterMethodResult>,
    /// A held-out check (the task's `checks`): reported, never part of the worst case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
}

/// Naming through the face library for one pipeline: the answers `facelab suggest` gave
/// for the photos of named people and of strangers, after `facelab import-labels` named a
/// few photos of each person. Each photo counts once, by its largest face.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamingResult {
    /// The pipeline.
    pub pipeline: String,
    /// People named.
    pub people: usize,
    /// Photos given to `import-labels`.
    pub named_photos: usize,
    /// Faces `import-labels` named (a photo where no face was found names none).
    pub labelled: usize,
    /// Photos of named people answered with their own name.
    pub right: usize,
    /// Photos of named people scanned for `suggest`.
    pub known: usize,
    /// Photos of named people answered with someone else's name.
    pub wrong: usize,
    /// Photos of strangers answered "unknown".
    pub strangers_unknown: usize,
    /// Photos of strangers (people nobody named) scanned for `suggest`.
    pub strangers: usize,
    /// Photos without an answer: no face found, or the face left out of `suggest`.
    pub no_answer: usize,
    /// The threshold `suggest` used, in its model's metric.
    #[serde(deserialize_with = "nan_if_null")]
    pub threshold: f64,
    /// Where the threshold came from (`manifest` or `calibrated`).
    pub threshold_source: String,
    /// The margin `suggest` used: best and second-best person closer than this is "unknown".
    #[serde(deserialize_with = "nan_if_null")]
    pub margin: f64,
    /// Wall time of `scan`, `import-labels` and `suggest`, seconds.
    pub seconds: f64,
}

/// Detection time at one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeTiming {
    /// Long side, pixels.
    pub size: u32,
    /// Timed runs.
    pub runs: usize,
    /// Median ms per photo.
    pub median_ms: f64,
    /// 90th percentile ms per photo.
    pub p90_ms: f64,
}

/// Model load times.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LoadTimes {
    /// Loading the plugin libraries, ms.
    pub plugins_ms: f64,
    /// Resolving (verifying) and creating the detector, ms.
    pub detector_ms: f64,
    /// Resolving (verifying) and creating the recognizer, ms.
    pub recognizer_ms: Option<f64>,
}

/// Speed for one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpeedResult {
    /// The pipeline.
    pub pipeline: String,
    /// Photos timed.
    pub photos: usize,
    /// Model load times.
    pub load: LoadTimes,
    /// Detection per photo at each fixed size (decoding excluded).
    pub detect: Vec<SizeTiming>,
    /// Faces embedded one at a time.
    pub faces_embedded: usize,
    /// Median embedding time per face, ms.
    pub embed_median_ms: Option<f64>,
    /// 90th percentile embedding time per face, ms.
    pub embed_p90_ms: Option<f64>,
    /// Each photo's faces embedded in one call: the call's time ÷ its faces, ms, median
    /// over the photos with 2 or more faces (absent without such photos, or a recognizer).
    #[serde(default)]
    pub embed_batched_ms_per_face: Option<f64>,
    /// The photos that median is over.
    #[serde(default)]
    pub embed_batched_photos: usize,
    /// Decode + detect + embed every face, photos per second, at the photos' own size.
    pub end_to_end_photos_per_s: f64,
    /// Peak resident memory of the process while the pipeline loaded and ran the speed
    /// task, MiB (`VmHWM`, reset before each pipeline, after the previous one's memory was
    /// returned to the OS).
    pub peak_rss_mib: Option<f64>,
}

/// The headline row of one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadlineRow {
    /// The pipeline.
    pub pipeline: String,
    /// Whether a model is research-only.
    pub research_only: bool,
    /// ORL nearest-centroid accuracy at 20% tagged.
    pub orl_20: Option<MeanSd>,
    /// LFW accuracy.
    pub lfw: Option<MeanSd>,
    /// WIDER AP easy.
    pub wider_easy: Option<f64>,
    /// WIDER AP medium.
    pub wider_medium: Option<f64>,
    /// WIDER AP hard.
    pub wider_hard: Option<f64>,
    /// Median detection ms per photo at the speed task's headline size.
    pub ms_per_photo: Option<f64>,
    /// Median embedding ms per face.
    pub ms_per_face: Option<f64>,
    /// The scan task's headline ratio of each set (empty when it did not run).
    pub scan: Vec<ScanHeadline>,
}

/// A measured figure beside a published one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HarnessCheck {
    /// The pipeline measured.
    pub pipeline: String,
    /// What is compared (`WIDER easy AP`, `LFW accuracy`).
    pub metric: String,
    /// Measured here.
    pub measured: f64,
    /// Published.
    pub published: f64,
    /// measured - published.
    pub deviation: f64,
    /// Where the published figure comes from, and how comparable the protocols are.
    pub note: String,
}

/// A method's result with the faces below `min_quality` left out, as the library's
/// `cluster` does (`[library] min_quality`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualityGated {
    /// The threshold applied.
    pub min_quality: f32,
    /// Faces left out (below it).
    pub excluded: usize,
    /// Pairwise precision/recall/F over the faces clustered.
    pub pairwise: Prf,
    /// BCubed precision/recall/F over the faces clustered.
    pub bcubed: Prf,
    /// BCubed over every face, each face left out counted as a cluster of its own: what a
    /// user sees, so it is comparable with the ungated result.
    pub bcubed_all: Prf,
    /// Clusters found (noise not counted).
    pub clusters: usize,
    /// Faces clustered but left in no cluster.
    pub noise: usize,
}
