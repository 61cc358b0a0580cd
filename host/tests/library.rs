//! The face library through the real binary, real plugins and real photos: scans, rescans,
//! moves, bad files, kill -9, locks, schema versions, names across model switches,
//! suggestions and rejections.

mod common;

use std::path::{Path, PathBuf};

use common::{facelab, run};

/// YuNet + MobileFaceNet through the OpenCV plugin, with a private cache and library.
fn mfn_config(shared: &Path, dir: &Path, extra: &str) -> PathBuf {
    common::write_config(
        dir,
        &format!(
            "[detector]\nplugin = \"opencv-dnn\"\nkind = \"yunet\"\nmodel = \"yunet-2023mar\"\n[recognizer]\nplugin = \"opencv-dnn\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\n[library]\npath = \"{}\"\n{extra}\n",
            shared.join("models").display(),
            dir.join("cache").display(),
            dir.join("library.sqlite").display(),
        ),
    )
}

/// Copies ORL subjects `subjects` (images `images` of each) into `dir/<prefix>/sN/`.
fn copy_orl(shared: &Path, dir: &Path, subjects: std::ops::RangeInclusive<u32>, images: &[u32]) {
    for s in subjects {
        let to = dir.join(format!("s{s}"));
        std::fs::create_dir_all(&to).unwrap();
        for i in images {
            std::fs::copy(
                shared.join(format!("datasets/orl/s{s}/{i}.pgm")),
                to.join(format!("{i}.pgm")),
            )
            .unwrap();
        }
    }
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

fn count(dir: &Path, sql: &str) -> i64 {
    db(dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn suggestions_name_known_people_say_unknown_for_strangers_and_rejections_stick() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Ten people with 2 named photos each (20%), their 8 other photos unnamed, and two
    // strangers nobody named.
    copy_orl(&shared, &d.join("named"), 1..=10, &[1, 2]);
    copy_orl(
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
}

#[test]
fn rescans_skip_unchanged_photos_follow_moves_and_keep_names() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_orl(&shared, &d.join("photos"), 1..=3, &[1, 2, 3]);
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
}

#[test]
fn bad_files_are_recorded_with_their_reason_and_the_scan_goes_on() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    copy_orl(&shared, &photos, 1..=1, &[1, 2]);
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
    let conn = db(d);
    let mut stmt = conn
        .prepare("SELECT path, error FROM images WHERE status = 'failed'")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
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
}

#[test]
fn a_file_deleted_mid_scan_is_skipped_and_the_rest_is_stored() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    copy_orl(&shared, &photos, 1..=2, &[1, 2, 3]);
    let config = mfn_config(&shared, d, "");
    let ctx = facelab::cli::RunContext {
        config: facelab::config::Config::load(&config).unwrap(),
        cache_dir: None,
        verbose: false,
        library: None,
    };
    let mut lib = facelab::cli::library::open_library(&ctx).unwrap();
    let opts = facelab::library::scan::ScanOptions {
        include: ctx.config.library.include.clone(),
        exclude: ctx.config.library.exclude.clone(),
        batch_size: 2,
        max_pixels: 1 << 24,
        redetect: false,
        retry_failed: false,
        threads: 2,
    };
    let det_key = facelab::library::identity::detector_key(&ctx.config).unwrap();
    let model = facelab::library::identity::embedding_key(
        &ctx.config,
        ctx.config.recognizer.as_ref().unwrap(),
    )
    .unwrap();
    // The walk sees six photos; one is deleted before it is read.
    let plan = facelab::library::scan::plan(
        &lib,
        std::slice::from_ref(&photos),
        &opts,
        &det_key,
        Some(&model),
    )
    .unwrap();
    assert_eq!(plan.items.len(), 6);
    std::fs::remove_file(photos.join("s2/2.pgm")).unwrap();
    let (mut detector, mut recognizer) =
        facelab::session::open_detector_and_recognizer(&ctx).unwrap();
    let mut pipe = facelab::library::scan::Pipeline {
        detector: &mut detector,
        detector_key: det_key,
        recognizer: recognizer.as_mut(),
        model: Some(model),
    };
    let s = facelab::library::scan::execute(
        &mut lib,
        plan,
        &mut pipe,
        &opts,
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    assert_eq!(s.vanished_during_scan, 1);
    assert_eq!(s.new, 5);
    assert!(s.failed.is_empty());
    let c = lib.counts().unwrap();
    assert_eq!((c.images, c.faces, c.embeddings), (5, 5, 5));
}

#[test]
fn a_scan_killed_with_sigkill_is_finished_by_the_next_one_with_no_duplicate() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    copy_orl(&shared, &photos, 1..=20, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
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
        if let Ok(conn) = rusqlite::Connection::open_with_flags(
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
            "SELECT count(*) FROM (SELECT path FROM images GROUP BY path HAVING count(*) > 1)"
        ),
        0
    );
    assert_eq!(
        count(d, "SELECT count(*) FROM faces"),
        count(clean.path(), "SELECT count(*) FROM faces")
    );
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
        facelab::library::SCHEMA_VERSION.to_string()
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
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
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
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[recognizer]\nplugin = \"opencv-dnn\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"",
        "[recognizer]\nplugin = \"example\"\nkind = \"pixels\"",
    );
    let pixels = d.join("pixels.toml");
    std::fs::write(&pixels, text).unwrap();
    let s = json(&pixels, &["scan", "--json", p]);
    assert_eq!(s["scan"]["embedded"], 2, "{s}");
    assert_eq!(s["library"]["faces"].as_i64().unwrap(), faces_before);
    assert_eq!(
        s["library"]["embeddings"].as_i64().unwrap(),
        2 * faces_before
    );
    // Detector switch: SSD re-detects; boxes are matched to the stored faces by IoU and
    // every confirmed name stays on its face.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "kind = \"yunet\"\nmodel = \"yunet-2023mar\"",
        "kind = \"ssd\"\nmodel = \"ssd-tf-uint8\"",
    );
    let ssd = d.join("ssd.toml");
    std::fs::write(&ssd, text).unwrap();
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
}

#[test]
fn people_can_be_added_renamed_merged_and_exported() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_orl(&shared, &d.join("photos"), 1..=1, &[1, 2, 3]);
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
}
