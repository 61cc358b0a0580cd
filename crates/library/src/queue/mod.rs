//! Scanning on many machines: a queue of photos in the library's PostgreSQL database.
//!
//! `facelab scan --enqueue DIR…` plans as a scan does and enqueues one job per new or
//! changed photo; `facelab worker` (any number, on any machine that mounts the photos)
//! claims jobs with `FOR UPDATE SKIP LOCKED`, detects and embeds with its own plugins, and
//! writes the photo's faces and the job's completion in one transaction ([`complete`]).
//!
//! - **Roots.** Photos live under named roots (`[library.roots] family = "/mnt/photos"`),
//!   which each machine mounts where it likes: a job names its root and the path under it,
//!   and a worker reads the file under its own mount of that root. The library keeps the
//!   path as the enqueuing machine names it, and the content hash checks that a worker read
//!   the same photo.
//! - **Leases.** A taken job is leased for `lease_secs`; the worker's heartbeat renews the
//!   lease of every job it holds. A worker that dies stops renewing, and the next worker to
//!   look takes the job again. A photo is never stored twice (the library's rule: a write
//!   re-checks the photo's row), and never lost (a job is done only in the transaction that
//!   writes its photo).
//! - **Failures.** A photo that fails, or a job whose worker died, is retried; at the third
//!   time it is parked as `failed` with its reason, which `facelab queue status` shows.
//! - **The models.** The enqueuing config's detector and recognizer keys are stored with
//!   the queue; a worker whose keys differ refuses to write and names the key.
//! - **Waking.** Enqueuing notifies the `facelab_jobs` channel; idle workers wait on it
//!   (`LISTEN`), not in a polling loop.

pub mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::db::{Backend, OptionalExtension};
use crate::identity::ModelKeys;
use crate::scan::{Item, Plan, Work};
use crate::{now, params, paths, Library, LibraryError, Result};

pub use crate::scan::job::MAX_ATTEMPTS;

/// The channel idle workers listen on.
pub const CHANNEL: &str = "facelab_jobs";

fn work_name(w: &Work) -> &'static str {
    match w {
        Work::New => "new",
        Work::Changed => "changed",
        Work::Redetect => "redetect",
        Work::Embed => "embed",
        Work::Quality => "quality",
        Work::Retry => "retry",
    }
}

fn work_of(s: &str) -> Work {
    match s {
        "changed" => Work::Changed,
        "redetect" => Work::Redetect,
        "embed" => Work::Embed,
        "quality" => Work::Quality,
        "retry" => Work::Retry,
        _ => Work::New,
    }
}

/// The queue works on PostgreSQL only.
pub(crate) fn require_server(lib: &Library) -> Result<()> {
    match lib.backend() {
        Backend::Postgres => Ok(()),
        Backend::Sqlite => Err(LibraryError::Conflict(format!(
            "{}: the scan queue needs the library on PostgreSQL (help: copy it there with `facelab library copy {} postgres://…`, or scan without --enqueue)",
            lib.path().display(),
            lib.path().display()
        ))),
    }
}

/// The root `path` is under, and the path under it: the longest matching root wins.
pub fn root_of<'r>(
    roots: &'r BTreeMap<String, PathBuf>,
    path: &Path,
) -> Option<(&'r str, PathBuf)> {
    roots
        .iter()
        .filter_map(|(name, dir)| {
            let rel = path.strip_prefix(dir).ok()?;
            Some((dir.as_os_str().len(), name.as_str(), rel.to_owned()))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, name, rel)| (name, rel))
}

/// What enqueuing did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Enqueued {
    /// Jobs added.
    pub enqueued: usize,
    /// Photos already waiting in the queue (not added twice).
    pub already_queued: usize,
    /// Photos unchanged since the library stored them.
    pub unchanged: usize,
}

/// Enqueues one job per photo of `plan` that needs work, under `roots`; records the
/// models the jobs are for (`detector`, `models`) and wakes the workers.
pub fn enqueue(
    lib: &mut Library,
    plan: &Plan,
    roots: &BTreeMap<String, PathBuf>,
    detector: &str,
    models: Option<&ModelKeys>,
) -> Result<Enqueued> {
    require_server(lib)?;
    let mut jobs = Vec::new();
    for item in &plan.items {
        let (root, rel) = root_of(roots, &item.path).ok_or_else(|| {
            LibraryError::Conflict(format!(
                "{}: not under any of library.roots (help: add its folder to [library.roots], for example family = \"/mnt/photos\", on every machine)",
                paths::display_path(&item.path)
            ))
        })?;
        jobs.push((root.to_owned(), paths::to_bytes(&rel), item));
    }
    let models = models.map(|m| m.members().join(",")).unwrap_or_default();
    let t = now();
    let mut out = Enqueued {
        unchanged: plan.unchanged,
        ..Enqueued::default()
    };
    let added = lib.write(|tx| {
        for (key, value) in [("queue.detector", detector), ("queue.models", &models)] {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        let mut insert = tx.prepare(
            "INSERT INTO jobs(root, rel, path_bytes, size, mtime_ns, work, image_id, hash, revision, enqueued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
        )?;
        let mut added = 0;
        for (root, rel, item) in &jobs {
            added += insert.execute(params![
                root,
                rel,
                paths::to_bytes(&item.path),
                item.size as i64,
                item.mtime_ns,
                work_name(&item.work),
                item.id,
                item.hash,
                item.revision,
                t
            ])?;
        }
        tx.execute_batch(&format!("NOTIFY {CHANNEL}"))?;
        Ok(added)
    })?;
    out.enqueued = added;
    out.already_queued = jobs.len() - added;
    Ok(out)
}

/// A job as a worker takes it.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// Times taken, this one included.
    pub attempts: i64,
    /// The root it is under.
    pub root: String,
    /// The path under the root.
    pub rel: PathBuf,
    /// The scan item (its path as the library names it).
    pub item: Item,
}

/// Takes up to `limit` jobs for `worker` (queued ones, and running ones whose lease ran
/// out), leased for `lease_secs`; first parks the jobs whose workers died on them
/// [`MAX_ATTEMPTS`] times.
pub fn claim(lib: &mut Library, worker: &str, limit: usize, lease_secs: i64) -> Result<Vec<Job>> {
    let t = now();
    lib.write(|tx| {
        tx.execute(
            "UPDATE jobs SET state = 'failed', finished_at = ?1,
               error = coalesce(error || '; ', '') || 'the worker taking it stopped ' || attempts || ' times (last: ' || coalesce(worker, '?') || ')'
             WHERE state = 'running' AND lease_until < ?1 AND attempts >= ?2",
            params![t, MAX_ATTEMPTS],
        )?;
        let mut stmt = tx.prepare(
            "UPDATE jobs SET state = 'running', worker = ?1, lease_until = ?2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM jobs
                          WHERE state = 'queued' OR (state = 'running' AND lease_until < ?3)
                          ORDER BY id LIMIT ?4 FOR UPDATE SKIP LOCKED)
             RETURNING id, attempts, root, rel, path_bytes, size, mtime_ns, work, image_id, hash, revision",
        )?;
        let rows = stmt.query_map(
            params![worker, t + lease_secs, t, limit as i64],
            |r| {
                let (id, attempts) = (r.get(0)?, r.get(1)?);
                Ok(Job {
                    id,
                    attempts,
                    root: r.get(2)?,
                    rel: paths::from_bytes(&r.get::<_, Vec<u8>>(3)?),
                    item: Item {
                        path: paths::from_bytes(&r.get::<_, Vec<u8>>(4)?),
                        size: r.get::<_, i64>(5)? as u64,
                        mtime_ns: r.get(6)?,
                        work: work_of(&r.get::<_, String>(7)?),
                        id: r.get(8)?,
                        hash: r.get(9)?,
                        revision: r.get(10)?,
                        source: None,
                        job: Some((id, attempts)),
                    },
                })
            },
        )?;
        let mut jobs = rows.collect::<crate::db::Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    })
}

/// The queue at a glance: `facelab queue status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    /// Jobs waiting.
    pub queued: usize,
    /// Jobs a worker holds.
    pub running: usize,
    /// Jobs done.
    pub done: usize,
    /// Jobs parked after failing three times.
    pub failed: usize,
    /// Workers that renewed their heartbeat within the last minute.
    pub workers_alive: Vec<String>,
    /// Jobs finished in the last minute, per second.
    pub photos_per_second: f64,
    /// The parked jobs: (photo, reason), at most 20.
    pub failures: Vec<(String, String)>,
}

/// The queue's state now.
pub fn status(lib: &Library) -> Result<Status> {
    require_server(lib)?;
    let t = now();
    let q = |sql: &str| -> Result<i64> {
        lib.conn
            .query_row(sql, params![t], |r| r.get(0))
            .map_err(|e| lib.err(e))
    };
    let count = |state: &str| -> Result<usize> {
        lib.conn
            .query_row("SELECT count(*) FROM jobs WHERE state = ?1", [state], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(|e| lib.err(e))
    };
    let mut stmt = lib
        .conn
        .prepare("SELECT name FROM workers WHERE heartbeat_at >= ?1 - 60 ORDER BY name")
        .map_err(|e| lib.err(e))?;
    let workers_alive = stmt
        .query_map([t], |r| r.get(0))
        .and_then(|r| r.collect::<crate::db::Result<Vec<String>>>())
        .map_err(|e| lib.err(e))?;
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT path_bytes, coalesce(error, '') FROM jobs WHERE state = 'failed' ORDER BY id LIMIT 20",
        )
        .map_err(|e| lib.err(e))?;
    let failures = stmt
        .query_map([], |r| {
            Ok((
                paths::display_path(&paths::from_bytes(&r.get::<_, Vec<u8>>(0)?)),
                r.get(1)?,
            ))
        })
        .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    Ok(Status {
        queued: count("queued")?,
        running: count("running")?,
        done: count("done")?,
        failed: count("failed")?,
        workers_alive,
        photos_per_second: q("SELECT count(*) FROM jobs WHERE finished_at >= ?1 - 60")? as f64
            / 60.0,
        failures,
    })
}

/// The enqueuing config's detector and recognizer keys, if anything was enqueued.
pub(crate) fn queued_models(lib: &Library) -> Result<Option<(String, String)>> {
    let get = |k: &str| -> Result<Option<String>> {
        lib.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()
            .map_err(|e| lib.err(e))
    };
    Ok(match (get("queue.detector")?, get("queue.models")?) {
        (Some(d), Some(m)) => Some((d, m)),
        _ => None,
    })
}
