//! The dlib plugin from the command line: `facelab plugins` lists its kinds, and the
//! example configs run it end to end (model fetched through the manifest's `pypi:` source,
//! photo decoded by the host, embedding stored as dlib gives it). The plugin's own tests
//! (plugins/dlib/tests) check its embeddings against face_recognition's.

use crate::common;

use std::path::Path;

fn embed(config: &str, photo: &Path) -> serde_json::Value {
    let (code, out, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(common::repo_root().join(config))
            .arg("embed")
            .arg("--json")
            .arg(photo),
    );
    assert_eq!(code, 0, "{config}: {err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn facelab_plugins_lists_the_dlib_kinds() {
    common::plugin_lib("dlib");
    let (code, out, err) = common::run(common::facelab().arg("plugins"));
    assert_eq!(code, 0, "{err}");
    for kind in ["hog", "mmod", "resnet"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("dlib ") && l.split_whitespace().nth(3) == Some(kind)),
            "no dlib {kind} in:\n{out}"
        );
    }
}

#[test]
fn the_dlib_example_configs_embed_a_real_face() {
    let shared = require_shared!();
    common::plugin_lib("dlib");
    let lfw = shared.join("datasets/lfw/images/George_W_Bush/George_W_Bush_0001.jpg");
    let orl = shared.join("datasets/orl/s1/1.pgm");
    for (config, photo) in [
        ("config/examples/dlib-hog-resnet.toml", &lfw),
        ("config/examples/yunet-dlib.toml", &lfw),
        ("config/examples/yunet-dlib.toml", &orl),
    ] {
        let doc = embed(config, photo);
        assert!(
            doc["model"]["backend"]
                .as_str()
                .unwrap()
                .starts_with("dlib 19."),
            "{}",
            doc["model"]
        );
        let faces = doc["photos"][0]["faces"].as_array().unwrap();
        assert_eq!(faces.len(), 1, "{config} on {}: {faces:?}", photo.display());
        let values = faces[0]["embedding"].as_array().unwrap();
        assert_eq!(values.len(), 128);
        assert_eq!(faces[0]["normalized"], false);
        // dlib's vectors are not unit length: the library compares them by euclidean distance.
        let norm: f64 = values
            .iter()
            .map(|v| v.as_f64().unwrap().powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() > 0.01, "{config}: norm {norm}");
        // The face is in the middle of the photo (LFW and ORL are centred crops).
        let face = &faces[0]["face"];
        let cx = face["x"].as_f64().unwrap() + face["width"].as_f64().unwrap() / 2.0;
        let w = if photo == &lfw { 250.0 } else { 92.0 };
        assert!(
            (cx - w / 2.0).abs() < w * 0.15,
            "{config}: face centre x {cx}"
        );
    }
}
