//! Shared test support: where the repo, the built plugins and `../shared` are.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The cargo profile folder the tests were built into (`target/release` or `target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// A built plugin library. The test command builds the workspace before testing.
pub fn plugin_lib(name: &str) -> PathBuf {
    let path = profile_dir().join(facelab_engine::plugins::library_file_name(name));
    assert!(
        path.is_file(),
        "{} is missing: build the plugins first with `cargo build --release --workspace` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The environment variable that turns a missing `../shared` from a skip into a failure.
/// `.ci/run` sets it, so CI cannot pass while the real-data tests silently did nothing.
pub use facelab_plugin_kit::testing::{shared_required, REQUIRE_SHARED};

/// The folders of `../shared` the tests read: `datasets/` (photos and benchmark sets) and
/// `models/` (the model mirror).
const SHARED_FOLDERS: [&str; 2] = ["datasets", "models"];

/// `../shared` beside the repository (or `$FACELAB_SHARED`) when it holds every folder the
/// tests read, else what is missing, as a sentence.
pub fn locate_shared() -> Result<PathBuf, String> {
    facelab_plugin_kit::testing::locate_shared(&SHARED_FOLDERS)
}

/// `../shared` when present.
pub fn shared() -> Option<PathBuf> {
    locate_shared().ok()
}

/// Returns `../shared`; when it is missing, skips the calling test with a message, or fails
/// it with one when `FACELAB_REQUIRE_SHARED=1` (CI).
#[macro_export]
macro_rules! require_shared {
    () => {
        match common::locate_shared() {
            Ok(dir) => dir,
            Err(missing) if common::shared_required() => panic!(
                "{} is set but the shared models and datasets are missing: {missing}",
                common::REQUIRE_SHARED
            ),
            Err(missing) => {
                eprintln!(
                    "SKIPPED: {missing}; set FACELAB_SHARED to the shared folder to run this test"
                );
                return;
            }
        }
    };
}

/// The real `facelab` binary, run from the repository root with no inherited config.
pub fn facelab() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facelab"));
    cmd.current_dir(repo_root())
        .env_remove("FACELAB_CONFIG")
        .env_remove("FACELAB_PLUGIN_PATH");
    cmd
}

/// Runs a command and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("facelab runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Writes a config file into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("facelab.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `text` with the recognizer's manifest `model` replaced by the user's own `file`.
pub fn with_model_file(text: &str, model: &str, file: &Path) -> String {
    let line = format!("model = \"{model}\"");
    assert!(text.contains(&line), "no `{line}` in:\n{text}");
    text.replace(
        &line,
        &format!("{line}\nmodel_files = [\"{}\"]", file.display()),
    )
}

/// `facelab --config <config> compare <photo> <photo>`: its exit code and stderr.
pub fn compare_self(config: &Path, photo: &Path) -> (i32, String) {
    let (code, _, err) = run(facelab()
        .arg("--config")
        .arg(config)
        .arg("compare")
        .arg(photo)
        .arg(photo));
    (code, err)
}

/// The default detector with MobileFaceNet, both on ONNX Runtime, with a private model
/// cache and library inside `dir` plus `library` lines of `[library]`, written to `dir`.
pub fn ort_mobilefacenet_config(shared: &Path, dir: &Path, library: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\n[library]\npath = \"{}\"\n{library}\n",
            shared.join("models").display(),
            dir.join("cache").display(),
            dir.join("library.sqlite").display(),
        ),
    )
}

/// A config for the example plugin's whole-image detector with extra option lines.
pub fn example_config(options: &str) -> String {
    format!(
        "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[detector.options]\n{options}\n"
    )
}

/// A config for an OpenCV detector `kind` running manifest model `model`, with extra
/// `[detector.options]` and `[detection]` lines, and a private cache inside `dir`.
pub fn opencv_config(
    shared: &Path,
    dir: &Path,
    kind: &str,
    model: &str,
    options: &str,
    detection: &str,
) -> String {
    format!(
        "[detector]\nplugin = \"opencv-dnn\"\nkind = \"{kind}\"\nmodel = \"{model}\"\n[detector.options]\n{options}\n[detection]\n{detection}\n[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\n",
        shared.join("models").display(),
        dir.join("cache").display()
    )
}

/// Runs `facelab detect --json` with a config text; returns the parsed per-photo results.
pub fn detect_with(config_text: &str, dir: &Path, photos: &[&Path]) -> Vec<serde_json::Value> {
    let config = write_config(dir, config_text);
    let (code, out, err) = run(facelab()
        .arg("--config")
        .arg(&config)
        .arg("detect")
        .arg("--json")
        .args(photos));
    assert!(code == 0 || code == 1, "{err}");
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
        .as_array()
        .unwrap()
        .clone()
}

/// Faces in one `detect --json` result.
pub fn faces(result: &serde_json::Value) -> Vec<facelab_plugin_api::BBox> {
    result["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            facelab_plugin_api::BBox::new(
                f["x"].as_f64().unwrap() as f32,
                f["y"].as_f64().unwrap() as f32,
                f["width"].as_f64().unwrap() as f32,
                f["height"].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

/// A config for the SSD on the shared TensorFlow model, by id, with a private cache
/// inside `dir`.
pub fn ssd_config(shared: &Path, dir: &Path, options: &str) -> String {
    format!(
        "[detector]\nplugin = \"opencv-dnn\"\nkind = \"ssd\"\nmodel = \"ssd-tf-uint8\"\n[detector.options]\n{options}\n[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\n",
        shared.join("models").display(),
        dir.join("cache").display()
    )
}

/// Writes a grey PNG of the given size.
pub fn write_png(path: &Path, width: u32, height: u32) {
    image::GrayImage::from_fn(width, height, |x, y| {
        image::Luma([((x * 7 + y * 3) % 256) as u8])
    })
    .save(path)
    .unwrap();
}

/// A valid PNG header declaring 50,000 x 50,000 pixels: a decompression bomb.
pub fn bomb_png() -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&crc32(&[kind, data].concat()).to_be_bytes());
        c
    };
    let mut ihdr = 50_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    // One zlib stored block holding a single filter byte: enough for the header to parse.
    png.extend(chunk(
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x01, 0x00, 0xFE, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x01,
        ],
    ));
    png.extend(chunk(b"IEND", b""));
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `facelab compare A B --json` with `config`: the similarity of the two photos' faces.
pub fn similarity(config: &Path, a: &Path, b: &Path) -> f64 {
    let (code, out, err) = run(facelab()
        .arg("--config")
        .arg(config)
        .arg("compare")
        .arg(a)
        .arg(b)
        .arg("--json"));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    doc["similarity"].as_f64().unwrap()
}

/// Copies ORL subjects `subjects` (images `images` of each) from `shared` into `dir/sN/`.
pub fn copy_orl(
    shared: &Path,
    dir: &Path,
    subjects: std::ops::RangeInclusive<u32>,
    images: &[u32],
) {
    for s in subjects {
        let to = dir.join(format!("s{s}"));
        std::fs::create_dir_all(&to).unwrap();
        for i in images {
            std::fs::copy(
                shared.join(format!("datasets/orl/s{s}/{i}.pgm")),
                to.join(format!("{i}.pgm")),
            )
            .unwrap();
        }
    }
}

/// `facelab embed --json` with `config`: each photo's faces' embeddings, in order.
pub fn embeddings(config: &Path, photos: &[PathBuf]) -> Vec<Vec<Vec<f64>>> {
    let (code, out, err) = run(facelab()
        .arg("--config")
        .arg(config)
        .arg("embed")
        .arg("--json")
        .args(photos));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    doc["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["faces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    f["embedding"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// `config/examples/<name>` with the shared model mirror, written into `dir`.
pub fn example_with_mirror(name: &str, shared: &Path, dir: &Path) -> PathBuf {
    let example = std::fs::read_to_string(repo_root().join("config/examples").join(name)).unwrap();
    write_config(
        dir,
        &format!(
            "{example}\n[models]\nmirror = \"{}\"\n",
            shared.join("models").display()
        ),
    )
}

/// An LFW View-2 subset in `dir`: every 30th same-person and every 30th different-person
/// pair of each of the ten folds (10 + 10 a fold, spread over the fold rather than its
/// first, easier lines), in the standard `pairs.txt` layout, beside a link to the images.
pub fn lfw_subset(shared: &Path, dir: &Path) -> PathBuf {
    let lfw = shared.join("datasets/lfw");
    let text = std::fs::read_to_string(lfw.join("pairs.txt")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 6000, "{}: expected 6000 pairs", lfw.display());
    let mut out = String::from("10 10\n");
    for fold in lines.chunks(600) {
        let same = fold[..300].iter().step_by(30);
        for line in same.chain(fold[300..].iter().step_by(30)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    let root = dir.join("lfw-subset");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("pairs.txt"), out).unwrap();
    std::os::unix::fs::symlink(lfw.join("images"), root.join("images")).unwrap();
    root
}

/// The dot product of two unit vectors.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `facelab --config <config> <command> <args> --json`, asserted to succeed: its report and
/// its stderr.
pub fn eval_json<S: AsRef<std::ffi::OsStr>>(
    config: &Path,
    command: &str,
    args: &[S],
) -> (serde_json::Value, String) {
    let (code, out, err) = run(facelab()
        .arg("--config")
        .arg(config)
        .arg(command)
        .args(args)
        .arg("--json"));
    assert_eq!(code, 0, "{err}");
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (doc, err)
}

/// With the recognizer of `config`: in LFW, George W. Bush, Colin Powell and Tony Blair
/// each score above a stranger by more than 0.2, both ways round; the three faces of a VOC
/// group photo get three distinct `dim`-D unit vectors, not copies of one another.
pub fn assert_people_apart_and_group_faces_embedded(config: &Path, shared: &Path, dim: usize) {
    let lfw = shared.join("datasets/lfw/images");
    let photo = |name: &str, n: u32| lfw.join(name).join(format!("{name}_{n:04}.jpg"));
    let photos = [
        photo("George_W_Bush", 1),
        photo("George_W_Bush", 2),
        photo("Colin_Powell", 1),
        photo("Colin_Powell", 2),
        photo("Tony_Blair", 1),
        photo("Tony_Blair", 2),
        shared.join("datasets/samples/voc-groups/2008_002506.jpg"),
    ];
    let e = embeddings(config, &photos);
    // (anchor, same person, stranger) as indices into `photos`.
    for (a, p, n) in [
        (0, 1, 2),
        (2, 3, 4),
        (4, 5, 0),
        (1, 0, 5),
        (3, 2, 1),
        (5, 4, 3),
    ] {
        let (same, other) = (cosine(&e[a][0], &e[p][0]), cosine(&e[a][0], &e[n][0]));
        assert!(
            same > other + 0.2,
            "{}: same person {same:.3}, stranger {other:.3}",
            photos[a].display()
        );
    }
    let faces = &e[6];
    assert_eq!(faces.len(), 3);
    for f in faces {
        assert_eq!(f.len(), dim);
        assert!((cosine(f, f).sqrt() - 1.0).abs() < 1e-3);
    }
    assert!(cosine(&faces[0], &faces[1]) < 0.9 && cosine(&faces[1], &faces[2]) < 0.9);
}

/// `facelab --config CONFIG ARGS…`: exit code, stdout, stderr.
pub fn cmd(config: &Path, args: &[&str]) -> (i32, String, String) {
    run(facelab().arg("--config").arg(config).args(args))
}

/// [`cmd`] that must succeed, its stdout parsed as JSON.
pub fn cmd_json(config: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = cmd(config, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

/// The ORL subject (`s7`) of a photo path.
pub fn orl_subject(path: &str) -> String {
    path.split('/').rev().nth(1).unwrap().to_owned()
}
