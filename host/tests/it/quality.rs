//! Face quality on real faces, and the measurements its constants and `min_quality`'s
//! default come from.
//!
//! The `measure_*` tests are measurements, not checks: they are ignored by default and print
//! tables (and write JSON under `target/quality/`). Run one with
//! `cargo test --release -p facelab --test quality -- --ignored --nocapture measure_size_blur_pose`.

use crate::common;

use std::path::{Path, PathBuf};

use facelab_engine::pipeline::{largest, FaceDetector, FaceRecognizer};
use facelab_engine::quality::{self, Quality};
use facelab_plugin_api::{BBox, Face, Landmarks5, Point2};

/// YuNet 2023mar → MobileFaceNet (ONNX Runtime): the pipeline of
/// `config/examples/yunet-mobilefacenet.toml`, with extra lines.
fn config_text(shared: &Path, extra: &str) -> String {
    format!(
        "[plugins]\nsearch_path = [\"{}\"]\n[detector]\nplugin = \"opencv-dnn\"\nkind = \"yunet\"\nmodel = \"yunet-2023mar\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n[models]\nmirror = \"{}\"\n{extra}\n",
        common::profile_dir().display(),
        shared.join("models").display(),
    )
}

fn context(text: &str) -> facelab_library::session::RunContext {
    facelab_library::session::RunContext {
        config: facelab_engine::config::Config::parse(
            text,
            &common::repo_root().join("quality.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}")),
        cache_dir: None,
        verbose: false,
        library: None,
    }
}

fn open(shared: &Path) -> (FaceDetector, FaceRecognizer) {
    facelab_library::session::open_pipeline(&context(&config_text(shared, ""))).unwrap()
}

fn decode(path: &Path) -> facelab_engine::photo::Photo {
    facelab_engine::photo::decode(path, 1 << 28).unwrap()
}

/// `photo` scaled by `f` (area-weighted), and `face` scaled with it.
fn scaled(
    photo: &facelab_engine::photo::Photo,
    face: &Face,
    f: f32,
) -> (facelab_engine::photo::Photo, Face) {
    let (w, h) = (
        ((photo.width as f32 * f).round() as u32).max(1),
        ((photo.height as f32 * f).round() as u32).max(1),
    );
    let img = image::imageops::resize(&photo.to_rgb(), w, h, image::imageops::FilterType::Triangle);
    let p = facelab_engine::photo::Photo::from_image(
        photo.path.clone(),
        image::DynamicImage::ImageRgb8(img),
    );
    let b = &face.bbox;
    let mut out = Face::new(
        BBox::new(b.x * f, b.y * f, b.width * f, b.height * f),
        face.score,
    );
    out.landmarks = face
        .landmarks
        .as_ref()
        .into_option()
        .map(|l| Landmarks5 {
            points: l.points.map(|p| Point2 {
                x: p.x * f,
                y: p.y * f,
            }),
        })
        .into();
    (p, out)
}

/// `photo` with a Gaussian blur of `sigma` pixels.
fn blurred(photo: &facelab_engine::photo::Photo, sigma: f32) -> facelab_engine::photo::Photo {
    let img = image::imageops::blur(&photo.to_rgb(), sigma);
    facelab_engine::photo::Photo::from_image(
        photo.path.clone(),
        image::DynamicImage::ImageRgb8(img),
    )
}

/// The largest face of a photo, as the default pipeline finds it.
fn largest_face(detector: &mut FaceDetector, photo: &facelab_engine::photo::Photo) -> Option<Face> {
    let (faces, _) = detector.detect(photo).unwrap();
    largest(&faces).copied()
}

#[test]
fn a_sharp_large_frontal_face_scores_above_the_same_face_blurred_or_downscaled() {
    let shared = require_shared!();
    let (mut detector, _) = open(&shared);
    // A news photo of LFW and a bbt close-up; each face is found in the photo as it is.
    for path in [
        shared.join("datasets/lfw/images/Colin_Powell/Colin_Powell_0001.jpg"),
        shared.join("datasets/samples/bbt/people/sheldon/sheldon1.png"),
    ] {
        let photo = decode(&path);
        let face = largest_face(&mut detector, &photo).expect("a face");
        let sharp = quality::assess(&photo, &face);
        assert!(
            sharp.score > 0.6 && sharp.pose > 0.8,
            "{}: {sharp:?} ({:?})",
            path.display(),
            quality::measure(&photo, &face)
        );
        // Blurred as much as costs LFW faces about half their rank-1 rate (σ 6 px on a
        // 130 px face): the same box, a lower sharpness and score; nothing else changes.
        let blur = quality::assess(&blurred(&photo, face.bbox.height / 22.0), &face);
        assert!(
            blur.sharpness < 0.5 * sharp.sharpness,
            "{blur:?} vs {sharp:?}"
        );
        assert!(blur.score < 0.5 * sharp.score, "{blur:?} vs {sharp:?}");
        assert_eq!((blur.size, blur.pose), (sharp.size, sharp.pose));
        // Downscaled until the face is 16 pixels tall: smaller, and less sharp too.
        let (small, small_face) = scaled(&photo, &face, 16.0 / face.bbox.height);
        let tiny = quality::assess(&small, &small_face);
        eprintln!(
            "{}: sharp {sharp:?}\n  blurred {blur:?}\n  16 px {tiny:?}",
            path.display()
        );
        assert!(tiny.size < 0.5 * sharp.size, "{tiny:?} vs {sharp:?}");
        assert!(tiny.score < 0.3 * sharp.score, "{tiny:?} vs {sharp:?}");
        // The pose proxies do not depend on the scale.
        assert!(
            (tiny.pose - sharp.pose).abs() < 0.05,
            "{tiny:?} vs {sharp:?}"
        );
    }
}

#[test]
fn a_face_downscaled_by_half_keeps_its_sharpness_measure() {
    // The crop is resized to a fixed size, so a face measured at half its size reads about
    // the same while both are taller than the crop: sharpness is not a second size measure.
    let shared = require_shared!();
    let (mut detector, _) = open(&shared);
    for name in [
        "Colin_Powell/Colin_Powell_0001.jpg",
        "Gloria_Macapagal_Arroyo/Gloria_Macapagal_Arroyo_0001.jpg",
    ] {
        let photo = decode(&shared.join("datasets/lfw/images").join(name));
        let face = largest_face(&mut detector, &photo).expect("a face");
        let (half, half_face) = scaled(&photo, &face, 0.5);
        assert!(
            half_face.bbox.height >= quality::CROP as f32,
            "{half_face:?}"
        );
        let (a, b) = (
            quality::measure(&photo, &face),
            quality::measure(&half, &half_face),
        );
        let ratio = b.laplacian_variance / a.laplacian_variance;
        eprintln!(
            "{name}: {} px {:.0}, {} px {:.0}",
            face.bbox.height, a.laplacian_variance, half_face.bbox.height, b.laplacian_variance
        );
        assert!((0.7..1.4).contains(&ratio), "{name}: {ratio}: {a:?} {b:?}");
        assert_eq!(a.quality().sharpness, b.quality().sharpness, "{a:?} {b:?}");
        // Blurred at full size, the same face reads far lower.
        let c = quality::measure(&blurred(&photo, face.bbox.height / 22.0), &face);
        assert!(
            c.laplacian_variance < 0.25 * a.laplacian_variance,
            "{name}: {c:?} {a:?}"
        );
    }
}

#[test]
fn min_quality_outside_0_to_1_is_refused_at_load_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["1.5", "-0.1", "nan"] {
        let config = common::write_config(
            dir.path(),
            &format!(
                "{}[library]\nmin_quality = {bad}\n",
                common::example_config("")
            ),
        );
        let (code, _, err) =
            common::run(common::facelab().arg("--config").arg(&config).arg("faces"));
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.contains("library.min_quality")
                && err.contains("out of range")
                && err.contains("facelab.toml"),
            "{bad}: {err}"
        );
    }
    let c = facelab_engine::config::Config::parse(
        &format!(
            "{}[library]\nmin_quality = 0.3\n",
            common::example_config("")
        ),
        Path::new("f.toml"),
    )
    .unwrap();
    assert_eq!(c.library.min_quality.value(), 0.3);
    // The value config/facelab.toml documents is the built-in default.
    let built_in = facelab_engine::config::Config::parse(
        facelab_engine::config::EMBEDDED_CONFIG,
        Path::new("built-in"),
    )
    .unwrap();
    assert_eq!(
        built_in.library.min_quality,
        facelab_engine::config::MinQuality::default()
    );
}

// ---- measurements ---------------------------------------------------------------------

/// Where the measurements write their raw results.
fn out_dir() -> PathBuf {
    let d = common::profile_dir().join("../quality");
    std::fs::create_dir_all(&d).unwrap();
    d
}

use facelab_cluster::linalg::normalized;

/// Whether each probe's nearest gallery face (other than its own photo) is the same person.
fn rank1(gallery: &[Vec<f32>], labels: &[usize], probes: &[(usize, Vec<f32>)]) -> Vec<bool> {
    probes
        .iter()
        .map(|(i, q)| {
            let mut best = (f32::MIN, usize::MAX);
            for (j, g) in gallery.iter().enumerate() {
                if j == *i || g.is_empty() {
                    continue;
                }
                let s: f32 = q.iter().zip(g).map(|(a, b)| a * b).sum();
                if s > best.0 {
                    best = (s, j);
                }
            }
            best.1 != usize::MAX && labels[best.1] == labels[*i]
        })
        .collect()
}

fn rate(v: &[bool]) -> f64 {
    v.iter().filter(|&&b| b).count() as f64 / v.len().max(1) as f64
}

/// Face heights of the size curve, photo pixels.
const HEIGHTS: [f32; 9] = [8.0, 10.0, 12.0, 16.0, 20.0, 24.0, 32.0, 48.0, 64.0];
/// Gaussian blurs of the sharpness curve, in pixels of the LFW photo (faces about 110 px).
const SIGMAS: [f32; 7] = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

#[derive(serde::Serialize)]
struct FaceRecord {
    path: String,
    person: usize,
    measures: quality::Measures,
    quality: Quality,
    rank1: bool,
}

#[derive(serde::Serialize)]
struct Curve {
    level: f32,
    probes: usize,
    rank1: f64,
    median_measure: f32,
}

#[test]
#[ignore = "a measurement: about 10 minutes on 2 cores"]
fn measure_size_blur_pose_on_lfw_people() {
    let shared = require_shared!();
    let (mut detector, mut recognizer) = open(&shared);
    let people = facelab_eval::bench::tasks::load_people(&shared.join("datasets/lfw"), 5).unwrap();
    let n = people.images.len();
    let mut gallery: Vec<Vec<f32>> = vec![Vec::new(); n];
    let mut faces: Vec<Option<(Face, quality::Measures)>> = vec![None; n];
    let mut size_probes: Vec<Vec<(usize, Vec<f32>, f32)>> = vec![Vec::new(); HEIGHTS.len()];
    let mut blur_probes: Vec<Vec<(usize, Vec<f32>, f32)>> = vec![Vec::new(); SIGMAS.len()];
    let start = std::time::Instant::now();
    for (i, path) in people.images.iter().enumerate() {
        let photo = decode(path);
        let Some(face) = largest_face(&mut detector, &photo) else {
            continue;
        };
        let e = recognizer.embed(&photo, &[face]).unwrap();
        gallery[i] = normalized(&e[0].values);
        faces[i] = Some((face, quality::measure(&photo, &face)));
        if i % 2 != 0 {
            continue;
        }
        for (k, &h) in HEIGHTS.iter().enumerate() {
            let f = h / face.bbox.height;
            if f >= 1.0 {
                continue;
            }
            let (p, pf) = scaled(&photo, &face, f);
            let e = recognizer.embed(&p, &[pf]).unwrap();
            let m = quality::measure(&p, &pf);
            size_probes[k].push((i, normalized(&e[0].values), m.laplacian_variance));
        }
        for (k, &s) in SIGMAS.iter().enumerate() {
            let p = blurred(&photo, s);
            let e = recognizer.embed(&p, &[face]).unwrap();
            let m = quality::measure(&p, &face);
            blur_probes[k].push((i, normalized(&e[0].values), m.laplacian_variance));
        }
        if i % 500 == 0 {
            eprintln!("{i}/{n} in {:.0} s", start.elapsed().as_secs_f64());
        }
    }
    // Full quality: leave-one-out rank-1 of every face.
    let all: Vec<(usize, Vec<f32>)> = (0..n)
        .filter(|&i| !gallery[i].is_empty())
        .map(|i| (i, gallery[i].clone()))
        .collect();
    let full = rank1(&gallery, &people.labels, &all);
    let even: Vec<bool> = all
        .iter()
        .zip(&full)
        .filter(|((i, _), _)| i % 2 == 0)
        .map(|(_, r)| *r)
        .collect();
    println!(
        "faces {} of {n} photos; rank-1 at full quality {:.4} (all), {:.4} (the probes)",
        all.len(),
        rate(&full),
        rate(&even)
    );
    let median = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
    };
    let curve = |probes: &[Vec<(usize, Vec<f32>, f32)>], levels: &[f32], name: &str| {
        let mut out = Vec::new();
        println!("| {name} | probes | rank-1 | median Laplacian variance |\n|---|---|---|---|");
        for (k, &level) in levels.iter().enumerate() {
            let ps: Vec<(usize, Vec<f32>)> =
                probes[k].iter().map(|(i, v, _)| (*i, v.clone())).collect();
            let r = rate(&rank1(&gallery, &people.labels, &ps));
            let med = median(probes[k].iter().map(|p| p.2).collect());
            println!("| {level} | {} | {r:.4} | {med:.1} |", ps.len());
            out.push(Curve {
                level,
                probes: ps.len(),
                rank1: r,
                median_measure: med,
            });
        }
        out
    };
    let size_curve = curve(&size_probes, &HEIGHTS, "face height px");
    let blur_curve = curve(&blur_probes, &SIGMAS, "blur sigma px");
    let records: Vec<FaceRecord> = all
        .iter()
        .zip(&full)
        .map(|((i, _), r)| {
            let (_, m) = faces[*i].unwrap();
            FaceRecord {
                path: people.images[*i].display().to_string(),
                person: people.labels[*i],
                measures: m,
                quality: m.quality(),
                rank1: *r,
            }
        })
        .collect();
    natural_bins(&records);
    std::fs::write(
        out_dir().join("lfw-curves.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "full_rank1": rate(&full), "probe_rank1": rate(&even),
            "size": size_curve, "blur": blur_curve, "faces": records,
        }))
        .unwrap(),
    )
    .unwrap();
}

/// Rank-1 of the undegraded faces binned by each natural measure.
fn natural_bins(records: &[FaceRecord]) {
    type Key = fn(&FaceRecord) -> Option<f32>;
    let measures: [(&str, Key, &[f32]); 5] = [
        (
            "|yaw|",
            |r| r.measures.yaw.map(f32::abs),
            &[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 9.0],
        ),
        (
            "|pitch|",
            |r| r.measures.pitch.map(f32::abs),
            &[0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 9.0],
        ),
        (
            "Laplacian variance",
            |r| Some(r.measures.laplacian_variance),
            &[0.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1e9],
        ),
        (
            "detector score",
            |r| Some(r.measures.detector_score),
            &[0.0, 0.9, 0.92, 0.94, 0.96, 1.01],
        ),
        (
            "face height",
            |r| Some(r.measures.height_px),
            &[0.0, 80.0, 100.0, 120.0, 140.0, 1e9],
        ),
    ];
    for (name, key, edges) in measures {
        println!("| {name} | faces | rank-1 |\n|---|---|---|");
        for w in edges.windows(2) {
            let bin: Vec<bool> = records
                .iter()
                .filter(|r| key(r).is_some_and(|v| v >= w[0] && v < w[1]))
                .map(|r| r.rank1)
                .collect();
            if !bin.is_empty() {
                println!(
                    "| {} – {} | {} | {:.4} |",
                    w[0],
                    w[1],
                    bin.len(),
                    rate(&bin)
                );
            }
        }
    }
}

#[test]
#[ignore = "a measurement: about a minute"]
fn measure_detector_score_precision_on_wider_mini() {
    let shared = require_shared!();
    let ctx = context(&config_text(
        &shared,
        "[detector.options]\nscore_threshold = 0.3\n",
    ));
    let mut detector = facelab_library::session::open_detector(&ctx).unwrap();
    let set =
        facelab_eval::wider::WiderSet::load(&shared.join("datasets/wider-face-val-mini")).unwrap();
    let edges = [0.3f32, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.01];
    let mut bins = vec![(0usize, 0usize); edges.len() - 1];
    for img in &set.images {
        let photo = decode(&img.path);
        let (faces, _) = detector.detect(&photo).unwrap();
        for f in &faces {
            let hit = img
                .boxes
                .iter()
                .any(|b| facelab_plugin_kit::geometry::iou(b, &f.bbox) >= 0.5);
            if let Some(k) = edges
                .windows(2)
                .position(|w| f.score >= w[0] && f.score < w[1])
            {
                bins[k].0 += 1;
                bins[k].1 += usize::from(hit);
            }
        }
    }
    println!("| detector score | detections | faces among them |\n|---|---|---|");
    for (w, (n, hit)) in edges.windows(2).zip(&bins) {
        println!(
            "| {} – {} | {n} | {:.3} |",
            w[0],
            w[1],
            *hit as f64 / (*n).max(1) as f64
        );
    }
}

/// The `min_quality` values the effect measurement compares.
const GATES: [f32; 9] = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6];

#[test]
#[ignore = "a measurement: about 10 minutes on 2 cores the first time (the library and the embeddings are kept in target/quality)"]
fn measure_min_quality_effect_on_lfw_people() {
    let shared = require_shared!();
    let people = facelab_eval::bench::tasks::load_people(&shared.join("datasets/lfw"), 5).unwrap();
    min_quality_effect(&shared, &people, "lfw-people");
}

#[test]
#[ignore = "a measurement: about 15 minutes on 2 cores the first time"]
fn measure_min_quality_effect_on_lfw_people_with_a_fifth_degraded() {
    // The LFW clustering set is news photos of detected, mostly sharp frontal faces; a
    // photo library also holds small and blurred ones. Here every fifth photo of each
    // person (the 5th, 10th, …) is replaced by a degraded copy: half of them downscaled so
    // the face is 10–39 px tall (LFW faces are about 130 px), half blurred by σ 2–7 px,
    // uniformly, by a seeded generator.
    let shared = require_shared!();
    let lfw = facelab_eval::bench::tasks::load_people(&shared.join("datasets/lfw"), 5).unwrap();
    let root = out_dir().join("lfw-people-degraded");
    let mut rng = facelab_cluster::Rng::new(29);
    let mut images = Vec::new();
    let mut nth = 0;
    for (i, path) in lfw.images.iter().enumerate() {
        nth = if i > 0 && lfw.labels[i] == lfw.labels[i - 1] {
            nth + 1
        } else {
            0
        };
        let dir = root.join(path.parent().unwrap().file_name().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        let (kind, u) = (rng.next_u64() % 2, rng.unit() as f32);
        if nth % 5 != 4 {
            let to = dir.join(path.file_name().unwrap());
            if !to.exists() {
                std::fs::copy(path, &to).unwrap();
            }
            images.push(to);
            continue;
        }
        let to = dir.join(path.file_stem().unwrap()).with_extension("png");
        if !to.exists() {
            let img = image::open(path).unwrap().to_luma8();
            let out = if kind == 0 {
                let f = 0.08 + 0.22 * u;
                let (w, h) = (img.width() as f32 * f, img.height() as f32 * f);
                image::imageops::resize(
                    &img,
                    w.round() as u32,
                    h.round() as u32,
                    image::imageops::FilterType::Triangle,
                )
            } else {
                image::imageops::blur(&img, 2.0 + 5.0 * u)
            };
            out.save(&to).unwrap();
        }
        images.push(to);
    }
    let people = facelab_eval::bench::tasks::PeopleData {
        images,
        labels: lfw.labels.clone(),
        identities: lfw.identities,
    };
    min_quality_effect(&shared, &people, "lfw-people-degraded");
}

/// The clustering task of the bench with every `GATES` value, and a library of `people`
/// clustered and suggested with each.
fn min_quality_effect(shared: &Path, people: &facelab_eval::bench::tasks::PeopleData, name: &str) {
    use facelab_engine::config::MinQuality;
    use facelab_eval::bench::clustering::{compare_gated, QualityGate};
    let shared = shared.to_owned();

    // 1. The bench's clustering task: the largest face of every photo, through the bench's
    // own embedding loop and cache, every method of config/bench.toml, gated.
    let ctx = context(&config_text(&shared, ""));
    let (mut detector, mut recognizer) = facelab_library::session::open_pipeline(&ctx).unwrap();
    let mut cache = facelab_eval::bench::cache::CacheFile::open(
        &out_dir().join("bench-cache"),
        name,
        &facelab_eval::bench::cache::KeyBuilder::default()
            .part("pipeline", &config_text(&shared, ""))
            .finish(),
        true,
    )
    .unwrap();
    let (records, _) = facelab_eval::bench::pipeline::embed_set(
        &mut detector,
        &mut recognizer,
        1 << 28,
        &mut cache,
        &people.images,
        name,
    )
    .unwrap();
    let (mut data, mut truth, mut quality, mut dim) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for (r, &label) in records.iter().zip(&people.labels) {
        if let (Some(_), Some(v)) = (&r.face, &r.embedding) {
            dim = v.len();
            data.extend_from_slice(v);
            truth.push(label);
            quality.push(r.quality.map(|q| q.score));
        }
    }
    let suite: toml::Table = toml::from_str(
        &std::fs::read_to_string(common::repo_root().join("config/bench.toml")).unwrap(),
    )
    .unwrap();
    let methods: Vec<toml::Table> = suite["tasks"]["clustering"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_table().unwrap().clone())
        .collect();
    println!(
        "bench clustering: {} faces of {} people\n| min_quality | method | faces left out | BCubed P / R / F (faces clustered) | BCubed F, all faces | pairwise F | clusters |\n|---|---|---|---|---|---|---|",
        truth.len(),
        people.identities
    );
    let mut rows = Vec::new();
    for g in GATES {
        let gate = QualityGate {
            quality: &quality,
            min_quality: MinQuality::new(g).unwrap(),
        };
        for m in compare_gated(&methods, &data, dim, &truth, Some(gate)).unwrap() {
            let q = m.quality_gate.as_ref().unwrap();
            println!(
                "| {g} | {} | {} | {:.4} / {:.4} / {:.4} | {:.4} | {:.4} | {} |",
                m.method,
                q.excluded,
                q.bcubed.precision,
                q.bcubed.recall,
                q.bcubed.f,
                q.bcubed_all.f,
                q.pairwise.f,
                q.clusters
            );
            rows.push(serde_json::json!({"min_quality": g, "method": m.method, "gate": q}));
        }
    }
    std::fs::write(
        out_dir().join(format!("{name}-bench-clustering.json")),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();

    // 2. The library a user has: every face of every photo scanned, 20% of each person's
    // photos named (their largest face, as import-labels does), the rest suggested; and
    // the unnamed faces clustered. Scored on the largest face of each photo (the person of
    // its folder); the other faces in the photos take part but have no truth.
    let db = out_dir().join(format!("{name}.sqlite"));
    let ctx = context(&config_text(
        &shared,
        &format!("[library]\npath = \"{}\"\nbatch_size = 128\n", db.display()),
    ));
    let mut lib = facelab_library::session::open_library(&ctx).unwrap();
    let dirs: Vec<PathBuf> = {
        let mut d: Vec<PathBuf> = people
            .images
            .iter()
            .map(|p| p.parent().unwrap().to_owned())
            .collect();
        d.dedup();
        d
    };
    let summary = facelab::cli::library::scan_dirs(&ctx, &mut lib, &dirs, false, false).unwrap();
    eprintln!(
        "scan: {} new, {} unchanged, {} failed in {:.0} s",
        summary.new,
        summary.unchanged,
        summary.failed.len(),
        summary.seconds
    );
    // A rerun starts from no names again.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM labels; DELETE FROM people;")
        .unwrap();
    let model = facelab_library::identity::ModelKeys::of_config(&ctx.config)
        .unwrap()
        .unwrap();
    let prior = ctx
        .store()
        .unwrap()
        .manifest
        .get("mobilefacenet-128")
        .and_then(|m| m.threshold.as_ref())
        .and_then(facelab_library::identity::CosineRule::from_threshold);
    // The largest face of each photo, and its person.
    let mut truth_of: std::collections::HashMap<i64, usize> = Default::default();
    let mut by_person: Vec<Vec<i64>> = vec![Vec::new(); people.identities];
    for (path, &label) in people.images.iter().zip(&people.labels) {
        let image = lib
            .image_id(&std::fs::canonicalize(path).unwrap())
            .unwrap()
            .unwrap();
        if let Some((face, _)) = lib.image_faces(image).unwrap().first() {
            truth_of.insert(*face, label);
            by_person[label].push(*face);
        }
    }
    // Clusters first (no names yet): every unnamed face is clustered, the largest faces scored.
    let algo = facelab_cluster::Algorithm::default();
    println!("\nlibrary cluster ({algo}), every face of {} photos, scored on the {} largest faces\n| min_quality | faces left out | scored faces left out | BCubed P / R / F (scored faces clustered) | BCubed F, all scored faces |\n|---|---|---|---|---|", people.images.len(), truth_of.len());
    let mut cluster_rows = Vec::new();
    for g in GATES {
        let gate = MinQuality::new(g).unwrap();
        let s = facelab_library::clusters::run(&mut lib, &model, &algo, true, gate).unwrap();
        let member: std::collections::HashMap<i64, i64> = {
            let conn = rusqlite::Connection::open(&db).unwrap();
            let mut stmt = conn
                .prepare("SELECT face_id, cluster_id FROM cluster_members")
                .unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let faces = facelab_library::Library::faces(&lib, None).unwrap();
        let passes: std::collections::HashSet<i64> = faces
            .iter()
            .filter(|f| gate.passes(f.quality.map(|q| q.score)))
            .map(|f| f.id)
            .collect();
        let scored: Vec<(i64, usize)> = truth_of.iter().map(|(f, t)| (*f, *t)).collect();
        let kept: Vec<&(i64, usize)> = scored.iter().filter(|(f, _)| passes.contains(f)).collect();
        let labels_all: Vec<Option<u32>> = scored
            .iter()
            .map(|(f, _)| member.get(f).map(|c| *c as u32))
            .collect();
        let truth_all: Vec<usize> = scored.iter().map(|(_, t)| *t).collect();
        let kept_labels: Vec<Option<u32>> = kept
            .iter()
            .map(|(f, _)| member.get(f).map(|c| *c as u32))
            .collect();
        let kept_truth: Vec<usize> = kept.iter().map(|(_, t)| *t).collect();
        let k = facelab_cluster::metrics::evaluate(&kept_truth, &kept_labels);
        let a = facelab_cluster::metrics::evaluate(&truth_all, &labels_all);
        println!(
            "| {g} | {} | {} | {:.4} / {:.4} / {:.4} | {:.4} |",
            s.below_min_quality,
            scored.len() - kept.len(),
            k.bcubed.precision,
            k.bcubed.recall,
            k.bcubed.f,
            a.bcubed.f
        );
        cluster_rows.push(serde_json::json!({"min_quality": g, "left_out": s.below_min_quality, "scored_left_out": scored.len() - kept.len(), "bcubed_kept": [k.bcubed.precision, k.bcubed.recall, k.bcubed.f], "bcubed_all": [a.bcubed.precision, a.bcubed.recall, a.bcubed.f]}));
    }
    // Name 20% of each person's photos (at least one), chosen by a seeded shuffle.
    let mut rng = facelab_cluster::Rng::new(13);
    let mut tagged = std::collections::HashSet::new();
    for (p, faces) in by_person.iter().enumerate() {
        let mut f = faces.clone();
        for i in (1..f.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            f.swap(i, j);
        }
        let n = ((f.len() as f64 * 0.2).round() as usize).max(1);
        for face in &f[..n] {
            if lib.person_of(*face).unwrap().is_none() {
                lib.confirm(*face, &format!("p{p}"), "import").unwrap();
            }
            tagged.insert(*face);
        }
    }
    println!("\nlibrary suggest, {} of {} largest faces named (20% of each person's photos), the other {} scored\n| min_quality | faces left out (all) | scored faces left out | suggested | right | wrong | precision | right of all scored | right − wrong | threshold |\n|---|---|---|---|---|---|---|---|---|---|", tagged.len(), truth_of.len(), truth_of.len() - tagged.len());
    let mut suggest_rows = Vec::new();
    for g in GATES {
        let run = facelab_library::suggest::suggest(
            &mut lib,
            &model,
            prior,
            ctx.config.library.suggest_margin,
            MinQuality::new(g).unwrap(),
        )
        .unwrap();
        let said: std::collections::HashMap<i64, Option<String>> = run
            .suggestions
            .iter()
            .map(|s| (s.face, s.person.clone()))
            .collect();
        let (mut left_out, mut suggested, mut right, mut wrong) = (0, 0, 0, 0);
        let scored = truth_of.iter().filter(|(f, _)| !tagged.contains(f));
        let mut n = 0;
        for (f, t) in scored {
            n += 1;
            match said.get(f) {
                None => left_out += 1,
                Some(None) => {}
                Some(Some(p)) => {
                    suggested += 1;
                    if *p == format!("p{t}") {
                        right += 1
                    } else {
                        wrong += 1
                    }
                }
            }
        }
        println!(
            "| {g} | {} | {left_out} | {suggested} | {right} | {wrong} | {:.4} | {:.4} | {} | {:.3} ({}) |",
            run.below_min_quality,
            right as f64 / suggested.max(1) as f64,
            right as f64 / n as f64,
            right as i64 - wrong as i64,
            run.threshold.value,
            run.threshold.source
        );
        suggest_rows.push(serde_json::json!({"min_quality": g, "left_out_all": run.below_min_quality, "scored": n, "scored_left_out": left_out, "suggested": suggested, "right": right, "wrong": wrong, "threshold": run.threshold.value}));
    }
    std::fs::write(
        out_dir().join(format!("{name}-library.json")),
        serde_json::to_string_pretty(
            &serde_json::json!({"cluster": cluster_rows, "suggest": suggest_rows}),
        )
        .unwrap(),
    )
    .unwrap();
}

#[test]
#[ignore = "a measurement: a few minutes"]
fn measure_sharpness_of_the_size_and_blur_levels() {
    // The sharpness measure of the probes of `measure_size_blur_pose_on_lfw_people` (every
    // second photo), without embedding them: the rank-1 rates of the levels do not depend
    // on how sharpness is measured, so a change of the measure (such as `CROP`) needs only
    // this to place its constants.
    let shared = require_shared!();
    let (mut detector, _) = open(&shared);
    let people = facelab_eval::bench::tasks::load_people(&shared.join("datasets/lfw"), 5).unwrap();
    let mut size: Vec<Vec<f32>> = vec![Vec::new(); HEIGHTS.len()];
    let mut blur: Vec<Vec<f32>> = vec![Vec::new(); SIGMAS.len()];
    let mut natural = Vec::new();
    for path in people.images.iter().step_by(2) {
        let photo = decode(path);
        let Some(face) = largest_face(&mut detector, &photo) else {
            continue;
        };
        natural.push(quality::measure(&photo, &face).laplacian_variance);
        for (k, &h) in HEIGHTS.iter().enumerate() {
            let f = h / face.bbox.height;
            if f < 1.0 {
                let (p, pf) = scaled(&photo, &face, f);
                size[k].push(quality::measure(&p, &pf).laplacian_variance);
            }
        }
        for (k, &s) in SIGMAS.iter().enumerate() {
            blur[k].push(quality::measure(&blurred(&photo, s), &face).laplacian_variance);
        }
    }
    let pct = |v: &mut Vec<f32>, p: f64| {
        v.sort_by(f32::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "crop {}²; {} faces undegraded: Laplacian variance p5 {:.1}, p25 {:.1}, median {:.1}",
        quality::CROP,
        natural.len(),
        pct(&mut natural, 0.05),
        pct(&mut natural, 0.25),
        pct(&mut natural, 0.5)
    );
    println!("| face height px | median Laplacian variance |\n|---|---|");
    for (h, v) in HEIGHTS.iter().zip(&mut size) {
        println!("| {h} | {:.1} |", pct(v, 0.5));
    }
    println!("| blur sigma px | median Laplacian variance |\n|---|---|");
    for (s, v) in SIGMAS.iter().zip(&mut blur) {
        println!("| {s} | {:.1} |", pct(v, 0.5));
    }
}
