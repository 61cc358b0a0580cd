//! Clustering quality on real face embeddings.
//!
//! ```text
//! cargo run --release -p facelab-cluster --example measure -- ORL.tsv LFW.tsv [--grid]
//! ```
//!
//! For each method, every setting of a grid is run on ORL and on LFW. Parameters are chosen
//! by the rule "the highest BCubed F on ORL" (ties: the first in grid order), then that
//! setting is reported on LFW next to the best LFW setting (an oracle, to show the
//! generalisation gap). `--grid` also prints every grid point.

use std::path::Path;
use std::time::Instant;

use facelab_cluster::metrics::{evaluate, Report};
use facelab_cluster::{
    cluster, AgglomerativeParams, Algorithm, DbscanParams, KnnConfig, WhispersParams,
};

mod common;

/// One grid point: the method, its secondary parameter (`min_points` or `k`), the index of
/// its primary parameter (`eps` or `threshold`) in the sweep, and the settings.
struct Point {
    secondary: usize,
    step: usize,
    algo: Algorithm,
}

/// Secondary parameters are listed with the crate default first (the last tie-break).
fn grid() -> Vec<Point> {
    let steps = |a: f32, b: f32, s: f32| {
        let n = ((b - a) / s).round() as usize;
        (0..=n)
            .map(move |i| ((a + i as f32 * s) * 1000.0).round() / 1000.0)
            .enumerate()
    };
    let knn = |k| KnnConfig {
        k,
        ..KnnConfig::default()
    };
    let mut g = Vec::new();
    for min_points in [3, 2, 4, 5] {
        for (step, eps) in steps(0.3, 0.8, 0.025) {
            g.push(Point {
                secondary: min_points,
                step,
                algo: Algorithm::Dbscan(DbscanParams {
                    eps,
                    min_points,
                    knn: knn(30),
                }),
            });
        }
    }
    for k in [30, 10, 20, 50] {
        for (step, threshold) in steps(0.2, 0.7, 0.025) {
            let algo = Algorithm::ChineseWhispers(WhispersParams {
                threshold: facelab_cluster::Threshold::Fixed(threshold),
                knn: knn(k),
                ..Default::default()
            });
            g.push(Point {
                secondary: k,
                step,
                algo,
            });
        }
    }
    for k in [30, 10, 20, 50] {
        for (step, threshold) in steps(0.1, 0.6, 0.025) {
            let algo = Algorithm::Agglomerative(AgglomerativeParams {
                threshold,
                knn: knn(k),
                ..Default::default()
            });
            g.push(Point {
                secondary: k,
                step,
                algo,
            });
        }
    }
    g
}

fn family(a: &Algorithm) -> &'static str {
    match a {
        Algorithm::Dbscan(_) => "dbscan",
        Algorithm::ChineseWhispers(_) => "chinese-whispers",
        Algorithm::Agglomerative(_) => "agglomerative",
    }
}

fn run(d: &common::Dataset, a: &Algorithm) -> (Report, f64) {
    let t = Instant::now();
    let labels = cluster(&d.data, d.dim, a, &[]).expect("clustering failed");
    let secs = t.elapsed().as_secs_f64();
    (evaluate(&d.truth, &labels), secs)
}

fn row(set: &str, rule: &str, a: &Algorithm, r: &Report, secs: f64) {
    println!(
        "| {set} | {} | {rule} | {a} | {:.3} / {:.3} / {:.3} | {:.3} / {:.3} / {:.3} | {} ({} noise) | {:.2} |",
        family(a),
        r.pairwise.precision,
        r.pairwise.recall,
        r.pairwise.f,
        r.bcubed.precision,
        r.bcubed.recall,
        r.bcubed.f,
        r.clusters,
        r.noise,
        secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let show_grid = args.iter().any(|a| a == "--grid");
    if files.len() != 2 {
        eprintln!("usage: measure ORL.tsv LFW.tsv [--grid]");
        std::process::exit(2);
    }
    let orl = common::read(Path::new(files[0])).unwrap_or_else(|e| panic!("{e}"));
    let lfw = common::read(Path::new(files[1])).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "ORL: {} faces, {} identities; LFW: {} faces, {} identities; dim {}\n",
        orl.len(),
        orl.names.len(),
        lfw.len(),
        lfw.names.len(),
        lfw.dim
    );
    let grid = grid();
    let mut results = Vec::new();
    for p in &grid {
        let a = &p.algo;
        let (ro, so) = run(&orl, a);
        let (rl, sl) = run(&lfw, a);
        if show_grid {
            eprintln!(
                "{a}: ORL bcubed F {:.3} pairwise F {:.3} | LFW bcubed F {:.3} pairwise F {:.3} ({} clusters, {:.2} s)",
                ro.bcubed.f, ro.pairwise.f, rl.bcubed.f, rl.pairwise.f, rl.clusters, sl
            );
        }
        results.push((a, ro, so, rl, sl));
    }
    println!("| data | method | rule | parameters | pairwise P / R / F | BCubed P / R / F | clusters | seconds |");
    println!("|---|---|---|---|---|---|---|---|");
    for fam in ["dbscan", "chinese-whispers", "agglomerative"] {
        let mine: Vec<usize> = (0..grid.len())
            .filter(|&i| family(&grid[i].algo) == fam)
            .collect();
        // The rule: the highest ORL BCubed F; ties go to the higher mean ORL BCubed F over the
        // point and its two neighbours in the primary sweep (the middle of a plateau), then to
        // the first in grid order (the default secondary parameter, then the lower threshold).
        let smooth = |i: usize| {
            let near: Vec<f64> = mine
                .iter()
                .filter(|&&j| {
                    grid[j].secondary == grid[i].secondary
                        && grid[j].step.abs_diff(grid[i].step) <= 1
                })
                .map(|&j| results[j].1.bcubed.f)
                .collect();
            near.iter().sum::<f64>() / near.len() as f64
        };
        let key = |i: usize| (results[i].1.bcubed.f, smooth(i));
        let best = mine
            .iter()
            .copied()
            .fold(mine[0], |b, i| if key(i) > key(b) { i } else { b });
        let best_orl = &results[best];
        let mine: Vec<_> = mine.iter().map(|&i| &results[i]).collect();
        let best_lfw = mine.iter().fold(
            mine[0],
            |b, r| if r.3.bcubed.f > b.3.bcubed.f { r } else { b },
        );
        row(
            "ORL",
            "max ORL BCubed F",
            best_orl.0,
            &best_orl.1,
            best_orl.2,
        );
        row("LFW", "ORL-chosen", best_orl.0, &best_orl.3, best_orl.4);
        row(
            "LFW",
            "best on LFW (oracle)",
            best_lfw.0,
            &best_lfw.3,
            best_lfw.4,
        );
    }
    let d = Algorithm::default();
    let (r, s) = run(&lfw, &d);
    row("LFW", "crate default", &d, &r, s);
    let (r, s) = run(&orl, &d);
    row("ORL", "crate default", &d, &r, s);
}
