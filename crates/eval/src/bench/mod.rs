//! `facelab bench`: comparative accuracy and speed of detector × recognizer pipelines on
//! the standard test sets, written as a report (Markdown, HTML with SVG charts, JSON).
//!
//! A suite file ([`suite`]) lists pipelines and tasks. Each pipeline is opened once
//! ([`pipeline::Opened`]) and runs every task that applies to it; detections and embeddings
//! go through a per-pipeline cache ([`cache`]) so `--resume` picks up an interrupted run.
//! The results are one [`report::Report`], written as `report.json` (schema in
//! `docs/bench.schema.json`), `report.md` and `report.html` (rendered by `facelab-report`).
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

mod data;
mod headline;
mod run;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use facelab_library::session::RunContext;
use report::{PipelineEntry, Report, TaskResults};
use suite::{PipelineSpec, Suite, TaskPlan};

/// What every pipeline's tasks read: the suite, the task plans and the loaded data.
struct Bench<'a> {
    suite: &'a Suite,
    plans: HashMap<&'static str, TaskPlan>,
    data: data::Data,
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

/// What the pipelines add to the report as they run, and how many pipelines and tasks failed.
struct Gathered {
    results: TaskResults,
    pipelines: Vec<PipelineEntry>,
    models: Vec<report::ModelEntry>,
    notices: Vec<String>,
    failures: usize,
}

/// Runs the planned pipelines and tasks into a report (not written), and counts the
/// pipelines and tasks that failed. `facelab bench` and every `eval-*` command run here,
/// so each protocol has one implementation.
pub fn run_suite(ctx: &RunContext, plan: &RunPlan<'_>) -> anyhow::Result<(Report, usize)> {
    let wall = Instant::now();
    let selected = selected_pipelines(plan);
    let mut notices = Vec::new();
    let (bench, results) = data::load(plan, &selected, &mut notices);
    let mut gathered = Gathered {
        results,
        pipelines: Vec::new(),
        models: Vec::new(),
        notices,
        failures: 0,
    };
    for &(index, spec) in &selected {
        run::pipeline(ctx, plan, &bench, index, spec, &mut gathered);
    }
    let failures = gathered.failures;
    Ok((report(plan, wall, gathered), failures))
}

/// The suite's pipelines that the plan selects, with their index in the suite.
fn selected_pipelines<'a>(plan: &RunPlan<'a>) -> Vec<(usize, &'a PipelineSpec)> {
    plan.suite
        .pipelines
        .iter()
        .enumerate()
        .filter(|(_, p)| plan.pipelines.is_empty() || plan.pipelines.contains(&p.name))
        .collect()
}

/// The report of a finished run that started at `wall`.
fn report(plan: &RunPlan<'_>, wall: Instant, gathered: Gathered) -> Report {
    let Gathered {
        results,
        pipelines,
        models,
        notices,
        ..
    } = gathered;
    let headline = headline::rows(&pipelines, &results, plan.suite);
    let harness_check = harness::checks(&pipelines, &results);
    Report {
        schema_version: report::SCHEMA_VERSION,
        generated_by: format!("facelab {}", env!("CARGO_PKG_VERSION")),
        suite: plan.suite.source.display().to_string(),
        datasets_root: plan.root.display().to_string(),
        resumed: plan.resume,
        wall_seconds: wall.elapsed().as_secs_f64(),
        environment: environment::detect(&models),
        models,
        pipelines,
        tasks: results,
        headline,
        harness_check,
        notices,
    }
}
