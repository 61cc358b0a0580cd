//! Calibrating the suggestion threshold on the user's own named faces: two folds per
//! person, each scored against a gallery of the other, and the threshold that best
//! separates "own person" from "best other person" scores.

use std::collections::HashMap;

use super::gallery::Gallery;
use crate::search::normalized;

/// The threshold that best separates genuine from impostor scores (fewest errors; ties go
/// to the middle of the tied range).
pub fn separating_threshold(genuine: &[f32], impostor: &[f32]) -> Option<f32> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut all: Vec<(f32, bool)> = genuine
        .iter()
        .map(|&s| (s, true))
        .chain(impostor.iter().map(|&s| (s, false)))
        .filter(|(s, _)| s.is_finite())
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Threshold below all[i]: genuine errors = genuine before i, impostor errors = impostor from i.
    let mut errors = impostor.len();
    let (mut best, mut best_at) = (errors, vec![0usize]);
    for (i, &(_, is_genuine)) in all.iter().enumerate() {
        if is_genuine {
            errors += 1;
        } else {
            errors -= 1;
        }
        if errors < best {
            best = errors;
            best_at = vec![i + 1];
        } else if errors == best {
            best_at.push(i + 1);
        }
    }
    let at = best_at[best_at.len() / 2];
    let t = match at {
        0 => all[0].0 - 1e-3,
        i if i >= all.len() => all[all.len() - 1].0 + 1e-3,
        i => 0.5 * (all[i - 1].0 + all[i].0),
    };
    Some(t)
}

/// Calibrates the threshold on confirmed faces: two folds per person.
pub fn calibrate(
    names: &[String],
    dim: usize,
    confirmed: &[(i64, usize, Vec<f32>)],
) -> (Vec<f32>, Vec<f32>) {
    let mut by_person: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (_, p, _)) in confirmed.iter().enumerate() {
        by_person.entry(*p).or_default().push(i);
    }
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    // At most ~3,000 held-out faces: every k-th face of every person.
    let stride = (confirmed.len() / 3000).max(1);
    for fold in 0..2 {
        let mut gallery_rows = Vec::new();
        let mut probes = Vec::new();
        for members in by_person.values() {
            for (k, &i) in members.iter().enumerate() {
                if members.len() >= 2 && k % 2 == fold {
                    if (k / 2) % stride == 0 {
                        probes.push(i);
                    }
                } else {
                    gallery_rows.push((confirmed[i].0, confirmed[i].1, confirmed[i].2.as_slice()));
                }
            }
        }
        gallery_rows.sort_by_key(|r| r.0);
        let g = Gallery::new(names.to_vec(), dim, &gallery_rows);
        let mut sims = Vec::new();
        for i in probes {
            let (_, p, v) = &confirmed[i];
            let s = g.scores(&normalized(v), &mut sims);
            if s[*p].is_finite() {
                genuine.push(s[*p]);
            }
            let other = s
                .iter()
                .enumerate()
                .filter(|(q, v)| q != p && v.is_finite())
                .map(|(_, v)| *v)
                .fold(f32::NEG_INFINITY, f32::max);
            if other.is_finite() {
                impostor.push(other);
            }
        }
    }
    (genuine, impostor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separating_threshold_splits_clean_sets() {
        let g = [0.6, 0.7, 0.8];
        let i = [0.1, 0.2, 0.3];
        let t = separating_threshold(&g, &i).unwrap();
        assert!(t > 0.3 && t < 0.6, "{t}");
        assert_eq!(separating_threshold(&[], &i), None);
    }

    #[test]
    fn calibration_on_named_faces_separates_own_from_other_people() {
        // Eight people, six faces each, spread around a centre per person.
        let dim = 32;
        let mut rng = facelab_cluster::Rng::new(3);
        let mut unit = || rng.unit() as f32 - 0.5;
        let names: Vec<String> = (0..8).map(|p| format!("p{p}")).collect();
        let mut confirmed = Vec::new();
        for p in 0..8 {
            let centre: Vec<f32> = (0..dim).map(|_| unit()).collect();
            for k in 0..6 {
                let v: Vec<f32> = centre.iter().map(|c| c + 0.6 * unit()).collect();
                confirmed.push(((p * 10 + k) as i64, p, normalized(&v)));
            }
        }
        let (genuine, impostor) = calibrate(&names, dim, &confirmed);
        assert_eq!(genuine.len(), 48);
        assert_eq!(impostor.len(), 48);
        let t = separating_threshold(&genuine, &impostor).unwrap();
        let errors = genuine.iter().filter(|&&g| g < t).count()
            + impostor.iter().filter(|&&i| i >= t).count();
        assert!(errors <= 4, "threshold {t} makes {errors} errors");
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean(&genuine) > t && t > mean(&impostor));
    }
}
