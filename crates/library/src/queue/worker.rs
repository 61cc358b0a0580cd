//! `facelab worker`: takes jobs from the queue ([`super::claim`]) and runs them through the
//! scan's own pipeline ([`crate::scan::execute`]), whose write transaction completes each
//! job; a heartbeat thread renews the leases of the jobs it holds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{claim, queued_models, require_server, CHANNEL};
use crate::scan::job::complete;
use crate::scan::{self, Pipeline, Plan, ScanOptions};
use crate::{now, params, Library, LibraryError, Result};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Its name in `queue status` (host and process id by default).
    pub name: String,
    /// Jobs taken at a time.
    pub batch: usize,
    /// How long a taken job stays this worker's without a heartbeat, in seconds.
    pub lease_secs: i64,
    /// Stop when the queue is empty instead of waiting for more.
    pub exit_when_empty: bool,
    /// Where this machine mounts each root.
    pub roots: BTreeMap<String, PathBuf>,
    /// The library (for the heartbeat's own connection).
    pub location: PathBuf,
    /// The library's busy timeout.
    pub busy_timeout_ms: u64,
}

/// What a worker did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WorkerSummary {
    /// Jobs taken.
    pub taken: usize,
    /// Photos written (new, changed, re-detected …).
    pub photos: usize,
    /// Photos that failed (retried, or parked at the third time).
    pub failed: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Jobs per second of wall time while it had work.
    pub photos_per_second: f64,
}

/// Refuses a worker whose models differ from those the jobs were enqueued for.
fn check_models(lib: &Library, pipe: &Pipeline) -> Result<()> {
    let Some((detector, models)) = queued_models(lib)? else {
        return Ok(());
    };
    let mine = pipe
        .models
        .as_ref()
        .map(|m| m.members().join(","))
        .unwrap_or_default();
    let differs = |key: &str, queued: &str, own: &str| {
        LibraryError::Conflict(format!(
            "{}: this worker's {key} is `{own}`, but the queue's photos were enqueued for `{queued}`; it writes nothing (help: give this worker the config the photos were enqueued with)",
            lib.path().display()
        ))
    };
    if detector != pipe.detector_key {
        return Err(differs("detector", &detector, &pipe.detector_key));
    }
    if models != mine {
        return Err(differs("recognizer", &models, &mine));
    }
    Ok(())
}

/// Renews, every third of a lease, the leases of the jobs `name` holds and its heartbeat,
/// on a connection of its own, until `stop`.
fn heartbeat(opts: &WorkerOptions, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let opts = opts.clone();
    std::thread::spawn(move || {
        let mut lib: Option<Library> = None;
        let every = Duration::from_millis((opts.lease_secs.max(1) as u64 * 1000) / 3);
        let mut last = Instant::now() - every;
        while !stop.load(Ordering::Relaxed) {
            if last.elapsed() >= every {
                last = Instant::now();
                // Reconnects after the server restarted, on the next beat.
                if lib.is_none() {
                    lib = Library::open(&opts.location, opts.busy_timeout_ms).ok();
                }
                if let Some(l) = lib.as_mut() {
                    let t = now();
                    let beat = l.write(|tx| {
                        tx.execute(
                            "UPDATE jobs SET lease_until = ?2 WHERE worker = ?1 AND state = 'running'",
                            params![opts.name, t + opts.lease_secs],
                        )?;
                        tx.execute(
                            "UPDATE workers SET heartbeat_at = ?2 WHERE name = ?1",
                            params![opts.name, t],
                        )
                    });
                    if beat.is_err() {
                        lib = None;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Puts back what this worker took and did not complete (a photo that vanished under its
/// root, a write that failed): queued again, or parked at the third time.
fn release(lib: &mut Library, name: &str) -> Result<()> {
    lib.write(|tx| {
        tx.execute(
            "UPDATE jobs SET state = CASE WHEN attempts >= ?2 THEN 'failed' ELSE 'queued' END,
               worker = NULL, lease_until = NULL,
               error = coalesce(error, 'the worker could not write it (is the photo where this worker mounts its root?)')
             WHERE worker = ?1 AND state = 'running'",
            params![name, super::MAX_ATTEMPTS],
        )
        .map(|_| ())
    })
}

/// Whether any job is waiting or held (by any worker), and when the first held one's lease
/// runs out (when its worker, if it died, loses it).
fn open_jobs(lib: &Library) -> Result<(bool, Option<i64>)> {
    lib.conn
        .query_row(
            "SELECT count(*), min(lease_until) FROM jobs WHERE state IN ('queued', 'running')",
            [],
            |r| Ok((r.get::<_, i64>(0)? > 0, r.get(1)?)),
        )
        .map_err(|e| lib.err(e))
}

/// Waits for a `NOTIFY` on the queue's channel, at most `timeout`.
fn wait_for_jobs(lib: &Library, timeout: Duration) {
    if let Some(mut client) = lib.conn.as_postgres() {
        use postgres::fallible_iterator::FallibleIterator;
        let mut n = client.notifications();
        let _ = n.timeout_iter(timeout).next();
    }
}

/// Runs the worker until the queue is empty (with `exit_when_empty`) or forever.
pub fn run(
    lib: &mut Library,
    opts: &WorkerOptions,
    scan_opts: &ScanOptions,
    pipe: &mut Pipeline,
    progress: impl Fn(usize) -> indicatif::ProgressBar,
) -> Result<WorkerSummary> {
    require_server(lib)?;
    check_models(lib, pipe)?;
    let start = Instant::now();
    let models = pipe
        .models
        .as_ref()
        .map(|m| m.members().join(","))
        .unwrap_or_default();
    let t = now();
    lib.write(|tx| {
        tx.execute(
            "INSERT INTO workers(name, detector, models, started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(name) DO UPDATE SET detector = excluded.detector, models = excluded.models,
               started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
            params![opts.name, pipe.detector_key, models, t],
        )
        .map(|_| ())
    })?;
    lib.conn
        .execute_batch(&format!("LISTEN {CHANNEL}"))
        .map_err(|e| lib.err(e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let beat = heartbeat(opts, stop.clone());
    let result = work(lib, opts, scan_opts, pipe, &progress, start);
    stop.store(true, Ordering::Relaxed);
    let _ = beat.join();
    result
}

/// Connects again after the server went away, waiting longer after each failure (up to
/// 10 s between tries, for `patience`); gives back the jobs this worker held (their
/// writes were not committed) and listens again.
fn reconnect(lib: &mut Library, opts: &WorkerOptions, patience: Duration) -> Result<()> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(200);
    loop {
        std::thread::sleep(wait);
        match Library::open(&opts.location, opts.busy_timeout_ms) {
            Ok(l) => {
                *lib = l;
                release(lib, &opts.name)?;
                return lib
                    .conn
                    .execute_batch(&format!("LISTEN {CHANNEL}"))
                    .map_err(|e| lib.err(e));
            }
            Err(e @ LibraryError::Connect { .. }) if start.elapsed() > patience => return Err(e),
            Err(LibraryError::Connect { .. }) => wait = (wait * 2).min(Duration::from_secs(10)),
            Err(e) => return Err(e),
        }
    }
}

fn work(
    lib: &mut Library,
    opts: &WorkerOptions,
    scan_opts: &ScanOptions,
    pipe: &mut Pipeline,
    progress: &impl Fn(usize) -> indicatif::ProgressBar,
    start: Instant,
) -> Result<WorkerSummary> {
    let mut out = WorkerSummary::default();
    let mut busy = 0f64;
    loop {
        match step(lib, opts, scan_opts, pipe, progress, &mut out, &mut busy) {
            Ok(true) => {}
            Ok(false) => break,
            Err(LibraryError::Connect { url, .. }) => {
                eprintln!("facelab: {url}: lost the connection to the server; reconnecting");
                reconnect(lib, opts, Duration::from_secs(300))?;
            }
            Err(e) => return Err(e),
        }
    }
    out.seconds = start.elapsed().as_secs_f64();
    out.photos_per_second = if busy > 0.0 {
        out.taken as f64 / busy
    } else {
        0.0
    };
    Ok(out)
}

/// One round: take a batch and run it, or wait for work. `false` when done.
fn step(
    lib: &mut Library,
    opts: &WorkerOptions,
    scan_opts: &ScanOptions,
    pipe: &mut Pipeline,
    progress: &impl Fn(usize) -> indicatif::ProgressBar,
    out: &mut WorkerSummary,
    busy: &mut f64,
) -> Result<bool> {
    check_models(lib, pipe)?;
    let jobs = claim(lib, &opts.name, opts.batch, opts.lease_secs)?;
    if jobs.is_empty() {
        let (open, first_lease_ends) = open_jobs(lib)?;
        if opts.exit_when_empty && !open {
            return Ok(false);
        }
        // Woken by new jobs and by other workers finishing theirs; at the latest when
        // the first lease runs out (its worker may have died), to take its jobs.
        let until = first_lease_ends.map_or(opts.lease_secs, |t| t - now() + 1);
        wait_for_jobs(
            lib,
            Duration::from_secs(until.clamp(1, opts.lease_secs.max(1)) as u64),
        );
        return Ok(true);
    }
    let began = Instant::now();
    out.taken += jobs.len();
    let mut items = Vec::with_capacity(jobs.len());
    for job in jobs {
        let Some(dir) = opts.roots.get(&job.root) else {
            release(lib, &opts.name)?;
            return Err(LibraryError::Conflict(format!(
                "{}: the queue has photos under root `{}`, which this worker does not mount (help: add [library.roots] {} = \"/where/it/is\" to this machine's config)",
                lib.path().display(),
                job.root,
                job.root
            )));
        };
        let mut item = job.item;
        let source = dir.join(&job.rel);
        // The enqueuing machine's file and this one's must be the same photo: a root
        // mounted from another folder, or a file changed since, is not written.
        let differs = match std::fs::metadata(&source) {
            Ok(m) if m.len() == item.size => None,
            Ok(m) => Some(format!(
                "{}: {} bytes under root `{}` on worker {}, {} bytes where it was enqueued (help: check that [library.roots] {} is the same folder on every machine; after a change, `facelab scan --enqueue` again)",
                source.display(), m.len(), job.root, opts.name, item.size, job.root
            )),
            Err(e) => Some(format!(
                "{}: {e}, under root `{}` on worker {} (help: check that [library.roots] {} is the same folder on every machine)",
                source.display(), job.root, opts.name, job.root
            )),
        };
        if let Some(reason) = differs {
            lib.write(|tx| complete(tx, (job.id, job.attempts), true, Some(&reason), now()))?;
            out.failed += 1;
            continue;
        }
        item.source = Some(source);
        items.push(item);
    }
    let bar = progress(items.len());
    let plan = Plan {
        items,
        ..Plan::default()
    };
    let summary = scan::execute(lib, plan, pipe, scan_opts, &bar);
    bar.finish_and_clear();
    let released = release(lib, &opts.name);
    let summary = summary?;
    released?;
    out.photos += summary.new + summary.changed + summary.redetected + summary.embedded;
    out.failed += summary.failed.len();
    *busy += began.elapsed().as_secs_f64();
    lib.write(|tx| {
        tx.execute(
            "UPDATE workers SET photos = photos + ?2 WHERE name = ?1",
            params![opts.name, summary.files as i64],
        )?;
        // Idle workers waiting for the last jobs to finish look again (on commit).
        tx.execute_batch(&format!("NOTIFY {CHANNEL}"))
    })?;
    Ok(true)
}
