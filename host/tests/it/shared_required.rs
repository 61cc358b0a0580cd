//! `require_shared!`: without `../shared` a real-data test skips, unless
//! `FACELAB_REQUIRE_SHARED=1` (set by `.ci/run`), when it fails and names what is missing.
//! The check runs this test binary again as a subprocess on an empty shared folder.

use crate::common;

use std::process::Command;

/// The test the subprocess runs: it needs `../shared` like every real-data test.
#[test]
fn reads_the_shared_folder() {
    let shared = require_shared!();
    assert!(shared.join("datasets").is_dir() && shared.join("models").is_dir());
}

/// Runs `reads_the_shared_folder` in a child with `FACELAB_SHARED` at an empty folder and
/// `FACELAB_REQUIRE_SHARED` at `require` (unset when `None`).
fn run_on_empty_shared(require: Option<&str>) -> (bool, String) {
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "shared_required::reads_the_shared_folder",
        "--exact",
        "--nocapture",
    ])
    .env("FACELAB_SHARED", empty.path())
    .env_remove(common::REQUIRE_SHARED);
    if let Some(v) = require {
        cmd.env(common::REQUIRE_SHARED, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // The filter must have matched the one test, or the child proves nothing.
    assert!(
        text.contains("1 passed") || text.contains("1 failed"),
        "{text}"
    );
    (out.status.success(), text)
}

#[test]
fn a_missing_shared_folder_fails_when_required_and_skips_otherwise() {
    let (ok, text) = run_on_empty_shared(Some("1"));
    assert!(!ok, "the test passed without ../shared:\n{text}");
    assert!(
        text.contains("FACELAB_REQUIRE_SHARED is set")
            && text.contains("datasets and models not found in"),
        "{text}"
    );

    for require in [None, Some("0")] {
        let (ok, text) = run_on_empty_shared(require);
        assert!(ok, "{require:?}: {text}");
        assert!(
            text.contains("SKIPPED: datasets and models not found"),
            "{text}"
        );
    }
}
