//! `facelab bench`'s scan task end to end: the real binary and plugins run `facelab scan`
//! beside the Python reference script (benches/python/scan_reference.py, in its venv) on 8
//! WIDER FACE mini photos and 4 camera-size photos made by make_camera_set.py. Needs
//! `../shared` and Python 3 with PyPI (setup_venv.sh installs OpenCV); set
//! FACELAB_SCAN_SCRIPTS to a folder holding the scripts to test others.

use crate::common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every way `report` breaks docs/bench.schema.json.
fn schema_errors(report: &Value) -> Vec<String> {
    let path = common::repo_root().join("docs/bench.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn suite(scripts: &Path) -> String {
    format!(
        r#"
[[pipeline]]
name = "yunet-mobilefacenet"
[pipeline.detector]
plugin = "onnx-runtime"
kind = "yunet"
model = "yunet-s-dynamic"
[pipeline.detector.options]
min_face_size = 17
[pipeline.recognizer]
plugin = "onnx-runtime"
kind = "embedder"
model = "mobilefacenet-128"

[tasks.scan]
runs = 1
scripts = "{}"
sets = [
    {{ name = "wider-face-val-mini", path = "wider-face-val-mini", limit = 8, compare = 0, target_ratio = 2.0 }},
    {{ name = "camera", generate = "camera", limit = 4, variants = [1280], target_ratio = 3.0, target_rss = true }},
]
"#,
        scripts.display()
    )
}

fn finite(v: &Value) -> bool {
    v.as_f64().is_some_and(f64::is_finite)
}

#[test]
fn the_scan_task_runs_facelab_and_the_script_side_by_side() {
    let shared = require_shared!();
    let scripts = std::env::var_os("FACELAB_SCAN_SCRIPTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("benches/python"));
    if !scripts.join("scan_reference.py").is_file() {
        assert!(
            !common::shared_required(),
            "{} has no scan_reference.py",
            scripts.display()
        );
        eprintln!(
            "SKIPPED: no scan_reference.py in {}; set FACELAB_SCAN_SCRIPTS",
            scripts.display()
        );
        return;
    }
    common::plugin_lib("opencv_dnn");
    let dir = tempfile::tempdir().unwrap();
    let suite_path = dir.path().join("bench.toml");
    std::fs::write(&suite_path, suite(&scripts)).unwrap();
    let out = dir.path().join("out");
    let (code, stdout, err) = common::run(
        common::facelab()
            .arg("--cache-dir")
            .arg(dir.path().join("models"))
            .arg("bench")
            .arg("--suite")
            .arg(&suite_path)
            .arg("--datasets")
            .arg(shared.join("datasets"))
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(code, 0, "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let errors = schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    let task = &report["tasks"]["scan"];
    assert_eq!(task["status"], "ran", "{task}");
    let result = &task["results"][0];
    assert_eq!(result["pipeline"], "yunet-mobilefacenet");
    let sets = result["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    // WIDER: the script at own size and at 1280; camera: at 1280 only (the set's variants).
    for ((set, photos), variants) in sets.iter().zip([8, 4]).zip([2, 1]) {
        let name = set["set"].as_str().unwrap();
        assert!(
            set["error"].is_null() && set["skipped"].is_null(),
            "{name}: {set}"
        );
        assert_eq!(set["photos"], photos, "{name}");
        let gt = set["taggable"].as_u64().unwrap();
        let sides = set["sides"].as_array().unwrap();
        assert_eq!(sides.len(), 1 + variants, "facelab and each script variant");
        assert_eq!(
            (
                sides[0]["side"].as_str(),
                sides[variants]["max_side"].as_u64()
            ),
            (Some("facelab"), Some(1280))
        );
        for side in sides {
            assert!(side["faces"].as_u64().unwrap() > 0, "{name}: {side}");
            assert!(
                side["photos_per_s"].as_f64().unwrap() > 0.0,
                "{name}: {side}"
            );
            assert!(
                side["peak_rss_mib"].as_f64().unwrap() > 10.0,
                "{name}: {side}"
            );
            assert!(side["cpu_seconds_per_photo"].as_f64().unwrap() > 0.0);
            assert_eq!(side["photos"], photos, "{name}: {side}");
            let point = &side["point"];
            assert_eq!(point["taggable"].as_u64(), Some(gt), "{name}: {side}");
            assert!(point["found"].as_u64().unwrap() <= gt, "{name}: {side}");
        }
        let ratios = set["ratios"].as_array().unwrap();
        assert_eq!(ratios.len(), variants);
        for r in ratios {
            for key in ["photos_per_s", "cpu_per_photo", "peak_rss"] {
                for at in ["median", "min", "max"] {
                    assert!(finite(&r[key][at]), "{name}: {key}.{at} in {r}");
                }
            }
        }
        assert!(finite(&set["headline"]["photos_per_s_ratio"]), "{set}");
    }
    assert_eq!(sets[1]["generated"], true);
    assert_eq!(sets[1]["headline"]["max_side"], 1280);
    assert_eq!(report["headline"][0]["scan"].as_array().unwrap().len(), 2);

    // The headline line is printed with the table, and the report has the section and chart.
    assert!(
        stdout.contains("Scan speed, yunet-mobilefacenet: ")
            && stdout.contains("camera ")
            && stdout.contains("at long side ≤ 1280"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Scan speed") && md.contains("| facelab scan |"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("photos per second") && html.contains("<svg"));
}

mod measured_children {
    use std::process::Command;

    use facelab_eval::bench::scan::process::{last_line, measure_with, parse_json};

    fn facelab() -> &'static std::path::Path {
        std::path::Path::new(env!("CARGO_BIN_EXE_facelab"))
    }

    #[test]
    fn a_child_is_measured_and_a_failure_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let m = measure_with(
            facelab(),
            Command::new("sh").args([
                "-c",
                "echo '{\"a\": 1}'; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
            ]),
            dir.path(),
            &[0],
        )
        .unwrap();
        assert_eq!(parse_json(&m.stdout, "sh").unwrap()["a"], 1);
        assert!(
            m.wall > 0.0 && m.cpu > 0.0 && m.rss_mib > 0.1,
            "{} {} {}",
            m.wall,
            m.cpu,
            m.rss_mib
        );
        let e = measure_with(
            facelab(),
            Command::new("sh").args(["-c", "echo first >&2; echo why >&2; exit 3"]),
            dir.path(),
            &[0, 1],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("\"sh\"") && e.contains("exit code 3") && e.ends_with("first\nwhy"),
            "{e}"
        );
        let missing = measure_with(
            facelab(),
            &Command::new("/nonexistent/program"),
            dir.path(),
            &[0],
        )
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/program"), "{missing}");
        assert_eq!(last_line("a\nb\n\n"), Some("b"));
        assert!(parse_json("oops", "x").is_err());
    }

    /// On Linux a child's `ru_maxrss` starts from the memory it was forked from: a child of
    /// a large process reports the parent's size. Measured through `facelab measure-child`,
    /// a child reports its own peak, however large the process that asked.
    #[test]
    fn a_small_child_of_a_large_parent_reports_its_own_peak() {
        // This process: at least 768 MiB resident while the children run.
        let mut big = vec![0u8; 768 << 20];
        for page in big.chunks_mut(4096) {
            page[0] = 1;
        }
        let big = std::hint::black_box(big);
        let dir = tempfile::tempdir().unwrap();
        let small =
            measure_with(facelab(), Command::new("true").arg("x"), dir.path(), &[0]).unwrap();
        assert!(
            small.rss_mib < 64.0,
            "`true` peaked at {} MiB",
            small.rss_mib
        );
        // A child that holds 256 MiB reports that, not the parent's 768.
        let holder = measure_with(
            facelab(),
            Command::new("python3").args([
                "-c",
                "b = bytearray(256 << 20); b[::4096] = b'\\x01' * len(b[::4096])",
            ]),
            dir.path(),
            &[0],
        )
        .unwrap();
        assert!(
            (256.0..512.0).contains(&holder.rss_mib),
            "a 256 MiB child peaked at {} MiB",
            holder.rss_mib
        );
        assert_eq!(big.len(), 768 << 20);
    }
}
