//! `facelab bench`: the arguments, the suite run (in `facelab_eval::bench`) and the report's
//! files (rendered by `facelab_report`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use facelab_eval::bench::suite::{Suite, TASK_NAMES};
use facelab_eval::bench::{run_suite, RunPlan};
use facelab_library::session::{Outcome, RunContext};
use facelab_report::{markdown, write_report};

/// `facelab bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The suite: pipelines and tasks.
    #[arg(long, default_value = "config/bench.toml")]
    pub suite: PathBuf,
    /// Where the report goes.
    #[arg(long, default_value = "out/bench")]
    pub out: PathBuf,
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
    /// Run only these tasks (orl, lfw, wider, voc, clustering, speed, scan; repeatable).
    #[arg(long = "task", value_name = "NAME")]
    pub tasks: Vec<String>,
}

/// Runs a suite and writes its report.
pub fn run(ctx: &RunContext, args: &BenchArgs) -> anyhow::Result<Outcome> {
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
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the report folder {}", args.out.display()))?;
    let plan = RunPlan {
        suite: &suite,
        root: suite.datasets_root(args.datasets.as_deref()),
        pipelines: &args.pipelines,
        tasks: &args.tasks,
        cache: Some(args.out.join("cache")),
        resume: args.resume,
    };
    let (report, failures) = run_suite(ctx, &plan)?;
    write_report(&report, &args.out)?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", markdown::headline_table(&report))?;
    writeln!(
        out,
        "\nreport: {} (and report.md, report.json) in {:.0} s",
        args.out.join("report.html").display(),
        report.wall_seconds
    )?;
    Ok(Outcome::from_failures(failures))
}
