//! What `clusters suggest-merges` would give a user on a bench set: the pairs of groups at
//! or above the same-person threshold, how many are one person, and the scores after the
//! user confirms every one of them (each pair as listed, merged in order).

use std::cmp::Reverse;
use std::collections::HashMap;

use facelab_cluster::merges::{group_means, merged, ranked_pairs};

use super::super::report::MergeResult;
use super::prf;

/// The merge suggestions for `labels` (rows of `data`, `dim` wide) at `threshold`, judged by
/// `truth`. Groups are labels with at least two faces, as the library keeps them.
pub fn merge_result(
    data: &[f32],
    dim: usize,
    labels: &[Option<u32>],
    truth: &[usize],
    threshold: f32,
) -> MergeResult {
    // Renumber the groups of two or more faces 0..groups; the rest are alone.
    let mut size: HashMap<u32, usize> = HashMap::new();
    for l in labels.iter().flatten() {
        *size.entry(*l).or_default() += 1;
    }
    let mut number: HashMap<u32, u32> = HashMap::new();
    let grouped: Vec<Option<u32>> = labels
        .iter()
        .map(|l| {
            let l = (*l).filter(|l| size[l] >= 2)?;
            let next = number.len() as u32;
            Some(*number.entry(l).or_insert(next))
        })
        .collect();
    let groups = number.len();
    // Each group's person: the one most of its faces are.
    let mut votes: Vec<HashMap<usize, usize>> = vec![HashMap::new(); groups];
    for (g, t) in grouped.iter().zip(truth) {
        if let Some(g) = g {
            *votes[*g as usize].entry(*t).or_default() += 1;
        }
    }
    let person: Vec<usize> = votes
        .iter()
        .map(|v| {
            v.iter()
                .max_by_key(|(t, n)| (**n, Reverse(**t)))
                .map_or(usize::MAX, |(t, _)| *t)
        })
        .collect();
    let mut per_person: HashMap<usize, usize> = HashMap::new();
    for p in &person {
        *per_person.entry(*p).or_default() += 1;
    }
    let splits = per_person.values().map(|n| n * (n - 1) / 2).sum();
    let means = group_means(data, dim, &grouped, groups);
    let ranked = ranked_pairs(&means, dim, threshold, None, &Default::default());
    let right = ranked
        .pairs
        .iter()
        .filter(|(_, (a, b))| person[*a] == person[*b])
        .count();
    let to = merged(groups, &ranked.pairs);
    let after: Vec<Option<u32>> = grouped.iter().map(|g| g.map(|g| to[g as usize])).collect();
    let groups_after = to.iter().max().map_or(0, |m| *m as usize + 1);
    let identities = {
        let mut t = truth.to_vec();
        t.sort_unstable();
        t.dedup();
        t.len().max(1)
    };
    let scores = facelab_cluster::metrics::evaluate(truth, &after);
    MergeResult {
        threshold,
        likely: ranked.pairs.len(),
        right,
        splits,
        groups_per_person: groups as f64 / identities as f64,
        groups_per_person_after: groups_after as f64 / identities as f64,
        bcubed_after: prf(scores.bcubed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_split_in_two_is_one_likely_pair_and_merging_it_mends_recall() {
        // Person 0 split over groups 0 and 1, person 1 in group 2, and a face alone.
        let at = |deg: f32| [deg.to_radians().cos(), deg.to_radians().sin()];
        let data = [
            at(0.0),
            at(4.0),
            at(20.0),
            at(24.0),
            at(90.0),
            at(92.0),
            at(180.0),
        ]
        .concat();
        let labels = [
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(3),
        ];
        let truth = [0, 0, 0, 0, 1, 1, 2];
        let m = merge_result(&data, 2, &labels, &truth, 0.8);
        assert_eq!((m.likely, m.right, m.splits), (1, 1, 1));
        assert!((m.groups_per_person - 1.0).abs() < 1e-9);
        assert!((m.groups_per_person_after - 2.0 / 3.0).abs() < 1e-9);
        assert!(
            (m.bcubed_after.recall - 1.0).abs() < 1e-9,
            "{:?}",
            m.bcubed_after
        );
        assert!((m.bcubed_after.precision - 1.0).abs() < 1e-9);
    }
}
