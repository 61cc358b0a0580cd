//! Plugin options are typed when the config is loaded: a value of the wrong type, out of
//! range or under an unknown key stops `facelab` with exit code 2 and an error naming the
//! config file, the line, the key and what the key takes, before any model is fetched.
//! Each config here names a manifest model with an empty private cache and no mirror, so
//! the error can only come from the options check that runs before the fetch.

use crate::common;

use std::path::Path;

/// Runs `facelab --config <text> detect photo.jpg` in `dir`; returns (exit code, stderr,
/// config path as printed).
fn run_config(dir: &Path, text: &str) -> (i32, String, String) {
    let config = common::write_config(dir, text);
    let (code, _, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .args(["detect", "photo.jpg"]),
    );
    (code, err, config.display().to_string())
}

/// A config for `plugin`/`kind` running manifest model `model`, with `[detector.options]`
/// lines, and a cache and mirror where nothing can be fetched from.
fn detector_config(dir: &Path, plugin: &str, kind: &str, model: &str, options: &str) -> String {
    format!(
        "[detector]\nplugin = \"{plugin}\"\nkind = \"{kind}\"\nmodel = \"{model}\"\n\n[detector.options]\n{options}\n{}",
        no_fetch(dir)
    )
}

fn no_fetch(dir: &Path) -> String {
    format!(
        "[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\nhttp_timeout_secs = 1\n",
        dir.join("no-mirror").display(),
        dir.join("cache").display()
    )
}

/// The 1-based line of the first line of `text` that starts with `key`.
fn line_of(text: &str, key: &str) -> usize {
    text.lines().position(|l| l.starts_with(key)).unwrap() + 1
}

/// Asserts the error names file, line, dotted key and `expected`, with exit code 2.
fn assert_names(dir: &Path, text: &str, key: &str, expected: &str) {
    let (code, err, config) = run_config(dir, text);
    let short = key.split(" = ").next().unwrap().rsplit('.').next().unwrap();
    let line = line_of(text, short);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{config}:{line}:")),
        "names {config}:{line}: {err}"
    );
    assert!(err.contains(key), "names {key}: {err}");
    assert!(err.contains(expected), "says `{expected}`: {err}");
    assert!(
        !err.contains("fetch"),
        "the options are checked before any model is fetched: {err}"
    );
}

#[test]
fn a_quoted_score_threshold_is_an_error_not_the_model_default() {
    // Regression: `score_threshold = "0.3"` used to be replaced by the manifest default.
    let dir = tempfile::tempdir().unwrap();
    let text = detector_config(
        dir.path(),
        "opencv-dnn",
        "yunet",
        "yunet-2023mar",
        "score_threshold = \"0.3\"",
    );
    assert_names(
        dir.path(),
        &text,
        "detector.options.score_threshold = \"0.3\"",
        "expected a number (from 0 to 1)",
    );
}

#[test]
fn a_word_for_min_face_size_names_line_key_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let text = detector_config(
        dir.path(),
        "opencv-dnn",
        "ssd",
        "ssd-tf-uint8",
        "nms_iou = 0.4\nmin_face_size = \"big\"",
    );
    assert_names(
        dir.path(),
        &text,
        "detector.options.min_face_size = \"big\"",
        "expected a number (pixels)",
    );
}

#[test]
fn onnx_runtime_keys_are_typed_too() {
    let dir = tempfile::tempdir().unwrap();
    for (options, key, expected) in [
        (
            "threads = 1.5",
            "detector.options.threads",
            "expected a whole number",
        ),
        (
            "execution_provider = \"tpu\"",
            "detector.options.execution_provider",
            "\"cpu\"",
        ),
        (
            "letterbox = \"yes\"",
            "detector.options.letterbox",
            "expected true or false",
        ),
    ] {
        let text = detector_config(dir.path(), "onnx-runtime", "scrfd", "scrfd-500m", options);
        assert_names(dir.path(), &text, key, expected);
    }
}

#[test]
fn out_of_range_and_unknown_keys_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = detector_config(
        dir.path(),
        "opencv-dnn",
        "yunet",
        "yunet-2023mar",
        "nms_iou = 2",
    );
    assert_names(
        dir.path(),
        &text,
        "detector.options.nms_iou = 2",
        "from 0 to 1",
    );
    let text = detector_config(
        dir.path(),
        "onnx-runtime",
        "yunet",
        "yunet-2023mar",
        "treads = 4",
    );
    assert_names(
        dir.path(),
        &text,
        "detector.options.treads",
        "one of the keys",
    );
}

#[test]
fn recognizer_options_are_typed_enums() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n\n[recognizer]\nplugin = \"opencv-dnn\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n[recognizer.options]\ncolour = \"grb\"\n{}",
        no_fetch(dir.path())
    );
    let config = common::write_config(dir.path(), &text);
    let (code, _, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .args(["embed", "photo.jpg"]),
    );
    assert_eq!(code, 2, "{err}");
    let line = line_of(&text, "colour");
    assert!(
        err.contains(&format!("{}:{line}:", config.display())),
        "{err}"
    );
    assert!(
        err.contains("recognizer.options.colour = \"grb\": expected \"bgr\" or \"rgb\""),
        "{err}"
    );
}

#[test]
fn good_options_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("p.png");
    common::write_png(&photo, 40, 30);
    let text = common::example_config("margin = 0.1\nfail_on_width = 7");
    let config = common::write_config(dir.path(), &text);
    let (code, out, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .arg("detect")
            .arg(&photo),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    // The example plugin's own keys (margin) and its fault keys share one table.
    let text = common::example_config("margin = \"wide\"");
    let (code, err, path) = run_config(dir.path(), &text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{path}:{}:", line_of(&text, "margin")))
            && err.contains("detector.options.margin = \"wide\": expected a number"),
        "{err}"
    );
}
