//! `facelab bench`'s naming task end to end: the shipped suite's `[tasks.naming]` on its
//! yunet-mobilefacenet pipeline (YuNet → MobileFaceNet, the fast recognizer). The real binary
//! names ORL people through a new face library (`import-labels`, `scan`, `suggest` in child
//! processes) and the report carries what `suggest` answered. Needs `../shared`.

use crate::common;

use facelab_eval::bench::report::Status;
use serde_json::Value;

#[test]
fn the_naming_task_names_orl_people_through_the_library() {
    let shared = require_shared!();
    common::plugin_lib("onnx_runtime");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // The default suite, config/bench.toml (the binary runs from the repository root).
    let (code, stdout, err) = common::run(
        common::facelab()
            .arg("--cache-dir")
            .arg(dir.path().join("models"))
            .args([
                "bench",
                "--task",
                "naming",
                "--pipeline",
                "yunet-mobilefacenet",
            ])
            .arg("--datasets")
            .arg(shared.join("datasets"))
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(code, 0, "{err}");
    let json = out.join("report.json");
    // The fields, by name, as report.json has them.
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let written = &value["tasks"]["naming"]["results"][0];
    for key in [
        "pipeline",
        "people",
        "named_photos",
        "labelled",
        "right",
        "known",
        "wrong",
        "strangers_unknown",
        "strangers",
        "no_answer",
        "threshold",
        "threshold_source",
        "margin",
        "seconds",
    ] {
        assert!(written.get(key).is_some(), "no {key} in {written}");
    }
    // And read back as the report type.
    let report = facelab_report::read_report(&json).unwrap();
    assert_eq!(
        report.tasks.orl.status,
        Status::Off,
        "not asked for with --task"
    );
    let task = &report.tasks.naming;
    assert_eq!(task.status, Status::Ran, "{:?}", task.reason);
    assert_eq!(
        task.dataset.as_deref(),
        Some(shared.join("datasets/orl").display().to_string().as_str())
    );
    let [r] = task.results.as_slice() else {
        panic!("{:?}", task.results);
    };
    eprintln!("naming, yunet-mobilefacenet: {written}");
    // 36 people, 2 named photos each; their 8 other photos and 4 strangers' 10 are answered.
    assert_eq!(r.pipeline, "yunet-mobilefacenet");
    assert_eq!(
        (r.people, r.named_photos, r.known, r.strangers),
        (36, 72, 288, 40)
    );
    assert!(r.labelled >= 70, "import-labels named too few faces: {r:?}");
    // MobileFaceNet can name some people wrong, so `wrong` is not held to 0; the counts add
    // up, and most photos of named people get their own name.
    assert!(r.right as f64 >= 0.9 * r.known as f64, "{r:?}");
    assert!(
        r.right + r.wrong <= r.known && r.strangers_unknown <= r.strangers,
        "{r:?}"
    );
    assert!(r.no_answer <= r.known + r.strangers, "{r:?}");
    for v in [r.threshold, r.margin, r.seconds] {
        assert!(v.is_finite() && v > 0.0, "{r:?}");
    }
    assert!(
        ["manifest", "calibrated"].contains(&r.threshold_source.as_str()),
        "{r:?}"
    );

    // The headline printed after the run and the report have the naming figures.
    let cell = format!("{} / {} / {}", r.right, r.wrong, r.strangers_unknown);
    assert!(
        stdout.contains("named right / wrong / strangers unknown") && stdout.contains(&cell),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Naming through the face library")
            && md.contains(&format!("| {}/288 (", r.right)),
        "{md}"
    );
}
