//! Shared set-up for the criterion benches: load a detector through the real plugin loader
//! from a config text, and pick benchmark photos from `../shared` by a fixed rule.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use facelab_engine::config::Config;
use facelab_engine::photo::{decode, Photo};
use facelab_engine::pipeline::{
    load_plugins, model_store, open_detector, open_recognizer, FaceDetector, FaceRecognizer,
};
use facelab_models::fetch::FetchObserver;

/// `../shared` beside the repository, or `$FACELAB_SHARED`.
pub fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("FACELAB_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    dir.join("datasets").is_dir().then_some(dir)
}

struct Silent;
impl FetchObserver for Silent {}

/// A detector built from config text (as `facelab` would from a file in the repo root).
pub fn detector(config_text: &str) -> FaceDetector {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = Config::parse(config_text, &root.join("bench.toml")).expect("valid bench config");
    let plugins = load_plugins(&config)
        .expect("plugins load (build them with cargo build --release --workspace)");
    let store = model_store(&config, None).expect("manifest");
    open_detector(&config, &plugins, &store, &Silent)
        .expect("model resolves and detector builds")
        .0
}

/// The benchmark photos: the first `n` WIDER FACE mini images in path order (a fixed rule,
/// not a choice of easy or hard images), decoded.
pub fn wider_photos(shared: &Path, n: usize) -> Vec<Photo> {
    wider_paths(shared)
        .iter()
        .take(n)
        .map(|p| decode(p, u64::MAX).expect("decodes"))
        .collect()
}

/// Every WIDER FACE mini image, in path order.
pub fn wider_paths(shared: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(shared.join("datasets/wider-face-val-mini/images"))
            .expect("wider-face-val-mini/images")
            .flatten()
            .flat_map(|event| {
                std::fs::read_dir(event.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
            })
            .collect();
    paths.sort();
    paths
}

/// The photo resized so its long side is `long_side` (bilinear), keeping the aspect ratio.
pub fn resized(photo: &Photo, long_side: u32) -> Photo {
    let img = image::RgbImage::from_raw(photo.width, photo.height, photo.to_rgb().into_raw())
        .expect("rgb");
    let scale = long_side as f32 / photo.width.max(photo.height) as f32;
    let (w, h) = (
        ((photo.width as f32) * scale).round() as u32,
        ((photo.height as f32) * scale).round() as u32,
    );
    let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    Photo::from_image(photo.path.clone(), image::DynamicImage::ImageRgb8(small))
}

/// Config text for an OpenCV detector kind and model id, with `threads` OpenCV threads,
/// plugins from `target/release` and models from the shared mirror.
pub fn opencv_config(shared: &Path, kind: &str, model: &str, threads: u32) -> String {
    format!(
        "[plugins]\nsearch_path = [\"target/release\"]\n[detector]\nplugin = \"opencv-dnn\"\nkind = \"{kind}\"\nmodel = \"{model}\"\n[detector.options]\nthreads = {threads}\n[models]\nmirror = \"{}\"\n",
        shared.join("models").display()
    )
}

/// A recognizer built from config text with a `[recognizer]` section.
pub fn recognizer(config_text: &str) -> FaceRecognizer {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = Config::parse(config_text, &root.join("bench.toml")).expect("valid bench config");
    let plugins = load_plugins(&config)
        .expect("plugins load (build them with cargo build --release --workspace)");
    let store = model_store(&config, None).expect("manifest");
    open_recognizer(&config, &plugins, &store, &Silent)
        .expect("model resolves and recognizer builds")
        .expect("[recognizer]")
        .0
}

/// Config text with an OpenCV YuNet detector and a recognizer of `plugin:kind` running
/// manifest model `model`.
pub fn pipeline_config(
    shared: &Path,
    plugin: &str,
    kind: &str,
    model: &str,
    threads: u32,
) -> String {
    format!(
        "{}[recognizer]\nplugin = \"{plugin}\"\nkind = \"{kind}\"\nmodel = \"{model}\"\n[recognizer.options]\nthreads = {threads}\n",
        opencv_config(shared, "yunet", "yunet-2023mar", threads)
    )
}

/// The first `n` LFW View 2 images (pairs.txt order, first image of each pair), decoded.
pub fn lfw_photos(shared: &Path, n: usize) -> Vec<Photo> {
    let pairs = facelab_eval::faceeval::lfw_pairs(&shared.join("datasets/lfw")).expect("pairs.txt");
    pairs
        .iter()
        .take(n)
        .map(|p| decode(&p.a, u64::MAX).expect("decodes"))
        .collect()
}

/// `n` generated 32×32 greyscale PGMs of noise (a fixed seed) under `dir`, 100 a folder:
/// photos for measuring what the library and the queue cost around the models.
pub fn write_noise_photos(dir: &Path, n: usize) {
    let mut rng = facelab_cluster::Rng::new(7);
    for i in 0..n {
        let sub = dir.join(format!("{:03}", i / 100));
        std::fs::create_dir_all(&sub).unwrap();
        let mut pgm = b"P5\n32 32\n255\n".to_vec();
        pgm.extend((0..32 * 32).map(|_| (rng.next_u64() & 0xFF) as u8));
        std::fs::write(sub.join(format!("{i:05}.pgm")), pgm).unwrap();
    }
}
