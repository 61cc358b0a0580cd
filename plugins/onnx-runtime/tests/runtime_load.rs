//! Loading the ONNX Runtime library, in a process of its own: a process loads the library
//! once, so these checks need a process where nothing has loaded it yet. Keep this file
//! to this one test.
//!
//! The too-old-library check uses `FACELAB_OLD_ORT_LIBRARY` when set, else fetches
//! `libonnxruntime.so.1.20.1` from the `onnxruntime==1.20.1` wheel on PyPI once (kept in
//! `target/old-ort/`), as `scripts/setup.sh` does for the real one.

mod common;

use facelab_plugin_kit::api::ErrorCode;

#[test]
fn bad_library_paths_are_clear_errors_and_do_not_stop_a_later_good_load() {
    let shared = require_shared!();
    let model = shared.join("models/scrfd/scrfd_500m_bnkps.onnx");
    let model = model.to_str().unwrap();

    // A file that exists but is not a shared library: dlopen fails. No panic, and the
    // message names the path.
    let not_a_library = shared.join("models/README.md");
    let not_a_library = not_a_library.to_str().unwrap();
    let e = common::create(
        "scrfd",
        &[model],
        &format!("ort_library = \"{not_a_library}\""),
    )
    .map(|_| ())
    .unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.code, ErrorCode::INFERENCE, "{e}");
    assert!(e.message.contains(not_a_library), "{e}");
    assert!(e.help.contains("bash scripts/setup.sh"), "{e}");

    // ORT_DYLIB_PATH is honoured as an explicit choice, and named in the error.
    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.32.0");
    let e = common::create("scrfd", &[model], "")
        .map(|_| ())
        .unwrap_err();
    std::env::remove_var("ORT_DYLIB_PATH");
    assert!(
        e.message.contains("/nonexistent/libonnxruntime.so.1.32.0")
            && e.message.contains("ORT_DYLIB_PATH"),
        "{e}"
    );

    // A library older than ONNX Runtime 1.31 (api-31): `ort` refuses it, and so do we,
    // with the version in the message. Only when FACELAB_OLD_ORT_LIBRARY names one, for
    // example libonnxruntime.so.1.20.1 from the onnxruntime==1.20.1 wheel.
    match old_library() {
        Some(old) => {
            let e = common::create("scrfd", &[model], &format!("ort_library = \"{old}\""))
                .map(|_| ())
                .unwrap_err();
            eprintln!("{e}");
            assert_eq!(e.code, ErrorCode::INFERENCE, "{e}");
            assert!(
                e.message.contains(&old) && e.message.contains("1.31"),
                "{e}"
            );
            assert!(e.help.contains("bash scripts/setup.sh"), "{e}");
        }
        None => eprintln!(
            "SKIPPED (part): no too-old ONNX Runtime library (pip could not fetch onnxruntime==1.20.1); set FACELAB_OLD_ORT_LIBRARY"
        ),
    }

    // The failed attempts left nothing behind: the installed library now loads.
    let detector = common::create("scrfd", &[model], "");
    assert!(detector.is_ok(), "{}", detector.err().unwrap());
}

/// An ONNX Runtime library older than 1.31: `FACELAB_OLD_ORT_LIBRARY`, or 1.20.1 taken out
/// of its PyPI wheel into `target/old-ort/` (fetched once).
fn old_library() -> Option<String> {
    if let Ok(p) = std::env::var("FACELAB_OLD_ORT_LIBRARY") {
        return Some(p);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/old-ort");
    let lib = dir.join("libonnxruntime.so.1.20.1");
    if !lib.is_file() {
        std::fs::create_dir_all(&dir).ok()?;
        let fetched = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
            ])
            .args([
                "--platform",
                "manylinux_2_28_x86_64",
                "onnxruntime==1.20.1",
                "-d",
            ])
            .arg(&dir)
            .status()
            .ok()?
            .success();
        let script = "import glob,sys,zipfile\nw=glob.glob(sys.argv[1]+'/onnxruntime-1.20.1-*.whl')[0]\nz=zipfile.ZipFile(w)\nopen(sys.argv[1]+'/libonnxruntime.so.1.20.1','wb').write(z.read('onnxruntime/capi/libonnxruntime.so.1.20.1'))\n";
        let extracted = fetched
            && std::process::Command::new("python3")
                .args(["-c", script])
                .arg(&dir)
                .status()
                .ok()?
                .success();
        if !extracted {
            return None;
        }
    }
    lib.to_str().map(str::to_owned)
}
