//! `facelab bench`: the arguments, the suite run (in `facelab_eval::bench`) and the report's
//! files (rendered by `facelab_report`), or, with `--render`, the files rendered again from an
//! existing `report.json` without running anything.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use facelab_eval::bench::report::Report;
use facelab_eval::bench::suite::{Suite, TASK_NAMES};
use facelab_eval::bench::{run_suite, RunPlan};
use facelab_library::session::{Outcome, RunContext};
use facelab_report::{markdown, read_report, results, write_rendered, write_report};

/// `facelab bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The suite: pipelines and tasks.
    #[arg(long, default_value = "config/bench.toml")]
    pub suite: PathBuf,
    /// Where the report goes: report.json, report.md, report.html, results.md and cache/
    /// [default: out/bench; with --render, the folder of REPORT_JSON].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Reuse cached detections and embeddings of an interrupted run.
    #[arg(long)]
    pub resume: bool,
    /// The data-set folder the tasks' paths are relative to [default: the suite's
    /// `[datasets] root`, else $FACELAB_SHARED/datasets, else ../shared/datasets].
    #[arg(long, value_name = "DIR")]
    pub datasets: Option<PathBuf>,
    /// Run only these pipelines (by name; repeatable).
    #[arg(long = "pipeline", value_name = "NAME")]
    pub pipelines: Vec<String>,
    /// Run only these tasks (orl, lfw, wider, voc, clustering, naming, speed, scan;
    /// repeatable).
    #[arg(long = "task", value_name = "NAME")]
    pub tasks: Vec<String>,
    /// Also write the results page (results.md) here: the project's is docs/results.md.
    #[arg(long, value_name = "PATH")]
    pub results: Option<PathBuf>,
    /// Run nothing: render report.md, report.html and results.md (and --results) again from
    /// this report.json, after a change to the renderers.
    #[arg(
        long,
        value_name = "REPORT_JSON",
        conflicts_with_all = ["suite", "resume", "datasets", "pipelines", "tasks"]
    )]
    pub render: Option<PathBuf>,
}

/// Runs a suite and writes its report, or renders an existing one (`--render`).
pub fn run(ctx: &RunContext, args: &BenchArgs) -> anyhow::Result<Outcome> {
    if let Some(json) = &args.render {
        return render(args, json);
    }
    let suite = Suite::load(&args.suite)?;
    for name in &args.pipelines {
        if !suite.pipelines.iter().any(|p| &p.name == name) {
            anyhow::bail!(
                "--pipeline {name}: {} has no such pipeline (help: it has {})",
                args.suite.display(),
                suite
                    .pipelines
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for name in &args.tasks {
        if !TASK_NAMES.contains(&name.as_str()) {
            anyhow::bail!(
                "--task {name}: unknown task (help: use one of {})",
                TASK_NAMES.join(", ")
            );
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out/bench"));
    create_folder(&out)?;
    let plan = RunPlan {
        suite: &suite,
        root: suite.datasets_root(args.datasets.as_deref()),
        pipelines: &args.pipelines,
        tasks: &args.tasks,
        cache: Some(out.join("cache")),
        resume: args.resume,
    };
    let (report, failures) = run_suite(ctx, &plan)?;
    write_report(&report, &out)?;
    write_results(&report, args.results.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", markdown::headline_table(&report))?;
    writeln!(
        stdout,
        "\nreport: {} (and report.md, report.json, results.md) in {:.0} s",
        out.join("report.html").display(),
        report.wall_seconds
    )?;
    Ok(Outcome::from_failures(failures))
}

/// `--render`: the report's files again from `json`, into --out or beside `json`.
fn render(args: &BenchArgs, json: &Path) -> anyhow::Result<Outcome> {
    let report = read_report(json)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => match json.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    create_folder(&out)?;
    write_rendered(&report, &out)?;
    write_results(&report, args.results.as_deref())?;
    println!(
        "rendered {}: report.md, report.html and results.md in {}{}",
        json.display(),
        out.display(),
        args.results
            .as_ref()
            .map(|p| format!(", and {}", p.display()))
            .unwrap_or_default()
    );
    Ok(Outcome::Success)
}

fn create_folder(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the report folder {}", out.display()))
}

/// `--results PATH`: the results page, also at `path`.
fn write_results(report: &Report, path: Option<&Path>) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    std::fs::write(path, results::render(report)).with_context(|| {
        format!(
            "cannot write the results page {} (help: --results takes a file path in an existing folder, e.g. docs/results.md)",
            path.display()
        )
    })
}
