//! The face library on PostgreSQL (a server this bench starts, `facelab-testpg`):
//! - `postgres/queue-example-4-workers`: jobs claimed and written per second by 4 `facelab
//!   worker` processes with the example plugin (no model arithmetic: what the queue and the
//!   writes cost), 4,000 generated 32×32 photos a run; target ≥ 1,000 jobs/s;
//! - `postgres/scan-wider-mini-1-worker` and `…-2-workers`: the WIDER FACE mini photos
//!   through the queue with the default pipeline (YuNet, SFace), one model thread per
//!   worker process, timed from the workers' start to the last one's exit; target: 2
//!   workers ≥ 1.8× the photos/s of one;
//! - `postgres/search-1m-load` and `postgres/search-1m-top10`: 1,000,000 stored 128-D
//!   embeddings read into memory (the portable path: vectors as bytes, searched in
//!   process), then one face's top 10; target ≤ 50 ms for the search;
//! - `postgres/hnsw-1m-top10`: the same million on a PostgreSQL with pgvector (the one
//!   `scripts/setup.sh` unpacks), one face's top 10 from the HNSW index through
//!   `Library::similar_faces` at the default `ef_search`; before it, on stderr, the index's
//!   build time and recall@10 against the exact answer for 200 faces at several `ef_search`
//!   (target recall@10 ≥ 0.95), on a photo library's faces ([`Data::People`]; or, with
//!   `FACELAB_BENCH_HNSW_DATA=uniform`, on uniform random vectors, the hardest case).
//!
//! Worker processes are the built `facelab` binary: `cargo build --release --workspace`
//! first. `cargo bench -p facelab-benches --bench postgres`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use facelab_cluster::Rng;
use facelab_engine::config::Config;
use facelab_library::identity::ModelKeys;
use facelab_library::search::Matrix;
use facelab_library::Library;
use facelab_testpg::Server;

/// Whether one of the benches `ids` of a group is asked for: with a name filter on the
/// command line (`cargo bench … -- hnsw`), the other groups skip their set-up too (a
/// million rows, worker processes), not only their measurement.
fn selected(ids: &[&str]) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters.iter().any(|f| {
            ids.iter()
                .any(|id| format!("postgres/{id}").contains(f.as_str()))
        })
}

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
    if !selected(&["queue-example-4-workers"]) {
        return;
    }
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
    if !selected(&["scan-wider-mini-1-worker", "scan-wider-mini-2-workers"]) {
        return;
    }
    let Some(shared) = facelab_benches::shared() else {
        eprintln!("SKIPPED: postgres/scan-wider: ../shared not found; set FACELAB_SHARED");
        return;
    };
    let Some(server) = Server::start() else {
        return;
    };
    let wider = facelab_benches::wider_paths(&shared);
    let n = wider.len();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for p in &wider {
        std::fs::copy(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let pipeline = format!(
        "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n[models]\nmirror = \"{}\"\n",
        shared.join("models").display()
    );
    let mut run = 0;
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    // One scan a sample (tens of seconds each), not 1 + 2 + … + 10.
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(n as u64));
    for (name, workers) in [
        ("scan-wider-mini-1-worker", 1),
        ("scan-wider-mini-2-workers", 2),
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

/// What the million embeddings of [`fill`] are like.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Data {
    /// Uniform in a cube: every face a stranger to every other, the hardest case for an
    /// approximate index (the nearest are barely nearer than the rest).
    Uniform,
    /// A photo library: 50,000 people with 20 faces each, a face being its person's
    /// direction plus Gaussian noise of 0.05–0.1 a dimension (drawn per person), so two
    /// faces of one person have a cosine of about 0.45–0.75, as SFace gives, and faces of
    /// two people about 0 ± 0.09.
    People,
}

/// 1,000,000 faces (1,000 photos of 1,000) with 128-D embeddings like `data`, written with
/// binary COPY.
fn fill(server: &Server, db: &str, key: &str, data: Data) {
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
    // Where the library has pgvector, each vector also goes into `vec`, as the library
    // writes it.
    let vec_type = client
        .query_opt(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'embeddings' AND column_name = 'vec'",
            &[],
        )
        .unwrap()
        .map(|_| client.prepare("SELECT $1::vector").unwrap().params()[0].clone());
    let columns = if vec_type.is_some() {
        "face_id, model_id, dim, normalized, vector, vec"
    } else {
        "face_id, model_id, dim, normalized, vector"
    };
    let sink = client
        .copy_in(&format!("COPY embeddings({columns}) FROM STDIN BINARY"))
        .unwrap();
    use postgres::types::Type;
    let mut types = vec![Type::INT8, Type::TEXT, Type::INT8, Type::INT8, Type::BYTEA];
    types.extend(vec_type);
    let mut w = postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
    let mut rng = Rng::new(11);
    let mut v = vec![0f32; 128];
    let mut person = vec![0f32; 128];
    let mut spread = 0.0;
    for face in 1..=1_000_000i64 {
        match data {
            Data::Uniform => v.iter_mut().for_each(|x| *x = rng.unit() as f32 - 0.5),
            Data::People => {
                if face % 20 == 1 {
                    person.iter_mut().for_each(|x| *x = rng.gaussian() as f32);
                    let n = facelab_library::search::norm(&person);
                    person.iter_mut().for_each(|x| *x /= n);
                    spread = 0.05 + 0.05 * rng.unit() as f32;
                }
                for (x, c) in v.iter_mut().zip(&person) {
                    *x = c + spread * rng.gaussian() as f32;
                }
            }
        }
        let blob = facelab_library::to_blob(&v);
        if types.len() == 6 {
            w.write(&[&face, &key, &128i64, &1i64, &blob, &PgVector(&v)])
                .unwrap();
        } else {
            w.write(&[&face, &key, &128i64, &1i64, &blob]).unwrap();
        }
    }
    w.finish().unwrap();
}

/// A vector in pgvector's binary form (the dimension and a reserved word as `i16`, then
/// the values), for COPY.
#[derive(Debug)]
struct PgVector<'a>(&'a [f32]);

impl postgres::types::ToSql for PgVector<'_> {
    fn to_sql(
        &self,
        _: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&(self.0.len() as i16).to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        for x in self.0 {
            out.extend_from_slice(&x.to_be_bytes());
        }
        Ok(postgres::types::IsNull::No)
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        ty.name() == "vector"
    }

    postgres::types::to_sql_checked!();
}

/// A library in database `db` of `server` holding the million faces of [`fill`] (the
/// example recognizer's key), opened with a long lock wait (an index build holds the lock).
fn million(server: &Server, db: &str, data: Data) -> (Library, ModelKeys) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = Config::parse(EXAMPLE, &root.join("bench.toml")).unwrap();
    let keys = ModelKeys::of_config(&config).unwrap().unwrap();
    let url = server.url(db);
    drop(Library::open(Path::new(&url), 10_000).unwrap());
    fill(server, db, &keys.members()[0], data);
    (Library::open(Path::new(&url), 600_000).unwrap(), keys)
}

/// The million vectors read into memory, rows in face-id order (row `i` is face `i + 1`).
fn in_memory(lib: &Library, keys: &ModelKeys) -> Matrix {
    let mut vectors = lib.fused_vectors(keys, None).unwrap();
    let mut m = Matrix::new(128);
    for face in 1..=1_000_000i64 {
        m.push(face, &vectors.take(face).unwrap());
    }
    m
}

fn search(c: &mut Criterion) {
    if !selected(&["search-1m-load", "search-1m-top10"]) {
        return;
    }
    let Some(server) = Server::start() else {
        return;
    };
    let (lib, keys) = million(&server, "search", Data::Uniform);
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    group.bench_function("search-1m-load", |b| {
        b.iter(|| {
            let v = lib.fused_vectors(&keys, None).unwrap();
            assert_eq!(v.dim, 128);
            v
        })
    });
    let m = in_memory(&lib, &keys);
    let mut i = 0;
    group.bench_function("search-1m-top10", |b| {
        b.iter(|| {
            i += 1;
            m.top_k(m.row(i * 7919 % m.len()), 10)
        })
    });
    group.finish();
}

/// pgvector's HNSW on the million faces of [`fill`]: the index built once (its time said on
/// stderr), recall@10 against the exact answer for 200 faces at several `ef_search`, then
/// one face's top 10 through the library at the default.
fn hnsw(c: &mut Criterion) {
    if !selected(&["hnsw-1m-top10"]) {
        return;
    }
    let Some(server) = Server::start_pgvector() else {
        return;
    };
    // A photo library's faces; `FACELAB_BENCH_HNSW_DATA=uniform` for the hardest case.
    let data = match std::env::var("FACELAB_BENCH_HNSW_DATA").as_deref() {
        Ok("uniform") => Data::Uniform,
        _ => Data::People,
    };
    eprintln!("postgres/hnsw: {data:?} data");
    let (mut lib, keys) = million(&server, "hnsw", data);
    server.sql("hnsw", "VACUUM ANALYZE embeddings");
    let key = keys.members()[0].clone();
    assert!(matches!(
        lib.vector_search(),
        facelab_library::vectors::VectorSearch::Pgvector { .. }
    ));
    let t = Instant::now();
    assert!(lib.hnsw_index(&key, 128).unwrap());
    eprintln!(
        "postgres/hnsw: index of 1,000,000 128-D vectors built in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    // The exact answers, from the vectors in memory.
    let m = in_memory(&lib, &keys);
    let queries: Vec<i64> = (0..200).map(|i| 1 + (i * 4999 % 1_000_000)).collect();
    let exact: Vec<Vec<i64>> = queries
        .iter()
        .map(|&q| {
            m.top_k(m.row(q as usize - 1), 11)
                .into_iter()
                .map(|(row, _)| m.ids[row])
                .filter(|&f| f != q)
                .take(10)
                .collect()
        })
        .collect();
    for ef in [40, 100, 200, 400] {
        lib.set_ef_search(ef);
        let t = Instant::now();
        let mut times = Vec::new();
        let mut found = 0;
        for (q, want) in queries.iter().zip(&exact) {
            let t = Instant::now();
            let (got, _) = lib.similar_faces(&keys, *q, 10, false).unwrap();
            times.push(t.elapsed());
            found += got.iter().filter(|s| want.contains(&s.face)).count();
        }
        times.sort();
        eprintln!(
            "postgres/hnsw: ef_search {ef}: recall@10 {:.3}, median {:.1} ms a query ({:.1} s for 200)",
            found as f64 / (10 * queries.len()) as f64,
            times[times.len() / 2].as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64()
        );
    }
    lib.set_ef_search(facelab_library::vectors::EF_SEARCH);
    let mut group = c.benchmark_group("postgres");
    group.sample_size(20);
    let mut i = 0;
    group.bench_function("hnsw-1m-top10", |b| {
        b.iter(|| {
            i += 1;
            lib.similar_faces(&keys, 1 + (i * 7919 % 1_000_000), 10, false)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, queue, scaling, search, hnsw);
criterion_main!(benches);
