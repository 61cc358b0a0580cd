//! The loader against real plugin `.so` files: both plugins load, a plugin built against
//! another plugin-api version is refused with a short message, and every load failure is
//! reported together.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use facelab_engine::plugins::{load, LoadError};

#[test]
fn loads_both_plugins_and_lists_their_kinds() {
    let example = load(&common::plugin_lib("example")).expect("example plugin loads");
    assert_eq!(example.info.name.as_str(), "example");
    assert_eq!(example.info.detectors[0].name.as_str(), "whole-image");
    assert_eq!(example.info.recognizers[0].name.as_str(), "pixels");

    let opencv = load(&common::plugin_lib("opencv-dnn")).expect("opencv-dnn plugin loads");
    assert_eq!(opencv.info.name.as_str(), "opencv-dnn");
    assert!(opencv
        .info
        .detectors
        .iter()
        .any(|k| k.name.as_str() == "ssd"));

    let (code, out, err) = common::run(common::facelab().args(["plugins", "--json"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = doc["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"example") && names.contains(&"opencv-dnn"),
        "{names:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Builds the example plugin against a copy of plugin-api whose version is 0.3.0.
fn build_mismatched_example() -> PathBuf {
    build_example_copy("abi-mismatch", |src, bump| {
        bump(
            src.join("plugin-api/Cargo.toml"),
            "version = \"0.2.0\"",
            "version = \"0.3.0\"",
        );
        bump(
            src.join("Cargo.toml"),
            "version = \"0.2.0\"",
            "version = \"0.3.0\"",
        );
    })
}

/// Builds the example plugin against a copy of plugin-api whose root module ends at the
/// prefix (`new_recognizer`): a plugin from before `check_options` was appended.
fn build_older_prefix_example() -> PathBuf {
    build_example_copy("abi-older-prefix", |src, edit| {
        // Cut the last field of the root module with its doc comment: everything after
        // the prefix's last field up to the struct's closing brace.
        let api = src.join("plugin-api/src/lib.rs");
        let text = std::fs::read_to_string(&api).unwrap();
        let last = "RResult<RecognizerBox, PluginError>,\n";
        let start = text
            .find(last)
            .expect("new_recognizer is the prefix's last field")
            + last.len();
        let end = start + text[start..].find("\n}\n").unwrap() + 1;
        assert!(
            text[start..end].contains("pub check_options"),
            "{}",
            &text[start..end]
        );
        std::fs::write(&api, format!("{}{}", &text[..start], &text[end..])).unwrap();
        edit(
            src.join("plugins/kit/src/kinds.rs"),
            "                    check_options,\n                }\n                .leak_into_prefix()",
            "                }\n                .leak_into_prefix()",
        );
    })
}

type Edit<'a> = &'a dyn Fn(PathBuf, &str, &str);

/// Copies plugin-api, the kit and the example plugin into `target/<name>/src`, applies
/// `change`, and builds the example there; returns the library.
fn build_example_copy(name: &str, change: impl Fn(&Path, Edit<'_>)) -> PathBuf {
    let root = common::repo_root();
    let work = root.join("target").join(name);
    let src = work.join("src");
    let _ = std::fs::remove_dir_all(&src);
    for dir in ["plugin-api", "plugins/kit", "plugins/example"] {
        copy_dir(&root.join(dir), &src.join(dir));
    }
    let bump = |path: PathBuf, from: &str, to: &str| {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{} has no `{from}`", path.display());
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = "members = [\"plugin-api\", \"plugins/kit\", \"plugins/example\"]\ndefault-members = [\"plugins/example\"]\n";
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("members") && !l.starts_with("default-members"))
        .map(|l| {
            if l == "resolver = \"2\"" {
                format!("{l}\n{members}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(src.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), src.join("Cargo.lock")).unwrap();
    change(&src, &bump);
    let status = Command::new(env!("CARGO"))
        .args(["build", "--offline", "-p", "facelab-example"])
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", work.join("target"))
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building the example plugin in {name} failed"
    );
    let lib = work
        .join("target/debug")
        .join(facelab_engine::plugins::library_file_name("example"));
    assert!(lib.is_file());
    lib
}

#[test]
fn refuses_a_plugin_built_against_another_abi_version() {
    let lib = build_mismatched_example();
    match load(&lib) {
        Err(e @ LoadError::AbiVersion { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&lib.display().to_string()), "{msg}");
            assert!(msg.contains("0.3.0") && msg.contains("0.2.0"), "{msg}");
            assert!(msg.contains("cargo build --release"), "{msg}");
            assert!(
                msg.lines().count() == 1 && msg.len() < 600,
                "the summary stays short: {msg}"
            );
        }
        other => panic!("expected an ABI version error, got {other:?}"),
    }

    // The CLI reports it too, and still lists the good plugins.
    let (code, out, err) = common::run(
        common::facelab()
            .args(["plugins"])
            .env("FACELAB_PLUGIN_PATH", lib.parent().unwrap()),
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("built for plugin ABI 0.3.0"), "{err}");
    assert!(out.contains("opencv-dnn"), "{out}");
}

/// abi_stable 0.11 checks the root module's layout with the host as the interface, and
/// refuses a library whose prefix type has *fewer* fields than the host's (its
/// `FieldCountMismatch`, a known abi_stable bug: abi_stable_crates#118), whatever
/// `missing_field` says. So
/// today a plugin built before `check_options` was appended is refused, with one line
/// naming the fix; this test pins that until the loader can accept it.
#[test]
fn a_plugin_built_against_the_older_prefix_is_refused_with_a_rebuild_hint() {
    let lib = build_older_prefix_example();
    match load(&lib) {
        Err(e @ LoadError::AbiLayout { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("cargo build --release"), "{msg}");
            assert!(msg.lines().count() == 1, "{msg}");
        }
        other => panic!("expected a layout error, got {:?}", other.map(|p| p.info)),
    }
    // The current build has the appended field, and it checks options without a model.
    let current = load(&common::plugin_lib("example")).unwrap();
    let check = current
        .module
        .check_options()
        .expect("current plugins have it");
    let files: [abi_stable::std_types::RStr<'_>; 0] = [];
    let args = |options: &'static str| facelab_plugin_api::CreateArgs {
        kind: "whole-image".into(),
        model_id: "".into(),
        model_files: abi_stable::std_types::RSlice::from_slice(&files),
        options_toml: options.into(),
    };
    assert!(check(&args("margin = 0.1")).is_ok());
    assert!(check(&args("margin = \"wide\"")).is_err());
}

#[test]
fn reports_every_plugin_load_failure_together() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_plugin = dir.path().join("libfacelab_bogus.so");
    std::fs::write(&not_a_plugin, b"not a shared library").unwrap();
    let config = common::write_config(
        dir.path(),
        &format!(
            "[detector]\nplugin = \"no-such-plugin\"\nkind = \"x\"\n[recognizer]\nplugin = \"{}\"\nkind = \"y\"\n",
            not_a_plugin.display()
        ),
    );
    let (code, _, err) = common::run(
        common::facelab()
            .arg("--config")
            .arg(&config)
            .args(["detect", "x.jpg"]),
    );
    assert_eq!(code, 2);
    assert!(err.contains("2 plugin(s) failed to load"), "{err}");
    assert!(
        err.contains("libfacelab_no_such_plugin.so not found in"),
        "{err}"
    );
    assert!(
        err.contains("cannot open plugin") && err.contains("libfacelab_bogus.so"),
        "{err}"
    );
}
