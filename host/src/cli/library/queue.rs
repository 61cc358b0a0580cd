//! `facelab scan --enqueue`, `facelab worker` and `facelab queue status`: scanning on many
//! machines through a queue in the library's PostgreSQL database (the library crate's
//! `queue` module).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use facelab_engine::ui::progress;
use facelab_library::queue::{self, worker};
use facelab_library::scan::{Pipeline, Worker};
use facelab_library::session::{library_path, open_for_scan, open_library, Outcome, RunContext};
use facelab_library::{identity, walk};

/// `facelab worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Its name in `queue status` [default: HOST:PID].
    #[arg(long)]
    pub name: Option<String>,
    /// Photos taken from the queue at a time.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Seconds a taken photo stays this worker's without a heartbeat (a worker that dies
    /// loses its photos to the others after this long).
    #[arg(long, default_value_t = 30)]
    pub lease_secs: i64,
    /// Stop when the queue is empty instead of waiting for more photos.
    #[arg(long)]
    pub exit_when_empty: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `facelab queue`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Jobs queued, running, done and failed (with their reasons), the workers alive and
    /// the photos per second of the last minute.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `facelab scan --enqueue DIR…`: plans as a scan does, and enqueues the photos that need
/// work instead of processing them.
pub fn enqueue(
    ctx: &RunContext,
    dirs: &[PathBuf],
    redetect: bool,
    retry_failed: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    let config = &ctx.config;
    let mut lib = open_library(ctx)?;
    let opts = walk::scan_options(config, redetect, retry_failed);
    let detector = identity::detector_key(config)?;
    let models = identity::ModelKeys::of_config(config)?;
    let plan = facelab_library::scan::plan(&lib, dirs, &opts, &detector, models.as_ref())?;
    for e in &plan.walk_errors {
        eprintln!("facelab: {}", e.error);
    }
    let r = queue::enqueue(
        &mut lib,
        &plan,
        &config.library.roots,
        &detector,
        models.as_ref(),
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "enqueued {} photos ({} already in the queue, {} unchanged); start `facelab worker` on any machine that mounts the roots",
            r.enqueued, r.already_queued, r.unchanged
        );
    }
    Ok(Outcome::from_failures(plan.walk_errors.len()))
}

/// `facelab worker`.
pub fn worker(ctx: &RunContext, a: &WorkerArgs) -> anyhow::Result<Outcome> {
    let config = &ctx.config;
    let mut lib = open_library(ctx)?;
    let opts = walk::scan_options(config, false, false);
    let workers: Vec<Worker> = open_for_scan(ctx, opts.workers.max(1))?
        .into_iter()
        .map(|(detector, recognizer)| Worker {
            detector,
            recognizer,
        })
        .collect();
    let mut pipe = Pipeline {
        workers,
        detector_key: identity::detector_key(config)?,
        models: identity::ModelKeys::of_config(config)?,
    };
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let wopts = worker::WorkerOptions {
        name: a
            .name
            .clone()
            .unwrap_or_else(|| format!("{host}:{}", std::process::id())),
        batch: a.batch.max(1),
        lease_secs: a.lease_secs.max(1),
        exit_when_empty: a.exit_when_empty,
        roots: config.library.roots.clone(),
        location: library_path(ctx),
        busy_timeout_ms: config.library.busy_timeout_ms,
    };
    let s = worker::run(&mut lib, &wopts, &opts, &mut pipe, progress)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "worker {}: took {} photos, wrote {}, {} failed, in {:.1} s ({:.1} photos/s while busy)",
            wopts.name, s.taken, s.photos, s.failed, s.seconds, s.photos_per_second
        );
    }
    Ok(Outcome::Success)
}

/// `facelab queue …`.
pub fn run(ctx: &RunContext, c: QueueCommand) -> anyhow::Result<Outcome> {
    match c {
        QueueCommand::Status { json } => {
            let lib = open_library(ctx)?;
            let s = queue::status(&lib)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "{} queued, {} running, {} done, {} failed; {} workers alive ({}); {:.1} photos/s over the last minute",
                    s.queued,
                    s.running,
                    s.done,
                    s.failed,
                    s.workers_alive.len(),
                    s.workers_alive.join(", "),
                    s.photos_per_second
                );
                for (photo, why) in &s.failures {
                    println!("failed: {photo}: {why}");
                }
            }
            Ok(Outcome::Success)
        }
    }
}
