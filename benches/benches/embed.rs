//! Embedding speed per face (alignment + forward), through the real plugin `.so`, with 2
//! threads: one face per call and batches of 8. Faces: the largest face found by YuNet in
//! the first 20 LFW pair images.
//!
//! `cargo bench -p facelab-benches --bench embed`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use facelab_benches::{detector, lfw_photos, opencv_config, pipeline_config, recognizer, shared};
use facelab_engine::pipeline::largest;

fn embedding(c: &mut Criterion) {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED: ../shared not found; set FACELAB_SHARED");
        return;
    };
    let photos = lfw_photos(&shared, 20);
    let mut det = detector(&opencv_config(&shared, "yunet", "yunet-2023mar", 2));
    // Photos where YuNet finds no face (a few LFW images) are left out.
    let (photos, faces): (Vec<_>, Vec<_>) = photos
        .into_iter()
        .filter_map(|p| {
            let face = largest(&det.detect(&p).expect("detects").0).copied();
            face.map(|f| (p, f))
        })
        .unzip();
    let mut group = c.benchmark_group("embed");
    group.sample_size(30);
    let embedders: &[(&str, &str, &str)] = &[
        ("onnx-runtime", "embedder", "mobilefacenet-128"),
        ("onnx-runtime", "embedder", "edgeface-s-512"),
        ("opencv-dnn", "embedder", "mobilefacenet-128"),
    ];
    for &(plugin, kind, model) in embedders {
        let mut rec = recognizer(&pipeline_config(&shared, plugin, kind, model, 2));
        let mut i = 0;
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{plugin}/{model}/1-face"), |b| {
            b.iter(|| {
                let k = i % photos.len();
                i += 1;
                rec.embed(&photos[k], std::slice::from_ref(&faces[k]))
                    .expect("embeds")
            })
        });
        let batch = vec![faces[0]; 8];
        group.throughput(Throughput::Elements(8));
        group.bench_function(format!("{plugin}/{model}/batch-8"), |b| {
            b.iter(|| rec.embed(&photos[0], &batch).expect("embeds"))
        });
    }
    group.finish();
}

criterion_group!(benches, embedding);
criterion_main!(benches);
