//! The dlib plugin on real data, through the host's loader: embeddings equal to
//! face_recognition 1.3's on the same pixels and boxes (tests/fixtures/face_recognition.json,
//! made by `benches/python/dlib_reference.py fixture`; for the JPEG photos on the pixels
//! facelab decodes, which this test writes with `DLIB_DUMP=DIR`), the HOG and MMOD detectors finding faces
//! where face_recognition finds them, dlib's 0.6 rule on same and different people, and a
//! one-line error for each kind of bad `.dat` file.

mod common;

use std::path::{Path, PathBuf};

use facelab_plugin_kit::api::{BBox, ErrorCode, Face, Landmarks5, Point2};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/face_recognition.json");
    serde_json::from_str(text).unwrap()
}

/// A fixture face as facelab's box (dlib's inclusive rectangle).
fn face_of(f: &Value) -> Face {
    let n = |k: &str| f[k].as_f64().unwrap() as f32;
    Face::new(
        BBox::new(
            n("left"),
            n("top"),
            n("right") - n("left") + 1.0,
            n("bottom") - n("top") + 1.0,
        ),
        1.0,
    )
}

fn iou(a: &BBox, b: &BBox) -> f32 {
    facelab_plugin_kit::geometry::iou(a, b)
}

#[test]
fn the_plugin_loads_through_the_host_loader_with_its_three_kinds() {
    let plugin = common::plugin();
    let names = |v: &abi_stable::std_types::RVec<facelab_plugin_kit::api::KindInfo>| {
        v.iter().map(|k| k.name.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(plugin.info.name.as_str(), "dlib");
    assert_eq!(names(&plugin.info.detectors), ["hog", "mmod"]);
    assert_eq!(names(&plugin.info.recognizers), ["resnet"]);
}

#[test]
fn embeddings_match_face_recognition_on_the_same_photos_and_boxes() {
    let shared = require_shared!();
    let plugin = common::plugin();
    let files = common::model_files("dlib-resnet-128");
    let mut r = common::recognizer(&plugin, &files, "").unwrap_or_else(|e| panic!("{e}"));
    let info = r.info();
    let spec = info.embedding.into_option().unwrap();
    assert_eq!(spec.dim, 128);
    assert_eq!(spec.metric, facelab_plugin_kit::api::Metric::Euclidean);
    let doc = fixture();
    let mut worst = 0f32;
    let mut compared = 0;
    for p in doc["photos"].as_array().unwrap() {
        let photo = common::photo(&shared.join("datasets").join(p["photo"].as_str().unwrap()));
        if let Ok(dump) = std::env::var("DLIB_DUMP") {
            let name = p["photo"].as_str().unwrap().replace('/', "_");
            std::fs::write(format!("{dump}/{name}.rgb"), photo.to_rgb().into_raw()).unwrap();
        }
        let faces: Vec<Face> = p["faces"].as_array().unwrap().iter().map(face_of).collect();
        let got = common::embed(&mut r, &photo, &faces).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), faces.len());
        for (e, f) in got.iter().zip(p["faces"].as_array().unwrap()) {
            assert!(
                !e.normalized,
                "dlib's vectors are returned as the network gives them"
            );
            let reference: Vec<f32> = f["encoding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let d = facelab_engine::pipeline::distance(&e.values, &reference);
            // face_recognition on PIL's decoding of the same JPEG: a different input (±1
            // on ~0.5% of pixels), shown for the README, not asserted.
            let pil = f["pil_encoding"].as_array().map(|v| {
                let v: Vec<f32> = v.iter().map(|x| x.as_f64().unwrap() as f32).collect();
                facelab_engine::pipeline::distance(&e.values, &v)
            });
            eprintln!(
                "{} {:?}: {d:.6} (PIL-decoded: {pil:?})",
                p["photo"],
                face_of(f).bbox
            );
            if std::env::var("DLIB_DUMP").is_ok() {
                continue;
            }
            assert!(
                d <= 0.01,
                "{} face at {:?}: distance {d} to face_recognition's embedding",
                p["photo"],
                face_of(f).bbox
            );
            worst = worst.max(d);
            compared += 1;
        }
    }
    assert!(compared >= 10, "the fixture holds {compared} faces");
    eprintln!("{compared} faces, largest distance to face_recognition {worst:.5}");
}

#[test]
fn hog_finds_the_faces_face_recognition_finds() {
    let shared = require_shared!();
    let plugin = common::plugin();
    let mut hog = common::detector(&plugin, "hog", &[], "").unwrap_or_else(|e| panic!("{e}"));
    let doc = fixture();
    for p in doc["photos"].as_array().unwrap() {
        if p["whole"].as_bool().unwrap() {
            continue;
        }
        let photo = common::photo(&shared.join("datasets").join(p["photo"].as_str().unwrap()));
        let found = common::detect(&mut hog, &photo);
        let expected: Vec<Face> = p["faces"].as_array().unwrap().iter().map(face_of).collect();
        assert_eq!(found.len(), expected.len(), "{}: {found:?}", p["photo"]);
        for e in &expected {
            let best = found
                .iter()
                .map(|f| iou(&f.bbox, &e.bbox))
                .fold(0.0, f32::max);
            assert!(
                best > 0.95,
                "{}: face_recognition's {:?} best IoU {best}",
                p["photo"],
                e.bbox
            );
        }
        assert!(found.iter().all(|f| f.score >= 0.5 && f.score <= 1.0));
    }
}

#[test]
fn mmod_finds_the_face_where_hog_does() {
    let shared = require_shared!();
    let plugin = common::plugin();
    let files = common::model_files("dlib-mmod");
    let mut mmod = common::detector(&plugin, "mmod", &files, "").unwrap_or_else(|e| panic!("{e}"));
    let doc = fixture();
    let lfw: Vec<&Value> = doc["photos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["photo"].as_str().unwrap().starts_with("lfw/"))
        .collect();
    assert!(!lfw.is_empty());
    for p in lfw {
        let photo = common::photo(&shared.join("datasets").join(p["photo"].as_str().unwrap()));
        let found = common::detect(&mut mmod, &photo);
        let hog = face_of(&p["faces"][0]);
        let best = found
            .iter()
            .map(|f| iou(&f.bbox, &hog.bbox))
            .fold(0.0, f32::max);
        assert!(
            best > 0.5,
            "{}: {found:?} against {:?}",
            p["photo"],
            hog.bbox
        );
    }
}

#[test]
fn the_same_person_is_within_dlibs_rule_and_a_stranger_is_not() {
    let shared = require_shared!();
    let plugin = common::plugin();
    let files = common::model_files("dlib-resnet-128");
    let mut r = common::recognizer(&plugin, &files, "").unwrap_or_else(|e| panic!("{e}"));
    let mut hog = common::detector(&plugin, "hog", &[], "").unwrap_or_else(|e| panic!("{e}"));
    let lfw = shared.join("datasets/lfw/images");
    let mut embed = |path: PathBuf| -> Vec<f32> {
        let photo = common::photo(&path);
        let mut faces = common::detect(&mut hog, &photo);
        // The largest face: LFW photos are centred on one person.
        faces.sort_by(|a, b| {
            (b.bbox.width * b.bbox.height).total_cmp(&(a.bbox.width * a.bbox.height))
        });
        assert!(!faces.is_empty(), "no face in {}", path.display());
        common::embed(&mut r, &photo, &faces[..1]).unwrap()[0]
            .values
            .to_vec()
    };
    for (anchor, same, stranger) in [
        (
            "George_W_Bush/George_W_Bush_0001.jpg",
            "George_W_Bush/George_W_Bush_0002.jpg",
            "Colin_Powell/Colin_Powell_0001.jpg",
        ),
        (
            "Colin_Powell/Colin_Powell_0001.jpg",
            "Colin_Powell/Colin_Powell_0002.jpg",
            "Tony_Blair/Tony_Blair_0001.jpg",
        ),
        (
            "Tony_Blair/Tony_Blair_0001.jpg",
            "Tony_Blair/Tony_Blair_0003.jpg",
            "George_W_Bush/George_W_Bush_0001.jpg",
        ),
    ] {
        let (a, s, d) = (
            embed(lfw.join(anchor)),
            embed(lfw.join(same)),
            embed(lfw.join(stranger)),
        );
        let (ds, dd) = (
            facelab_engine::pipeline::distance(&a, &s),
            facelab_engine::pipeline::distance(&a, &d),
        );
        assert!(
            ds < 0.6 && dd > 0.6,
            "{anchor}: same {ds:.3}, stranger {dd:.3}"
        );
    }
}

#[test]
fn a_tiny_face_still_gets_an_embedding_and_an_empty_box_a_reason() {
    let shared = require_shared!();
    let plugin = common::plugin();
    let files = common::model_files("dlib-resnet-128");
    let mut r = common::recognizer(&plugin, &files, "").unwrap_or_else(|e| panic!("{e}"));
    let photo =
        common::photo(&shared.join("datasets/lfw/images/George_W_Bush/George_W_Bush_0001.jpg"));
    // A 12x12 box: far below the 150x150 chip; dlib upsamples it.
    let tiny = Face::new(BBox::new(119.0, 119.0, 12.0, 12.0), 1.0);
    let got = common::embed(&mut r, &photo, &[tiny]).unwrap();
    assert_eq!(got[0].values.len(), 128);
    assert!(got[0].values.iter().all(|v| v.is_finite()));
    let empty = Face::new(BBox::new(10.0, 10.0, 0.0, 20.0), 1.0);
    let e = common::embed(&mut r, &photo, &[tiny, empty]).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_INPUT);
    assert!(e.message.as_str().starts_with("face 1 has no area"), "{e}");
}

#[test]
fn detector_landmarks_align_close_to_the_shape_predictor() {
    let shared = require_shared!();
    let plugin = common::plugin();
    let files = common::model_files("dlib-resnet-128");
    let mut sp = common::recognizer(&plugin, &files, "").unwrap();
    let mut det = common::recognizer(&plugin, &files[..1], "alignment = \"detector\"")
        .unwrap_or_else(|e| panic!("{e}"));
    let doc = fixture();
    let p = &doc["photos"][3];
    let photo = common::photo(&shared.join("datasets").join(p["photo"].as_str().unwrap()));
    let f = &p["faces"][0];
    // Five points in Landmarks5 order from the shape predictor's eye corners (the means of
    // each eye's two corners) and, for nose and mouth, positions on a frontal LFW face.
    let pt = |i: usize| {
        let a = f["points"][i].as_array().unwrap();
        (a[0].as_f64().unwrap() as f32, a[1].as_f64().unwrap() as f32)
    };
    let (l_eye, r_eye) = (
        ((pt(2).0 + pt(3).0) / 2.0, (pt(2).1 + pt(3).1) / 2.0),
        ((pt(0).0 + pt(1).0) / 2.0, (pt(0).1 + pt(1).1) / 2.0),
    );
    let eye_dist = r_eye.0 - l_eye.0;
    let mid = ((l_eye.0 + r_eye.0) / 2.0, (l_eye.1 + r_eye.1) / 2.0);
    let points = [
        l_eye,
        r_eye,
        (mid.0, mid.1 + 0.56 * eye_dist),
        (mid.0 - 0.45 * eye_dist, mid.1 + 1.04 * eye_dist),
        (mid.0 + 0.45 * eye_dist, mid.1 + 1.04 * eye_dist),
    ]
    .map(|(x, y)| Point2 { x, y });
    let mut face = face_of(f);
    let without = common::embed(&mut det, &photo, &[face]).unwrap_err();
    assert!(without.message.contains("has no landmarks"), "{without}");
    face.landmarks = Some(Landmarks5 { points }).into();
    let a = common::embed(&mut sp, &photo, &[face]).unwrap();
    let b = common::embed(&mut det, &photo, &[face]).unwrap();
    let d = facelab_engine::pipeline::distance(&a[0].values, &b[0].values);
    assert!(d < 0.3, "the two alignments of one face differ by {d}");
}

/// A scratch file for the bad-input tests.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn each_bad_dat_file_gets_a_one_line_error_naming_it() {
    let _shared = require_shared!();
    let plugin = common::plugin();
    let resnet_files = common::model_files("dlib-resnet-128");
    let mmod_files = common::model_files("dlib-mmod");
    let (resnet, sp) = (&resnet_files[0], &resnet_files[1]);
    let dir = std::env::temp_dir().join(format!("facelab-dlib-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let whole = std::fs::read(resnet).unwrap();
    let truncated = write(&dir, "truncated_resnet.dat", &whole[..whole.len() / 3]);
    let text = write(
        &dir,
        "not_dlib.dat",
        b"this is a text file, not a dlib model\n",
    );
    let empty = write(&dir, "empty.dat", b"");
    let check =
        |result: Result<(), facelab_plugin_kit::api::PluginError>, file: &str, expected: &str| {
            let e = result.expect_err(file);
            assert_eq!(e.code, ErrorCode::MODEL, "{e}");
            let m = e.message.as_str();
            assert!(!m.contains('\n'), "one line: {m}");
            assert!(m.contains(file), "names the file: {m}");
            assert!(
                m.contains(expected),
                "says what was expected ({expected}): {m}"
            );
        };
    let resnet_with = |first: &str, second: &str| {
        common::recognizer(&plugin, &[first.to_owned(), second.to_owned()], "").map(drop)
    };
    let expect_resnet = "dlib_face_recognition_resnet_model_v1.dat";
    let expect_sp = "shape_predictor_5_face_landmarks.dat";
    check(resnet_with(&truncated, sp), &truncated, expect_resnet);
    check(resnet_with(&text, sp), &text, expect_resnet);
    check(resnet_with(&empty, sp), &empty, expect_resnet);
    // Another dlib model given as the ResNet, and the ResNet given as the shape predictor.
    check(resnet_with(sp, sp), sp, expect_resnet);
    check(
        resnet_with(&mmod_files[0], sp),
        &mmod_files[0],
        expect_resnet,
    );
    check(resnet_with(resnet, resnet), resnet, expect_sp);
    check(resnet_with(resnet, &truncated), &truncated, expect_sp);
    let mmod_with =
        |file: &str| common::detector(&plugin, "mmod", &[file.to_owned()], "").map(drop);
    check(mmod_with(sp), sp, "mmod_human_face_detector.dat");
    check(mmod_with(&text), &text, "mmod_human_face_detector.dat");
    // A 68-point predictor is a shape predictor, but not the one the chip template needs.
    let sp68 = Path::new("/usr/share/dlib/shape_predictor_68_face_landmarks.dat");
    if sp68.is_file() {
        check(
            resnet_with(resnet, sp68.to_str().unwrap()),
            sp68.to_str().unwrap(),
            "68-point",
        );
    }
    // The plugin still works after every refusal.
    assert!(resnet_with(resnet, sp).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
