//! `facelab bench`: comparative accuracy and speed of detector × recognizer pipelines on
//! the standard test sets, written as a report (Markdown, HTML with SVG charts, JSON).
//!
//! A suite file ([`suite`]) lists pipelines and tasks. Each pipeline is opened once
//! ([`pipeline::Opened`]) and runs every task that applies to it; detections and embeddings
//! go through a per-pipeline cache ([`cache`]) so `--resume` picks up an interrupted run.
//! The results are one [`report::Report`], written as `report.json` (schema in
//! `docs/bench.schema.json`), `report.md` ([`markdown`]) and `report.html` ([`html`]).
//! A task whose data set is missing is skipped with a notice, never an error.

pub mod cache;
pub mod clustering;
pub mod environment;
pub mod harness;
pub mod pipeline;
pub mod report;
pub mod scan;
pub mod speed;
pub mod suite;
pub mod tasks;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use facelab_library::session::RunContext;
use pipeline::{CacheScope, Opened};
use report::{
    HeadlineRow, MeanSd, PipelineEntry, Report, StageEntry, Status, Task, TaskResults, WiderResult,
};
use suite::{PipelineSpec, Suite, TaskPlan, WiderTask, TASK_NAMES};

/// The data of every task that can run, loaded once for all pipelines.
#[derive(Default)]
struct Data {
    orl: Option<Vec<(PathBuf, usize)>>,
    lfw: Option<tasks::LfwData>,
    people: Option<tasks::PeopleData>,
    /// The clustering task's robustness variants: name and people, or why not.
    variants: Vec<tasks::Variant>,
    wider: Option<crate::wider::WiderSet>,
    /// Each labelled set: its name and images.
    voc: Option<Vec<(String, Vec<crate::voc::LabelledImage>)>>,
    speed: Option<Vec<PathBuf>>,
    scan: Option<scan::Prepared>,
}

fn skipped<R>(reason: String, dataset: Option<&Path>) -> Task<R> {
    Task {
        status: Status::Skipped,
        reason: Some(reason),
        dataset: dataset.map(|d| d.display().to_string()),
        results: Vec::new(),
    }
}

fn ran<R>(dataset: Option<&Path>) -> Task<R> {
    Task {
        status: Status::Ran,
        reason: None,
        dataset: dataset.map(|d| d.display().to_string()),
        results: Vec::new(),
    }
}

/// Loads the data of one task, or says why it cannot run.
fn load_task_data(
    name: &str,
    suite: &Suite,
    plan: &TaskPlan,
    root: &Path,
    data: &mut Data,
) -> Result<(), String> {
    let path = plan.path.as_deref().unwrap_or(root);
    let missing = |what: &str| format!("{what} not found at {}", path.display());
    let t = &suite.tasks;
    match name {
        "orl" => {
            if !path.is_dir() {
                return Err(missing("ORL"));
            }
            data.orl = Some(crate::faceeval::orl_images(path).map_err(|e| format!("{e:#}"))?);
        }
        "lfw" => {
            if !path.join("pairs.txt").is_file() {
                return Err(missing("LFW (pairs.txt)"));
            }
            data.lfw = Some(tasks::load_lfw(path).map_err(|e| format!("{e:#}"))?);
        }
        "clustering" => {
            if !path.join("images").is_dir() {
                return Err(missing("LFW (images/)"));
            }
            let task = t.clustering.as_ref().expect("planned");
            if task.methods.is_empty() {
                return Err("no methods in [tasks.clustering]".into());
            }
            for m in &task.methods {
                clustering::describe(m).map_err(|e| format!("{e:#}"))?;
            }
            data.people =
                Some(tasks::load_people(path, task.min_images).map_err(|e| format!("{e:#}"))?);
            data.variants = tasks::load_variants(task, root);
        }
        "wider" => {
            if !path.join("wider_face_val_bbx_gt.txt").is_file() {
                return Err(missing("WIDER FACE (wider_face_val_bbx_gt.txt)"));
            }
            let mut set = crate::wider::WiderSet::load(path).map_err(|e| format!("{e:#}"))?;
            if let Some(n) = t.wider.as_ref().and_then(|w| w.limit) {
                set.images.truncate(n);
            }
            data.wider = Some(set);
        }
        "voc" => {
            if !path.is_file() {
                return Err(missing("voc-groups XML"));
            }
            let task = t.voc.as_ref().expect("planned");
            let mut files = vec![(
                path.to_owned(),
                crate::voc::read_imglab(path).map_err(|e| format!("{e:#}"))?,
            )];
            for labels in &task.labels {
                let images =
                    crate::voc::read_imglab_in(labels, root).map_err(|e| format!("{e:#}"))?;
                if let Some(missing) = images.iter().find(|i| !i.path.is_file()) {
                    return Err(format!(
                        "{} names {}, which is missing",
                        labels.display(),
                        missing.path.display()
                    ));
                }
                files.push((labels.clone(), images));
            }
            data.voc = Some(tasks::labelled_sets(files));
        }
        "speed" => {
            let task = t.speed.as_ref().expect("planned");
            let photos = speed::photos(task, root);
            if photos.is_empty() {
                return Err(format!(
                    "no photos found at {:?} under {}",
                    task.photos,
                    root.display()
                ));
            }
            data.speed = Some(photos);
        }
        "scan" => {
            let task = t.scan.as_ref().expect("planned");
            data.scan = Some(scan::prepare(task, suite, root)?);
        }
        _ => unreachable!("task names are checked"),
    }
    Ok(())
}

fn stage(section: &facelab_engine::config::ModelSection, licence: &str) -> StageEntry {
    StageEntry {
        plugin: section.plugin.clone(),
        kind: section.kind.clone(),
        model: if section.model.is_empty() {
            section.kind.clone()
        } else {
            section.model.clone()
        },
        licence_class: licence.to_owned(),
        landmarks: section.landmarks.clone(),
        options: serde_json::to_value(&section.options).unwrap_or_default(),
    }
}

/// What every pipeline's tasks read: the suite, the task plans and the loaded data.
struct Bench<'a> {
    suite: &'a Suite,
    plans: HashMap<&'static str, TaskPlan>,
    data: Data,
}

/// What [`run_suite`] runs: a suite, its data-set root, which of its pipelines and tasks
/// (all when empty), and where the detection and embedding cache goes.
pub struct RunPlan<'a> {
    /// The suite.
    pub suite: &'a Suite,
    /// The folder the tasks' data paths are relative to.
    pub root: PathBuf,
    /// Only these pipelines (all when empty).
    pub pipelines: &'a [String],
    /// Only these tasks (all when empty).
    pub tasks: &'a [String],
    /// The cache folder; `None` keeps records in memory (nothing to resume).
    pub cache: Option<PathBuf>,
    /// Reuse the cache's records.
    pub resume: bool,
}

/// Runs the planned pipelines and tasks into a report (not written), and counts the
/// pipelines and tasks that failed. `facelab bench` and every `eval-*` command run here,
/// so each protocol has one implementation.
pub fn run_suite(ctx: &RunContext, plan: &RunPlan<'_>) -> anyhow::Result<(Report, usize)> {
    let wall = Instant::now();
    let (suite, root) = (plan.suite, &plan.root);
    let mut notices = Vec::new();
    let mut plans: HashMap<&'static str, TaskPlan> = HashMap::new();
    let mut data = Data::default();
    let mut results = TaskResults {
        orl: Task::off(),
        lfw: Task::off(),
        wider: Task::off(),
        voc: Task::off(),
        clustering: Task::off(),
        speed: Task::off(),
        scan: Task::off(),
    };
    let selected: Vec<(usize, &PipelineSpec)> = suite
        .pipelines
        .iter()
        .enumerate()
        .filter(|(_, p)| plan.pipelines.is_empty() || plan.pipelines.contains(&p.name))
        .collect();
    for name in TASK_NAMES {
        let mut task_plan = suite.task(name, Some(root));
        if !plan.tasks.is_empty() && !plan.tasks.iter().any(|t| t == name) {
            task_plan.enabled = false;
        }
        if !task_plan.enabled {
            plans.insert(name, task_plan);
            continue;
        }
        let dataset = task_plan.path.clone();
        let outcome = if !selected.iter().any(|(_, p)| task_plan.applies_to(p)) {
            Err("no selected pipeline applies (the recognition tasks need a recognizer)".into())
        } else {
            load_task_data(name, suite, &task_plan, root, &mut data)
        };
        if let Err(reason) = &outcome {
            let notice = format!("skipped: {name}: {reason}");
            eprintln!("bench: {notice}");
            notices.push(notice);
            task_plan.enabled = false;
        }
        macro_rules! set {
            ($field:ident) => {
                results.$field = match outcome {
                    Ok(()) => ran(dataset.as_deref()),
                    Err(reason) => skipped(reason, dataset.as_deref()),
                }
            };
        }
        match name {
            "orl" => set!(orl),
            "lfw" => set!(lfw),
            "wider" => set!(wider),
            "voc" => set!(voc),
            "clustering" => set!(clustering),
            "speed" => set!(speed),
            _ => set!(scan),
        }
        plans.insert(name, task_plan);
    }

    let bench = Bench { suite, plans, data };
    let mut pipelines = Vec::new();
    let mut models: Vec<report::ModelEntry> = Vec::new();
    let mut failures = 0;
    for (index, spec) in &selected {
        let raw = suite
            .raw_pipelines
            .get(*index)
            .map(String::as_str)
            .unwrap_or("");
        eprintln!("bench: pipeline {}", spec.name);
        let reset = environment::reset_peak_rss();
        let config = suite.pipeline_config(&ctx.config, spec);
        let scan_config = config.clone();
        let mut entry = PipelineEntry {
            name: spec.name.clone(),
            description: spec.description.clone(),
            detector: stage(&spec.detector, "unknown"),
            recognizer: spec.recognizer.as_ref().map(|r| stage(r, "unknown")),
            research_only: false,
            error: None,
        };
        let mut opened = match Opened::open(ctx, config, raw) {
            Ok(o) => o,
            Err(e) => {
                let message = format!("{e:#}");
                eprintln!("facelab: pipeline {}: {message}", spec.name);
                notices.push(format!("pipeline {} could not run: {message}", spec.name));
                entry.error = Some(message);
                pipelines.push(entry);
                failures += 1;
                continue;
            }
        };
        // Licence classes from the models actually loaded.
        let class_of = |id: &str| {
            opened
                .models
                .iter()
                .find(|m| m.id == id)
                .map(|m| m.licence_class.clone())
                .unwrap_or_else(|| "unknown".into())
        };
        entry.detector.licence_class = class_of(&entry.detector.model);
        if let Some(r) = entry.recognizer.as_mut() {
            r.licence_class = class_of(&r.model);
        }
        entry.research_only = opened.models.iter().any(|m| m.licence_class == "research");
        for m in &opened.models {
            if !models.iter().any(|k| k.id == m.id) {
                models.push(m.clone());
            }
        }
        let identity = opened.identity.clone();
        let scope = CacheScope {
            dir: plan.cache.as_ref().map(|c| c.join(&spec.name)),
            label: spec.name.clone(),
            identity: &identity,
            resume: plan.resume,
        };
        for (task, e) in run_tasks(&bench, spec, &mut opened, &scope, &mut results) {
            let message = format!("pipeline {}, task {task}: {e:#}", spec.name);
            eprintln!("facelab: {message}");
            notices.push(message);
            failures += 1;
        }
        if !reset
            && results
                .speed
                .results
                .iter()
                .any(|r| r.pipeline == spec.name)
        {
            notices.push(format!(
                "peak RSS of {} could not be reset before it ran: it is the process's peak so far",
                spec.name
            ));
        }
        pipelines.push(entry);
        drop(opened);
        environment::release_free_memory();
        // Child processes, with this one idle.
        if let (true, Some(prepared), Some(task)) = (
            bench.plans["scan"].applies_to(spec),
            &bench.data.scan,
            &suite.tasks.scan,
        ) {
            failures += scan::run_pipeline(
                ctx,
                &scan_config,
                &spec.name,
                task,
                prepared,
                &mut results.scan,
                &mut notices,
            );
        }
    }

    let headline = headline(&pipelines, &results, suite);
    let harness_check = harness::checks(&pipelines, &results);
    let report = Report {
        schema_version: report::SCHEMA_VERSION,
        generated_by: format!("facelab {}", env!("CARGO_PKG_VERSION")),
        suite: suite.source.display().to_string(),
        datasets_root: root.display().to_string(),
        resumed: plan.resume,
        wall_seconds: wall.elapsed().as_secs_f64(),
        environment: environment::detect(&models),
        models,
        pipelines,
        tasks: results,
        headline,
        harness_check,
        notices,
    };
    Ok((report, failures))
}

/// Every task that applies to one opened pipeline; returns the tasks that failed.
fn run_tasks(
    bench: &Bench<'_>,
    spec: &PipelineSpec,
    opened: &mut Opened,
    scope: &CacheScope<'_>,
    results: &mut TaskResults,
) -> Vec<(&'static str, anyhow::Error)> {
    let mut failed = Vec::new();
    let (suite, data) = (bench.suite, &bench.data);
    let applies = |task: &str| bench.plans[task].applies_to(spec);
    if let (true, Some(photos), Some(task)) = (applies("speed"), &data.speed, &suite.tasks.speed) {
        let label = format!("{} speed", spec.name);
        match speed::measure(opened, task, photos, &label) {
            Ok(mut r) => {
                r.pipeline = spec.name.clone();
                // Loading the pipeline and the speed task only: the accuracy tasks run at
                // other settings (WIDER's low score threshold) and hold their data sets.
                r.peak_rss_mib = environment::peak_rss_mib();
                results.speed.results.push(r);
            }
            Err(e) => failed.push(("speed", e)),
        }
    }
    if let Err(e) = run_recognition(bench, spec, opened, scope, results) {
        failed.push(("orl/lfw/clustering", e));
    }
    if let (true, Some(sets), Some(task)) = (applies("voc"), &data.voc, &suite.tasks.voc) {
        let max_pixels = opened.config.images.max_pixels;
        for (name, images) in sets {
            let paths: Vec<PathBuf> = images.iter().map(|i| i.path.clone()).collect();
            let set = format!("voc-{name}");
            match tasks::detect_faces(&mut opened.detector, max_pixels, scope, &set, "", &paths) {
                Ok((records, _)) => results
                    .voc
                    .results
                    .push(tasks::voc(&spec.name, name, images, &records, task.iou)),
                Err(e) => failed.push(("voc", e)),
            }
        }
    }
    if let (true, Some(set), Some(task)) = (applies("wider"), &data.wider, &suite.tasks.wider) {
        match wider(opened, spec, set, task, scope) {
            Ok(r) => results.wider.results.push(r),
            Err(e) => failed.push(("wider", e)),
        }
    }
    failed
}

/// WIDER for one pipeline: AP at the WIDER overrides (a low threshold for the full PR
/// curve), and the operating point at the pipeline's own settings (the same run when there
/// are no overrides).
fn wider(
    opened: &mut Opened,
    spec: &PipelineSpec,
    set: &crate::wider::WiderSet,
    task: &WiderTask,
    scope: &CacheScope<'_>,
) -> anyhow::Result<WiderResult> {
    let paths: Vec<PathBuf> = set.images.iter().map(|i| i.path.clone()).collect();
    let number = |v: Option<&toml::Value>| {
        v.and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    };
    let min_face_size = number(opened.config.detector.options.get("min_face_size")).unwrap_or(0.0);
    let (mut detector, config) = opened.detector_with(&spec.wider_options)?;
    let extra = toml::to_string(&spec.wider_options).unwrap_or_default();
    let (records, cached) = tasks::detect_faces(
        &mut detector,
        config.images.max_pixels,
        scope,
        "wider",
        &extra,
        &paths,
    )?;
    let options = serde_json::to_value(&config.detector.options).unwrap_or_default();
    let mut result = tasks::wider(
        &spec.name,
        task,
        set,
        &records,
        cached,
        options,
        min_face_size as f32,
    );
    // The configured detector's own threshold and second look.
    let threshold = opened.detector.threshold().map(f64::from);
    let operating = if spec.wider_options.is_empty() {
        tasks::wider_operating(set, task, &records, &detector, threshold)
    } else {
        let own = &mut opened.detector;
        own.reset_verified();
        let extra = format!("operating point {:?}", own.second_look());
        let (op_records, _) = tasks::detect_faces(
            own,
            opened.config.images.max_pixels,
            scope,
            "wider-op",
            &extra,
            &paths,
        )?;
        tasks::wider_operating(set, task, &op_records, &opened.detector, threshold)
    };
    result.operating_point = Some(operating);
    Ok(result)
}

/// ORL, LFW and clustering for one pipeline: the face sets they share are embedded once.
fn run_recognition(
    bench: &Bench<'_>,
    spec: &PipelineSpec,
    opened: &mut Opened,
    scope: &CacheScope<'_>,
    results: &mut TaskResults,
) -> anyhow::Result<()> {
    let (suite, data) = (bench.suite, &bench.data);
    let applies = |task: &str| bench.plans[task].applies_to(spec);
    let name = spec.name.as_str();
    if let (true, Some(images), Some(task)) = (applies("orl"), &data.orl, &suite.tasks.orl) {
        let paths: Vec<PathBuf> = images.iter().map(|(p, _)| p.clone()).collect();
        let (records, stats) = tasks::embed_faces(opened, scope, "orl", &paths)?;
        results
            .orl
            .results
            .push(tasks::orl(name, task, images, &records, stats));
    }
    let lfw = data.lfw.as_ref().filter(|_| applies("lfw"));
    let people = data.people.as_ref().filter(|_| applies("clustering"));
    if lfw.is_none() && people.is_none() {
        return Ok(());
    }
    // One pass over the images of both tasks (the same LFW images, by default).
    let paths = tasks::union(
        lfw.map(|l| l.images.as_slice()).unwrap_or_default(),
        people.map(|p| p.images.as_slice()).unwrap_or_default(),
    );
    let (records, lfw_stats) = tasks::embed_faces(opened, scope, "lfw", &paths)?;
    let index: HashMap<&Path, &pipeline::EmbedRecord> =
        paths.iter().map(PathBuf::as_path).zip(&records).collect();
    if let Some(l) = lfw {
        let mut stats = lfw_stats;
        // The counts describe the pairs' images only.
        stats.images = l.images.len();
        stats.whole_frame = l
            .images
            .iter()
            .filter(|p| {
                index
                    .get(p.as_path())
                    .is_some_and(|r| r.face.is_none() && r.embedding.is_some())
            })
            .count();
        stats.failed = l
            .images
            .iter()
            .filter(|p| index.get(p.as_path()).is_none_or(|r| r.embedding.is_none()))
            .count();
        let metric = tasks::declared_metric(opened);
        (results.lfw.results).push(tasks::lfw(name, l, &index, stats, metric));
    }
    if let (Some(p), Some(task)) = (people, &suite.tasks.clustering) {
        let declared = clustering::declared(&opened.config);
        let set = task.path.display().to_string();
        results.clustering.results.push(tasks::clustering(
            (name, &set),
            task,
            p,
            &index,
            declared,
        )?);
        let variants =
            tasks::cluster_variants(opened, scope, name, task, &data.variants, declared)?;
        results.clustering.results.extend(variants);
    }
    Ok(())
}

/// One headline row per pipeline that ran.
fn headline(pipelines: &[PipelineEntry], tasks: &TaskResults, suite: &Suite) -> Vec<HeadlineRow> {
    let size = suite.tasks.speed.as_ref().map(|s| s.headline_size);
    pipelines
        .iter()
        .filter(|p| p.error.is_none())
        .map(|p| {
            let orl = tasks.orl.results.iter().find(|r| r.pipeline == p.name);
            let lfw = tasks.lfw.results.iter().find(|r| r.pipeline == p.name);
            let wider = tasks.wider.results.iter().find(|r| r.pipeline == p.name);
            let speed = tasks.speed.results.iter().find(|r| r.pipeline == p.name);
            let ap = |level: &str| {
                wider.and_then(|w| w.levels.iter().find(|l| l.level == level).map(|l| l.ap))
            };
            HeadlineRow {
                pipeline: p.name.clone(),
                research_only: p.research_only,
                orl_20: orl.and_then(|o| {
                    o.fractions
                        .iter()
                        .find(|f| (f.tagged - 0.2).abs() < 1e-9)
                        .map(|f| f.centroid)
                }),
                lfw: lfw.map(|l| MeanSd {
                    mean: l.accuracy,
                    sd: l.accuracy_sd,
                }),
                wider_easy: ap("easy"),
                wider_medium: ap("medium"),
                wider_hard: ap("hard"),
                ms_per_photo: speed.and_then(|s| {
                    s.detect
                        .iter()
                        .find(|d| Some(d.size) == size)
                        .map(|d| d.median_ms)
                }),
                ms_per_face: speed.and_then(|s| s.embed_median_ms),
                scan: tasks
                    .scan
                    .results
                    .iter()
                    .filter(|r| r.pipeline == p.name)
                    .flat_map(|r| r.sets.iter().filter_map(|s| s.headline.clone()))
                    .collect(),
            }
        })
        .collect()
}
