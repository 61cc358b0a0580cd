//! One pipeline's turn: open it, run every task that applies to it through its cache, and
//! record what it loaded; then the scan and naming tasks' child processes, with the pipeline
//! closed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use facelab_engine::config::{Config, ModelSection};
use facelab_library::session::RunContext;

use super::pipeline::{self, CacheScope, Opened};
use super::report::{PipelineEntry, StageEntry, TaskResults, WiderResult};
use super::suite::{PipelineSpec, WiderTask};
use super::{clustering, environment, scan, speed, tasks, Bench, Gathered, RunPlan};

/// Runs pipeline `index` of the suite (`spec`) into `gathered`: its entry, the models it
/// loaded, its results, and a notice and a failure for each task that failed.
pub(super) fn pipeline(
    ctx: &RunContext,
    plan: &RunPlan<'_>,
    bench: &Bench<'_>,
    index: usize,
    spec: &PipelineSpec,
    gathered: &mut Gathered,
) {
    let suite = bench.suite;
    let raw = suite
        .raw_pipelines
        .get(index)
        .map(String::as_str)
        .unwrap_or("");
    eprintln!("bench: pipeline {}", spec.name);
    let reset = environment::reset_peak_rss();
    let config = suite.pipeline_config(&ctx.config, spec);
    let scan_config = config.clone();
    let mut entry = entry(spec);
    let mut opened = match Opened::open(ctx, config, raw) {
        Ok(o) => o,
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!("facelab: pipeline {}: {message}", spec.name);
            gathered
                .notices
                .push(format!("pipeline {} could not run: {message}", spec.name));
            entry.error = Some(message);
            gathered.pipelines.push(entry);
            gathered.failures += 1;
            return;
        }
    };
    record_models(&mut entry, &opened, &mut gathered.models);
    let identity = opened.identity.clone();
    let scope = CacheScope {
        dir: plan.cache.as_ref().map(|c| c.join(&spec.name)),
        label: spec.name.clone(),
        identity: &identity,
        resume: plan.resume,
    };
    for (task, e) in run_tasks(bench, spec, &mut opened, &scope, &mut gathered.results) {
        let message = format!("pipeline {}, task {task}: {e:#}", spec.name);
        eprintln!("facelab: {message}");
        gathered.notices.push(message);
        gathered.failures += 1;
    }
    if !reset
        && gathered
            .results
            .speed
            .results
            .iter()
            .any(|r| r.pipeline == spec.name)
    {
        gathered.notices.push(format!(
            "peak RSS of {} could not be reset before it ran: it is the process's peak so far",
            spec.name
        ));
    }
    gathered.pipelines.push(entry);
    drop(opened);
    environment::release_free_memory();
    // Child processes, with this one idle.
    run_scan(ctx, bench, spec, &scan_config, gathered);
    run_naming(ctx, bench, spec, &scan_config, gathered);
}

/// The scan task on one pipeline (`config` runs it), if it applies: child processes, each
/// measured from outside.
fn run_scan(
    ctx: &RunContext,
    bench: &Bench<'_>,
    spec: &PipelineSpec,
    config: &Config,
    gathered: &mut Gathered,
) {
    if let (true, Some(prepared), Some(task)) = (
        bench.plans["scan"].applies_to(spec),
        &bench.data.scan,
        &bench.suite.tasks.scan,
    ) {
        gathered.failures += scan::run_pipeline(
            ctx,
            config,
            &spec.name,
            task,
            prepared,
            &mut gathered.results.scan,
            &mut gathered.notices,
        );
    }
}

/// The naming task on one pipeline (`config` runs it), if it applies: `facelab scan`,
/// `import-labels` and `suggest` as child processes.
fn run_naming(
    ctx: &RunContext,
    bench: &Bench<'_>,
    spec: &PipelineSpec,
    config: &Config,
    gathered: &mut Gathered,
) {
    let Some(split) = bench.data.naming.as_ref() else {
        return;
    };
    if !bench.plans["naming"].applies_to(spec) {
        return;
    }
    eprintln!("bench: {} naming", spec.name);
    match tasks::naming(ctx, config, &spec.name, split) {
        Ok(r) => gathered.results.naming.results.push(r),
        Err(e) => {
            let message = format!("pipeline {}, task naming: {e:#}", spec.name);
            eprintln!("facelab: {message}");
            gathered.notices.push(message);
            gathered.failures += 1;
        }
    }
}

/// The report entry of a pipeline before it is opened: licence classes unknown.
fn entry(spec: &PipelineSpec) -> PipelineEntry {
    PipelineEntry {
        name: spec.name.clone(),
        description: spec.description.clone(),
        detector: stage(&spec.detector, "unknown"),
        recognizer: spec.recognizer.as_ref().map(|r| stage(r, "unknown")),
        research_only: false,
        error: None,
    }
}

/// The model a section names: its manifest id or label, else its kind.
fn model_label(section: &ModelSection) -> String {
    if section.model.is_empty() {
        section.kind.clone()
    } else {
        section.model.clone()
    }
}

/// The report entry of a detector or recognizer section. Fused models are one entry: each
/// one's plugin, kind and model joined by `+` (the options and landmarks are the first's).
fn stage(section: &ModelSection, licence: &str) -> StageEntry {
    let members = section.members("");
    let joined = |f: fn(&ModelSection) -> String| {
        let parts: Vec<String> = members.iter().map(|(_, m)| f(m)).collect();
        parts.join("+")
    };
    StageEntry {
        plugin: joined(|m| m.plugin.clone()),
        kind: joined(|m| m.kind.clone()),
        model: joined(model_label),
        licence_class: licence.to_owned(),
        landmarks: section.landmarks.clone(),
        options: serde_json::to_value(&section.options).unwrap_or_default(),
    }
}

/// Licence classes from the models the opened pipeline actually loaded, into its entry; the
/// models not yet listed, into `models`.
fn record_models(
    entry: &mut PipelineEntry,
    opened: &Opened,
    models: &mut Vec<super::report::ModelEntry>,
) {
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
        // Fused models: the most restrictive of their classes.
        let classes: Vec<String> = (opened.config.recognizer_members().iter())
            .map(|(_, m)| class_of(&model_label(m)))
            .collect();
        r.licence_class = ["research", "unknown"]
            .into_iter()
            .find(|c| classes.iter().any(|k| k == c))
            .map_or_else(|| "permissive".to_owned(), str::to_owned);
    }
    entry.research_only = opened.models.iter().any(|m| m.licence_class == "research");
    for m in &opened.models {
        if !models.iter().any(|k| k.id == m.id) {
            models.push(m.clone());
        }
    }
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
