//! End-to-end behaviour of the public API on synthetic face-like embeddings. The real-data
//! check (LFW people with five or more photos, YuNet + MobileFaceNet, the default Chinese
//! Whispers) runs through `facelab bench` in the host's
//! `lfw_people_with_five_photos_cluster_above_the_measured_floor`, on `../shared`.

use facelab_cluster::linalg::{dot, normalize, Rng};
use facelab_cluster::metrics::{bcubed, evaluate};
use facelab_cluster::*;

/// `per` faces for each of `ids` identities: unit centre + noise, same-identity cosine ≈ 0.7.
fn faces(ids: usize, per: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut r = Rng::new(seed);
    let mut centres = vec![0f32; ids * dim];
    for c in centres.chunks_exact_mut(dim) {
        c.iter_mut().for_each(|x| *x = r.gaussian() as f32);
        normalize(c);
    }
    let (mut data, mut truth) = (Vec::new(), Vec::new());
    for i in 0..ids * per {
        let id = i % ids;
        let mut v: Vec<f32> = centres[id * dim..(id + 1) * dim]
            .iter()
            .map(|c| c + 0.65 * r.gaussian() as f32 / (dim as f32).sqrt())
            .collect();
        normalize(&mut v);
        data.extend(v);
        truth.push(id as u32);
    }
    (data, truth)
}

/// Every method at a fixed threshold (`cluster` without evidence cannot resolve `"auto"` on
/// the small inputs below: see `auto_threshold_*`).
fn all_methods() -> Vec<Algorithm> {
    vec![
        Algorithm::ChineseWhispers(WhispersParams {
            threshold: Threshold::Fixed(0.4),
            ..Default::default()
        }),
        Algorithm::Agglomerative(AgglomerativeParams::default()),
        Algorithm::Dbscan(DbscanParams::default()),
    ]
}

#[test]
fn every_method_recovers_well_separated_people() {
    let (data, truth) = faces(20, 10, 64, 1);
    for a in all_methods().into_iter().chain([Algorithm::default()]) {
        let labels = cluster(&data, 64, &a, &[]).unwrap();
        let f = bcubed(&truth, &labels).f;
        assert!(f > 0.97, "{a}: BCubed F {f}");
    }
}

#[test]
fn approximate_graph_clusters_as_well_as_exact() {
    let (data, truth) = faces(300, 10, 64, 2);
    let knn = KnnConfig {
        exact_below: 1000,
        ..KnnConfig::default()
    };
    for (approx, exact) in [
        (
            Algorithm::ChineseWhispers(WhispersParams {
                knn: knn.clone(),
                ..Default::default()
            }),
            Algorithm::ChineseWhispers(WhispersParams::default()),
        ),
        (
            Algorithm::Agglomerative(AgglomerativeParams {
                knn: knn.clone(),
                ..Default::default()
            }),
            Algorithm::Agglomerative(AgglomerativeParams::default()),
        ),
        (
            Algorithm::Dbscan(DbscanParams {
                knn: knn.clone(),
                ..Default::default()
            }),
            Algorithm::Dbscan(DbscanParams::default()),
        ),
    ] {
        let ra = evaluate(&truth, &cluster(&data, 64, &approx, &[]).unwrap());
        let re = evaluate(&truth, &cluster(&data, 64, &exact, &[]).unwrap());
        assert!(
            ra.bcubed.f > re.bcubed.f - 0.01,
            "{approx}: {ra:?} vs exact {re:?}"
        );
    }
    let g = knn::build(&data, 64, &knn);
    let queries: Vec<u32> = (0..3000).step_by(7).collect();
    assert!(knn::recall_above(&g, &data, 64, &queries, 0.4) > 0.95);
}

#[test]
fn cannot_link_pairs_never_share_a_cluster() {
    let (data, _) = faces(4, 10, 32, 3);
    // Faces 0, 4, 8, … are one person: forbid pairs inside that person and across people.
    let cl = [(0, 4), (8, 12), (0, 36), (1, 2), (5, 5)];
    for a in all_methods() {
        let labels = cluster(&data, 32, &a, &cl).unwrap();
        assert!(respects(&labels, &cl), "{a}: {labels:?}");
        // The constraints cost nothing elsewhere: persons 1 and 3 (faces 1, 5, 9, … and
        // 3, 7, 11, …) stay whole and apart.
        for p in [1, 3] {
            assert!(
                labels[p].is_some() && (p..40).step_by(4).all(|i| labels[i] == labels[p]),
                "{a}: {labels:?}"
            );
        }
        assert_ne!(labels[1], labels[3]);
    }
    // Every face forbidden from every other: nothing can be grouped.
    let (data, _) = faces(1, 6, 16, 4);
    let all: Vec<(u32, u32)> = (0..6)
        .flat_map(|a| (a + 1..6).map(move |b| (a, b)))
        .collect();
    for a in all_methods() {
        assert_eq!(cluster(&data, 16, &a, &all).unwrap(), vec![None; 6], "{a}");
    }
}

#[test]
fn empty_single_and_identical_inputs() {
    for a in all_methods() {
        assert_eq!(cluster(&[], 128, &a, &[]).unwrap(), vec![]);
        assert_eq!(cluster(&[], 0, &a, &[]).unwrap(), vec![]);
        assert_eq!(cluster(&[0.6, 0.8], 2, &a, &[]).unwrap(), vec![None]);
        let same: Vec<f32> = [0.6f32, 0.8].repeat(7);
        assert_eq!(cluster(&same, 2, &a, &[]).unwrap(), vec![Some(0); 7], "{a}");
        // Unnormalised and zero rows are accepted (normalised on a copy; zero matches nothing).
        let mixed = [3.0, 4.0, 6.0, 8.0, 0.3, 0.4, 0.0, 0.0];
        assert_eq!(
            cluster(&mixed, 2, &a, &[]).unwrap(),
            vec![Some(0), Some(0), Some(0), None],
            "{a}"
        );
    }
    let one = Algorithm::ChineseWhispers(WhispersParams {
        min_cluster_size: 1,
        threshold: Threshold::Fixed(0.4),
        ..Default::default()
    });
    assert_eq!(cluster(&[1.0, 0.0], 2, &one, &[]).unwrap(), vec![Some(0)]);
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let a = Algorithm::default();
    assert_eq!(
        cluster(&[1.0, 0.0, 1.0], 2, &a, &[]),
        Err(Error::Shape { len: 3, dim: 2 })
    );
    assert_eq!(cluster(&[1.0], 0, &a, &[]), Err(Error::ZeroDimension));
    assert_eq!(
        cluster(&[1.0, 0.0, f32::NAN, 0.0], 2, &a, &[]),
        Err(Error::NonFinite { row: 1 })
    );
    assert_eq!(
        cluster(&[1.0, 0.0], 2, &a, &[(0, 1)]),
        Err(Error::CannotLinkOutOfRange { a: 0, b: 1, n: 1 })
    );
    assert!(assign_new(&[1.0, 0.0], &[1.0], 2, 0.5).is_err());
    assert!(centroids(&[1.0, 0.0], 2, &[]).is_err());
}

#[test]
fn ids_stay_stable_when_new_faces_arrive() {
    let (data, truth) = faces(20, 12, 64, 5);
    let dim = 64;
    // The adaptive threshold, resolved once on the library (yesterday's faces), is what both
    // the full reclusters and the incremental joins use.
    let (algo, resolved) = Algorithm::default()
        .resolved(&data[..200 * dim], dim, &Evidence::default())
        .unwrap();
    assert!(resolved.is_some());
    // Yesterday: the first 200 faces, cluster ids 500 + label.
    let old_labels = cluster(&data[..200 * dim], dim, &algo, &[]).unwrap();
    let old: Vec<(u64, u64)> = old_labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|l| (1000 + i as u64, 500 + l as u64)))
        .collect();
    assert_eq!(old.len(), 200);
    // Today: 40 more faces, full recluster. Every old face keeps its cluster id.
    let new_labels = cluster(&data, dim, &algo, &[]).unwrap();
    let new: Vec<(u64, u32)> = new_labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|l| (1000 + i as u64, l)))
        .collect();
    let mapping = match_ids(&old, &new);
    assert_eq!(mapping.len(), 20);
    for &(item, old_id) in &old {
        let l = new_labels[(item - 1000) as usize].unwrap();
        assert_eq!(mapping.get(&l), Some(&old_id));
    }
    // Incremental instead: the new faces join yesterday's clusters by centroid.
    let cent = centroids(&data[..200 * dim], dim, &old_labels).unwrap();
    let joined = assign_new(
        &cent,
        &data[200 * dim..],
        dim,
        algo.join_similarity().unwrap(),
    )
    .unwrap();
    let by_members = assign_new_by_members(
        &data[..200 * dim],
        &old_labels.iter().map(|l| l.unwrap()).collect::<Vec<_>>(),
        &data[200 * dim..],
        dim,
        5,
        algo.join_similarity().unwrap(),
    )
    .unwrap();
    for (j, (a, b)) in joined.iter().zip(&by_members).enumerate() {
        let same_person = (0..200).find(|&i| truth[i] == truth[200 + j]).unwrap();
        assert_eq!(*a, old_labels[same_person]);
        assert_eq!(*b, old_labels[same_person]);
    }
}

#[test]
fn split_then_merge_round_trips() {
    let (data, truth) = faces(2, 15, 64, 6);
    let dim = 64;
    let halves = split(&data, dim);
    // The split finds the two people.
    for (h, t) in halves.iter().zip(&truth) {
        assert_eq!(*h == halves[0], *t == truth[0]);
    }
    // Merging the halves back gives the same members and the same centre.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, h) in halves.iter().enumerate() {
        if *h == 0 { &mut a } else { &mut b }.push(i);
    }
    let merged: Vec<usize> = {
        let mut m: Vec<usize> = a.iter().chain(&b).copied().collect();
        m.sort();
        m
    };
    assert_eq!(merged, (0..30).collect::<Vec<_>>());
    let rows: Vec<f32> = merged
        .iter()
        .flat_map(|&i| data[i * dim..(i + 1) * dim].to_vec())
        .collect();
    let before = centroids(&data, dim, &[Some(0); 30]).unwrap();
    let after = centroids(&rows, dim, &[Some(0); 30]).unwrap();
    assert!(dot(&before, &after) > 0.9999);
    // Once split, a cannot-link across the halves keeps a recluster from rejoining them even
    // at a threshold that would.
    let cl: Vec<(u32, u32)> = a
        .iter()
        .flat_map(|&x| b.iter().map(move |&y| (x as u32, y as u32)))
        .collect();
    let loose = Algorithm::Agglomerative(AgglomerativeParams {
        threshold: -1.0,
        ..Default::default()
    });
    assert_eq!(cluster(&data, dim, &loose, &[]).unwrap(), vec![Some(0); 30]);
    let labels = cluster(&data, dim, &loose, &cl).unwrap();
    assert!(respects(&labels, &cl));
    assert_eq!(bcubed(&halves, &labels).f, 1.0);
}

#[test]
fn auto_threshold_falls_back_to_the_declared_rule_with_too_little_evidence() {
    // 3 people × 4 faces: fewer than `min_faces`, no known negatives.
    let (data, truth) = faces(3, 4, 64, 7);
    let auto = Algorithm::default();
    let ctx = |declared| Context {
        evidence: Evidence {
            declared,
            negative_sims: &[],
        },
        ..Context::default()
    };
    // A euclidean model's rule 0.6 arrives as cosine 1 - 0.6²/2 = 0.82; a permissive one 0.3.
    for declared in [0.82f32, 0.3] {
        let out = cluster_with(&data, 64, &auto, &ctx(Some(declared))).unwrap();
        let t = out.threshold.unwrap();
        assert_eq!(t.value, declared);
        assert!(
            matches!(t.source, adaptive::Source::Declared { .. }),
            "{t:?}"
        );
        assert!(t.random.is_none());
    }
    assert_eq!(
        bcubed(
            &truth,
            &cluster_with(&data, 64, &auto, &ctx(Some(0.3)))
                .unwrap()
                .labels
        )
        .f,
        1.0
    );
    // Without a declared rule there is nothing to stand on: a clear error, not a guess.
    let e = cluster(&data, 64, &auto, &[]).unwrap_err();
    assert!(matches!(e, Error::NoEvidence(_)), "{e}");
    assert!(e.to_string().contains("[cluster] threshold"), "{e}");
    // One face (or none) needs no threshold.
    assert_eq!(cluster(&data[..64], 64, &auto, &[]).unwrap(), vec![None]);
    assert_eq!(cluster(&[], 64, &auto, &[]).unwrap(), vec![]);
    // A fixed threshold wins over everything.
    let fixed = Algorithm::ChineseWhispers(WhispersParams {
        threshold: Threshold::Fixed(0.95),
        ..Default::default()
    });
    let out = cluster_with(&data, 64, &fixed, &ctx(Some(0.3))).unwrap();
    assert_eq!(out.threshold.unwrap().value, 0.95);
    assert_eq!(out.labels, vec![None; 12]);
}

#[test]
fn auto_threshold_follows_the_strangers_distribution_and_never_drops_below_the_declared_rule() {
    let (data, _) = faces(60, 5, 64, 8);
    let auto = Algorithm::default();
    let run = |declared, negatives: &[f32]| {
        let ctx = Context {
            evidence: Evidence {
                declared,
                negative_sims: negatives,
            },
            ..Context::default()
        };
        cluster_with(&data, 64, &auto, &ctx)
            .unwrap()
            .threshold
            .unwrap()
    };
    let free = run(None, &[]);
    let r = free.random.unwrap();
    assert_eq!(free.source, adaptive::Source::RandomPairs);
    // Random 64-D directions: strangers' median ≈ 0 and spread ≈ 1/√64.
    assert!(
        r.median.abs() < 0.02 && (r.spread - 0.125).abs() < 0.02,
        "{r:?}"
    );
    assert!((free.value - (r.median + AutoParams::default().z * r.spread)).abs() < 1e-6);
    // A declared rule above it is the floor; below it, it changes nothing, unless it is so
    // low that the estimate passes the ceiling (0.525 of the way from it to 1).
    assert_eq!(run(Some(0.9), &[]).value, 0.9);
    assert_eq!(run(Some(0.3), &[]).value, free.value);
    let capped = run(Some(0.0), &[]);
    let cap = AutoParams::default().ceiling;
    assert!(
        cap < free.value && (capped.value - cap).abs() < 1e-6,
        "{capped:?}"
    );
    assert!(
        matches!(capped.source, adaptive::Source::Ceiling { .. }),
        "{capped:?}"
    );
    // Known negatives that score higher (people photographed together look alike) raise it.
    let negatives: Vec<f32> = (0..300).map(|i| 0.5 + 0.002 * (i % 100) as f32).collect();
    let raised = run(None, &negatives);
    assert_eq!(raised.source, adaptive::Source::KnownNegatives);
    assert!(raised.value > free.value, "{raised:?}");
    // Too few of them are ignored.
    assert_eq!(run(None, &negatives[..10]).value, free.value);
}

#[test]
fn a_recognizer_with_light_stranger_tails_is_capped_short_of_a_perfect_match() {
    // dlib-like embeddings: every face shares one direction, so strangers score about 0.85
    // with a narrow spread, and faces of one person about 0.98. z = 4.25 spreads above the
    // strangers' median would ask for a threshold of 1 (every face alone).
    let (ids, per, dim) = (80, 5, 24);
    let mut r = Rng::new(9);
    let mut unit = |n: usize| {
        let mut v: Vec<f32> = (0..n).map(|_| r.gaussian() as f32).collect();
        normalize(&mut v);
        v
    };
    let shared = unit(dim);
    let centres: Vec<Vec<f32>> = (0..ids).map(|_| unit(dim)).collect();
    let (mut data, mut truth) = (Vec::new(), Vec::new());
    for i in 0..ids * per {
        let noise = unit(dim);
        let mut v: Vec<f32> = (0..dim)
            .map(|k| {
                let own = centres[i % ids][k] + 0.35 * noise[k];
                0.85f32.sqrt() * shared[k] + 0.15f32.sqrt() * own / 1.06
            })
            .collect();
        normalize(&mut v);
        data.extend(v);
        truth.push((i % ids) as u32);
    }
    let declared = 0.911f32;
    let ctx = Context {
        evidence: Evidence {
            declared: Some(declared),
            negative_sims: &[],
        },
        ..Context::default()
    };
    let out = cluster_with(&data, dim, &Algorithm::default(), &ctx).unwrap();
    let t = out.threshold.unwrap();
    let cap = declared + AutoParams::default().ceiling * (1.0 - declared);
    assert!((t.value - cap).abs() < 1e-6, "{t:?}");
    match t.source {
        adaptive::Source::Ceiling { estimate } => assert!(estimate > 0.99, "{t:?}"),
        other => panic!("{other:?}"),
    }
    let b = bcubed(&truth, &out.labels);
    assert!(b.precision >= 0.95 && b.f >= 0.8, "{b:?}");
    // Without the ceiling the same library falls apart into single faces.
    let uncapped = Algorithm::ChineseWhispers(WhispersParams {
        auto: AutoParams {
            ceiling: 1.0,
            ..AutoParams::default()
        },
        ..Default::default()
    });
    let out = cluster_with(&data, dim, &uncapped, &ctx).unwrap();
    assert!(out.threshold.unwrap().value > 0.99);
    assert!(out.labels.iter().filter(|l| l.is_some()).count() < data.len() / dim / 10);
}

#[test]
fn identical_embeddings_are_refused_with_a_message_not_clustered_into_one() {
    let same: Vec<f32> = [0.6f32, 0.8].repeat(80);
    let e = cluster(&same, 2, &Algorithm::default(), &[]).unwrap_err();
    assert!(matches!(e, Error::Degenerate(_)), "{e}");
    assert!(e.to_string().contains("recognizer"), "{e}");
}

#[test]
fn a_low_quality_face_joins_a_cluster_but_never_links_two() {
    // Two people on two axes, and a blurred face half-way that is close enough to both.
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let data = [
        1.0, 0.0, 0.99, 0.14, 0.98, -0.2, // person A
        0.0, 1.0, 0.14, 0.99, -0.2, 0.98, // person B
        s, s, // the bridge
        0.95, 0.31, // a blurred face of A
    ];
    let quality = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1];
    let algo = |link_quality| {
        Algorithm::ChineseWhispers(WhispersParams {
            threshold: Threshold::Fixed(0.6),
            link_quality,
            ..Default::default()
        })
    };
    let ctx = Context {
        quality: Some(&quality),
        ..Context::default()
    };
    // With quality, the bridge takes a class but never passes one on: A and B stay apart in
    // every visiting order.
    for seed in 0..20 {
        let mut a = algo(0.3);
        if let Algorithm::ChineseWhispers(p) = &mut a {
            p.seed = seed;
        }
        let l = cluster_with(&data, 2, &a, &ctx).unwrap().labels;
        assert!(l[0].is_some() && l[0] == l[1] && l[1] == l[2], "{l:?}");
        assert!(l[3].is_some() && l[3] == l[4] && l[4] == l[5], "{l:?}");
        assert_ne!(l[0], l[3], "seed {seed}: {l:?}");
        // The blurred face of A still joins A.
        assert_eq!(l[7], l[0], "{l:?}");
    }
    assert!(matches!(
        cluster_with(
            &data,
            2,
            &algo(0.3),
            &Context {
                quality: Some(&quality[..3]),
                ..Context::default()
            }
        ),
        Err(Error::InvalidParameter(_))
    ));
}
