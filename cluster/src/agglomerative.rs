//! Average-linkage agglomerative clustering restricted to the kNN graph.
//!
//! The similarity of two clusters is the mean similarity of the kNN edges between them (edges
//! outside the graph are unknown, not zero, so large clusters can still merge). This linkage
//! is reducible: a merged cluster's link to a third is a weighted mean of the two links it
//! replaces, so it never exceeds the best pair, and merging greedily from a max-heap until the
//! best pair falls below the threshold gives the same result as the dendrogram cut.
//!
//! Each cluster keeps a hash map neighbour → (sum, count); merging folds the smaller cluster
//! (by members) into the larger, so only the smaller side's links change and get new heap
//! entries. Heap entries
//! are checked against the current maps when popped (lazy deletion). A merge that would join a
//! cannot-link pair is refused and its link deleted for good (merging only adds constraints).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::knn::{Adjacency, KnnGraph};
use crate::CannotLink;

/// A multiplicative hasher for `u32` keys (the std SipHash is several times slower here).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Links = HashMap<u32, (f64, u32), BuildHasherDefault<IdHasher>>;

#[derive(PartialEq)]
struct Entry {
    score: f32,
    a: u32,
    b: u32,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| (o.a, o.b).cmp(&(self.a, self.b)))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

fn score(l: (f64, u32)) -> f32 {
    (l.0 / l.1 as f64) as f32
}

/// Raw cluster per face (an id of one of its members).
pub(crate) fn run(graph: &KnnGraph, threshold: f32, cl: &CannotLink) -> Vec<u32> {
    let n = graph.len();
    let adj = Adjacency::from_graph(graph, f32::NEG_INFINITY);
    let mut links: Vec<Links> = (0..n)
        .map(|i| {
            let (ids, sims) = adj.row(i);
            let mut m = Links::with_capacity_and_hasher(ids.len(), Default::default());
            for (&j, &s) in ids.iter().zip(sims) {
                m.insert(j, (s as f64, 1));
            }
            m
        })
        .collect();
    drop(adj);
    let mut heap = BinaryHeap::new();
    for (a, m) in links.iter().enumerate() {
        for (&b, &l) in m {
            if (a as u32) < b && score(l) >= threshold {
                heap.push(Entry {
                    score: score(l),
                    a: a as u32,
                    b,
                });
            }
        }
    }
    let mut owner: Vec<u32> = (0..n as u32).collect();
    let mut members: Vec<Vec<u32>> = (0..n as u32).map(|i| vec![i]).collect();
    // Members with cannot-link partners, per cluster.
    let mut constrained: Vec<Vec<u32>> = (0..n as u32)
        .map(|i| {
            if cl.of(i as usize).is_empty() {
                vec![]
            } else {
                vec![i]
            }
        })
        .collect();
    while let Some(Entry { score: s, a, b }) = heap.pop() {
        if s < threshold {
            break;
        }
        let (au, bu) = (a as usize, b as usize);
        match links[au].get(&b) {
            Some(&l) if score(l) == s => {}
            _ => continue, // stale
        }
        // Cannot-link: any constrained member of one whose partner is in the other?
        let (few, other) = if constrained[au].len() <= constrained[bu].len() {
            (au, b)
        } else {
            (bu, a)
        };
        if constrained[few].iter().any(|&x| {
            cl.of(x as usize)
                .iter()
                .any(|&y| owner[y as usize] == other)
        }) {
            links[au].remove(&b);
            links[bu].remove(&a);
            continue;
        }
        // Fold the smaller cluster into the larger (its links number at most its members
        // times the graph's degree, so every face's links move O(log n) times).
        let (keep, gone) = if members[au].len() >= members[bu].len() {
            (au, bu)
        } else {
            (bu, au)
        };
        let gone_links = std::mem::take(&mut links[gone]);
        links[keep].remove(&(gone as u32));
        for (c, l) in gone_links {
            if c as usize == keep {
                continue;
            }
            links[c as usize].remove(&(gone as u32));
            let e = links[keep].entry(c).or_insert((0.0, 0));
            e.0 += l.0;
            e.1 += l.1;
            let merged = *e;
            links[c as usize].insert(keep as u32, merged);
            if score(merged) >= threshold {
                let (x, y) = if (keep as u32) < c {
                    (keep as u32, c)
                } else {
                    (c, keep as u32)
                };
                heap.push(Entry {
                    score: score(merged),
                    a: x,
                    b: y,
                });
            }
        }
        let moved = std::mem::take(&mut members[gone]);
        for &m in &moved {
            owner[m as usize] = keep as u32;
        }
        members[keep].extend(moved);
        let moved = std::mem::take(&mut constrained[gone]);
        constrained[keep].extend(moved);
    }
    owner
}
