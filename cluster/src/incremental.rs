//! Keeping clusters across time: new faces join existing clusters ([`assign_new`],
//! [`assign_new_by_members`]), a full recluster keeps yesterday's ids ([`match_ids`]), and a
//! user's "split this cluster" ([`split`]).

use std::collections::HashMap;

use crate::linalg::{normalize, Kernel};
use crate::{prepare, Error, Result};

/// Unit-length mean of each cluster's rows: `k × dim` floats for labels `0..k` (`k` = the
/// largest label + 1; a label with no rows gets a zero centroid, which matches nothing).
/// `labels` has one entry per row of `data`.
pub fn centroids(data: &[f32], dim: usize, labels: &[Option<u32>]) -> Result<Vec<f32>> {
    let (n, data) = prepare(data, dim)?;
    if labels.len() != n {
        return Err(Error::InvalidParameter(format!(
            "{} labels for {n} embeddings",
            labels.len()
        )));
    }
    let k = labels
        .iter()
        .flatten()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0);
    let mut c = vec![0f32; k * dim];
    for (row, l) in data.chunks_exact(dim.max(1)).zip(labels) {
        if let Some(l) = l {
            for (s, x) in c[*l as usize * dim..(*l as usize + 1) * dim]
                .iter_mut()
                .zip(row)
            {
                *s += x;
            }
        }
    }
    for row in c.chunks_exact_mut(dim.max(1)) {
        normalize(row);
    }
    Ok(c)
}

/// Assigns each new row to the most similar centroid (rows of `centroids`, for example from
/// [`centroids`]) when their cosine similarity is ≥ `threshold`, else `None` (the caller then
/// clusters the leftovers among themselves). A typical threshold is
/// [`crate::Algorithm::join_similarity`].
pub fn assign_new(
    centroids: &[f32],
    new: &[f32],
    dim: usize,
    threshold: f32,
) -> Result<Vec<Option<u32>>> {
    let (k, cent) = prepare(centroids, dim)?;
    let (m, new) = prepare(new, dim)?;
    if m == 0 {
        return Ok(vec![]);
    }
    let kernel = Kernel::detect();
    let mut sims = vec![0f32; k];
    Ok((0..m)
        .map(|i| {
            kernel.sims(&new[i * dim..(i + 1) * dim], &cent, dim, &mut sims);
            let mut best: Option<(usize, f32)> = None;
            for (j, &s) in sims.iter().enumerate() {
                if s >= threshold && best.is_none_or(|(_, b)| s > b) {
                    best = Some((j, s));
                }
            }
            best.map(|(j, _)| j as u32)
        })
        .collect())
}

/// Assigns each new row by its `k` most similar existing members with similarity ≥
/// `threshold`: the label with the largest summed similarity among them wins; `None` when no
/// member is that close. Better than centroids for elongated clusters (a person across ages).
pub fn assign_new_by_members(
    members: &[f32],
    member_labels: &[u32],
    new: &[f32],
    dim: usize,
    k: usize,
    threshold: f32,
) -> Result<Vec<Option<u32>>> {
    let (n, mem) = prepare(members, dim)?;
    if member_labels.len() != n {
        return Err(Error::InvalidParameter(format!(
            "{} labels for {n} members",
            member_labels.len()
        )));
    }
    let (m, new) = prepare(new, dim)?;
    if m == 0 {
        return Ok(vec![]);
    }
    let kernel = Kernel::detect();
    let mut sims = vec![0f32; n];
    Ok((0..m)
        .map(|i| {
            kernel.sims(&new[i * dim..(i + 1) * dim], &mem, dim, &mut sims);
            let mut close: Vec<(f32, u32)> = sims
                .iter()
                .zip(member_labels)
                .filter(|(&s, _)| s >= threshold)
                .map(|(&s, &l)| (s, l))
                .collect();
            close.sort_by(|a, b| b.0.total_cmp(&a.0));
            close.truncate(k.max(1));
            let mut votes: Vec<(u32, f32)> = Vec::new();
            for (s, l) in close {
                match votes.iter_mut().find(|v| v.0 == l) {
                    Some(v) => v.1 += s,
                    None => votes.push((l, s)),
                }
            }
            votes
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|v| v.0)
        })
        .collect())
}

/// Keeps cluster ids stable across a full recluster. `old` lists `(item, old cluster id)` and
/// `new_labels` `(item, new label)`; returns new label → old cluster id for the labels that
/// inherit one. Matching is one-to-one and greedy: pairs by decreasing overlap (items in
/// both), ties by higher Jaccard index, then lower ids; a pair is matched when both sides are
/// still free and they share at least one item. New labels without a match need fresh ids.
/// Items listed twice in one input count once (the last entry wins).
pub fn match_ids(old: &[(u64, u64)], new_labels: &[(u64, u32)]) -> HashMap<u32, u64> {
    let old_of: HashMap<u64, u64> = old.iter().copied().collect();
    let new_of: HashMap<u64, u32> = new_labels.iter().copied().collect();
    let mut old_size: HashMap<u64, usize> = HashMap::new();
    for c in old_of.values() {
        *old_size.entry(*c).or_default() += 1;
    }
    let mut new_size: HashMap<u32, usize> = HashMap::new();
    let mut overlap: HashMap<(u32, u64), usize> = HashMap::new();
    for (item, &l) in &new_of {
        *new_size.entry(l).or_default() += 1;
        if let Some(&c) = old_of.get(item) {
            *overlap.entry((l, c)).or_default() += 1;
        }
    }
    let mut pairs: Vec<(usize, f64, u32, u64)> = overlap
        .into_iter()
        .map(|((l, c), o)| (o, o as f64 / (new_size[&l] + old_size[&c] - o) as f64, l, c))
        .collect();
    pairs.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.total_cmp(&a.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let mut out = HashMap::new();
    let mut taken = std::collections::HashSet::new();
    for (_, _, l, c) in pairs {
        if !out.contains_key(&l) && !taken.contains(&c) {
            out.insert(l, c);
            taken.insert(c);
        }
    }
    out
}

/// Splits a cluster's members in two by spherical 2-means seeded with a far-apart pair (the
/// member least like the mean, then the member least like it). Returns `0` or `1` per row;
/// the half of row 0 is always `0`, and every row is `0` when the rows are all alike
/// (nothing to split) or the input is invalid (see [`split_checked`] for the error).
pub fn split(data: &[f32], dim: usize) -> Vec<u8> {
    split_checked(data, dim).unwrap_or_else(|_| vec![0; data.len().checked_div(dim).unwrap_or(0)])
}

/// [`split`], with an error for invalid input instead of a single group.
pub fn split_checked(data: &[f32], dim: usize) -> Result<Vec<u8>> {
    let (n, data) = prepare(data, dim)?;
    if n < 2 {
        return Ok(vec![0; n]);
    }
    let kernel = Kernel::detect();
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut mean = vec![0f32; dim];
    for i in 0..n {
        for (m, x) in mean.iter_mut().zip(row(i)) {
            *m += x;
        }
    }
    normalize(&mut mean);
    let mut sims = vec![0f32; n];
    let argmin = |s: &[f32]| (0..s.len()).fold(0, |b, i| if s[i] < s[b] { i } else { b });
    kernel.sims(&mean, &data, dim, &mut sims);
    let a = argmin(&sims);
    kernel.sims(row(a), &data, dim, &mut sims);
    let b = argmin(&sims);
    let mut c = [row(a).to_vec(), row(b).to_vec()];
    let mut side = vec![0u8; n];
    let (mut s0, mut s1) = (vec![0f32; n], vec![0f32; n]);
    for _ in 0..50 {
        kernel.sims(&c[0], &data, dim, &mut s0);
        kernel.sims(&c[1], &data, dim, &mut s1);
        let next: Vec<u8> = (0..n).map(|i| (s1[i] > s0[i] + 1e-6) as u8).collect();
        if next.iter().all(|&s| s == 0) || next.iter().all(|&s| s == 1) {
            return Ok(vec![0; n]);
        }
        let done = next == side;
        side = next;
        if done {
            break;
        }
        for (h, cent) in c.iter_mut().enumerate() {
            cent.iter_mut().for_each(|x| *x = 0.0);
            for i in (0..n).filter(|&i| side[i] == h as u8) {
                for (m, x) in cent.iter_mut().zip(row(i)) {
                    *m += x;
                }
            }
            normalize(cent);
        }
    }
    if side[0] == 1 {
        side.iter_mut().for_each(|s| *s ^= 1);
    }
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_ids_is_one_to_one_by_overlap() {
        // Old: cluster 10 = {1,2,3}, 20 = {4,5}. New: label 0 = {1,2,4}, 1 = {3}, 2 = {5,6}.
        let old = [(1, 10), (2, 10), (3, 10), (4, 20), (5, 20)];
        let new = [(1, 0), (2, 0), (4, 0), (3, 1), (5, 2), (6, 2)];
        let m = match_ids(&old, &new);
        assert_eq!(m.get(&0), Some(&10));
        assert_eq!(m.get(&1), None); // 10 is taken by label 0, which overlaps it more
        assert_eq!(m.get(&2), Some(&20));
        assert!(match_ids(&[], &new).is_empty());
        assert!(match_ids(&old, &[]).is_empty());
    }

    #[test]
    fn split_separates_two_directions_and_refuses_identical_rows() {
        let d = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.9, 0.1, 0.0, 0.1, 0.9, 0.0];
        assert_eq!(split(&d, 3), vec![0, 1, 0, 1]);
        assert_eq!(split(&[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 2), vec![0, 0, 0]);
        assert_eq!(split(&[], 2), Vec::<u8>::new());
        assert_eq!(split(&[1.0, 0.0, 1.0], 2), vec![0]); // invalid: one whole row, group 0
        assert!(split_checked(&[1.0, 0.0, 1.0], 2).is_err());
    }

    #[test]
    fn assign_new_uses_threshold() {
        let cent = [1.0, 0.0, 0.0, 1.0];
        let new = [0.9, 0.1, 0.6, 0.6, -1.0, 0.0];
        assert_eq!(
            assign_new(&cent, &new, 2, 0.8).unwrap(),
            vec![Some(0), None, None]
        );
        let members = [1.0, 0.0, 0.95, 0.05, 0.0, 1.0];
        assert_eq!(
            assign_new_by_members(&members, &[3, 3, 7], &[0.1, 0.9, 0.0, -1.0], 2, 2, 0.5).unwrap(),
            vec![Some(7), None]
        );
        let c = centroids(
            &[1.0, 0.0, 0.0, 1.0, 0.0, 2.0],
            2,
            &[Some(1), None, Some(1)],
        )
        .unwrap();
        assert_eq!(c.len(), 4);
        assert!((c[2] - 0.70710677).abs() < 1e-6 && (c[3] - 0.70710677).abs() < 1e-6);
    }
}
