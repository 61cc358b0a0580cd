//! Recognition benchmarks with the standard protocols of `../shared/datasets/README.md`:
//! ORL identification (tag a fraction of each subject's images, predict the rest by the
//! nearest class centroid, cosine) and LFW View 2 verification (10 folds, threshold chosen on
//! nine, tested on the tenth).

use std::path::{Path, PathBuf};

use facelab_cluster::linalg::normalized;
use facelab_cluster::{dot, Rng};

/// Identification accuracy with `tagged` images of each class as the gallery (chosen by
/// `seed`) and every other image as a probe: nearest class centroid by cosine, and
/// 1-nearest-neighbour by cosine. Returns (centroid accuracy, kNN accuracy).
pub fn identification(
    vectors: &[Vec<f32>],
    labels: &[usize],
    tagged: usize,
    seed: u64,
) -> (f64, f64) {
    let classes = labels.iter().max().map(|m| m + 1).unwrap_or(0);
    let mut rng = Rng::new(seed);
    let mut gallery = vec![false; vectors.len()];
    for c in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        rng.shuffle(&mut members);
        for &i in members.iter().take(tagged) {
            gallery[i] = true;
        }
    }
    let units: Vec<Vec<f32>> = vectors.iter().map(|v| normalized(v)).collect();
    let dim = units.first().map(|v| v.len()).unwrap_or(0);
    let mut centroids = vec![vec![0.0f32; dim]; classes];
    for (i, v) in units.iter().enumerate().filter(|(i, _)| gallery[*i]) {
        centroids[labels[i]]
            .iter_mut()
            .zip(v)
            .for_each(|(c, x)| *c += x);
    }
    let centroids: Vec<Vec<f32>> = centroids.iter().map(|c| normalized(c)).collect();
    let (mut right_c, mut right_k, mut probes) = (0usize, 0usize, 0usize);
    for (i, v) in units.iter().enumerate().filter(|(i, _)| !gallery[*i]) {
        probes += 1;
        let best_c =
            (0..classes).max_by(|&a, &b| dot(v, &centroids[a]).total_cmp(&dot(v, &centroids[b])));
        right_c += (best_c == Some(labels[i])) as usize;
        let best_k = (0..units.len())
            .filter(|&j| gallery[j])
            .max_by(|&a, &b| dot(v, &units[a]).total_cmp(&dot(v, &units[b])));
        right_k += (best_k.map(|j| labels[j]) == Some(labels[i])) as usize;
    }
    let p = probes.max(1) as f64;
    (right_c as f64 / p, right_k as f64 / p)
}

/// Mean and (population) standard deviation.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt(),
    )
}

/// The ORL images: `root/sX/Y.pgm`, labelled by subject (0-based, in subject order).
pub fn orl_images(root: &Path) -> anyhow::Result<Vec<(PathBuf, usize)>> {
    let mut out = Vec::new();
    for s in 1..=40 {
        for i in 1..=10 {
            let p = root.join(format!("s{s}/{i}.pgm"));
            if !p.is_file() {
                anyhow::bail!(
                    "{}: missing (the ORL layout is sX/Y.pgm, X = 1..40, Y = 1..10)",
                    p.display()
                );
            }
            out.push((p, s - 1));
        }
    }
    Ok(out)
}

/// One LFW pair: two image paths, whether they show the same person, and its fold.
#[derive(Debug, Clone)]
pub struct Pair {
    /// First image.
    pub a: PathBuf,
    /// Second image.
    pub b: PathBuf,
    /// Same person.
    pub same: bool,
    /// Fold, 0..10.
    pub fold: usize,
}

/// Reads the standard View 2 `pairs.txt` (first line `10 300`).
pub fn lfw_pairs(root: &Path) -> anyhow::Result<Vec<Pair>> {
    let file = root.join("pairs.txt");
    let text =
        std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut lines = text.lines();
    let head: Vec<usize> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [folds, per] = head[..] else {
        anyhow::bail!("{}:1: expected `10 300`", file.display())
    };
    let img = |name: &str, n: &str| -> anyhow::Result<PathBuf> {
        let n: u32 = n
            .parse()
            .map_err(|_| anyhow::anyhow!("{}: bad image number `{n}`", file.display()))?;
        Ok(root
            .join("images")
            .join(name)
            .join(format!("{name}_{n:04}.jpg")))
    };
    let mut pairs = Vec::with_capacity(folds * per * 2);
    for fold in 0..folds {
        for k in 0..2 * per {
            let line = lines.next().ok_or_else(|| {
                anyhow::anyhow!("{}: ends early in fold {}", file.display(), fold + 1)
            })?;
            let f: Vec<&str> = line.split_whitespace().collect();
            let pair = match (k < per, f.as_slice()) {
                (true, [name, i, j]) => Pair {
                    a: img(name, i)?,
                    b: img(name, j)?,
                    same: true,
                    fold,
                },
                (false, [n1, i, n2, j]) => Pair {
                    a: img(n1, i)?,
                    b: img(n2, j)?,
                    same: false,
                    fold,
                },
                _ => anyhow::bail!("{}: unexpected line `{line}`", file.display()),
            };
            pairs.push(pair);
        }
    }
    Ok(pairs)
}

/// LFW verification results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    /// Accuracy per fold.
    pub fold_accuracy: Vec<f64>,
    /// Mean accuracy.
    pub accuracy: f64,
    /// Its standard deviation.
    pub accuracy_sd: f64,
    /// Threshold chosen on all ten folds (what `compare` would use).
    pub threshold: f64,
    /// Area under the ROC curve over all pairs.
    pub roc_auc: f64,
    /// True-accept rate at a false-accept rate of 1e-3.
    pub tar_at_far_1e3: f64,
    /// ROC points (FAR, TAR), for charts.
    pub roc: Vec<(f64, f64)>,
}

fn best_threshold(scores: &[(f64, bool)]) -> f64 {
    let mut cands: Vec<f64> = scores.iter().map(|s| s.0).collect();
    cands.sort_by(f64::total_cmp);
    let acc = |t: f64| scores.iter().filter(|(s, same)| (*s >= t) == *same).count();
    let mut best = (0usize, 0.0f64);
    for w in cands.windows(2) {
        let t = (w[0] + w[1]) / 2.0;
        let a = acc(t);
        if a > best.0 {
            best = (a, t);
        }
    }
    best.1
}

/// 10-fold verification from per-pair scores (higher = more alike).
pub fn verification(scores: &[f64], pairs: &[Pair]) -> Verification {
    let folds = pairs
        .iter()
        .map(|p| p.fold)
        .max()
        .map(|m| m + 1)
        .unwrap_or(0);
    let all: Vec<(f64, bool)> = scores
        .iter()
        .zip(pairs)
        .map(|(s, p)| (*s, p.same))
        .collect();
    let mut fold_accuracy = Vec::new();
    for k in 0..folds {
        let train: Vec<(f64, bool)> = all
            .iter()
            .zip(pairs)
            .filter(|(_, p)| p.fold != k)
            .map(|(s, _)| *s)
            .collect();
        let t = best_threshold(&train);
        let test: Vec<&(f64, bool)> = all
            .iter()
            .zip(pairs)
            .filter(|(_, p)| p.fold == k)
            .map(|(s, _)| s)
            .collect();
        let right = test.iter().filter(|(s, same)| (*s >= t) == *same).count();
        fold_accuracy.push(right as f64 / test.len().max(1) as f64);
    }
    let (accuracy, accuracy_sd) = mean_sd(&fold_accuracy);
    // ROC over all pairs, sweeping the threshold from high to low.
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = all.iter().filter(|s| s.1).count().max(1) as f64;
    let neg = all.iter().filter(|s| !s.1).count().max(1) as f64;
    let (mut tp, mut fp, mut auc, mut prev_far, mut prev_tar) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut roc = vec![(0.0, 0.0)];
    let mut tar_at = 0.0;
    for (i, (_, same)) in sorted.iter().enumerate() {
        if *same {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = i + 1 == sorted.len() || sorted[i + 1].0 != sorted[i].0;
        if last_of_tie {
            let (far, tar) = (fp / neg, tp / pos);
            auc += (far - prev_far) * (tar + prev_tar) / 2.0;
            if far <= 1e-3 {
                tar_at = tar;
            }
            roc.push((far, tar));
            (prev_far, prev_tar) = (far, tar);
        }
    }
    Verification {
        fold_accuracy,
        accuracy,
        accuracy_sd,
        threshold: best_threshold(&all),
        roc_auc: auc,
        tar_at_far_1e3: tar_at,
        roc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_on_separable_scores_is_perfect() {
        let pairs: Vec<Pair> = (0..600)
            .map(|i| Pair {
                a: "a".into(),
                b: "b".into(),
                same: i % 2 == 0,
                fold: i / 60,
            })
            .collect();
        let scores: Vec<f64> = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if p.same {
                    0.6 + (i % 7) as f64 * 0.01
                } else {
                    0.1 + (i % 5) as f64 * 0.01
                }
            })
            .collect();
        let v = verification(&scores, &pairs);
        assert_eq!(v.accuracy, 1.0);
        assert!((v.roc_auc - 1.0).abs() < 1e-12 && v.tar_at_far_1e3 == 1.0);
        assert!(v.threshold > 0.14 && v.threshold < 0.6);
    }

    #[test]
    fn verification_with_known_overlap() {
        // Per fold of 4 pairs: same scores 0.9, 0.4; different 0.5, 0.1. Any threshold gets
        // at most 3 of 4 right, so accuracy is 0.75 in every fold; AUC = 3/4.
        let mut pairs = Vec::new();
        let mut scores = Vec::new();
        for fold in 0..10 {
            for (s, same) in [(0.9, true), (0.4, true), (0.5, false), (0.1, false)] {
                pairs.push(Pair {
                    a: "a".into(),
                    b: "b".into(),
                    same,
                    fold,
                });
                scores.push(s);
            }
        }
        let v = verification(&scores, &pairs);
        assert!((v.accuracy - 0.75).abs() < 1e-12, "{v:?}");
        assert!((v.roc_auc - 0.75).abs() < 1e-12, "{}", v.roc_auc);
    }

    #[test]
    fn identification_on_clean_clusters_is_perfect() {
        let mut vectors = Vec::new();
        let mut labels = Vec::new();
        for c in 0..5 {
            for k in 0..10 {
                let mut v = vec![0.01 * k as f32; 5];
                v[c] = 1.0;
                vectors.push(v);
                labels.push(c);
            }
        }
        assert_eq!(identification(&vectors, &labels, 2, 1), (1.0, 1.0));
    }
}
