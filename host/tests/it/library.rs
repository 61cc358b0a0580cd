//! The face library through the real binary, real plugins and real photos: scans, rescans,
//! moves, bad files, kill -9, locks, schema versions, names across model switches,
//! suggestions and rejections.

use crate::common;

use std::path::{Path, PathBuf};

use common::{facelab, run};

/// YuNet + MobileFaceNet through the OpenCV plugin, with a private cache and library.
fn mfn_config(shared: &Path, dir: &Path, extra: &str) -> PathBuf {
    common::write_config(
        dir,
        &format!(
            "[detector]\nplugin = \"opencv-dnn\"\nkind = \"yunet\"\nmodel = \"yunet-2023mar\"\n[recognizer]\nplugin = \"opencv-dnn\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\n[library]\n{}\n{extra}\n",
            shared.join("models").display(),
            dir.join("cache").display(),
            match library_url(dir) {
                Some(url) => format!("url = \"{url}\""),
                None => format!("path = \"{}\"", dir.join("library.sqlite").display()),
            },
        ),
    )
}

/// A copy of `config` beside it, named `name`, with `from` replaced by `to`.
fn edited(config: &Path, from: &str, to: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(from), "no {from:?} in {}", config.display());
    let path = config.with_file_name(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

fn lib_cmd(config: &Path, args: &[&str]) -> (i32, String, String) {
    run(facelab().arg("--config").arg(config).args(args))
}

fn json(config: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = lib_cmd(config, args);
    assert!(code == 0 || code == 1, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("library.sqlite")).unwrap()
}

/// Where a test that runs on PostgreSQL too ([`on_both`]) keeps its library's URL.
const URL_FILE: &str = "library-url";

/// The URL of the PostgreSQL library of the test folder `dir`; `None`: it is on SQLite.
fn library_url(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(URL_FILE)).ok()
}

/// Runs `test` in a new folder with its library on SQLite, then in another with its library
/// on a PostgreSQL server of its own (skipped with a message without PostgreSQL, failed
/// under `FACELAB_REQUIRE_SHARED=1`): the behaviour tested is the library's, not an engine's.
fn on_both(test: impl Fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    test(dir.path());
    if let Some(server) = facelab_testpg::Server::start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(URL_FILE), server.url("library")).unwrap();
        eprintln!("again, on PostgreSQL");
        test(dir.path());
    }
}

/// The rows of `sql` on the test's library, every value as text (bytes as `\\x` and hex,
/// as psql writes them; null as "").
fn rows(dir: &Path, sql: &str) -> Vec<Vec<String>> {
    const UNIT: char = '\u{1f}';
    const RECORD: char = '\u{1e}';
    if let Some(url) = library_url(dir) {
        let out = std::process::Command::new("psql")
            .args([
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-F",
                "\u{1f}",
                "-R",
                "\u{1e}",
                "-c",
                sql,
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return text
            .split(RECORD)
            .filter(|r| !r.is_empty())
            .map(|r| r.split(UNIT).map(str::to_owned).collect())
            .collect();
    }
    use rusqlite::types::ValueRef;
    let conn = db(dir);
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => String::new(),
                    ValueRef::Integer(v) => v.to_string(),
                    ValueRef::Real(v) => v.to_string(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    ValueRef::Blob(b) => {
                        "\\x".to_owned() + &b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                    }
                })
            })
            .collect()
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn count(dir: &Path, sql: &str) -> i64 {
    rows(dir, sql)[0][0].parse().unwrap()
}

#[test]
fn suggestions_name_known_people_say_unknown_for_strangers_and_rejections_stick() {
    let shared = require_shared!();
    on_both(|d| {
        // Ten people with 2 named photos each (20%), their 8 other photos unnamed, and two
        // strangers nobody named.
        common::copy_orl(&shared, &d.join("named"), 1..=10, &[1, 2]);
        common::copy_orl(
            &shared,
            &d.join("photos"),
            1..=12,
            &[3, 4, 5, 6, 7, 8, 9, 10],
        );
        let config = mfn_config(&shared, d, "");
        let (code, out, err) = lib_cmd(&config, &["scan", d.join("photos").to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("96 new"), "{out}");
        let (code, out, err) = lib_cmd(
            &config,
            &["import-labels", d.join("named").to_str().unwrap()],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("named 20 faces of 10 people"), "{out}");

        let s = json(&config, &["suggest", "--json"]);
        // 20 named faces of 10 people are enough to calibrate the threshold on them.
        assert_eq!(s["threshold"]["source"], "calibrated", "{}", s["threshold"]);
        let t = s["threshold"]["value"].as_f64().unwrap();
        assert!((0.1..=0.8).contains(&t), "within the manifest's range: {t}");
        eprintln!("calibrated threshold {t}");
        let all = s["suggestions"].as_array().unwrap();
        assert_eq!(all.len(), 96);
        let subject = |path: &str| path.split('/').rev().nth(1).unwrap().to_owned();
        let (mut right, mut known, mut strangers_unknown, mut strangers) = (0, 0, 0, 0);
        for x in all {
            let truth = subject(x["path"].as_str().unwrap());
            let said = x["person"].as_str();
            if truth == "s11" || truth == "s12" {
                strangers += 1;
                strangers_unknown += usize::from(said.is_none());
            } else {
                known += 1;
                right += usize::from(said == Some(truth.as_str()));
            }
        }
        let accuracy = right as f64 / known as f64;
        let unknown_rate = strangers_unknown as f64 / strangers as f64;
        // Measured: 80/80 named right, 16/16 strangers unknown (MobileFaceNet, threshold 0.27).
        assert!(accuracy >= 0.95, "known people named right: {accuracy}");
        assert!(
            unknown_rate >= 0.8,
            "strangers answered unknown: {unknown_rate}"
        );

        // Reject one correct suggestion: it never comes back for that face, even after a rescan.
        let victim = all
            .iter()
            .find(|x| x["person"].as_str() == Some("s3"))
            .unwrap();
        let face = victim["face"].as_i64().unwrap().to_string();
        let (code, out, err) = lib_cmd(&config, &["reject", &face]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("is not s3"), "{out}");
        lib_cmd(&config, &["scan", d.join("photos").to_str().unwrap()]);
        for _ in 0..2 {
            let s = json(&config, &["suggest", "--json"]);
            let again = s["suggestions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["face"].as_i64().unwrap().to_string() == face)
                .unwrap();
            assert_ne!(again["person"].as_str(), Some("s3"), "{again}");
            assert_ne!(again["best"].as_str(), Some("s3"), "{again}");
        }
        // Confirm takes the pending suggestion; the face then lists under the person.
        let s = json(&config, &["suggest", "--json"]);
        let take = s["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["person"].as_str() == Some("s5"))
            .unwrap();
        let id = take["face"].as_i64().unwrap();
        let (code, _, err) = lib_cmd(&config, &["confirm", &id.to_string()]);
        assert_eq!(code, 0, "{err}");
        let faces = json(&config, &["faces", "--person", "s5", "--json"]);
        assert_eq!(faces.as_array().unwrap().len(), 3);
        assert!(faces
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"].as_i64() == Some(id)));
    });
}

#[test]
fn rescans_skip_unchanged_photos_follow_moves_and_keep_names() {
    let shared = require_shared!();
    on_both(|d| {
        common::copy_orl(&shared, &d.join("photos"), 1..=3, &[1, 2, 3]);
        let config = mfn_config(&shared, d, "");
        let photos = d.join("photos");
        let p = photos.to_str().unwrap();
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["new"], 9);
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["unchanged"], 9, "{s}");
        assert_eq!(s["scan"]["new"], 0);

        // Name a face, then move its photo: the row, the face and the name follow the file.
        let faces = json(&config, &["faces", "--json"]);
        let first = &faces.as_array().unwrap()[0];
        let id = first["id"].as_i64().unwrap();
        let old_path = PathBuf::from(first["path"].as_str().unwrap());
        let (code, _, err) = lib_cmd(&config, &["tag", &id.to_string(), "Alice"]);
        assert_eq!(code, 0, "{err}");
        let new_path = photos.join("moved-here.pgm");
        std::fs::rename(&old_path, &new_path).unwrap();
        // Touch another file: same content, new mtime.
        let touched = photos.join("s2/1.pgm");
        let bytes = std::fs::read(&touched).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&touched, bytes).unwrap();
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["moved"], 1, "{s}");
        assert_eq!(s["scan"]["touched"], 1, "{s}");
        assert_eq!(s["scan"]["new"], 0, "{s}");
        assert_eq!(s["scan"]["missing"], 0, "{s}");
        let alice = json(&config, &["faces", "--person", "alice", "--json"]);
        let alice = alice.as_array().unwrap();
        assert_eq!(alice.len(), 1);
        assert_eq!(alice[0]["id"].as_i64(), Some(id));
        assert!(alice[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("moved-here.pgm"));
        assert_eq!(count(d, "SELECT count(*) FROM images"), 9);

        // A deleted photo is kept as missing with its faces; it is not listed.
        std::fs::remove_file(photos.join("s3/3.pgm")).unwrap();
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["missing"], 1, "{s}");
        assert_eq!(s["library"]["missing"], 1, "{s}");
        assert_eq!(
            json(&config, &["faces", "--json"])
                .as_array()
                .unwrap()
                .len(),
            8
        );
    });
}

#[test]
fn bad_files_are_recorded_with_their_reason_and_the_scan_goes_on() {
    let shared = require_shared!();
    on_both(|d| {
        let photos = d.join("photos");
        common::copy_orl(&shared, &photos, 1..=1, &[1, 2]);
        let jpeg =
            std::fs::read(shared.join("datasets/samples/sprint/codingsprint2009-01.jpg")).unwrap();
        std::fs::write(photos.join("truncated.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
        std::fs::write(photos.join("empty.jpg"), b"").unwrap();
        std::fs::write(photos.join("notes.png"), b"this is text, not a picture").unwrap();
        let mut corrupt = jpeg.clone();
        // Garbage over the headers after the start marker: no decoder can read it.
        for b in corrupt.iter_mut().skip(2).take(4000) {
            *b = 0x55;
        }
        std::fs::write(photos.join("corrupt.jpg"), &corrupt).unwrap();
        // A decompression bomb: a PNG header that declares 50,000 x 50,000 pixels.
        let bomb = common::bomb_png();
        std::fs::write(photos.join("bomb.png"), &bomb).unwrap();
        let config = mfn_config(&shared, d, "");
        let p = photos.to_str().unwrap();
        let (code, out, err) = lib_cmd(&config, &["scan", "--json", p]);
        assert_eq!(code, 1, "some files failed: {err}");
        let s: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(s["scan"]["new"], 2, "{s}");
        let failed: Vec<String> = s["scan"]["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f[0].as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let mut expected = vec![
            "bomb.png",
            "corrupt.jpg",
            "empty.jpg",
            "notes.png",
            "truncated.jpg",
        ];
        expected.sort();
        let mut got = failed.clone();
        got.sort();
        assert_eq!(got, expected, "{err}");
        // Each reason is stored, names the file and says what to do.
        let rows: Vec<(String, String)> =
            rows(d, "SELECT path, error FROM images WHERE status = 'failed'")
                .into_iter()
                .map(|r| (r[0].clone(), r[1].clone()))
                .collect();
        assert_eq!(rows.len(), 5);
        for (path, error) in &rows {
            assert!(
                error.contains(path.as_str()) && error.contains("help:"),
                "{error}"
            );
        }
        assert!(rows
            .iter()
            .any(|(p, e)| p.ends_with("bomb.png") && e.contains("50000x50000")));
        assert!(rows
            .iter()
            .any(|(p, e)| p.ends_with("truncated.jpg") && e.contains("truncated")));
        // Failed files are not retried until they change.
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["unchanged"], 7, "{s}");
        assert_eq!(s["scan"]["failed"].as_array().unwrap().len(), 0);
        std::fs::write(photos.join("empty.jpg"), &jpeg).unwrap();
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["changed"], 1, "{s}");
        assert_eq!(
            count(d, "SELECT count(*) FROM images WHERE status = 'failed'"),
            4
        );
    });
}

#[test]
fn a_file_deleted_mid_scan_is_skipped_and_the_rest_is_stored() {
    let shared = require_shared!();
    on_both(|d| {
        let photos = d.join("photos");
        common::copy_orl(&shared, &photos, 1..=2, &[1, 2, 3]);
        let config = mfn_config(&shared, d, "");
        let ctx = facelab::cli::RunContext {
            config: facelab_engine::config::Config::load(&config).unwrap(),
            cache_dir: None,
            verbose: false,
            library: None,
        };
        let mut lib = facelab_library::session::open_library(&ctx).unwrap();
        let opts = facelab_library::scan::ScanOptions {
            include: ctx.config.library.include.clone(),
            exclude: ctx.config.library.exclude.clone(),
            batch_size: 2,
            max_pixels: 1 << 24,
            redetect: false,
            retry_failed: false,
            threads: 2,
            embed_min_height: 32.0,
            workers: 2,
        };
        let det_key = facelab_library::identity::detector_key(&ctx.config).unwrap();
        let model = facelab_library::identity::ModelKeys::of_config(&ctx.config)
            .unwrap()
            .unwrap();
        // The walk sees six photos; one is deleted before it is read.
        let plan = facelab_library::scan::plan(
            &lib,
            std::slice::from_ref(&photos),
            &opts,
            &det_key,
            Some(&model),
        )
        .unwrap();
        assert_eq!(plan.items.len(), 6);
        std::fs::remove_file(photos.join("s2/2.pgm")).unwrap();
        let workers = facelab_library::session::open_for_scan(&ctx, 2)
            .unwrap()
            .into_iter()
            .map(|(detector, recognizer)| facelab_library::scan::Worker {
                detector,
                recognizer,
            })
            .collect();
        let mut pipe = facelab_library::scan::Pipeline {
            workers,
            detector_key: det_key,
            models: Some(model),
        };
        let s = facelab_library::scan::execute(
            &mut lib,
            plan,
            &mut pipe,
            &opts,
            &facelab_engine::ui::progress(0),
        )
        .unwrap();
        assert_eq!(s.vanished_during_scan, 1);
        assert_eq!(s.new, 5);
        assert!(s.failed.is_empty());
        let c = lib.counts().unwrap();
        assert_eq!((c.images, c.faces, c.embeddings), (5, 5, 5));
    });
}

#[test]
fn a_scan_killed_with_sigkill_is_finished_by_the_next_one_with_no_duplicate() {
    let shared = require_shared!();
    on_both(|d| {
        let photos = d.join("photos");
        common::copy_orl(&shared, &photos, 1..=20, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let config = mfn_config(&shared, d, "batch_size = 4");
        // Fetch models first so the kill lands in the scan itself.
        let (code, _, err) = lib_cmd(
            &config,
            &["models", "fetch", "yunet-2023mar", "mobilefacenet-128"],
        );
        assert_eq!(code, 0, "{err}");
        let mut child = facelab()
            .arg("--config")
            .arg(&config)
            .args(["scan", photos.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        let mut seen = 0;
        while start.elapsed().as_secs() < 120 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            if library_url(d).is_some() {
                seen = count(d, "SELECT count(*) FROM images");
                if seen >= 12 {
                    break;
                }
            } else if let Ok(conn) = rusqlite::Connection::open_with_flags(
                d.join("library.sqlite"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            ) {
                seen = conn
                    .query_row("SELECT count(*) FROM images", [], |r| r.get::<_, i64>(0))
                    .unwrap_or(0);
                if seen >= 12 {
                    break;
                }
            }
        }
        // SIGKILL: no destructor, no rollback handler, no flush.
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            (12..200).contains(&seen),
            "the kill must land mid-scan: {seen} photos stored"
        );
        let after_kill = count(d, "SELECT count(*) FROM images");
        assert!(after_kill < 200, "{after_kill}");
        let s = json(&config, &["scan", "--json", photos.to_str().unwrap()]);
        assert_eq!(
            s["scan"]["new"].as_i64().unwrap() + s["scan"]["unchanged"].as_i64().unwrap(),
            200,
            "{s}"
        );
        // The same counts as a clean scan into another library.
        let clean = tempfile::tempdir().unwrap();
        let clean_config = mfn_config(&shared, clean.path(), "");
        let c = json(&clean_config, &["scan", "--json", photos.to_str().unwrap()]);
        assert_eq!(s["library"], c["library"], "resumed vs clean");
        assert_eq!(
            count(
                d,
                "SELECT count(*) FROM (SELECT path FROM images GROUP BY path HAVING count(*) > 1) AS d"
            ),
            0
        );
        assert_eq!(
            count(d, "SELECT count(*) FROM faces"),
            count(clean.path(), "SELECT count(*) FROM faces")
        );
    });
}

#[test]
fn a_locked_library_waits_then_fails_clearly() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = mfn_config(&shared, d, "busy_timeout_ms = 300");
    let (code, _, err) = lib_cmd(&config, &["people", "add", "Ann"]);
    assert_eq!(code, 0, "{err}");
    let holder = db(d);
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let start = std::time::Instant::now();
    let (code, _, err) = lib_cmd(&config, &["people", "add", "Bob"]);
    assert_eq!(code, 2);
    assert!(start.elapsed().as_millis() >= 300, "it waited first");
    assert!(err.contains("locked by another process"), "{err}");
    assert!(err.contains("library.sqlite"), "{err}");
    holder.execute_batch("ROLLBACK").unwrap();
    let (code, _, err) = lib_cmd(&config, &["people", "add", "Bob"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_newer_schema_or_a_foreign_database_is_refused_untouched() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = mfn_config(&shared, d, "");
    let (code, _, err) = lib_cmd(&config, &["people", "list"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        db(d)
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0)
            )
            .unwrap(),
        facelab_library::SCHEMA_VERSION.to_string()
    );
    db(d)
        .execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let (code, _, err) = lib_cmd(&config, &["people", "list"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("schema version 99") && err.contains("upgrade facelab"),
        "{err}"
    );

    let other = tempfile::tempdir().unwrap();
    let foreign = rusqlite::Connection::open(other.path().join("library.sqlite")).unwrap();
    foreign.execute_batch("CREATE TABLE notes(x)").unwrap();
    drop(foreign);
    let config = mfn_config(&shared, other.path(), "");
    let (code, _, err) = lib_cmd(&config, &["people", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a facelab face library"), "{err}");
    std::fs::write(other.path().join("library.sqlite"), b"plain text").unwrap();
    let (code, _, err) = lib_cmd(&config, &["people", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("not"), "{err}");
}

#[test]
fn names_survive_a_recognizer_switch_and_a_detector_switch() {
    let shared = require_shared!();
    on_both(|d| {
        let photos = d.join("photos");
        // Group photos: several faces each, so boxes must be matched, not guessed.
        std::fs::create_dir_all(&photos).unwrap();
        for f in ["codingsprint2009-01.jpg", "codingsprint2009-02.jpg"] {
            std::fs::copy(
                shared.join("datasets/samples/sprint").join(f),
                photos.join(f),
            )
            .unwrap();
        }
        let p = photos.to_str().unwrap();
        let config = mfn_config(&shared, d, "");
        let s = json(&config, &["scan", "--json", p]);
        let faces_before = s["library"]["faces"].as_i64().unwrap();
        assert!(faces_before >= 6, "{s}");
        let faces = json(&config, &["faces", "--json"]);
        let faces = faces.as_array().unwrap();
        let named: Vec<i64> = faces
            .iter()
            .take(4)
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        for (i, id) in named.iter().enumerate() {
            let (code, _, err) = lib_cmd(&config, &["tag", &id.to_string(), &format!("P{i}")]);
            assert_eq!(code, 0, "{err}");
        }
        // Recognizer switch: the example plugin's pixel embedder. Only embeddings are added.
        let pixels = edited(
            &config,
            "[recognizer]\nplugin = \"opencv-dnn\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"",
            "[recognizer]\nplugin = \"example\"\nkind = \"pixels\"",
            "pixels.toml",
        );
        let s = json(&pixels, &["scan", "--json", p]);
        assert_eq!(s["scan"]["embedded"], 2, "{s}");
        assert_eq!(s["library"]["faces"].as_i64().unwrap(), faces_before);
        assert_eq!(
            s["library"]["embeddings"].as_i64().unwrap(),
            2 * faces_before
        );
        // Detector switch: SSD re-detects; boxes are matched to the stored faces by IoU and
        // every confirmed name stays on its face.
        let ssd = edited(
            &config,
            "kind = \"yunet\"\nmodel = \"yunet-2023mar\"",
            "kind = \"ssd\"\nmodel = \"ssd-tf-uint8\"",
            "ssd.toml",
        );
        let s = json(&ssd, &["scan", "--json", p]);
        assert_eq!(s["scan"]["redetected"], 2, "{s}");
        assert_eq!(s["library"]["confirmed"], 4, "{s}");
        for (i, id) in named.iter().enumerate() {
            let who = json(&ssd, &["faces", "--person", &format!("P{i}"), "--json"]);
            let who = who.as_array().unwrap();
            assert_eq!(who.len(), 1, "P{i}");
            assert_eq!(who[0]["id"].as_i64(), Some(*id), "P{i} kept its face id");
        }
        // SSD finds fewer of these small faces: the unnamed YuNet faces it does not find are
        // gone, the named ones stay with their old boxes.
        let faces = json(&ssd, &["faces", "--json"]);
        let faces = faces.as_array().unwrap();
        let from_ssd = faces
            .iter()
            .filter(|f| f["detector"].as_str() == Some("opencv-dnn:ssd:ssd-tf-uint8"))
            .count();
        assert!(from_ssd >= 1, "{faces:?}");
        for f in faces {
            assert!(
                f["detector"].as_str() == Some("opencv-dnn:ssd:ssd-tf-uint8")
                    || f["person"].is_string(),
                "an unnamed face of the old detector survived: {f}"
            );
        }
    });
}

#[test]
fn people_can_be_added_renamed_merged_and_exported() {
    let shared = require_shared!();
    on_both(|d| {
        common::copy_orl(&shared, &d.join("photos"), 1..=1, &[1, 2, 3]);
        let config = mfn_config(&shared, d, "");
        lib_cmd(&config, &["scan", d.join("photos").to_str().unwrap()]);
        let ids: Vec<String> = json(&config, &["faces", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].to_string())
            .collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(lib_cmd(&config, &["people", "add", "Ada"]).0, 0);
        let (code, _, err) = lib_cmd(&config, &["people", "add", "ada"]);
        assert_eq!(code, 2);
        assert!(err.contains("already exists"), "{err}");
        lib_cmd(&config, &["tag", &ids[0], "Ada"]);
        lib_cmd(&config, &["tag", &ids[1], "Lovelace"]);
        lib_cmd(&config, &["reject", &ids[2], "Ada"]);
        assert_eq!(
            lib_cmd(&config, &["people", "rename", "Ada", "Ada L."]).0,
            0
        );
        let (code, out, err) = lib_cmd(&config, &["people", "merge", "Lovelace", "Ada L."]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("merged"), "{out}");
        let people = json(&config, &["people", "list", "--json"]);
        assert_eq!(people.as_array().unwrap().len(), 1);
        assert_eq!(people[0]["name"], "Ada L.");
        assert_eq!(people[0]["faces"], 2);
        let (code, out, _) = lib_cmd(&config, &["export", "--format", "csv"]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("face_id,path,"));
        assert_eq!(lines.iter().filter(|l| l.contains(",Ada L.,")).count(), 2);
        assert!(lines
            .iter()
            .any(|l| l.ends_with(",Ada L.") && l.contains(&format!("{},", ids[2]))));
        let export = json(&config, &["export", "--format", "json"]);
        assert_eq!(export["faces"].as_array().unwrap().len(), 3);
        assert_eq!(lib_cmd(&config, &["untag", &ids[0]]).0, 0);
        assert_eq!(
            json(&config, &["faces", "--person", "Ada L.", "--json"])
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (code, _, err) = lib_cmd(&config, &["tag", "999999", "Ada L."]);
        assert_eq!(code, 2);
        assert!(err.contains("no face with id 999999"), "{err}");
    });
}

// ---- integrity -------------------------------------------------------------

/// Copies the VOC group photos (12 photos, several faces each, and 2 XML files) into `to`.
fn copy_voc_groups(shared: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(shared.join("datasets/samples/voc-groups")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Fetches the models into the private cache, so processes started at once do not race on
/// the download.
fn fetch_models(config: &Path) {
    let (code, _, err) = lib_cmd(
        config,
        &["models", "fetch", "yunet-2023mar", "mobilefacenet-128"],
    );
    assert_eq!(code, 0, "{err}");
}

fn spawn(config: &Path, args: &[&str]) -> std::process::Child {
    facelab()
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const DUPLICATE_FACES: &str = "SELECT count(*) FROM (SELECT 1 FROM faces
    GROUP BY image_id, x, y, w, h HAVING count(*) > 1) AS d";

#[test]
fn three_scans_of_one_folder_at_once_store_each_face_once() {
    let shared = require_shared!();
    on_both(|d| {
        let photos = d.join("voc");
        copy_voc_groups(&shared, &photos);
        let config = mfn_config(&shared, d, "");
        fetch_models(&config);
        let p = photos.to_str().unwrap();
        let children: Vec<_> = (0..3)
            .map(|_| spawn(&config, &["scan", "--json", p]))
            .collect();
        let mut concurrent = 0;
        for child in children {
            let (code, out, err) = finish(child);
            assert_eq!(code, 0, "{err}");
            let s: serde_json::Value = serde_json::from_str(&out).unwrap();
            concurrent += s["scan"]["concurrent"].as_i64().unwrap();
        }
        eprintln!("photos dropped because another scan stored them first: {concurrent}");
        let clean = tempfile::tempdir().unwrap();
        let clean_config = mfn_config(&shared, clean.path(), "");
        let c = json(&clean_config, &["scan", "--json", p]);
        let faces = c["library"]["faces"].as_i64().unwrap();
        assert!(faces >= 40, "{c}");
        assert_eq!(count(d, "SELECT count(*) FROM faces"), faces);
        assert_eq!(
            count(d, "SELECT count(*) FROM images"),
            c["library"]["images"].as_i64().unwrap()
        );
        assert_eq!(count(d, "SELECT count(*) FROM embeddings"), faces);
        assert_eq!(count(d, DUPLICATE_FACES), 0);
        // A rescan finds everything in place.
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["unchanged"], c["library"]["images"], "{s}");
        assert_eq!(s["library"]["faces"].as_i64(), Some(faces));
    });
}

#[test]
fn a_scan_racing_tag_import_labels_and_cluster_loses_and_duplicates_nothing() {
    let shared = require_shared!();
    on_both(|d| {
        common::copy_orl(&shared, &d.join("photos"), 1..=2, &[1, 2, 3]);
        common::copy_orl(&shared, &d.join("named"), 3..=4, &[1, 2]);
        copy_voc_groups(&shared, &d.join("voc"));
        let config = mfn_config(&shared, d, "");
        fetch_models(&config);
        let (code, _, err) = lib_cmd(&config, &["scan", d.join("photos").to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let ids: Vec<String> = json(&config, &["faces", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].to_string())
            .collect();
        assert_eq!(ids.len(), 6);
        let voc = d.join("voc");
        let scans = [
            spawn(&config, &["scan", voc.to_str().unwrap()]),
            spawn(&config, &["scan", voc.to_str().unwrap()]),
        ];
        let import = spawn(
            &config,
            &["import-labels", d.join("named").to_str().unwrap()],
        );
        let cluster = spawn(&config, &["cluster"]);
        // Meanwhile, name the faces already stored, two of them as one new person.
        for (i, id) in ids.iter().enumerate() {
            let (code, _, err) = lib_cmd(&config, &["tag", id, &format!("T{}", i / 2)]);
            assert_eq!(code, 0, "{err}");
        }
        for child in scans {
            let (code, _, err) = finish(child);
            assert_eq!(code, 0, "{err}");
        }
        let (code, out, err) = finish(import);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("named 4 faces of 2 people"), "{out}");
        let (code, _, err) = finish(cluster);
        assert_eq!(code, 0, "{err}");
        let clean = tempfile::tempdir().unwrap();
        let c = json(
            &mfn_config(&shared, clean.path(), ""),
            &["scan", "--json", voc.to_str().unwrap()],
        );
        let voc_faces = c["library"]["faces"].as_i64().unwrap();
        assert_eq!(count(d, "SELECT count(*) FROM faces"), 6 + 4 + voc_faces);
        assert_eq!(count(d, DUPLICATE_FACES), 0);
        assert_eq!(
            count(d, "SELECT count(*) FROM labels WHERE state = 'confirmed'"),
            10
        );
        assert_eq!(count(d, "SELECT count(*) FROM people"), 5);
        for (i, id) in ids.iter().enumerate() {
            let who = json(
                &config,
                &["faces", "--person", &format!("T{}", i / 2), "--json"],
            );
            assert!(
                who.as_array().unwrap().iter().any(|f| f["id"]
                    .as_i64()
                    .map(|v| v.to_string())
                    .as_deref()
                    == Some(id.as_str())),
                "face {id} lost its name: {who}"
            );
        }
        // A face is in at most one cluster of a model.
        assert_eq!(
        count(
            d,
            "SELECT count(*) FROM (SELECT face_id FROM cluster_members GROUP BY face_id HAVING count(*) > 1) AS d"
        ),
        0
    );
    });
}

#[cfg(unix)]
#[test]
fn file_names_that_are_not_utf8_or_differ_in_normalisation_are_each_stored_exactly() {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let shared = require_shared!();
    on_both(|d| {
        let photos = d.join("photos");
        std::fs::create_dir_all(&photos).unwrap();
        let names: Vec<Vec<u8>> = vec![
            b"\xfe.pgm".to_vec(),
            b"\xff.pgm".to_vec(),
            b"line\nbreak.pgm".to_vec(),
            "caf\u{e9}.pgm".as_bytes().to_vec(),   // NFC
            "cafe\u{301}.pgm".as_bytes().to_vec(), // NFD: another file on Linux
        ];
        for (i, name) in names.iter().enumerate() {
            let to = photos.join(std::ffi::OsStr::from_bytes(name));
            std::fs::copy(shared.join(format!("datasets/orl/s{}/1.pgm", i + 1)), to).unwrap();
        }
        let config = mfn_config(&shared, d, "");
        let p = photos.to_str().unwrap();
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["files"], 5, "{s}");
        assert_eq!(s["scan"]["new"], 5, "{s}");
        // The stored bytes are exactly the names the OS gave.
        let mut stored: Vec<Vec<u8>> = rows(d, "SELECT path_bytes FROM images")
            .into_iter()
            .map(|r| {
                let hex = r[0].strip_prefix("\\x").unwrap();
                let bytes: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap())
                    .collect();
                let path = std::path::PathBuf::from(std::ffi::OsString::from_vec(bytes));
                path.file_name().unwrap().as_bytes().to_vec()
            })
            .collect();
        stored.sort();
        let mut expected = names.clone();
        expected.sort();
        assert_eq!(stored, expected);
        // Exports show a display form and flag the names that are not UTF-8.
        let export = json(&config, &["export", "--format", "json"]);
        let faces = export["faces"].as_array().unwrap();
        let flagged: Vec<&str> = faces
            .iter()
            .filter(|f| f["path_utf8"] == false)
            .map(|f| f["path"].as_str().unwrap().rsplit('/').next().unwrap())
            .collect();
        let mut flagged = flagged;
        flagged.sort();
        assert_eq!(flagged, ["\\xFE.pgm", "\\xFF.pgm"]);
        assert!(faces
            .iter()
            .any(|f| f["path"].as_str().unwrap().ends_with("line\nbreak.pgm")));
        let (code, csv, _) = lib_cmd(&config, &["export", "--format", "csv"]);
        assert_eq!(code, 0);
        assert!(csv.starts_with("face_id,path,path_utf8,"), "{csv}");
        assert!(csv.contains("\\xFE.pgm,false,"), "{csv}");
        assert!(csv.contains("break.pgm\",true,"), "{csv}");
        // A rescan recognises every one of them.
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["unchanged"], 5, "{s}");
    });
}

#[test]
fn a_missing_folder_next_to_a_real_one_fails_the_scan_and_is_named() {
    let shared = require_shared!();
    on_both(|d| {
        common::copy_orl(&shared, &d.join("photos"), 1..=1, &[1, 2]);
        let config = mfn_config(&shared, d, "");
        let missing = d.join("no-such-folder");
        let (code, out, err) = lib_cmd(
            &config,
            &[
                "scan",
                "--json",
                missing.to_str().unwrap(),
                d.join("photos").to_str().unwrap(),
            ],
        );
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("no-such-folder: cannot read"), "{err}");
        let s: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(s["scan"]["new"], 2, "the real folder is scanned: {s}");
        let unreadable = s["scan"]["unreadable"].as_array().unwrap();
        assert_eq!(unreadable.len(), 1, "{s}");
        assert!(unreadable[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("no-such-folder"));
        let (code, out, _) = lib_cmd(
            &config,
            &[
                "scan",
                missing.to_str().unwrap(),
                d.join("photos").to_str().unwrap(),
            ],
        );
        assert_eq!(code, 1);
        assert!(
            out.contains("1 folder could not be read") && out.contains("no-such-folder"),
            "{out}"
        );
    });
}

#[cfg(unix)]
#[test]
fn an_unreadable_subfolder_counts_as_failed_and_its_stored_photos_stay() {
    use std::os::unix::fs::PermissionsExt;
    let shared = require_shared!();
    on_both(|d| {
        let photos = d.join("photos");
        common::copy_orl(&shared, &photos, 1..=2, &[1, 2]);
        let config = mfn_config(&shared, d, "");
        let p = photos.to_str().unwrap();
        let s = json(&config, &["scan", "--json", p]);
        assert_eq!(s["scan"]["new"], 4, "{s}");
        let locked = photos.join("s2");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads through mode 000 (CAP_DAC_OVERRIDE); then run facelab without that
        // capability, which setpriv can do. Skip only this case when neither works.
        let mut cmd = if std::fs::read_dir(&locked).is_err() {
            facelab()
        } else {
            let probe = std::process::Command::new("setpriv")
                .args(["--bounding-set=-dac_override,-dac_read_search", "ls"])
                .arg(&locked)
                .output();
            if !probe.is_ok_and(|o| !o.status.success()) {
                std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
                eprintln!("SKIPPED: running as root, and setpriv cannot drop CAP_DAC_OVERRIDE here: a mode-000 folder stays readable");
                return;
            }
            let mut c = std::process::Command::new("setpriv");
            c.args(["--bounding-set=-dac_override,-dac_read_search"])
                .arg(env!("CARGO_BIN_EXE_facelab"))
                .current_dir(common::repo_root())
                .env_remove("FACELAB_CONFIG")
                .env_remove("FACELAB_PLUGIN_PATH");
            c
        };
        let (code, out, err) = run(cmd.arg("--config").arg(&config).args(["scan", "--json", p]));
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("s2: cannot read"), "{err}");
        let s: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(s["scan"]["unreadable"].as_array().unwrap().len(), 1, "{s}");
        assert_eq!(s["scan"]["missing"], 0, "{s}");
        assert_eq!(s["library"]["images"], 4, "{s}");
        assert_eq!(s["library"]["missing"], 0, "{s}");
        // Readable again: nothing to do, nothing failed.
        let (code, out, err) = lib_cmd(&config, &["scan", "--json", p]);
        assert_eq!(code, 0, "{err}");
        let s: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(s["scan"]["unchanged"], 4, "{s}");
    });
}

#[test]
fn a_damaged_library_is_reported_in_one_line_with_the_fix() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::copy_orl(&shared, &d.join("photos"), 1..=3, &[1, 2]);
    let config = mfn_config(&shared, d, "");
    let (code, _, err) = lib_cmd(&config, &["scan", d.join("photos").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let file = d.join("library.sqlite");
    assert!(
        !d.join("library.sqlite-wal").exists(),
        "checkpointed on close"
    );
    // Garbage over every page but the first (the schema): every table is damaged.
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 4096 * 4, "{}", bytes.len());
    for b in bytes.iter_mut().skip(4096) {
        *b = 0xA5;
    }
    std::fs::write(&file, &bytes).unwrap();
    let (code, _, err) = lib_cmd(&config, &["faces"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert_eq!(err.matches("malformed").count(), 1, "{err}");
    assert!(
        err.contains("backup") && err.contains("facelab check"),
        "{err}"
    );
    let (code, out, err) = lib_cmd(&config, &["check"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("damaged") && out.contains("backup"), "{out}");
}

#[test]
fn a_newer_library_is_refused_before_a_byte_of_it_changes() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = mfn_config(&shared, d, "");
    let (code, _, err) = lib_cmd(&config, &["people", "add", "Ann"]);
    assert_eq!(code, 0, "{err}");
    {
        let conn = db(d);
        conn.execute_batch(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'; PRAGMA journal_mode = DELETE;",
        )
        .unwrap();
    }
    let file = d.join("library.sqlite");
    let before = std::fs::read(&file).unwrap();
    let (code, _, err) = lib_cmd(&config, &["people", "add", "Bob"]);
    assert_eq!(code, 2);
    assert!(err.contains("schema version 99"), "{err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file was written"
    );
    assert!(!d.join("library.sqlite-wal").exists());
    let mode: String = db(d)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn check_merges_faces_stored_twice_keeping_their_names() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::copy_orl(&shared, &d.join("photos"), 1..=1, &[1, 2, 3]);
    let config = mfn_config(&shared, d, "");
    let (code, _, err) = lib_cmd(&config, &["scan", d.join("photos").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // What two scans at once stored before schema version 3: every face twice. The unique
    // index has to go first; with it, the copies cannot be stored.
    let conn = db(d);
    assert!(conn
        .execute_batch("INSERT INTO faces(image_id, x, y, w, h, landmarks, score, detector, created_at) SELECT image_id, x, y, w, h, landmarks, score, detector, created_at FROM faces")
        .is_err());
    conn.execute_batch(
        "DROP INDEX faces_one_box;
         INSERT INTO faces(image_id, x, y, w, h, landmarks, score, detector, created_at)
           SELECT image_id, x, y, w, h, landmarks, score, detector, created_at FROM faces;
         INSERT INTO embeddings SELECT f2.id, e.model_id, e.dim, e.normalized, e.vector
           FROM embeddings e JOIN faces f ON f.id = e.face_id
           JOIN faces f2 ON f2.image_id = f.image_id AND f2.x = f.x AND f2.id > f.id;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(count(d, "SELECT count(*) FROM faces"), 6);
    let original = count(d, "SELECT min(id) FROM faces");
    let copy = count(
        d,
        "SELECT max(id) FROM faces WHERE image_id = (SELECT image_id FROM faces WHERE id = (SELECT min(id) FROM faces))",
    );
    // The user named one copy: that name must survive.
    let (code, _, err) = lib_cmd(&config, &["tag", &copy.to_string(), "Ann"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = lib_cmd(&config, &["check", "--json"]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["duplicate_faces"], 3, "{r}");
    assert_eq!(r["duplicate_labels"], 1, "{r}");
    assert_eq!(r["index_restored"], true, "{r}");
    assert_eq!(count(d, "SELECT count(*) FROM faces"), 3);
    assert_eq!(count(d, "SELECT count(*) FROM embeddings"), 3);
    let ann = json(&config, &["faces", "--person", "Ann", "--json"]);
    assert_eq!(ann.as_array().unwrap().len(), 1, "{ann}");
    assert_eq!(ann[0]["id"].as_i64(), Some(original));
    // Repaired: nothing more to merge, and a copy cannot be stored again.
    let r = json(&config, &["check", "--json"]);
    assert_eq!(r["duplicate_faces"], 0, "{r}");
    assert!(db(d)
        .execute_batch("INSERT INTO faces(image_id, x, y, w, h, landmarks, score, detector, created_at) SELECT image_id, x, y, w, h, landmarks, score, detector, created_at FROM faces")
        .is_err());
}

// ---- face quality ----------------------------------------------------------

/// ORL photo `i` of subject `s` blurred with a Gaussian of `sigma` pixels, written as
/// `to/s<s>/<i>-blurred.png`.
fn blurred_orl(shared: &Path, to: &Path, s: u32, i: u32, sigma: f32) -> PathBuf {
    let img = image::open(shared.join(format!("datasets/orl/s{s}/{i}.pgm"))).unwrap();
    let dir = to.join(format!("s{s}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{i}-blurred.png"));
    image::imageops::blur(&img.to_luma8(), sigma)
        .save(&path)
        .unwrap();
    path
}

/// How much the test photos are blurred. Measured on ORL subjects 1–10: the 100 sharp faces
/// all have quality 1; blurred by σ 3 px, YuNet still finds 90 and their quality is at most
/// 0.40 (median 0.18).
const ORL_BLUR: f32 = 3.0;

#[test]
fn faces_below_min_quality_are_listed_but_take_no_part_in_suggestions() {
    let shared = require_shared!();
    on_both(|d| {
        // Six people named on two sharp photos each; s7 named only on two blurred ones. Six
        // sharp unnamed photos of each of the seven, and one blurred unnamed photo of s1..s6.
        common::copy_orl(&shared, &d.join("named"), 1..=6, &[1, 2]);
        for i in [1, 2] {
            blurred_orl(&shared, &d.join("named"), 7, i, ORL_BLUR);
        }
        common::copy_orl(&shared, &d.join("photos"), 1..=7, &[3, 4, 5, 6, 7, 8]);
        for s in 1..=6 {
            blurred_orl(&shared, &d.join("photos/blurred"), s, 9, ORL_BLUR);
        }
        let gate = 0.5;
        let config = mfn_config(&shared, d, &format!("min_quality = {gate}"));
        let (code, _, err) = lib_cmd(&config, &["scan", d.join("photos").to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = lib_cmd(
            &config,
            &["import-labels", d.join("named").to_str().unwrap()],
        );
        assert_eq!(code, 0, "{err}");
        let s7 = json(&config, &["faces", "--person", "s7", "--json"]);
        assert!(
            !s7.as_array().unwrap().is_empty(),
            "a blurred face of s7 is named"
        );

        // Every face is listed, with its quality: the blurred ones below the gate, the rest above.
        let faces = json(&config, &["faces", "--json"]);
        let faces = faces.as_array().unwrap();
        let blurred: Vec<i64> = faces
            .iter()
            .filter(|f| f["path"].as_str().unwrap().ends_with("-blurred.png"))
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        // YuNet finds most blurred faces, not all (see ORL_BLUR).
        assert!(blurred.len() >= 6, "{faces:?}");
        assert_eq!(faces.len(), 7 * 6 + 12 + blurred.len(), "{faces:?}");
        for f in faces {
            let q = f["quality"]["score"].as_f64().unwrap();
            let is_blurred = blurred.contains(&f["id"].as_i64().unwrap());
            assert!(
                if is_blurred { q < gate } else { q >= gate },
                "quality {q} of {}: {}",
                f["path"],
                f["quality"]
            );
        }
        let (_, text, _) = lib_cmd(&config, &["faces"]);
        let marked = text
            .lines()
            .filter(|l| l.contains("(below min_quality)"))
            .count();
        assert_eq!(marked, blurred.len(), "{text}");

        // Suggestions: no blurred face gets one, and s7, named on blurred faces only, is no
        // evidence for anything: none of s7's sharp photos is suggested as s7.
        let s = json(&config, &["suggest", "--json"]);
        assert_eq!(
            s["below_min_quality"].as_u64(),
            Some(blurred.len() as u64),
            "{}",
            s["below_min_quality"]
        );
        let all = s["suggestions"].as_array().unwrap();
        assert_eq!(all.len(), 7 * 6);
        for x in all {
            assert!(!blurred.contains(&x["face"].as_i64().unwrap()), "{x}");
            assert_ne!(x["person"].as_str(), Some("s7"), "{x}");
            assert_ne!(x["best"].as_str(), Some("s7"), "{x}");
        }
        let right = all
            .iter()
            .filter(|x| {
                let p = x["path"].as_str().unwrap();
                x["person"].as_str() == Some(p.split('/').rev().nth(1).unwrap())
            })
            .count();
        assert!(
            right >= 34,
            "{right} of 36 sharp photos of s1..s6 named right"
        );

        // Without the gate the same library suggests for the blurred faces and uses s7's.
        let open = mfn_config(&shared, d, "min_quality = 0.0");
        let s = json(&open, &["suggest", "--json"]);
        assert_eq!(s["below_min_quality"], 0);
        let all = s["suggestions"].as_array().unwrap();
        let unnamed_blurred = blurred.len() - s7.as_array().unwrap().len();
        assert_eq!(all.len(), 7 * 6 + unnamed_blurred);
        assert!(all.iter().any(|x| x["best"].as_str() == Some("s7")));
    });
}

#[test]
fn a_version_3_library_keeps_every_face_and_the_next_scan_measures_their_quality() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::copy_orl(&shared, &d.join("photos"), 1..=2, &[1, 2, 3, 4, 5]);
    let photos = d.join("photos");
    let p = photos.to_str().unwrap();
    let config = mfn_config(&shared, d, "");
    lib_cmd(&config, &["scan", p]);
    let before = json(&config, &["faces", "--json"]);
    let ids: Vec<i64> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 10);
    lib_cmd(&config, &["tag", &ids[0].to_string(), "Ada"]);
    // The library as facelab with schema version 3 left it: no quality, origin or hidden
    // columns, no queue.
    db(d)
        .execute_batch(
            "DROP TABLE jobs; DROP TABLE workers;
             ALTER TABLE faces DROP COLUMN hidden_at; ALTER TABLE people DROP COLUMN hidden_at;
             ALTER TABLE faces DROP COLUMN origin;
             ALTER TABLE faces DROP COLUMN quality_parts; ALTER TABLE faces DROP COLUMN quality;
             UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();

    // Opened by this version: migrated, every face kept with its id and name, quality unknown.
    let after = json(&config, &["faces", "--json"]);
    let after = after.as_array().unwrap();
    assert_eq!(
        after
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(after.iter().all(|f| f["quality"].is_null()), "{after:?}");
    assert_eq!(after[0]["person"], "Ada");
    assert_eq!(
        count(
            d,
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"
        ),
        facelab_library::SCHEMA_VERSION
    );
    // Unknown quality passes even the strictest gate.
    let strict = mfn_config(&shared, d, "min_quality = 1.0");
    let s = json(&strict, &["suggest", "--json"]);
    assert_eq!(s["below_min_quality"], 0);
    assert_eq!(s["suggestions"].as_array().unwrap().len(), 9);
    let (_, text, _) = lib_cmd(&config, &["faces"]);
    assert_eq!(
        text.lines().filter(|l| l.contains("\tq?\t")).count(),
        10,
        "{text}"
    );

    // The next scan measures them: each photo decoded again, nothing re-detected or
    // re-embedded, every face and name kept.
    let embeddings = count(d, "SELECT count(*) FROM embeddings");
    let (code, out, err) = lib_cmd(&config, &["scan", p]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("10 given the face quality an older facelab did not measure"),
        "{out}"
    );
    assert!(out.contains("0 re-detected"), "{out}");
    let measured = json(&config, &["faces", "--json"]);
    let measured = measured.as_array().unwrap();
    assert_eq!(
        measured
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    for f in measured {
        let q = f["quality"]["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&q), "{f}");
    }
    assert_eq!(measured[0]["person"], "Ada");
    assert_eq!(count(d, "SELECT count(*) FROM embeddings"), embeddings);
    // And once measured, a rescan has nothing to do.
    let s = json(&config, &["scan", "--json", p]);
    assert_eq!(
        (
            s["scan"]["assessed"].as_i64(),
            s["scan"]["unchanged"].as_i64()
        ),
        (Some(0), Some(10)),
        "{s}"
    );
}
