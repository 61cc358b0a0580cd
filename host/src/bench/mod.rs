//! `facelab bench`: comparative accuracy and speed of detector × recognizer pipelines on
//! the standard test sets, written as a report (Markdown, HTML with SVG charts, JSON).

use clap::Args;
use std::path::PathBuf;

use crate::cli::{Outcome, RunContext};

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
}

/// Runs a suite and writes its report.
pub fn run(_ctx: &RunContext, _args: &BenchArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("facelab bench is not built yet")
}
