//! `facelab scan` through the real binary and plugins on real WIDER photos: faces below the
//! taggable size are stored without an embedding and no rescan queues them again; one
//! worker and two store the same faces and embeddings.

use crate::common;

use std::path::{Path, PathBuf};

use common::{facelab, run};

/// The default detector with MobileFaceNet (ONNX Runtime), a private cache and library,
/// plus `library` lines.
fn config(shared: &Path, dir: &Path, library: &str) -> PathBuf {
    common::ort_mobilefacenet_config(shared, dir, library)
}

/// Crowd photos of WIDER mini (parades: many faces under 32 px tall, some above).
fn crowd(shared: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let from = shared.join("datasets/wider-face-val-mini/images/0--Parade");
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn scan(config: &Path, dir: &Path) -> serde_json::Value {
    scan_with_stderr(config, dir).0
}

/// The scan's summary and what it printed on stderr.
fn scan_with_stderr(config: &Path, dir: &Path) -> (serde_json::Value, String) {
    let (code, out, err) = run(facelab()
        .arg("--config")
        .arg(config)
        .args(["scan", "--json"])
        .arg(dir));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (v["scan"].clone(), err)
}

fn count(library: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(library)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

const SMALL_WITH: &str =
    "SELECT count(*) FROM faces f WHERE f.h < 32 AND EXISTS (SELECT 1 FROM embeddings e WHERE e.face_id = f.id)";
const LARGE_WITHOUT: &str =
    "SELECT count(*) FROM faces f WHERE f.h >= 32 AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.face_id = f.id)";

#[test]
fn faces_below_the_taggable_size_get_no_embedding_and_rescans_leave_them_alone() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    crowd(&shared, &photos);
    let library = d.join("library.sqlite");
    let cfg = config(&shared, d, "");

    let s = scan(&cfg, &photos);
    let (faces, embeddings, small) = (
        s["faces"].as_i64().unwrap(),
        s["embeddings"].as_i64().unwrap(),
        s["small"].as_i64().unwrap(),
    );
    let below = count(&library, "SELECT count(*) FROM faces WHERE h < 32");
    assert!(
        small >= 10 && embeddings >= 10,
        "parade photos have faces on both sides of 32 px: {s}"
    );
    assert_eq!(
        (small, faces - small),
        (below, embeddings),
        "every face under 32 px and only those go without an embedding: {s}"
    );
    assert_eq!(count(&library, SMALL_WITH), 0);
    assert_eq!(count(&library, LARGE_WITHOUT), 0);

    // An unchanged rescan has nothing to do: the small faces are not missing anything.
    let again = scan(&cfg, &photos);
    assert_eq!(again["unchanged"], again["files"], "{again}");
    assert_eq!(again["decoded"], 0, "{again}");

    // A face the user draws is embedded whatever its size, and stays so.
    let photo = std::fs::read_dir(&photos)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (code, _, err) = run(facelab().arg("--config").arg(&cfg).args([
        "faces",
        "add",
        photo.to_str().unwrap(),
        "--box",
        "4,4,20,24",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        count(
            &library,
            "SELECT count(*) FROM faces f JOIN embeddings e ON e.face_id = f.id WHERE f.origin = 'manual'"
        ),
        1
    );
    assert_eq!(scan(&cfg, &photos)["decoded"], 0);

    // With the limit off, the next scan embeds the small faces and nothing else.
    let all = config(&shared, d, "embed_min_height = 0");
    let s = scan(&all, &photos);
    let total = count(&library, "SELECT count(*) FROM embeddings");
    assert_eq!(s["embeddings"].as_i64().unwrap(), small, "{s}");
    assert_eq!(total, faces + 1, "{s}");
    assert_eq!(scan(&all, &photos)["decoded"], 0);
}

/// (photo, box rounded to 0.1 px, embedding) of every face, sorted.
type Row = (String, [i64; 4], Vec<f32>);

fn faces_of(library: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(library).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT i.path, f.x, f.y, f.w, f.h, e.vector FROM faces f JOIN images i ON i.id = f.image_id
             LEFT JOIN embeddings e ON e.face_id = f.id",
        )
        .unwrap();
    let mut rows: Vec<Row> = stmt
        .query_map([], |r| {
            let b: [f64; 4] = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?];
            let v: Option<Vec<u8>> = r.get(5)?;
            let v = facelab_library::from_blob(&v.unwrap_or_default());
            let p: String = r.get(0)?;
            let name = Path::new(&p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            Ok((name, b.map(|x| (x * 10.0).round() as i64), v))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    rows
}

#[test]
fn one_worker_and_two_store_the_same_faces_and_embeddings() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    crowd(&shared, &photos);
    let mut libraries = Vec::new();
    for workers in [1, 2] {
        let d = dir.path().join(format!("w{workers}"));
        std::fs::create_dir_all(&d).unwrap();
        let (s, err) = scan_with_stderr(
            &config(&shared, &d, &format!("workers = {workers}")),
            &photos,
        );
        assert_eq!(s["workers"], workers, "{s}");
        // The models are fetched, verified and announced once, whatever the worker count.
        assert_eq!(
            err.matches("`mobilefacenet-128` has no stated licence")
                .count(),
            1,
            "{err}"
        );
        assert!(s["failed"].as_array().unwrap().is_empty(), "{s}");
        libraries.push(faces_of(&d.join("library.sqlite")));
    }
    let (one, two) = (&libraries[0], &libraries[1]);
    assert!(one.len() >= 20, "{} faces", one.len());
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(two) {
        assert_eq!((&a.0, a.1), (&b.0, b.1), "the same face, in the same place");
        assert_eq!(a.2.len(), b.2.len());
        let diff =
            a.2.iter()
                .zip(&b.2)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
        assert!(diff < 1e-4, "{}: embeddings differ by {diff}", a.0);
    }
}

#[test]
fn a_transaction_that_fails_mid_scan_stops_the_scan_with_its_reason_and_no_hang() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    // Twelve photos, one per transaction, so the failure comes while readers and workers
    // still have photos in hand.
    std::fs::create_dir_all(&photos).unwrap();
    let wider = shared.join("datasets/wider-face-val-mini/images");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&wider)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    for f in folders.iter().take(4) {
        for e in std::fs::read_dir(f).unwrap().take(3) {
            let p = e.unwrap().path();
            std::fs::copy(&p, photos.join(p.file_name().unwrap())).unwrap();
        }
    }
    let library = d.join("library.sqlite");
    let cfg = config(&shared, d, "batch_size = 1");
    // An empty scan makes the library; then every insert after the third photo fails.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    scan(&cfg, &empty);
    rusqlite::Connection::open(&library)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER full AFTER INSERT ON images WHEN (SELECT count(*) FROM images) > 3
             BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END;",
        )
        .unwrap();
    let mut child = facelab()
        .arg("--config")
        .arg(&cfg)
        .arg("scan")
        .arg(&photos)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the scan did not stop after its transaction failed");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(err.contains("disk full (test)"), "{err}");
    // What was committed before stays whole: each photo with all its faces.
    assert_eq!(count(&library, "SELECT count(*) FROM images"), 3);
    assert_eq!(
        count(
            &library,
            "SELECT count(*) FROM faces f WHERE f.h >= 32 AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.face_id = f.id)"
        ),
        0
    );
}
