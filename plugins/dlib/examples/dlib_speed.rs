//! Times the dlib plugin through the host's loader on the given photos, the way
//! `benches/python/dlib_reference.py speed` times face_recognition: photos decoded before
//! the clock; per photo one untimed run, then `--repeat` timed runs and their median; the
//! medians over photos of HOG detection per photo and of landmarks + embedding per face.
//! Prints one JSON object.
//!
//! `cargo build --release --workspace --all-targets`, then
//! `target/release/examples/dlib_speed --repeat 3 PHOTO...`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

/// The median, or `None` for no values.
fn median(mut v: Vec<f64>) -> Option<f64> {
    (!v.is_empty()).then(|| facelab_engine::stats::median(&mut v))
}

fn timed(repeat: usize, mut f: impl FnMut()) -> f64 {
    f();
    let runs = (0..repeat)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    median(runs).unwrap_or(0.0)
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut repeat = 3;
    let mut photos = Vec::new();
    while let Some(a) = args.next() {
        if a == "--repeat" {
            repeat = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--repeat N");
        } else {
            photos.push(std::path::PathBuf::from(a));
        }
    }
    let plugin = common::plugin();
    let files = common::model_files("dlib-resnet-128");
    let mut hog = common::detector(&plugin, "hog", &[], "").unwrap_or_else(|e| panic!("{e}"));
    let mut r = common::recognizer(&plugin, &files, "").unwrap_or_else(|e| panic!("{e}"));
    let (mut detect_ms, mut face_ms, mut faces_total) = (Vec::new(), Vec::new(), 0);
    for path in &photos {
        let photo = common::photo(path);
        let faces = common::detect(&mut hog, &photo);
        detect_ms.push(timed(repeat, || {
            common::detect(&mut hog, &photo);
        }));
        if !faces.is_empty() {
            let per_call = timed(repeat, || {
                common::embed(&mut r, &photo, &faces).unwrap();
            });
            face_ms.push(per_call / faces.len() as f64);
            faces_total += faces.len();
        }
    }
    let doc = serde_json::json!({
        "photos": photos.len(),
        "faces": faces_total,
        "detect_ms_per_photo": median(detect_ms),
        "embed_ms_per_face": median(face_ms),
        "versions": format!("facelab dlib plugin, {}", hog.info().backend),
    });
    println!("{doc}");
}
