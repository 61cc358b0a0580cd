//! Scanning through the queue on a real PostgreSQL server: workers share it and store each
//! photo once; a worker killed mid-job loses its photos to another; a server restart is
//! ridden out; a worker with other models writes nothing; a photo that fails three times
//! is parked with its reason.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{cmd, cmd_json};
use facelab_testpg::Server;

macro_rules! require_postgres {
    () => {
        match Server::start() {
            Some(s) => s,
            None => return,
        }
    };
}

/// A config on `url` with the photos' root `photos` and one model thread per worker.
fn config(shared: &Path, dir: &Path, url: &str, photos: &Path, recognizer: &str) -> PathBuf {
    common::write_config(
        dir,
        &format!(
            "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n{recognizer}[models]\nmirror = \"{}\"\n[library]\nurl = \"{url}\"\nworkers = 1\n[library.roots]\nfamily = \"{}\"\n",
            shared.join("models").display(),
            photos.display()
        ),
    )
}

const SFACE: &str =
    "[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n";

/// A server's database with `subjects` ORL people (10 photos each) under a root, enqueued.
struct Queue {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: String,
}

fn enqueued(shared: &Path, server: &Server, db: &str, subjects: u32) -> Queue {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    common::copy_orl(shared, &photos, 1..=subjects, &(1..=10).collect::<Vec<_>>());
    let config = config(shared, dir.path(), &server.url(db), &photos, SFACE);
    let r = cmd_json(
        &config,
        &["scan", "--enqueue", "--json", photos.to_str().unwrap()],
    );
    assert_eq!(r["enqueued"], subjects as u64 * 10, "{r}");
    Queue {
        _dir: dir,
        config,
        db: db.to_owned(),
    }
}

fn worker(config: &Path, extra: &[&str]) -> Child {
    common::facelab()
        .arg("--config")
        .arg(config)
        .args(["worker", "--exit-when-empty", "--json"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> serde_json::Value {
    finish_with_stderr(child).0
}

/// The worker's summary and what it said on stderr.
fn finish_with_stderr(child: Child) -> (serde_json::Value, String) {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "worker failed: {stderr}");
    let summary = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (summary, stderr.into_owned())
}

fn count(server: &Server, db: &str, sql: &str) -> i64 {
    server.sql(db, sql).trim().parse().unwrap()
}

/// Every photo stored once, with its one face, and every job done.
fn assert_each_photo_once(server: &Server, q: &Queue, photos: i64) {
    assert_eq!(count(server, &q.db, "SELECT count(*) FROM images"), photos);
    assert_eq!(count(server, &q.db, "SELECT count(*) FROM faces"), photos);
    assert_eq!(
        count(
            server,
            &q.db,
            "SELECT count(*) FROM jobs WHERE state = 'done'"
        ),
        photos
    );
    let status = cmd_json(&q.config, &["queue", "status", "--json"]);
    assert_eq!(
        (status["queued"].as_u64(), status["running"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn two_workers_share_the_queue_and_store_each_photo_once() {
    let shared = require_shared!();
    let server = require_postgres!();
    let q = enqueued(&shared, &server, "share", 8);
    let (a, b) = (
        worker(&q.config, &["--name", "a", "--batch", "4"]),
        worker(&q.config, &["--name", "b", "--batch", "4"]),
    );
    let (a, b) = (finish(a), finish(b));
    assert_eq!(
        a["taken"].as_u64().unwrap() + b["taken"].as_u64().unwrap(),
        80
    );
    assert!(
        a["taken"].as_u64() > Some(0) && b["taken"].as_u64() > Some(0),
        "{a} {b}"
    );
    assert_each_photo_once(&server, &q, 80);
    // Enqueueing again finds nothing to do.
    let photos = q._dir.path().join("photos");
    let r = cmd_json(
        &q.config,
        &["scan", "--enqueue", "--json", photos.to_str().unwrap()],
    );
    assert_eq!(
        (r["enqueued"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(80))
    );
}

#[test]
fn a_worker_killed_mid_job_loses_its_photos_to_another_and_nothing_is_doubled() {
    let shared = require_shared!();
    let server = require_postgres!();
    let q = enqueued(&shared, &server, "killed", 8);
    let mut a = worker(
        &q.config,
        &["--name", "a", "--batch", "10", "--lease-secs", "2"],
    );
    // Kill it once it holds photos and has written some.
    let start = Instant::now();
    loop {
        let (running, done) = (
            count(
                &server,
                &q.db,
                "SELECT count(*) FROM jobs WHERE state = 'running'",
            ),
            count(
                &server,
                &q.db,
                "SELECT count(*) FROM jobs WHERE state = 'done'",
            ),
        );
        if running > 0 && done > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "worker a never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let held = count(
        &server,
        &q.db,
        "SELECT count(*) FROM jobs WHERE state = 'running'",
    );
    assert!(held > 0);
    let b = finish(worker(&q.config, &["--name", "b", "--lease-secs", "2"]));
    assert!(b["taken"].as_i64().unwrap() >= held, "{b}");
    assert_each_photo_once(&server, &q, 80);
    // The photos a held were taken a second time.
    assert!(
        count(
            &server,
            &q.db,
            "SELECT count(*) FROM jobs WHERE attempts = 2"
        ) >= held
    );
}

#[test]
fn a_worker_rides_out_a_server_restart_and_finishes() {
    let shared = require_shared!();
    let mut server = require_postgres!();
    let q = enqueued(&shared, &server, "restart", 8);
    let a = worker(
        &q.config,
        &["--name", "a", "--batch", "4", "--lease-secs", "3"],
    );
    let start = Instant::now();
    while count(
        &server,
        &q.db,
        "SELECT count(*) FROM jobs WHERE state = 'done'",
    ) < 8
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "worker a never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.restart();
    let (a, said) = finish_with_stderr(a);
    assert!(
        said.contains("reconnecting"),
        "the worker never lost its connection: {said}"
    );
    assert!(a["taken"].as_u64() >= Some(80), "{a}");
    assert_each_photo_once(&server, &q, 80);
}

#[test]
fn a_worker_with_other_models_writes_nothing_and_names_the_key() {
    let shared = require_shared!();
    let server = require_postgres!();
    let q = enqueued(&shared, &server, "models", 1);
    let dir = tempfile::tempdir().unwrap();
    let other = config(
        &shared,
        dir.path(),
        &server.url("models"),
        &q._dir.path().join("photos"),
        "[recognizer]\nplugin = \"dlib\"\nkind = \"resnet\"\nmodel = \"dlib-resnet-128\"\n",
    );
    let (code, _, err) = cmd(&other, &["worker", "--exit-when-empty"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("recognizer") && err.contains("writes nothing"),
        "{err}"
    );
    assert_eq!(count(&server, "models", "SELECT count(*) FROM faces"), 0);
    assert_eq!(
        count(
            &server,
            "models",
            "SELECT count(*) FROM jobs WHERE state = 'queued'"
        ),
        10
    );
}

#[test]
fn a_photo_that_fails_three_times_is_parked_with_its_reason() {
    let shared = require_shared!();
    let server = require_postgres!();
    let q = enqueued(&shared, &server, "parked", 1);
    let photos = q._dir.path().join("photos");
    std::fs::write(photos.join("s1/broken.jpg"), b"\xff\xd8\xff not a jpeg").unwrap();
    let r = cmd_json(
        &q.config,
        &["scan", "--enqueue", "--json", photos.to_str().unwrap()],
    );
    assert_eq!(r["enqueued"], 1, "{r}");
    let w = finish(worker(&q.config, &[]));
    assert!(w["failed"].as_u64() >= Some(1), "{w}");
    let status = cmd_json(&q.config, &["queue", "status", "--json"]);
    assert_eq!(status["failed"], 1, "{status}");
    let (photo, why) = (
        status["failures"][0][0].as_str().unwrap(),
        status["failures"][0][1].as_str().unwrap(),
    );
    assert!(photo.ends_with("s1/broken.jpg"), "{status}");
    assert!(!why.is_empty(), "{status}");
    assert_eq!(
        count(
            &server,
            "parked",
            "SELECT attempts FROM jobs WHERE state = 'failed'"
        ),
        3
    );
    assert_eq!(
        server
            .sql(
                "parked",
                "SELECT status FROM images WHERE path LIKE '%broken.jpg'"
            )
            .trim(),
        "failed"
    );
}

#[test]
fn a_worker_reads_the_photos_under_its_own_mount_and_refuses_a_file_that_differs() {
    let shared = require_shared!();
    let server = require_postgres!();
    let q = enqueued(&shared, &server, "mounts", 2);
    let photos = q._dir.path().join("photos");
    // Another machine mounts the same photos elsewhere; one of its files is not the one
    // the enqueuing machine saw.
    let elsewhere = q._dir.path().join("mnt/family");
    common::copy_orl(&shared, &elsewhere, 1..=2, &(1..=10).collect::<Vec<_>>());
    let mut changed = std::fs::read(elsewhere.join("s1/1.pgm")).unwrap();
    changed.extend_from_slice(b"\n");
    std::fs::write(elsewhere.join("s1/1.pgm"), changed).unwrap();
    let other = tempfile::tempdir().unwrap();
    let config = config(
        &shared,
        other.path(),
        &server.url("mounts"),
        &elsewhere,
        SFACE,
    );
    let w = finish(worker(&config, &["--name", "far"]));
    assert_eq!(w["photos"], 19, "{w}");
    // Stored under the enqueuing machine's paths, each once.
    let under = |dir: &Path| {
        count(
            &server,
            "mounts",
            &format!(
                "SELECT count(*) FROM images WHERE path LIKE '{}/%'",
                dir.display()
            ),
        )
    };
    assert_eq!((under(&photos), under(&elsewhere)), (19, 0));
    assert_eq!(count(&server, "mounts", "SELECT count(*) FROM faces"), 19);
    // The file that differs is parked with the reason, and nothing of it is stored.
    let status = cmd_json(&q.config, &["queue", "status", "--json"]);
    assert_eq!(
        (status["done"].as_u64(), status["failed"].as_u64()),
        (Some(19), Some(1)),
        "{status}"
    );
    let why = status["failures"][0][1].as_str().unwrap();
    assert!(
        why.contains("bytes under root `family` on worker far")
            && why.contains("[library.roots] family"),
        "{why}"
    );
    assert_eq!(
        server
            .sql(
                "mounts",
                "SELECT count(*) FROM images WHERE path LIKE '%s1/1.pgm'"
            )
            .trim(),
        "0"
    );
}
