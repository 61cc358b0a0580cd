//! The face library on PostgreSQL (a server this bench starts, `facelab-testpg`):
//! - `postgres/queue-example-4-workers`: jobs claimed and written per second by 4 `facelab
//!   worker` processes with the example plugin (no model arithmetic: what the queue and the
//!   writes cost), 4,000 generated 32×32 photos a run; target ≥ 1,000 jobs/s;
//! - `postgres/scan-wider-60-1-worker` and `…-2-workers`: the first 60 WIDER FACE mini
//!   photos (path order) through the queue with the default pipeline (YuNet, SFace), one
//!   model thread per worker process; target: 2 workers ≥ 1.8× the photos/s of one;
//! - `postgres/search-1m-load` and `postgres/search-1m-top10`: 1,000,000 stored 128-D
//!   embeddings read into memory (the portable path: vectors as bytes, searched in
//!   process), then one face's top 10; target ≤ 50 ms for the search.
//!
//! Worker processes are the built `facelab` binary: `cargo build --release --workspace`
//! first. `cargo bench -p facelab-benches --bench postgres`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use facelab_cluster::Rng;
use facelab_engine::config::Config;
use facelab_library::identity::ModelKeys;
use facelab_library::search::Matrix;
use facelab_library::Library;
use facelab_testpg::Server;

/// target/release, where the `facelab` binary and the plugins are.
fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_owned();
    assert!(
        dir.join("facelab").is_file(),
        "{}/facelab is missing: run `cargo build --release --workspace` first",
        dir.display()
    );
    dir
}

/// A config file on `url` with `pipeline` (TOML sections) and `photos` as the root.
fn config(dir: &Path, url: &str, pipeline: &str, photos: &Path) -> PathBuf {
    let path = dir.join("facelab.toml");
    std::fs::write(
        &path,
        format!(
            "[plugins]\nsearch_path = [\"{}\"]\n{pipeline}[library]\nurl = \"{url}\"\nworkers = 1\nbatch_size = 64\n[library.roots]\nphotos = \"{}\"\n",
            release_dir().display(),
            photos.display()
        ),
    )
    .unwrap();
    path
}

fn facelab(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(release_dir().join("facelab"));
    c.arg("--config").arg(config).args(args);
    c
}

/// Enqueues `photos` into a new database, then times `workers` worker processes emptying
/// the queue.
fn run_queue(
    server: &Server,
    db: &str,
    dir: &Path,
    pipeline: &str,
    photos: &Path,
    workers: usize,
    batch: usize,
) -> Duration {
    let config = config(dir, &server.url(db), pipeline, photos);
    let out = facelab(&config, &["scan", "--enqueue", photos.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|i| {
            facelab(
                &config,
                &[
                    "worker",
                    "--exit-when-empty",
                    "--batch",
                    &batch.to_string(),
                    "--name",
                    &format!("w{i}"),
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    start.elapsed()
}

const EXAMPLE: &str = "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[recognizer]\nplugin = \"example\"\nkind = \"pixels\"\n";

fn queue(c: &mut Criterion) {
    let Some(server) = Server::start() else {
        return;
    };
    const N: usize = 4000;
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    facelab_benches::write_noise_photos(&photos, N);
    let mut run = 0;
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("queue-example-4-workers", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    run += 1;
                    run_queue(
                        &server,
                        &format!("queue{run}"),
                        dir.path(),
                        EXAMPLE,
                        &photos,
                        4,
                        64,
                    )
                })
                .sum()
        })
    });
    group.finish();
}

fn scaling(c: &mut Criterion) {
    let Some(shared) = facelab_benches::shared() else {
        eprintln!("SKIPPED: postgres/scan-wider: ../shared not found; set FACELAB_SHARED");
        return;
    };
    let Some(server) = Server::start() else {
        return;
    };
    const N: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for p in facelab_benches::wider_paths(&shared).iter().take(N) {
        std::fs::copy(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let pipeline = format!(
        "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n[models]\nmirror = \"{}\"\n",
        shared.join("models").display()
    );
    let mut run = 0;
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    for (name, workers) in [
        ("scan-wider-60-1-worker", 1),
        ("scan-wider-60-2-workers", 2),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        run += 1;
                        run_queue(
                            &server,
                            &format!("wider{run}"),
                            dir.path(),
                            &pipeline,
                            &photos,
                            workers,
                            4,
                        )
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

/// 1,000,000 faces (1,000 photos of 1,000) with random 128-D embeddings, written with
/// binary COPY.
fn fill(server: &Server, db: &str, key: &str) {
    server.sql(
        db,
        "INSERT INTO images(id, path_bytes, path, size, mtime_ns, status, scanned_at)
           SELECT g, convert_to('/p/' || g, 'UTF8'), '/p/' || g, 1, 1, 'done', 0 FROM generate_series(1, 1000) g;
         INSERT INTO faces(id, image_id, x, y, w, h, score, detector, created_at)
           SELECT g, 1 + (g - 1) / 1000, (g % 1000), 0, 10, 10, 0.9, 'd', 0 FROM generate_series(1, 1000000) g;",
    );
    let mut client = postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={} user={} password={} dbname={db}",
            server.port,
            facelab_testpg::USER,
            facelab_testpg::PASSWORD
        ),
        postgres::NoTls,
    )
    .unwrap();
    let sink = client
        .copy_in("COPY embeddings(face_id, model_id, dim, normalized, vector) FROM STDIN BINARY")
        .unwrap();
    use postgres::types::Type;
    let mut w = postgres::binary_copy::BinaryCopyInWriter::new(
        sink,
        &[Type::INT8, Type::TEXT, Type::INT8, Type::INT8, Type::BYTEA],
    );
    let mut rng = Rng::new(11);
    let mut v = vec![0f32; 128];
    for face in 1..=1_000_000i64 {
        v.iter_mut().for_each(|x| *x = rng.unit() as f32 - 0.5);
        let blob = facelab_library::to_blob(&v);
        w.write(&[&face, &key, &128i64, &1i64, &blob]).unwrap();
    }
    w.finish().unwrap();
}

fn search(c: &mut Criterion) {
    let Some(server) = Server::start() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = Config::parse(EXAMPLE, &root.join("bench.toml")).unwrap();
    let keys = ModelKeys::of_config(&config).unwrap().unwrap();
    let url = server.url("search");
    drop(Library::open(Path::new(&url), 10_000).unwrap());
    fill(&server, "search", &keys.members()[0]);
    let lib = Library::open(Path::new(&url), 10_000).unwrap();
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    group.bench_function("search-1m-load", |b| {
        b.iter(|| {
            let v = lib.fused_vectors(&keys, None).unwrap();
            assert_eq!(v.dim, 128);
            v
        })
    });
    let mut vectors = lib.fused_vectors(&keys, None).unwrap();
    let mut m = Matrix::new(128);
    for face in 1..=1_000_000i64 {
        m.push(face, &vectors.take(face).unwrap());
    }
    let mut i = 0;
    group.bench_function("search-1m-top10", |b| {
        b.iter(|| {
            i += 1;
            m.top_k(m.row(i * 7919 % m.len()), 10)
        })
    });
    group.finish();
}

criterion_group!(benches, queue, scaling, search);
criterion_main!(benches);
