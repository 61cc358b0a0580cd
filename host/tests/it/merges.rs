//! `clusters suggest-merges` on a fused recognizer (SFace with dlib ResNet), through the real
//! binary: a person split over several groups, a group of a named person and one person
//! named twice are proposed first, each merge is the one command it prints, and pairs the
//! library knows are two people (a split's halves) are never proposed.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{cmd, cmd_json as json, orl_subject as subject};

/// Each group's subject (every member's), by id.
fn group_subjects(config: &Path) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for c in json(config, &["clusters", "list", "--json"])
        .as_array()
        .unwrap()
    {
        let id = c["id"].as_i64().unwrap();
        let members = json(config, &["clusters", "show", &id.to_string(), "--json"]);
        let who: BTreeSet<String> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| subject(m["path"].as_str().unwrap()))
            .collect();
        assert_eq!(who.len(), 1, "group {id} mixes {who:?}");
        out.insert(id, who.into_iter().next().unwrap());
    }
    out
}

/// The subject of one side of a pair: its group's, or the person's (named after a subject,
/// or `Bo`/`Bob`, both s2).
fn side_subject(side: &serde_json::Value, groups: &BTreeMap<i64, String>) -> String {
    match (side["person"].as_str(), side["cluster"].as_i64()) {
        (Some("Bo" | "Bob"), _) => "s2".into(),
        (Some(p), _) => p.to_owned(),
        (None, Some(c)) => groups[&c].clone(),
        _ => panic!("a side with neither a group nor a person: {side}"),
    }
}

#[test]
fn a_person_split_over_groups_is_proposed_first_and_merged_one_command_at_a_time() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Ten people, 2 photos each of s9 and s10 named; the rest unnamed. A strict fixed
    // threshold splits several people over two or three groups.
    common::copy_orl(
        &shared,
        &d.join("photos"),
        1..=8,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    common::copy_orl(
        &shared,
        &d.join("photos"),
        9..=10,
        &[3, 4, 5, 6, 7, 8, 9, 10],
    );
    common::copy_orl(&shared, &d.join("named"), 9..=10, &[1, 2]);
    let config = common::write_config(
        d,
        &format!(
            "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n[[recognizer.fuse]]\nplugin = \"dlib\"\nkind = \"resnet\"\nmodel = \"dlib-resnet-128\"\n[models]\nmirror = \"{}\"\n[library]\npath = \"{}\"\n[cluster]\nmethod = \"chinese-whispers\"\nthreshold = 0.92\n",
            shared.join("models").display(),
            d.join("library.sqlite").display()
        ),
    );
    let (photos, named) = (d.join("photos"), d.join("named"));
    let (code, _, err) = cmd(
        &config,
        &["scan", photos.to_str().unwrap(), named.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cmd(&config, &["import-labels", named.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    json(&config, &["cluster", "--json"]);
    // One person named twice: two faces of s2 that are in no group, or the first two.
    let faces = json(&config, &["faces", "--json"]);
    let s2: Vec<i64> = faces
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| subject(f["path"].as_str().unwrap()) == "s2")
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    for (face, name) in s2.iter().zip(["Bo", "Bob"]) {
        let (code, _, err) = cmd(&config, &["tag", &face.to_string(), name]);
        assert_eq!(code, 0, "{err}");
    }
    json(&config, &["cluster", "--json"]);

    let groups = group_subjects(&config);
    let mut per_subject: BTreeMap<&str, usize> = BTreeMap::new();
    for s in groups.values() {
        *per_subject.entry(s).or_default() += 1;
    }
    let split_pairs: usize = per_subject.values().map(|n| n * (n - 1) / 2).sum();
    eprintln!("groups per subject before: {per_subject:?}");
    assert!(
        split_pairs >= 3,
        "the strict threshold split too few people: {per_subject:?}"
    );

    // Every likely pair is one person, and every pair of one person's groups is likely.
    let all = json(
        &config,
        &["clusters", "suggest-merges", "--limit", "100000", "--json"],
    );
    let pairs = all["pairs"].as_array().unwrap();
    let mut same_group_pairs = 0;
    let mut last = f64::INFINITY;
    for p in pairs {
        let score = p["score"].as_f64().unwrap();
        assert!(score <= last, "not best first: {p}");
        last = score;
        let same = side_subject(&p["a"], &groups) == side_subject(&p["b"], &groups);
        assert_eq!(p["likely"].as_bool(), Some(same), "{p}");
        same_group_pairs += usize::from(same && p["kind"] == "clusters");
    }
    assert_eq!(same_group_pairs, split_pairs);
    let kinds: BTreeSet<&str> = pairs
        .iter()
        .filter(|p| p["likely"] == true)
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["clusters", "cluster-person", "people"])
    );

    // The user's loop: run the best pair's command while one is likely.
    for _ in 0..50 {
        let top = json(
            &config,
            &["clusters", "suggest-merges", "--limit", "1", "--json"],
        );
        let Some(p) = top["pairs"].as_array().unwrap().first().cloned() else {
            break;
        };
        if p["likely"] != true {
            break;
        }
        let args: Vec<&str> = p["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let (code, _, err) = cmd(&config, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    // One group per unnamed person; s2, s9 and s10 named on every face in a group.
    let groups = group_subjects(&config);
    let left: BTreeSet<&String> = groups.values().collect();
    assert_eq!(left.len(), groups.len(), "a person still split: {groups:?}");
    for s in ["s2", "s9", "s10"] {
        assert!(
            !left.contains(&s.to_owned()),
            "{s} still has a group: {groups:?}"
        );
    }
    let people = json(&config, &["people", "list", "--json"]);
    let names: BTreeSet<&str> = people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains("Bob") != names.contains("Bo"), "{people}");

    // A split's halves are two people to the library: never proposed together.
    let big = json(&config, &["clusters", "list", "--json"])[0]["id"]
        .as_i64()
        .unwrap();
    let (code, out, err) = cmd(&config, &["clusters", "split", &big.to_string()]);
    assert_eq!(code, 0, "{err}");
    let new: i64 = out.split_whitespace().next_back().unwrap().parse().unwrap();
    let after = json(
        &config,
        &["clusters", "suggest-merges", "--limit", "100000", "--json"],
    );
    assert!(after["known_apart"].as_u64().unwrap() >= 1, "{after}");
    for p in after["pairs"].as_array().unwrap() {
        let ids: BTreeSet<i64> = [&p["a"], &p["b"]]
            .iter()
            .filter_map(|s| s["cluster"].as_i64())
            .collect();
        assert_ne!(ids, BTreeSet::from([big, new]), "{p}");
    }
    // Human output: one line per pair with its command.
    let (code, out, err) = cmd(&config, &["clusters", "suggest-merges"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().all(|l| l.contains("\tfacelab ")), "{out}");
    assert!(err.contains("same-person threshold"), "{err}");
}
