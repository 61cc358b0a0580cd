//! `mirror = true` in `[recognizer.options]`: each face is also embedded mirrored left to
//! right and the two vectors are averaged (the "flipped images" of FaceNet's and ArcFace's
//! LFW protocols). Checked on every embedding backend through the real plugins: a photo and
//! its mirror image get (nearly) the same embedding, which they do not without the option,
//! and the same person still scores above a stranger.

use crate::common;

use std::path::Path;

/// The three embedding backends, each as `(name, [detector] + [recognizer] tables)`.
fn pipelines() -> [(&'static str, &'static str); 3] {
    const YUNET_ORT: &str =
        "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n";
    [
        (
            "onnx-runtime",
            "[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n",
        ),
        (
            "opencv-dnn",
            "[recognizer]\nplugin = \"opencv-dnn\"\nkind = \"embedder\"\nmodel = \"facenet-512\"\n",
        ),
        (
            "dlib",
            "[recognizer]\nplugin = \"dlib\"\nkind = \"resnet\"\nmodel = \"dlib-resnet-128\"\n",
        ),
    ]
    .map(|(name, rec)| (name, Box::leak(format!("{YUNET_ORT}{rec}").into_boxed_str()) as &str))
}

/// A config in its own folder under `dir`.
fn config(shared: &Path, dir: &Path, tables: &str, mirror: bool) -> std::path::PathBuf {
    let dir = dir.join(format!("config-{:x}-{mirror}", tables.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "{tables}[recognizer.options]\nmirror = {mirror}\n[models]\nmirror = \"{}\"\n",
        shared.join("models").display()
    );
    common::write_config(&dir, &text)
}

/// Writes `from` (a binary PGM) mirrored left to right to `to`.
fn mirror_pgm(from: &Path, to: &Path) {
    let bytes = std::fs::read(from).unwrap();
    // "P5" w h maxval, each followed by one whitespace byte.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
    }
    at += 1;
    assert_eq!(fields[0], "P5");
    let w: usize = fields[1].parse().unwrap();
    let mut out = bytes[..at].to_vec();
    for row in bytes[at..].chunks_exact(w) {
        out.extend(row.iter().rev());
    }
    std::fs::write(to, out).unwrap();
}

#[test]
fn with_mirror_a_photo_and_its_mirror_image_embed_alike_on_every_backend() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let orl = shared.join("datasets/orl");
    let (anchor, same, stranger) = (
        orl.join("s5/1.pgm"),
        orl.join("s5/4.pgm"),
        orl.join("s9/1.pgm"),
    );
    let flipped = dir.path().join("s5-1-mirrored.pgm");
    mirror_pgm(&anchor, &flipped);
    for (name, tables) in pipelines() {
        let plain = config(&shared, dir.path(), tables, false);
        let off = common::similarity(&plain, &anchor, &flipped);
        let mirrored = config(&shared, dir.path(), tables, true);
        let on = common::similarity(&mirrored, &anchor, &flipped);
        let (s, d) = (
            common::similarity(&mirrored, &anchor, &same),
            common::similarity(&mirrored, &anchor, &stranger),
        );
        eprintln!("{name}: photo vs its mirror image {off:.4} plain, {on:.4} with mirror; same person {s:.4}, stranger {d:.4}");
        // Not exactly 1: the detector finds a slightly different box and landmarks on the
        // mirror image. Measured: the gap to 1 shrinks to 0.66 (onnx-runtime, MobileFaceNet),
        // 0.40 (opencv-dnn, FaceNet) and 0.34 (dlib) of what it is without the option.
        assert!(
            1.0 - on < 0.8 * (1.0 - off),
            "{name}: photo vs mirror image {on} with mirror, {off} without"
        );
        assert!(s > d, "{name}: same person {s} not above stranger {d}");
    }
}
