//! The clustering robustness sets (cluster/README.md): every setting of the default method on
//! every set, and the rule that picks the defaults.
//!
//! ```text
//! cargo run --release -p facelab-cluster --example robust -- \
//!     NAME=CACHE.jsonl[@DECLARED] ... [--z 3,3.5,4] [--ceiling 0.4,0.5] [--link-quality 0,0.3]
//!     [--fixed 0.4,0.5]
//! ```
//!
//! Each input is a `facelab bench` cache file of the clustering task (one JSON record per
//! photo: `path`, `face`, `embedding`, `quality.score`), the person being the photo's folder;
//! `@DECLARED` is the recognizer's declared cosine rule (its manifest threshold), the floor
//! and fallback of `threshold = "auto"`. Every grid point runs on every set, with the same
//! parameters; printed: BCubed P / R / F per set, and the worst of each over the sets.
//!
//! The rule (precision first): among the settings whose BCubed precision is ≥ 0.98 on every
//! set, the highest worst-case BCubed F; settings within [`TIE`] of it tie (Chinese Whispers
//! moves by ±0.004 when its visiting order changes), and ties go to the larger `z`, then the
//! larger `link_quality`, then the smaller `ceiling` (all stricter).

use std::collections::HashMap;

use facelab_cluster::linalg::{dot, normalize, Rng};
use facelab_cluster::metrics::evaluate;
use facelab_cluster::{
    cluster_with, Algorithm, AutoParams, Context, Evidence, Threshold, WhispersParams,
};

/// Worst-case F differences below this are noise.
const TIE: f64 = 0.005;

struct Set {
    name: String,
    data: Vec<f32>,
    dim: usize,
    truth: Vec<u32>,
    quality: Vec<f32>,
    declared: Option<f32>,
}

fn read(arg: &str) -> Result<Set, String> {
    let (name, rest) = arg
        .split_once('=')
        .ok_or(format!("{arg}: expected NAME=FILE"))?;
    let (file, declared) = match rest.split_once('@') {
        Some((f, d)) => (f, Some(d.parse::<f32>().map_err(|e| format!("{d}: {e}"))?)),
        None => (rest, None),
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let mut set = Set {
        name: name.to_owned(),
        data: vec![],
        dim: 0,
        truth: vec![],
        quality: vec![],
        declared,
    };
    let mut ids: HashMap<String, u32> = HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{file}: {e}"))?;
        let (Some(path), Some(emb)) = (v["path"].as_str(), v["embedding"].as_array()) else {
            continue;
        };
        if v["face"].is_null() {
            continue;
        }
        let person = path.rsplit('/').nth(1).unwrap_or("").to_owned();
        let n = ids.len() as u32;
        set.truth.push(*ids.entry(person).or_insert(n));
        set.dim = emb.len();
        set.data
            .extend(emb.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32));
        set.quality.push(
            v["quality"]["score"]
                .as_f64()
                .map(|q| q as f32)
                .unwrap_or(f32::NAN),
        );
    }
    Ok(set)
}

/// Over 400,000 seeded random pairs of a set's faces: their median cosine, their spread
/// (1.4826 × MAD, as `threshold = "auto"` measures them) and the highest cosine of a pair
/// that is two people (by the truth labels): how far the strangers' tail reaches.
fn tail(s: &Set) -> (f32, f32, f32) {
    let n = s.truth.len();
    let rows: Vec<Vec<f32>> = s
        .data
        .chunks_exact(s.dim.max(1))
        .map(|r| {
            let mut v = r.to_vec();
            normalize(&mut v);
            v
        })
        .collect();
    let mut rng = Rng::new(1);
    let (mut sims, mut strangers_max) = (Vec::new(), f32::NEG_INFINITY);
    for _ in 0..400_000 {
        let (i, j) = (rng.below(n.max(1)), rng.below(n.max(1)));
        if i == j {
            continue;
        }
        let c = dot(&rows[i], &rows[j]);
        sims.push(c);
        if s.truth[i] != s.truth[j] {
            strangers_max = strangers_max.max(c);
        }
    }
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
    };
    let m = median(&mut sims);
    let mut dev: Vec<f32> = sims.iter().map(|x| (x - m).abs()).collect();
    (m, 1.4826 * median(&mut dev), strangers_max)
}

fn list(args: &[String], flag: &str, default: &[f32]) -> Vec<f32> {
    match args.iter().position(|a| a == flag) {
        Some(i) => args[i + 1].split(',').map(|x| x.parse().unwrap()).collect(),
        None => default.to_vec(),
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sets = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i].starts_with("--") {
            i += 2;
            continue;
        }
        sets.push(read(&args[i])?);
        i += 1;
    }
    let zs = list(&args, "--z", &[3.0, 3.5, 4.0, 4.5, 5.0, 5.5]);
    let lqs = list(&args, "--link-quality", &[0.0, 0.3]);
    let fixed = list(&args, "--fixed", &[]);
    let ceilings = list(&args, "--ceiling", &[AutoParams::default().ceiling]);
    for s in &sets {
        let people: std::collections::HashSet<_> = s.truth.iter().collect();
        let (median, spread, strangers_max) = tail(s);
        eprintln!(
            "{}: {} faces of {} people, dim {}, declared {:?}, quality < 0.3: {}; random pairs: median {median:.3}, spread {spread:.3}; the most similar strangers {:.2} spreads above the median",
            s.name,
            s.truth.len(),
            people.len(),
            s.dim,
            s.declared,
            s.quality.iter().filter(|q| **q < 0.3).count(),
            (strangers_max - median) / spread
        );
    }
    let mut settings: Vec<(String, Algorithm)> = Vec::new();
    for &lq in &lqs {
        for &z in &zs {
            for &c in &ceilings {
                settings.push((
                    format!("auto z={z} ceiling={c} lq={lq}"),
                    Algorithm::ChineseWhispers(WhispersParams {
                        threshold: Threshold::Auto,
                        auto: AutoParams {
                            z,
                            ceiling: c,
                            ..AutoParams::default()
                        },
                        link_quality: lq,
                        ..WhispersParams::default()
                    }),
                ));
            }
        }
        for &t in &fixed {
            settings.push((
                format!("fixed {t} lq={lq}"),
                Algorithm::ChineseWhispers(WhispersParams {
                    threshold: Threshold::Fixed(t),
                    link_quality: lq,
                    ..WhispersParams::default()
                }),
            ));
        }
    }
    // (worst F, z, link_quality, ceiling, label) of every admissible auto setting.
    let mut admissible: Vec<(f64, f32, f32, f32, String)> = Vec::new();
    for (label, algo) in &settings {
        let mut row = format!("| {label} |");
        let (mut worst_p, mut worst_r, mut worst_f) = (1.0f64, 1.0f64, 1.0f64);
        for s in &sets {
            let ctx = Context {
                evidence: Evidence {
                    declared: s.declared,
                    negative_sims: &[],
                },
                quality: Some(&s.quality),
                ..Context::default()
            };
            let out = cluster_with(&s.data, s.dim, algo, &ctx).map_err(|e| e.to_string())?;
            let r = evaluate(&s.truth, &out.labels);
            let t = out.threshold.map(|t| t.value).unwrap_or(f32::NAN);
            row += &format!(
                " {:.3} / {:.3} / {:.3} (t {:.3}, {} cl) |",
                r.bcubed.precision, r.bcubed.recall, r.bcubed.f, t, r.clusters
            );
            worst_p = worst_p.min(r.bcubed.precision);
            worst_r = worst_r.min(r.bcubed.recall);
            worst_f = worst_f.min(r.bcubed.f);
        }
        row += &format!(" {worst_p:.3} / {worst_r:.3} / **{worst_f:.3}** |");
        println!("{row}");
        if let (true, Algorithm::ChineseWhispers(p)) = (worst_p >= 0.98, algo) {
            if p.threshold == Threshold::Auto {
                admissible.push((
                    worst_f,
                    p.auto.z,
                    p.link_quality,
                    p.auto.ceiling,
                    label.clone(),
                ));
            }
        }
    }
    let top = admissible.iter().map(|a| a.0).fold(f64::NAN, f64::max);
    let chosen = admissible
        .iter()
        .filter(|a| a.0 >= top - TIE)
        .max_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then(a.2.total_cmp(&b.2))
                .then(b.3.total_cmp(&a.3))
        });
    match chosen {
        Some((f, _, _, _, label)) => println!(
            "\nchosen by the rule: {label} (worst BCubed F {f:.3}; best admissible {top:.3})"
        ),
        None => println!("\nno auto setting reaches BCubed precision 0.98 on every set"),
    }
    Ok(())
}
