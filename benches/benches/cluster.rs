//! Clustering scaling (the target: 100,000 embeddings in ≤ 60 s and ≤ 4 GB):
//! `cluster/<method>/<n>` clusters `n` synthetic 128-D face-like embeddings (1,000, 10,000
//! and 100,000; 10 faces per identity) end to end: kNN graph (exact below 20,000 faces, IVF +
//! refinement above) and the method, with facelab-cluster's defaults. Peak memory is not a
//! criterion figure: `/usr/bin/time -v target/release/examples/scale --n 100000` reports it
//! (cluster/README.md).
//!
//! The data: each identity is a random unit centre and its faces are `centre + σ·z/√128`,
//! normalised, σ in [0.5, 0.8], so faces of one identity have cosine ≈ 0.6–0.8 and strangers
//! ≈ 0 ± 0.09, like real MobileFaceNet embeddings.
//!
//! `cluster/chinese-whispers-fused-256/<n>` is the same for a fused recognizer of two 128-D
//! models: each face is two such vectors of its identity (independent draws), each scaled by
//! 1/√2 and concatenated, as `[[recognizer.fuse]]` stores them.
//!
//! `cargo bench -p facelab-benches --bench cluster`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use facelab_cluster::linalg::{normalize, Rng};
use facelab_cluster::{cluster, Algorithm, DbscanParams};

const DIM: usize = 128;

fn faces(n: usize, seed: u64) -> Vec<f32> {
    let ids = (n / 10).max(1);
    let mut rng = Rng::new(seed);
    let mut centres = vec![0f32; ids * DIM];
    for c in centres.chunks_exact_mut(DIM) {
        c.iter_mut().for_each(|x| *x = rng.gaussian() as f32);
        normalize(c);
    }
    let sigma: Vec<f32> = (0..ids).map(|_| 0.5 + 0.3 * rng.unit() as f32).collect();
    let scale = 1.0 / (DIM as f32).sqrt();
    let mut data = vec![0f32; n * DIM];
    for (i, row) in data.chunks_exact_mut(DIM).enumerate() {
        let id = i % ids;
        for (x, c) in row.iter_mut().zip(&centres[id * DIM..(id + 1) * DIM]) {
            *x = c + sigma[id] * scale * rng.gaussian() as f32;
        }
        normalize(row);
    }
    data
}

/// Two models' vectors of the same faces, fused: `[a/√2, b/√2]`, `2·DIM` wide.
fn fused_faces(n: usize, seed: u64) -> Vec<f32> {
    let (a, b) = (faces(n, seed), faces(n, seed ^ 0x5eed));
    let s = std::f32::consts::FRAC_1_SQRT_2;
    a.chunks_exact(DIM)
        .zip(b.chunks_exact(DIM))
        .flat_map(|(x, y)| x.iter().chain(y).map(move |v| v * s))
        .collect()
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("cluster");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    let methods = [
        ("chinese-whispers", Algorithm::default()),
        ("dbscan", Algorithm::Dbscan(DbscanParams::default())),
    ];
    for n in [1_000, 10_000, 100_000] {
        let data = faces(n, n as u64);
        for (name, algo) in &methods {
            group.bench_with_input(BenchmarkId::new(*name, n), &data, |b, data| {
                b.iter(|| {
                    let labels = cluster(data, DIM, algo, &[]).expect("valid input");
                    assert_eq!(labels.len(), n);
                    labels
                })
            });
        }
    }
    for n in [10_000, 100_000] {
        let data = fused_faces(n, n as u64);
        let algo = Algorithm::default();
        group.bench_with_input(
            BenchmarkId::new("chinese-whispers-fused-256", n),
            &data,
            |b, data| {
                b.iter(|| {
                    let labels = cluster(data, 2 * DIM, &algo, &[]).expect("valid input");
                    assert_eq!(labels.len(), n);
                    labels
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, scaling);
criterion_main!(benches);
