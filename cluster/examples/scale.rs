//! The scale check: synthetic face-like embeddings, clustered end to end.
//!
//! ```text
//! /usr/bin/time -v target/release/examples/scale [--n 100000] [--ids 10000] [--dim 128]
//!     [--method chinese-whispers|agglomerative|dbscan|knn] [--nlist 0] [--nprobe 16] [--refine 2]
//!     [--fanout 10] [--recall 1000]
//! ```
//!
//! Each identity is a random unit centre; its faces are `centre + σ·z/√dim`, normalised, with
//! `z` standard normal and σ drawn per identity in [0.5, 0.8], so two faces of one identity
//! have cosine ≈ 1/(1+σ²) ∈ [0.61, 0.8] and faces of different identities ≈ 0 ± 0.09, like
//! real 128-D face embeddings. Prints the data's similarity statistics, the kNN graph's time
//! and recall@k against brute force on a sample of queries, and for the method its time,
//! BCubed/pairwise F and cluster count. Peak memory is what `/usr/bin/time -v` reports.

use std::time::Instant;

use facelab_cluster::knn::{self, KnnConfig};
use facelab_cluster::linalg::{dot, normalize, Rng};
use facelab_cluster::metrics::evaluate;
use facelab_cluster::{cluster, AgglomerativeParams, Algorithm, DbscanParams, WhispersParams};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad value for {name}")))
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = arg(&args, "--n", 100_000);
    let ids: usize = arg(&args, "--ids", 10_000);
    let dim: usize = arg(&args, "--dim", 128);
    let method: String = arg(&args, "--method", "chinese-whispers".to_string());
    let nprobe: usize = arg(&args, "--nprobe", KnnConfig::default().nprobe);
    let recall_queries: usize = arg(&args, "--recall", 1000);
    let refine: usize = arg(&args, "--refine", KnnConfig::default().refine);
    let fanout: usize = arg(&args, "--fanout", KnnConfig::default().fanout);
    let nlist: usize = arg(&args, "--nlist", KnnConfig::default().nlist);
    let knn = KnnConfig {
        nprobe,
        refine,
        fanout,
        nlist,
        ..KnnConfig::default()
    };

    let t = Instant::now();
    let mut rng = Rng::new(42);
    let mut centres = vec![0f32; ids * dim];
    for c in centres.chunks_exact_mut(dim) {
        c.iter_mut().for_each(|x| *x = rng.gaussian() as f32);
        normalize(c);
    }
    let sigma: Vec<f32> = (0..ids).map(|_| 0.5 + 0.3 * rng.unit() as f32).collect();
    let mut data = vec![0f32; n * dim];
    let mut truth = vec![0u32; n];
    let scale = 1.0 / (dim as f32).sqrt();
    for (i, row) in data.chunks_exact_mut(dim).enumerate() {
        let id = i % ids;
        truth[i] = id as u32;
        for (x, c) in row.iter_mut().zip(&centres[id * dim..(id + 1) * dim]) {
            *x = c + sigma[id] * scale * rng.gaussian() as f32;
        }
        normalize(row);
    }
    drop(centres);
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for _ in 0..2000 {
        let i = rng.below(n);
        let j = (i + ids * (1 + rng.below((n / ids).max(2) - 1))) % n;
        if j != i && truth[j] == truth[i] {
            same.push(dot(row(i), row(j)));
        }
        let j = rng.below(n);
        if truth[j] != truth[i] {
            diff.push(dot(row(i), row(j)));
        }
    }
    let stat = |v: &[f32]| {
        let m = v.iter().sum::<f32>() / v.len().max(1) as f32;
        let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len().max(1) as f32).sqrt();
        (m, sd)
    };
    println!(
        "data: {n} × {dim}-D, {ids} identities; cosine same identity {:.3} ± {:.3}, different {:.3} ± {:.3} ({:.1} s to generate)",
        stat(&same).0,
        stat(&same).1,
        stat(&diff).0,
        stat(&diff).1,
        t.elapsed().as_secs_f64()
    );

    if method == "knn" {
        let t = Instant::now();
        let g = knn::build(&data, dim, &knn);
        let built = t.elapsed().as_secs_f64();
        let queries: Vec<u32> = (0..recall_queries.min(n))
            .map(|_| rng.below(n) as u32)
            .collect();
        let t = Instant::now();
        let r = knn::recall(&g, &data, dim, &queries);
        let r4 = knn::recall_above(&g, &data, dim, &queries, 0.4);
        println!(
            "knn graph: k = {}, {} (nlist {nlist}, nprobe {nprobe}, refine {refine} × fanout {fanout}): {built:.2} s; vs brute force on {} queries: recall@k {r:.4}, recall of neighbours with cosine >= 0.4 {r4:.4} ({:.2} s)",
            g.k(),
            if n < knn.exact_below { "exact" } else { "ivf" },
            queries.len(),
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let algo = match method.as_str() {
        "chinese-whispers" => Algorithm::ChineseWhispers(WhispersParams {
            knn,
            ..Default::default()
        }),
        "agglomerative" => Algorithm::Agglomerative(AgglomerativeParams {
            knn,
            ..Default::default()
        }),
        "dbscan" => Algorithm::Dbscan(DbscanParams {
            knn,
            ..Default::default()
        }),
        other => panic!("unknown method {other}"),
    };
    let t = Instant::now();
    let labels = cluster(&data, dim, &algo, &[]).expect("clustering failed");
    let secs = t.elapsed().as_secs_f64();
    let r = evaluate(&truth, &labels);
    println!(
        "{algo}: {secs:.2} s; {} clusters ({} noise); BCubed P/R/F {:.3}/{:.3}/{:.3}; pairwise P/R/F {:.3}/{:.3}/{:.3}",
        r.clusters, r.noise, r.bcubed.precision, r.bcubed.recall, r.bcubed.f, r.pairwise.precision, r.pairwise.recall, r.pairwise.f
    );
}
