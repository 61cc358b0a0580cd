//! The face library's speed targets:
//! - `library/rescan-unchanged-10k`: a rescan of an unchanged library of 10,000 photos
//!   (generated 32×32 greyscale PGMs, first scanned with the example plugin), target ≤ 2 s;
//! - `library/identify-100k`: one face against 100,000 stored 128-D embeddings, exact
//!   search with the SIMD dot product, target ≤ 5 ms median;
//! - `library/identify-1m`: the same at 1,000,000, to judge whether an approximate index
//!   would be worth it;
//! - `library/scan-wider-40`: a first scan (decode, EXIF, detect with YuNet, embed with
//!   MobileFaceNet on ONNX Runtime, store) of the first 40 WIDER FACE mini photos in path
//!   order into an empty library; criterion's throughput is photos per second.
//!
//! `cargo bench -p facelab-benches --bench library`

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use facelab_cluster::Rng;
use facelab_engine::config::Config;
use facelab_library::search::Matrix;
use facelab_library::session::RunContext;

/// A run context for config text, as `facelab` would build from a file in the repository root.
fn context(text: &str) -> RunContext {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    RunContext {
        config: Config::parse(text, &root.join("bench.toml")).expect("valid bench config"),
        cache_dir: None,
        verbose: false,
        library: None,
    }
}

/// A whole `facelab scan DIR` minus process start.
fn scan(ctx: &RunContext, dir: &Path) -> facelab_library::scan::Summary {
    let mut lib = facelab_library::session::open_library(ctx).unwrap();
    facelab::cli::library::scan_dirs(ctx, &mut lib, &[dir.to_path_buf()], false, false).unwrap()
}

fn rescan(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    facelab_benches::write_noise_photos(&photos, 10_000);
    let text = format!(
        "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[recognizer]\nplugin = \"example\"\nkind = \"pixels\"\n[library]\npath = \"{}\"\nbatch_size = 500\n",
        dir.path().join("library.sqlite").display()
    );
    let ctx = context(&text);
    let first = scan(&ctx, &photos);
    assert_eq!(first.new, 10_000);
    let mut group = c.benchmark_group("library");
    group.sample_size(10);
    group.bench_function("rescan-unchanged-10k", |b| {
        b.iter(|| {
            // A whole `facelab scan` minus process start: open, walk, compare, finish.
            assert_eq!(scan(&ctx, &photos).unchanged, 10_000);
        })
    });
    group.finish();
}

fn matrix(n: usize, dim: usize, seed: u64) -> Matrix {
    let mut rng = Rng::new(seed);
    let mut m = Matrix::new(dim);
    let mut v = vec![0.0f32; dim];
    for i in 0..n {
        v.iter_mut().for_each(|x| *x = rng.unit() as f32 - 0.5);
        m.push(i as i64, &v);
    }
    m
}

fn identify(c: &mut Criterion) {
    let mut group = c.benchmark_group("library");
    for (name, n) in [("identify-100k", 100_000usize), ("identify-1m", 1_000_000)] {
        let m = matrix(n, 128, 11);
        let queries = matrix(64, 128, 13);
        let mut i = 0;
        group.sample_size(if n > 100_000 { 10 } else { 50 });
        group.bench_function(name, |b| {
            b.iter(|| {
                let q = queries.row(i % queries.len());
                i += 1;
                m.top_k(q, 10)
            })
        });
    }
    group.finish();
}

fn scan_throughput(c: &mut Criterion) {
    let Some(shared) = facelab_benches::shared() else {
        eprintln!("SKIPPED: library/scan-wider-40: ../shared not found; set FACELAB_SHARED");
        return;
    };
    const N: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let mut paths: Vec<_> = walkdir(&shared.join("datasets/wider-face-val-mini/images"));
    paths.sort();
    for p in paths.iter().take(N) {
        std::fs::copy(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let mut run = 0;
    let mut group = c.benchmark_group("library");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function(format!("scan-wider-{N}"), |b| {
        b.iter_batched(
            || {
                run += 1;
                let text = format!(
                    "{}[library]\npath = \"{}\"\n",
                    facelab_benches::pipeline_config(
                        &shared,
                        "onnx-runtime",
                        "embedder",
                        "mobilefacenet-128",
                        2
                    ),
                    dir.path().join(format!("library-{run}.sqlite")).display()
                );
                context(&text)
            },
            |ctx| assert_eq!(scan(&ctx, &photos).new, N),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Files under `dir`, recursively.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

criterion_group!(benches, rescan, identify, scan_throughput);
criterion_main!(benches);
