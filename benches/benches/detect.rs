//! Detection speed per plugin kind: preprocessing + forward + postprocessing for one photo,
//! through the real plugin `.so`, at the photos' natural size and at a 640 long side, with
//! 2 OpenCV threads. Photos: the first 20 WIDER FACE mini images in path order.
//!
//! `cargo bench -p facelab-benches --bench detect`; compare with
//! `benches/python/opencv_reference.py` on the same photos.

use criterion::{criterion_group, criterion_main, Criterion};
use facelab_benches::{detector, opencv_config, resized, shared, wider_photos};

fn detection(c: &mut Criterion) {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED: ../shared not found; set FACELAB_SHARED");
        return;
    };
    let natural = wider_photos(&shared, 20);
    let small: Vec<_> = natural.iter().map(|p| resized(p, 640)).collect();
    let mut group = c.benchmark_group("detect");
    group.sample_size(20);
    for (kind, model) in [
        ("yunet", "yunet-2023mar"),
        ("ssd", "ssd-tf-uint8"),
        ("yolo", "yoloface-500k-v2"),
    ] {
        let mut det = detector(&opencv_config(&shared, kind, model, 2));
        for (size, photos) in [("natural", &natural), ("640", &small)] {
            let mut i = 0;
            group.bench_function(format!("{model}/{size}"), |b| {
                b.iter(|| {
                    let faces = det.detect_once(&photos[i % photos.len()]).expect("detects");
                    i += 1;
                    faces
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, detection);
criterion_main!(benches);
