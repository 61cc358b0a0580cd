//! The speed task: detection time per photo at fixed sizes, embedding time per face (one
//! face per call, and each photo's faces in one call), and end-to-end throughput (decode +
//! detect + embed every face) at the photos' own size.
//!
//! Detection is timed on photos resized so their long side is each configured size, after
//! one untimed warm-up run per size (first-run allocations and lazy graph optimisation are
//! not what a photo-library scan pays per photo).

use std::path::{Path, PathBuf};
use std::time::Instant;

use facelab_plugin_api::Face;
use image::DynamicImage;
use indicatif::ProgressBar;

use super::pipeline::Opened;
use super::report::{SizeTiming, SpeedResult};
use super::suite::SpeedTask;
use facelab_engine::photo::{decode, Photo};
use facelab_engine::pipeline::{FaceDetector, FaceRecognizer};
use facelab_engine::stats::{median, percentile};
use facelab_engine::ui::labelled_progress as progress;

/// Image files the speed task takes from a folder (not recursive).
const EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "pgm", "bmp", "webp"];

/// The photos of the task: listed files, and the image files of listed folders, sorted.
pub fn photos(task: &SpeedTask, root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in &task.photos {
        let p = root.join(p);
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.retain(|f| {
                f.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            });
            files.sort();
            out.extend(files);
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// `photo` resized so its long side is `side` pixels.
fn resized(photo: &Photo, side: u32) -> Photo {
    let scale = side as f64 / photo.width.max(photo.height) as f64;
    let (w, h) = (
        ((photo.width as f64 * scale).round() as u32).max(1),
        ((photo.height as f64 * scale).round() as u32).max(1),
    );
    let img = match photo.format {
        facelab_plugin_api::PixelFormat::Gray8 => DynamicImage::ImageLuma8(
            image::GrayImage::from_raw(photo.width, photo.height, photo.pixels.clone())
                .expect("packed grey photo"),
        ),
        _ => DynamicImage::ImageRgb8(photo.to_rgb()),
    };
    let img = img.resize_exact(w, h, image::imageops::FilterType::Triangle);
    Photo::from_image(photo.path.clone(), img)
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Times one pipeline on `paths`. Photos that cannot be decoded are left out with a notice.
pub fn measure(
    opened: &mut Opened,
    task: &SpeedTask,
    paths: &[PathBuf],
    label: &str,
) -> anyhow::Result<SpeedResult> {
    let max_pixels = opened.config.images.max_pixels;
    let mut originals = Vec::new();
    for p in paths {
        match decode(p, max_pixels) {
            Ok(photo) => originals.push(photo),
            Err(e) => eprintln!("facelab: {e}"),
        }
    }
    if originals.is_empty() {
        anyhow::bail!("none of the {} speed photos could be decoded", paths.len());
    }
    let bar = progress(
        task.sizes.len() * originals.len() * (task.repeats + 1) + 3 * originals.len(),
        label,
    );
    let detect = time_detection(&mut opened.detector, task, &originals, &bar)?;
    let (found, end_to_end_photos_per_s) = end_to_end(opened, paths, max_pixels, &bar);
    let mut embed_ms = time_embedding(opened.recognizer.as_mut(), &found, &bar)?;
    let mut batched_ms = time_batched_embedding(opened.recognizer.as_mut(), &found, &bar)?;
    bar.finish_and_clear();
    Ok(SpeedResult {
        pipeline: String::new(),
        photos: originals.len(),
        load: opened.load,
        detect,
        faces_embedded: embed_ms.len(),
        embed_median_ms: (!embed_ms.is_empty()).then(|| median(&mut embed_ms.clone())),
        embed_p90_ms: (!embed_ms.is_empty()).then(|| percentile(&mut embed_ms, 0.9)),
        embed_batched_ms_per_face: (!batched_ms.is_empty()).then(|| median(&mut batched_ms)),
        embed_batched_photos: batched_ms.len(),
        end_to_end_photos_per_s,
        peak_rss_mib: None,
    })
}

/// Detection at each size: one untimed warm-up run over the resized photos, then `repeats`
/// timed runs.
fn time_detection(
    detector: &mut FaceDetector,
    task: &SpeedTask,
    originals: &[Photo],
    bar: &ProgressBar,
) -> anyhow::Result<Vec<SizeTiming>> {
    let mut detect = Vec::new();
    for &size in &task.sizes {
        let photos: Vec<Photo> = originals.iter().map(|p| resized(p, size)).collect();
        for photo in &photos {
            detector
                .detect(photo)
                .map_err(|e| anyhow::anyhow!("{}: detector failed: {e}", photo.path.display()))?;
            bar.inc(1);
        }
        let mut times = Vec::new();
        for _ in 0..task.repeats {
            for photo in &photos {
                let start = Instant::now();
                let _ = detector.detect(photo);
                times.push(ms_since(start));
                bar.inc(1);
            }
        }
        detect.push(SizeTiming {
            size,
            runs: times.len(),
            median_ms: median(&mut times.clone()),
            p90_ms: percentile(&mut times, 0.9),
        });
    }
    Ok(detect)
}

/// End to end at the photos' own size: decode, detect, embed every face at once. Returns
/// each decoded photo with its faces, and the photos per second.
fn end_to_end(
    opened: &mut Opened,
    paths: &[PathBuf],
    max_pixels: u64,
    bar: &ProgressBar,
) -> (Vec<(Photo, Vec<Face>)>, f64) {
    let start = Instant::now();
    let mut found = Vec::new();
    for p in paths {
        let Ok(photo) = decode(p, max_pixels) else {
            continue;
        };
        let faces = opened
            .detector
            .detect(&photo)
            .map(|(f, _)| f)
            .unwrap_or_default();
        if let (Some(r), false) = (opened.recognizer.as_mut(), faces.is_empty()) {
            let _ = r.embed(&photo, &faces);
        }
        found.push((photo, faces));
        bar.inc(1);
    }
    let photos_per_s = found.len() as f64 / start.elapsed().as_secs_f64();
    (found, photos_per_s)
}

/// Embedding one face at a time: the milliseconds of each face (none without a recognizer).
fn time_embedding(
    recognizer: Option<&mut FaceRecognizer>,
    found: &[(Photo, Vec<Face>)],
    bar: &ProgressBar,
) -> anyhow::Result<Vec<f64>> {
    let mut embed_ms = Vec::new();
    if let Some(recognizer) = recognizer {
        for (photo, faces) in found {
            for face in faces {
                embed_ms.push(timed_embed(recognizer, photo, std::slice::from_ref(face))?);
            }
            bar.inc(1);
        }
    }
    Ok(embed_ms)
}

/// Embedding each photo's faces in one call, as a scan does: for every photo with 2 or more
/// faces, one untimed warm-up call, then one timed call; the milliseconds per face of each
/// (none without a recognizer).
fn time_batched_embedding(
    recognizer: Option<&mut FaceRecognizer>,
    found: &[(Photo, Vec<Face>)],
    bar: &ProgressBar,
) -> anyhow::Result<Vec<f64>> {
    let mut per_face_ms = Vec::new();
    if let Some(recognizer) = recognizer {
        for (photo, faces) in found {
            if faces.len() >= 2 {
                timed_embed(recognizer, photo, faces)?;
                per_face_ms.push(timed_embed(recognizer, photo, faces)? / faces.len() as f64);
            }
            bar.inc(1);
        }
    }
    Ok(per_face_ms)
}

/// One `embed` call on `faces` of `photo`: its milliseconds.
fn timed_embed(
    recognizer: &mut FaceRecognizer,
    photo: &Photo,
    faces: &[Face],
) -> anyhow::Result<f64> {
    let start = Instant::now();
    recognizer
        .embed(photo, faces)
        .map_err(|e| anyhow::anyhow!("{}: recognizer failed: {e}", photo.path.display()))?;
    Ok(ms_since(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_sets_the_long_side() {
        let photo = Photo::from_image(
            "x".into(),
            DynamicImage::ImageRgb8(image::RgbImage::new(400, 300)),
        );
        let r = resized(&photo, 1024);
        assert_eq!((r.width, r.height), (1024, 768));
    }
}
