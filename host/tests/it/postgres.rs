//! The face library on PostgreSQL, through the real binary and a real PostgreSQL server the
//! test starts itself (`facelab-testpg`): every command gives the same answers as on
//! SQLite, and each way of pointing at the wrong server is one line that writes nothing.

use crate::common;

use std::path::{Path, PathBuf};

use common::{cmd, orl_subject};
use facelab_testpg::Server;
use serde_json::Value;

/// A server, or a skip (a failure where PostgreSQL is required).
macro_rules! require_postgres {
    () => {
        match Server::start() {
            Some(s) => s,
            None => return,
        }
    };
}

/// A config for the default pipeline (YuNet, SFace) on `library` (a file or a URL).
fn config(shared: &Path, dir: &Path, library: &str) -> PathBuf {
    let key = if library.starts_with("postgres://") {
        "url"
    } else {
        "path"
    };
    common::write_config(
        dir,
        &format!(
            "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel = \"yunet-s-dynamic\"\n[recognizer]\nplugin = \"onnx-runtime\"\nkind = \"embedder\"\nmodel = \"sface-2021dec\"\n[models]\nmirror = \"{}\"\n[library]\n{key} = \"{library}\"\n",
            shared.join("models").display()
        ),
    )
}

/// `value` with what legitimately differs between two libraries taken out: ids (faces,
/// clusters and people get numbers in the order a scan's workers finish), timings, the
/// library's location and the photos' folder; floats rounded to 4 places (a sum taken in
/// another order differs in its last bits); arrays sorted.
fn normalized(value: &Value, root: &str, library: &str) -> Value {
    const IDS: [&str; 5] = ["id", "face", "representative", "cluster", "command"];
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !IDS.contains(&k.as_str()) && !k.contains("second"))
                .map(|(k, v)| (k.clone(), normalized(v, root, library)))
                .collect(),
        ),
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(|v| normalized(v, root, library)).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        Value::String(s) => Value::String(s.replace(library, "LIBRARY").replace(root, "ROOT")),
        Value::Number(n) if n.is_f64() => {
            serde_json::json!((n.as_f64().unwrap() * 1e4).round() / 1e4)
        }
        v => v.clone(),
    }
}

/// A command's text with the number after "face" and "cluster" (an id) taken out.
fn without_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = ["face ", "cluster "]
        .iter()
        .filter_map(|w| rest.find(w).map(|i| i + w.len()))
        .min()
    {
        out.push_str(&rest[..i]);
        rest = rest[i..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out + rest
}

/// Where `x` and `y` first differ (a JSON path and both values), `None` when equal.
fn first_difference(x: &Value, y: &Value, at: String) -> Option<String> {
    match (x, y) {
        (Value::Object(a), Value::Object(b)) => a.keys().chain(b.keys()).find_map(|k| {
            let (p, q) = (a.get(k), b.get(k));
            let null = &Value::Null;
            first_difference(p.unwrap_or(null), q.unwrap_or(null), format!("{at}.{k}"))
        }),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}[{i}]"))),
        (p, q) => (p != q).then(|| format!("{at}: {p} vs {q}")),
    }
}

/// One library and its photos, on one backend.
pub(crate) struct Side {
    pub(crate) config: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) library: String,
}

impl Side {
    pub(crate) fn new(shared: &Path, dir: &Path, library: impl FnOnce(&Path) -> String) -> Side {
        std::fs::create_dir_all(dir).unwrap();
        let root = dir.join("photos");
        common::copy_orl(
            shared,
            &root.join("unnamed"),
            1..=10,
            &[3, 4, 5, 6, 7, 8, 9, 10],
        );
        common::copy_orl(shared, &root.join("named"), 1..=6, &[1, 2]);
        let library = library(dir);
        Side {
            config: config(shared, dir, &library),
            root,
            // As facelab names it: without the password.
            library: library.replace(&format!(":{}@", facelab_testpg::PASSWORD), "@"),
        }
    }

    /// Runs `args` (succeeding), its output normalised.
    pub(crate) fn run(&self, args: &[&str]) -> Value {
        let (code, out, err) = cmd(&self.config, args);
        assert_eq!(code, 0, "{} {args:?}: {err}", self.library);
        let v = serde_json::from_str(&out).unwrap_or_else(|_| Value::String(without_ids(&out)));
        normalized(&v, self.root.to_str().unwrap(), &self.library)
    }

    pub(crate) fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// The id of the face in photo `rel`.
    fn face(&self, rel: &str) -> String {
        let (_, out, _) = cmd(&self.config, &["faces", "--json"]);
        let faces: Value = serde_json::from_str(&out).unwrap();
        let want = self.path(rel);
        faces
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == want.as_str())
            .unwrap_or_else(|| panic!("no face in {want}"))["id"]
            .to_string()
    }

    /// The ids of the groups, largest first, ties by their first photo.
    fn groups(&self) -> Vec<String> {
        let (_, out, _) = cmd(&self.config, &["clusters", "list", "--json"]);
        let list: Value = serde_json::from_str(&out).unwrap();
        let mut groups: Vec<(i64, String, String)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let id = c["id"].to_string();
                let (_, members, _) = cmd(&self.config, &["clusters", "show", &id, "--json"]);
                let members: Value = serde_json::from_str(&members).unwrap();
                let first = members
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["path"].as_str().unwrap().to_owned())
                    .min()
                    .unwrap();
                (-c["size"].as_i64().unwrap(), first, id)
            })
            .collect();
        groups.sort();
        groups.into_iter().map(|(_, _, id)| id).collect()
    }

    /// The user's session, the same on both backends; every answer, normalised.
    pub(crate) fn session(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let mut step = |name: &str, args: &[&str]| out.push((name.to_owned(), self.run(args)));
        let (unnamed, named) = (self.path("unnamed"), self.path("named"));
        step("scan", &["scan", "--json", &unnamed, &named]);
        step("import-labels", &["import-labels", &named]);
        step("suggest", &["suggest", "--json"]);
        let (s1, s2) = (self.face("unnamed/s1/3.pgm"), self.face("unnamed/s2/3.pgm"));
        step("confirm", &["confirm", &s1]);
        step("reject", &["reject", &s2]);
        step("tag", &["tag", &self.face("unnamed/s9/3.pgm"), "Zed"]);
        step("rename", &["people", "rename", "Zed", "Zoe"]);
        step("tag2", &["tag", &self.face("unnamed/s9/4.pgm"), "Zoey"]);
        step("merge people", &["people", "merge", "Zoey", "Zoe"]);
        step("cluster", &["cluster", "--json"]);
        step("clusters", &["clusters", "list", "--json"]);
        let groups = self.groups();
        step("name group", &["clusters", "name", &groups[0], "Grp"]);
        step("split group", &["clusters", "split", &groups[1]]);
        step("merges", &["clusters", "suggest-merges", "--all", "--json"]);
        step("suggest again", &["suggest", "--json"]);
        step("export-xmp", &["export-xmp", "--json"]);
        step("people", &["people", "list", "--json"]);
        step("faces", &["faces", "--json"]);
        step("export", &["export"]);
        step("check", &["check", "--json"]);
        out
    }
}

/// [`Side::session`] on SQLite and on `server` (database `photos`), in `dir`, compared answer
/// by answer with the keys `ignore` taken out of each; SQLite's answers, and the PostgreSQL
/// side.
pub(crate) fn same_session(
    shared: &Path,
    server: &Server,
    dir: &Path,
    ignore: &[&str],
) -> (Vec<(String, Value)>, Side) {
    let lite = Side::new(shared, &dir.join("lite"), |d| {
        d.join("library.sqlite").display().to_string()
    });
    let pg = Side::new(shared, &dir.join("pg"), |_| server.url("photos"));
    let strip = |mut steps: Vec<(String, Value)>| {
        for (_, v) in &mut steps {
            if let Some(o) = v.as_object_mut() {
                ignore.iter().for_each(|k| drop(o.remove(*k)));
            }
        }
        steps
    };
    let (a, b) = (strip(lite.session()), strip(pg.session()));
    for ((step, x), (_, y)) in a.iter().zip(&b) {
        if let Some(at) = first_difference(x, y, String::new()) {
            panic!("{step}: SQLite and PostgreSQL differ at {at}");
        }
    }
    (a, pg)
}

#[test]
fn every_command_gives_the_same_answers_on_sqlite_and_postgresql() {
    let shared = require_shared!();
    let server = require_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = same_session(&shared, &server, dir.path(), &[]);
    // The session did what it says, so the comparison compared something.
    let people = &a.iter().find(|(s, _)| s == "people").unwrap().1;
    let names: Vec<&str> = people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for want in ["Grp", "Zoe", "s1", "s6"] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    let suggest = &a.iter().find(|(s, _)| s == "suggest").unwrap().1;
    let right = suggest["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["person"].as_str() == Some(orl_subject(s["path"].as_str().unwrap()).as_str()))
        .count();
    assert!(right >= 40, "only {right} right suggestions: {suggest}");
}

#[test]
fn the_wrong_server_password_or_database_is_one_line_and_writes_nothing() {
    let shared = require_shared!();
    let server = require_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = server.url("photos");
    let try_open = |url: &str| -> String {
        let config = config(&shared, d, url);
        let (code, out, err) = cmd(&config, &["people", "list"]);
        assert_ne!(code, 0, "{url} opened: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!err.contains(facelab_testpg::PASSWORD), "{err}");
        err
    };
    let wrong = good.replace(facelab_testpg::PASSWORD, "not-the-password");
    let err = try_open(&wrong);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    let err = try_open(&format!(
        "postgres://{}@127.0.0.1:1/photos",
        facelab_testpg::USER
    ));
    assert!(err.contains("cannot reach the server"), "{err}");
    // A database another application uses: refused, and left with its own tables only.
    let other = server.url("shop");
    server.sql(
        "shop",
        "CREATE TABLE orders(id int); INSERT INTO orders VALUES (1)",
    );
    let err = try_open(&other);
    assert!(err.contains("another application"), "{err}");
    let tables = server.sql(
        "shop",
        "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'",
    );
    assert_eq!(tables.trim(), "orders");
    // A library a newer facelab wrote: refused untouched.
    let config = config(&shared, d, &good);
    assert_eq!(cmd(&config, &["people", "add", "Ada"]).0, 0);
    server.sql(
        "photos",
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
    );
    let err = try_open(&good);
    assert!(err.contains("newer than this facelab knows"), "{err}");
    let after = server.sql(
        "photos",
        "SELECT value FROM meta WHERE key = 'schema_version'",
    );
    assert_eq!(after.trim(), "99");
}

#[test]
fn a_library_copied_to_postgresql_and_back_answers_as_before_and_keeps_growing() {
    let shared = require_shared!();
    let server = require_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let lite = Side::new(&shared, &dir.path().join("lite"), |d| {
        d.join("library.sqlite").display().to_string()
    });
    let (unnamed, named) = (lite.path("unnamed"), lite.path("named"));
    lite.run(&["scan", &unnamed, &named]);
    lite.run(&["import-labels", &named]);
    lite.run(&["cluster"]);
    let url = server.url("copy");
    let copy = |from: &str, to: &str| cmd(&lite.config, &["library", "copy", from, to, "--json"]);
    let (code, out, err) = copy(&lite.library, &url);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["rows"]["faces"], 92, "{report}");
    assert_eq!(report["embeddings_verified"], 92, "{report}");
    assert!(!out.contains(facelab_testpg::PASSWORD), "{out}");
    // The copy answers as the original, ids and all.
    let on = |library: &str, args: &[&str]| -> String {
        let mut all = vec!["--library", library];
        all.extend_from_slice(args);
        let (code, out, err) = cmd(&lite.config, &all);
        assert_eq!(code, 0, "{args:?} on {library}: {err}");
        out.replace(library, "LIBRARY")
    };
    for args in [
        &["faces", "--json"][..],
        &["suggest", "--json"],
        &["clusters", "list", "--json"],
        &["people", "list", "--json"],
    ] {
        assert_eq!(on(&lite.library, args), on(&url, args), "{args:?}");
    }
    // A destination that holds anything is refused, and keeps what it held.
    let (code, _, err) = copy(&lite.library, &url);
    assert_ne!(code, 0);
    assert!(err.contains("already holds"), "{err}");
    assert_eq!(
        server.sql("copy", "SELECT count(*) FROM faces").trim(),
        "92"
    );
    // The copy keeps growing: new photos get new ids after the copied ones.
    let more = dir.path().join("more");
    common::copy_orl(&shared, &more, 11..=11, &[1, 2]);
    on(&url, &["scan", more.to_str().unwrap()]);
    assert_eq!(
        server.sql("copy", "SELECT count(*) FROM faces").trim(),
        "94"
    );
    // And back to a new file.
    let back = dir.path().join("back.sqlite").display().to_string();
    let (code, _, err) = copy(&url, &back);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        on(&url, &["faces", "--json"]).replace("LIBRARY", ""),
        on(&back, &["faces", "--json"]).replace("LIBRARY", "")
    );
}

/// Names group `group` as `a` and as `b` from two processes started together: one wins,
/// the other is told and writes nothing; every face of the group ends with the winner's
/// name. Returns the winner.
fn race_to_name(side: &Side, group: &str, size: usize, a: &str, b: &str) -> String {
    let spawn = |name: &str| {
        common::facelab()
            .arg("--config")
            .arg(&side.config)
            .args(["clusters", "name", group, name])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (pa, pb) = (spawn(a), spawn(b));
    let (oa, ob) = (
        pa.wait_with_output().unwrap(),
        pb.wait_with_output().unwrap(),
    );
    let (winner, loser) = match (oa.status.success(), ob.status.success()) {
        (true, false) => (a, ob),
        (false, true) => (b, oa),
        _ => panic!(
            "{}: exactly one of two namings of group {group} must succeed: {oa:?} {ob:?}",
            side.library
        ),
    };
    let told = String::from_utf8_lossy(&loser.stderr);
    assert_eq!(told.trim().lines().count(), 1, "{told}");
    assert!(
        told.contains(&format!("cluster {group}"))
            || told.contains(&format!("cluster with id {group}")),
        "{told}"
    );
    let people = side.run(&["people", "list", "--json"]);
    let faces = |who: &str| {
        people
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == who)
            .map_or(0, |p| p["faces"].as_u64().unwrap() as usize)
    };
    assert_eq!(faces(winner), size, "{people}");
    assert_eq!(faces(if winner == a { b } else { a }), 0, "{people}");
    winner.to_owned()
}

#[test]
fn two_people_naming_one_group_at_once_one_wins_and_the_other_is_told() {
    let shared = require_shared!();
    let server = require_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let lite = Side::new(&shared, &dir.path().join("lite"), |d| {
        d.join("library.sqlite").display().to_string()
    });
    let pg = Side::new(&shared, &dir.path().join("pg"), |_| server.url("race"));
    for side in [&lite, &pg] {
        let unnamed = side.path("unnamed");
        side.run(&["scan", &unnamed]);
        side.run(&["cluster"]);
        let (_, list, _) = cmd(&side.config, &["clusters", "list", "--json"]);
        let list: Value = serde_json::from_str(&list).unwrap();
        for (round, c) in list.as_array().unwrap().iter().take(3).enumerate() {
            let size = c["size"].as_u64().unwrap() as usize;
            let id = c["id"].to_string();
            race_to_name(
                side,
                &id,
                size,
                &format!("Ann{round}"),
                &format!("Bea{round}"),
            );
        }
    }
}

#[test]
fn wider_face_photos_scanned_in_another_order_give_the_same_faces_and_groups_on_both() {
    let shared = require_shared!();
    let server = require_postgres!();
    let dir = tempfile::tempdir().unwrap();
    // WIDER FACE mini: crowds, small and turned faces; more faces than the threshold's
    // sample of random pairs takes all pairs of. In two folders, scanned one after the other
    // into SQLite and the other way round into PostgreSQL, so their faces get other ids.
    let mut wider: Vec<PathBuf> =
        std::fs::read_dir(shared.join("datasets/wider-face-val-mini/images"))
            .unwrap()
            .flatten()
            .flat_map(|event| std::fs::read_dir(event.path()).unwrap().flatten())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
    wider.sort();
    let root = dir.path().join("photos");
    for (i, p) in wider.iter().enumerate() {
        let half = root.join(if i < wider.len() / 2 { "a" } else { "b" });
        std::fs::create_dir_all(&half).unwrap();
        std::fs::copy(p, half.join(p.file_name().unwrap())).unwrap();
    }
    let faces = |library: String, sub: &str, order: [&str; 2]| {
        let d = dir.path().join(sub);
        std::fs::create_dir_all(&d).unwrap();
        let config = config(&shared, &d, &library);
        for half in order {
            let (code, _, err) = cmd(&config, &["scan", root.join(half).to_str().unwrap()]);
            assert_eq!(code, 0, "{err}");
        }
        let shown = library.replace(&format!(":{}@", facelab_testpg::PASSWORD), "@");
        // The faces, and the groups with the threshold's evidence (its sample of random
        // pairs follows the photos, not the order the scan stored them in).
        ["faces --json", "cluster --full --json"].map(|args| {
            let (code, out, err) = cmd(&config, &args.split(' ').collect::<Vec<_>>());
            assert_eq!(code, 0, "{err}");
            normalized(
                &serde_json::from_str(&out).unwrap(),
                root.to_str().unwrap(),
                &shown,
            )
        })
    };
    let lite = faces(
        dir.path().join("lite/library.sqlite").display().to_string(),
        "lite",
        ["a", "b"],
    );
    let pg = faces(server.url("wider"), "pg", ["b", "a"]);
    let found = lite[0].as_array().unwrap().len();
    assert!(found > 1000, "{found} faces");
    assert!(
        lite[1]["threshold"]["random"]["pairs"].as_u64() == Some(200_000),
        "{}",
        lite[1]
    );
    for (what, (a, b)) in ["faces", "cluster"].iter().zip(lite.iter().zip(&pg)) {
        if let Some(at) = first_difference(a, b, String::new()) {
            panic!("{what}: SQLite and PostgreSQL differ at {at}");
        }
    }
}
