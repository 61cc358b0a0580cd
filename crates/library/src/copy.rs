//! `facelab library copy SRC DST`: moves a library between engines (an SQLite file to a
//! PostgreSQL server and back, or file to file) with every row and id as it was, then
//! verifies the copy: the row count of every table, and the checksum of every embedding.
//! A destination that holds anything is refused, and a failed copy leaves it empty (one
//! transaction).

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::db::{Backend, ToCol, Value};
use crate::{Library, LibraryError, Result};

/// The library's tables in an order that keeps every reference satisfied, each with its
/// columns (the first ones its key, for the order rows are copied in).
const TABLES: &[(&str, &[&str], usize)] = &[
    (
        "images",
        &[
            "id",
            "path_bytes",
            "path",
            "size",
            "mtime_ns",
            "hash",
            "width",
            "height",
            "orientation",
            "status",
            "error",
            "detector",
            "scanned_at",
            "revision",
        ],
        1,
    ),
    (
        "faces",
        &[
            "id",
            "image_id",
            "x",
            "y",
            "w",
            "h",
            "landmarks",
            "score",
            "detector",
            "created_at",
            "quality",
            "quality_parts",
            "origin",
            "hidden_at",
        ],
        1,
    ),
    (
        "embeddings",
        &["face_id", "model_id", "dim", "normalized", "vector"],
        2,
    ),
    ("people", &["id", "name", "created_at", "hidden_at"], 1),
    (
        "labels",
        &["face_id", "person_id", "state", "score", "source", "at"],
        2,
    ),
    (
        "clusters",
        &["id", "model_id", "created_at", "updated_at"],
        1,
    ),
    ("cluster_members", &["face_id", "cluster_id"], 2),
    ("cannot_link", &["a", "b", "source", "at"], 2),
];

/// A table's name, its columns and its rows, read from the source.
type TableRows = (&'static str, &'static [&'static str], Vec<Vec<Value>>);

/// Keys of `meta` that belong to the database, not to the library's content.
const OWN_META: [&str; 2] = ["schema_version", "application"];

/// What a copy moved and checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// The source, as facelab names it (a URL without its password).
    pub from: String,
    /// The destination.
    pub to: String,
    /// Rows of each table, the same in both (checked after the copy).
    pub rows: BTreeMap<String, usize>,
    /// Embeddings whose bytes were checked equal (SHA-256 of every vector) in both.
    pub embeddings_verified: usize,
}

fn count(lib: &Library, table: &str) -> Result<usize> {
    lib.conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as usize)
        .map_err(|e| lib.err(e))
}

/// Every embedding's checksum by (face, model).
fn checksums(lib: &Library) -> Result<BTreeMap<(i64, String), [u8; 32]>> {
    let mut stmt = lib
        .conn
        .prepare("SELECT face_id, model_id, vector FROM embeddings")
        .map_err(|e| lib.err(e))?;
    let mut rows = stmt.query([]).map_err(|e| lib.err(e))?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
        let key = (
            r.get(0).map_err(|e| lib.err(e))?,
            r.get(1).map_err(|e| lib.err(e))?,
        );
        let v: Vec<u8> = r.get(2).map_err(|e| lib.err(e))?;
        out.insert(key, Sha256::digest(&v).into());
    }
    Ok(out)
}

/// Copies the library at `from` into the new or empty library at `to`.
pub fn copy(from: &Path, to: &Path, busy_timeout_ms: u64) -> Result<CopyReport> {
    let src = Library::open(from, busy_timeout_ms)?;
    let mut dst = Library::open(to, busy_timeout_ms)?;
    let named = |l: &Library| l.path().display().to_string();
    for (table, _, _) in TABLES {
        let n = count(&dst, table)?;
        if n > 0 {
            return Err(LibraryError::Conflict(format!(
                "{}: the destination already holds {n} rows of {table}; a copy goes into a new or empty library only (help: give a new file or an empty database)",
                named(&dst)
            )));
        }
    }
    // Read everything first (the source may be another connection to the same server).
    let mut data: Vec<TableRows> = Vec::new();
    for (table, cols, key) in TABLES {
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {}",
            cols.join(", "),
            cols[..*key].join(", ")
        );
        let mut stmt = src.conn.prepare(&sql).map_err(|e| src.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                (0..cols.len()).map(|i| r.get::<_, Value>(i)).collect()
            })
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<Vec<Value>>>>())
            .map_err(|e| src.err(e))?;
        data.push((table, cols, rows));
    }
    let meta: Vec<(String, String)> = {
        let mut stmt = src
            .conn
            .prepare("SELECT key, value FROM meta ORDER BY key")
            .map_err(|e| src.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| src.err(e))?;
        rows.into_iter()
            .filter(|(k, _)| !OWN_META.contains(&k.as_str()))
            .collect()
    };
    let backend = dst.backend();
    dst.write(|tx| {
        for (table, cols, rows) in &data {
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let mut insert = tx.prepare(&format!(
                "INSERT INTO {table}({}) VALUES ({})",
                cols.join(", "),
                marks.join(", ")
            ))?;
            for row in rows {
                insert.execute(row.iter().map(|v| v as &dyn ToCol).collect::<Vec<_>>())?;
            }
        }
        // pgvector's copy of each vector, where the destination has it.
        crate::vectors::fill_missing(tx)?;
        for (k, v) in &meta {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                crate::params![k, v],
            )?;
        }
        if backend == Backend::Postgres {
            // Rows came with their ids: new rows continue after the highest.
            for table in ["images", "faces", "people"] {
                tx.query_row(
                    &format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"),
                    [],
                    |_| Ok(()),
                )?;
            }
        }
        Ok(())
    })?;
    // Verify from the destination as stored.
    let mut rows = BTreeMap::new();
    for (table, _, _) in TABLES {
        let (a, b) = (count(&src, table)?, count(&dst, table)?);
        if a != b {
            return Err(LibraryError::Conflict(format!(
                "{}: {table} has {b} rows after the copy, the source {a} (help: the source changed during the copy, or the copy failed; delete the destination and copy again)",
                named(&dst)
            )));
        }
        rows.insert(table.to_string(), a);
    }
    let (a, b) = (checksums(&src)?, checksums(&dst)?);
    if let Some(((face, model), _)) = a.iter().find(|(k, v)| b.get(k) != Some(v)) {
        return Err(LibraryError::Conflict(format!(
            "{}: the embedding of face {face} ({model}) differs from the source's after the copy (help: delete the destination and copy again)",
            named(&dst)
        )));
    }
    Ok(CopyReport {
        from: named(&src),
        to: named(&dst),
        rows,
        embeddings_verified: a.len(),
    })
}
