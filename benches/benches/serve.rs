//! `facelab serve`'s speed targets, on a generated library of 100,000 faces (400 real ORL
//! photos, 250 face boxes each; 128-D embeddings drawn around 4,200 identities: 200 named
//! people with 100 confirmed faces each, 4,000 groups of 20 unnamed faces):
//! - `serve/groups-page`: the first groups page (8 groups, their tiles' markup and their
//!   same-person proposals), merge proposals already computed (the server computes them
//!   at start and after a change); target ≤ 150 ms;
//! - `serve/groups-page-cold-tiles`: that page with an empty tile cache (the page has the
//!   tiles it shows cut in the background, on every core) plus the request of each of its
//!   tiles, one after another, each waiting for its tile: what the first visit costs until
//!   its last tile is served; target ≤ 150 ms;
//! - `serve/person-page`: a person's page (100 faces, newest first); target ≤ 150 ms;
//! - `serve/tiles-wider-page` and `serve/tiles-wider-each`: the tiles of 200 real faces on
//!   WIDER FACE photos (JPEGs 1024 px wide, boxes from its ground truth, at least 24 px)
//!   into an empty cache, as a page cuts them (each photo decoded once, at a DCT scale, on
//!   every core) and one tile request at a time (a decode per face), for photos as a camera
//!   gives them rather than ORL's small PGMs;
//! - `serve/merge-proposals`: computing the proposals from scratch (once at start and after
//!   each change, not per page).
//!
//! Server time only: the handler as the router calls it once the guards passed, no HTTP.
//!
//! `cargo bench -p facelab-benches --bench serve`

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use facelab_cluster::Rng;
use facelab_engine::config::Config;
use facelab_library::identity::ModelKeys;
use facelab_library::session::RunContext;

const PHOTOS: usize = 400;
const PER_PHOTO: usize = 250;
const PEOPLE: usize = 200;
const NAMED_PER_PERSON: usize = 100;
const GROUP_SIZE: usize = 20;
const DIM: usize = 128;

fn context(library: &Path) -> RunContext {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = format!(
        "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[recognizer]\nplugin = \"example\"\nkind = \"pixels\"\n[library]\npath = \"{}\"\n",
        library.display()
    );
    RunContext {
        config: Config::parse(&text, &root.join("bench.toml")).expect("valid bench config"),
        cache_dir: None,
        verbose: false,
        library: None,
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes the library: ORL photos from `shared`, faces, embeddings, people, labels, groups.
fn generate(shared: &Path, dir: &Path, ctx: &RunContext) {
    let photos = dir.join("photos");
    let mut paths = Vec::new();
    for s in 1..=40 {
        for i in 1..=10 {
            let to = photos.join(format!("s{s}"));
            std::fs::create_dir_all(&to).unwrap();
            let p = to.join(format!("{i}.pgm"));
            std::fs::copy(shared.join(format!("datasets/orl/s{s}/{i}.pgm")), &p).unwrap();
            paths.push(p);
        }
    }
    assert_eq!(paths.len(), PHOTOS);
    let key = ModelKeys::of_config(&ctx.config).unwrap().unwrap().key();
    drop(facelab_library::session::open_library(ctx).unwrap());
    let mut conn = rusqlite::Connection::open(facelab_library::session::library_path(ctx)).unwrap();
    let tx = conn.transaction().unwrap();
    let mut rng = Rng::new(11);
    let mut gauss = || rng.gaussian() as f32;
    let identities = PEOPLE + (PHOTOS * PER_PHOTO - PEOPLE * NAMED_PER_PERSON) / GROUP_SIZE;
    let centres: Vec<Vec<f32>> = (0..identities)
        .map(|_| unit((0..DIM).map(|_| gauss()).collect()))
        .collect();
    for (i, p) in paths.iter().enumerate() {
        let s = p.to_str().unwrap();
        tx.execute(
            "INSERT INTO images(id, path_bytes, path, size, mtime_ns, width, height, orientation, status, scanned_at)
             VALUES (?1, CAST(?2 AS BLOB), ?2, 1, ?3, 92, 112, 1, 'done', 0)",
            rusqlite::params![i as i64 + 1, s, i as i64],
        )
        .unwrap();
    }
    for p in 0..PEOPLE {
        tx.execute(
            "INSERT INTO people(id, name, created_at) VALUES (?1, ?2, 0)",
            rusqlite::params![p as i64 + 1, format!("Person {p}")],
        )
        .unwrap();
    }
    let mut face = tx
        .prepare("INSERT INTO faces(id, image_id, x, y, w, h, score, detector, created_at, quality) VALUES (?1, ?2, ?3, ?4, 60, 70, 0.9, 'd', 0, 0.8)")
        .unwrap();
    let mut emb = tx
        .prepare("INSERT INTO embeddings(face_id, model_id, dim, normalized, vector) VALUES (?1, ?2, ?3, 1, ?4)")
        .unwrap();
    let mut label = tx
        .prepare("INSERT INTO labels(face_id, person_id, state, source, at) VALUES (?1, ?2, 'confirmed', 'user', 0)")
        .unwrap();
    let mut member = tx
        .prepare("INSERT INTO cluster_members(face_id, cluster_id) VALUES (?1, ?2)")
        .unwrap();
    let mut cluster = tx
        .prepare("INSERT INTO clusters(id, model_id, created_at, updated_at) VALUES (?1, ?2, 0, 0)")
        .unwrap();
    let named = PEOPLE * NAMED_PER_PERSON;
    for f in 0..PHOTOS * PER_PHOTO {
        let id = f as i64 + 1;
        let (image, k) = (f % PHOTOS, f / PHOTOS);
        face.execute(rusqlite::params![
            id,
            image as i64 + 1,
            (k % 16) as f64,
            (k / 16) as f64
        ])
        .unwrap();
        let who = if f < named {
            f % PEOPLE
        } else {
            PEOPLE + (f - named) / GROUP_SIZE
        };
        let v = unit(centres[who].iter().map(|c| c + 0.08 * gauss()).collect());
        emb.execute(rusqlite::params![id, key, DIM as i64, blob(&v)])
            .unwrap();
        if f < named {
            label
                .execute(rusqlite::params![id, who as i64 + 1])
                .unwrap();
        } else {
            let c = (who - PEOPLE) as i64 + 1;
            if (f - named).is_multiple_of(GROUP_SIZE) {
                cluster.execute(rusqlite::params![c, key]).unwrap();
            }
            member.execute(rusqlite::params![id, c]).unwrap();
        }
    }
    drop((face, emb, label, member, cluster));
    tx.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('next_cluster_id', ?1)",
        [(identities + 1).to_string()],
    )
    .unwrap();
    tx.commit().unwrap();
}

fn serve(c: &mut Criterion) {
    let Some(shared) = facelab_benches::shared() else {
        eprintln!("SKIPPED: serve benches need ../shared/datasets/orl");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&dir.path().join("library.sqlite"));
    generate(&shared, dir.path(), &ctx);
    let app = facelab_web::App::new(&ctx, "127.0.0.1:1".parse().unwrap()).unwrap();
    let mut lib = facelab_library::session::open_library(&ctx).unwrap();
    assert_eq!(lib.counts().unwrap().faces, (PHOTOS * PER_PHOTO) as i64);
    let mut g = c.benchmark_group("serve");
    g.sample_size(10);
    g.bench_function("merge-proposals", |b| {
        b.iter_batched(
            || facelab_web::App::new(&ctx, "127.0.0.1:1".parse().unwrap()).unwrap(),
            |fresh| fresh.warm().unwrap(),
            BatchSize::PerIteration,
        )
    });
    app.warm().unwrap();
    let page = app.answer_get(&mut lib, "/groups");
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    let tiles: Vec<String> = html
        .split("src=\"/thumb/")
        .skip(1)
        .map(|s| format!("/thumb/{}", s.split('"').next().unwrap()))
        .collect();
    assert!(tiles.len() >= 8 * GROUP_SIZE, "{} tiles", tiles.len());
    g.bench_function("groups-page", |b| {
        b.iter(|| {
            let r = app.answer_get(&mut lib, "/groups");
            assert_eq!(r.status, 200);
        })
    });
    let cache = facelab_web::thumbs::folder(&facelab_library::session::library_path(&ctx));
    g.bench_function("groups-page-cold-tiles", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&cache);
            },
            |()| {
                assert_eq!(app.answer_get(&mut lib, "/groups").status, 200);
                for t in &tiles {
                    assert_eq!(app.answer_get(&mut lib, t).status, 200, "{t}");
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("person-page", |b| {
        b.iter(|| {
            let r = app.answer_get(&mut lib, "/person/7");
            assert_eq!(r.status, 200);
        })
    });
    g.finish();
}

/// Up to `n` faces of at least 24 px from WIDER FACE mini's ground truth, in its order.
fn wider_faces(shared: &Path, n: usize) -> Vec<facelab_web::thumbs::Wanted> {
    let root = shared.join("datasets/wider-face-val-mini");
    let Ok(text) = std::fs::read_to_string(root.join("wider_face_val_bbx_gt.txt")) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(name) = lines.next() {
        let count: usize = lines
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        let photo = root.join("images").join(name.trim());
        for line in lines.by_ref().take(count.max(1)) {
            let v: Vec<f32> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() >= 8 && v[2] >= 24.0 && v[3] >= 24.0 && v[7] == 0.0 && photo.is_file() {
                out.push(facelab_web::thumbs::Wanted {
                    face: out.len() as i64 + 1,
                    photo: photo.clone(),
                    bbox: [v[0], v[1], v[2], v[3]],
                });
            }
        }
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    out
}

fn tiles(c: &mut Criterion) {
    let Some(shared) = facelab_benches::shared() else {
        return;
    };
    let faces = wider_faces(&shared, 200);
    if faces.len() < 200 {
        eprintln!("SKIPPED: serve/tiles-wider needs 200 faces of WIDER FACE mini");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("library.sqlite.thumbs");
    let max_pixels = 100_000_000;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("serve");
    g.sample_size(10);
    g.bench_function("tiles-wider-page", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&cache);
            },
            |()| {
                let cut =
                    facelab_web::thumbs::cut_missing(&cache, &faces, max_pixels, cores, &|_| {});
                assert_eq!(cut, faces.len());
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("tiles-wider-each", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&cache);
            },
            |()| {
                for f in &faces {
                    facelab_web::thumbs::face_tile(&cache, f.face, &f.photo, f.bbox, max_pixels)
                        .unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, serve, tiles);
criterion_main!(benches);
