//! `facelab check`: is the file sound, and does it hold faces stored twice? A damaged file is
//! only reported (SQLite cannot repair it; a backup can). Duplicates an older facelab stored
//! (two scans at once, before schema version 3) are merged into their first copy, keeping
//! every name, and the unique index that prevents them is put back if it is missing.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::db::{Conn, OptionalExtension};

use super::schema::{FACES_UNIQUE_INDEX, MERGE_DUPLICATE_FACES};
use super::{db_error, Library, LibraryError, Result};

/// At most this many integrity problems are listed.
const MAX_PROBLEMS: usize = 20;

/// What `facelab check` found and did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    /// The database.
    pub library: PathBuf,
    /// SQLite's integrity problems (empty when the file is sound), at most 20.
    pub damaged: Vec<String>,
    /// Faces that were stored twice (same photo, same box), merged into their first copy.
    pub duplicate_faces: usize,
    /// Labels (names, rejections, suggestions) those duplicates carried, moved to the copy
    /// that stays unless it already had one for that person.
    pub duplicate_labels: usize,
    /// Whether the unique index on faces was missing and was created again.
    pub index_restored: bool,
    /// How similar faces are found: `portable`, or `pgvector` with its version.
    pub vector_search: crate::vectors::VectorSearch,
}

const COUNT_DUPLICATES: &str = "SELECT coalesce(sum(n - 1), 0) FROM
    (SELECT count(*) AS n FROM faces GROUP BY image_id, x, y, w, h HAVING count(*) > 1) AS d";

const COUNT_DUPLICATE_LABELS: &str =
    "SELECT count(*) FROM labels l JOIN faces f ON f.id = l.face_id
    WHERE EXISTS (SELECT 1 FROM faces g WHERE g.image_id = f.image_id AND g.x = f.x
      AND g.y = f.y AND g.w = f.w AND g.h = f.h AND g.id < f.id)";

/// Checks the library at `path`; repairs duplicates when the file is sound.
pub fn check(path: &Path, busy_timeout_ms: u64) -> Result<CheckReport> {
    if path.to_str().is_some_and(crate::db::connect::is_url) {
        return check_server(path, busy_timeout_ms);
    }
    if !path.is_file() {
        return Err(LibraryError::NotFound(format!(
            "{}: no face library here (help: give --library FILE or library.path of an existing library)",
            path.display()
        )));
    }
    let mut report = CheckReport {
        library: path.to_owned(),
        damaged: Vec::new(),
        duplicate_faces: 0,
        duplicate_labels: 0,
        index_restored: false,
        vector_search: crate::vectors::VectorSearch::Portable { why: None },
    };
    {
        // Read-only first: nothing is written to a damaged file.
        let err = |e| db_error(path, busy_timeout_ms, e);
        let raw = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| err(e.into()))?;
        raw.busy_timeout(std::time::Duration::from_millis(busy_timeout_ms))
            .map_err(|e| err(e.into()))?;
        let raw = Conn::sqlite(raw);
        let integrity = || -> crate::db::Result<Vec<String>> {
            let mut stmt = raw.prepare(&format!("PRAGMA integrity_check({MAX_PROBLEMS})"))?;
            stmt.query_map([], |r| r.get(0))?.collect()
        };
        let rows = match integrity() {
            Ok(rows) => rows,
            // So damaged that the check itself cannot read it: that is the finding.
            Err(e) => match err(e) {
                LibraryError::Corrupt { message, .. } => vec![message],
                e => return Err(e),
            },
        };
        if rows != ["ok"] {
            report.damaged = rows;
            return Ok(report);
        }
        let has_faces: Option<String> = raw
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'faces'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if has_faces.is_some() {
            // Counted before opening: opening an older library merges them while migrating.
            report.duplicate_faces = raw
                .query_row(COUNT_DUPLICATES, [], |r| r.get::<_, i64>(0))
                .map_err(err)? as usize;
            report.duplicate_labels = raw
                .query_row(COUNT_DUPLICATE_LABELS, [], |r| r.get::<_, i64>(0))
                .map_err(err)? as usize;
        }
    }
    let mut lib = Library::open(path, busy_timeout_ms)?;
    report.index_restored = lib.write(|tx| {
        let had_index: Option<String> = tx
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'faces_one_box'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute_batch(MERGE_DUPLICATE_FACES)?;
        tx.execute_batch(FACES_UNIQUE_INDEX)?;
        Ok(had_index.is_none())
    })?;
    Ok(report)
}

/// A library on PostgreSQL: the server keeps its own pages sound (checksums, WAL), and its
/// schema has had the unique index on faces from the start, so this counts duplicates (none
/// can exist) and checks the schema version.
fn check_server(url: &Path, busy_timeout_ms: u64) -> Result<CheckReport> {
    let lib = Library::open(url, busy_timeout_ms)?;
    let count = |sql: &str| -> Result<usize> {
        lib.conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| lib.err(e))
    };
    Ok(CheckReport {
        library: lib.path().to_owned(),
        damaged: Vec::new(),
        duplicate_faces: count(COUNT_DUPLICATES)?,
        duplicate_labels: count(COUNT_DUPLICATE_LABELS)?,
        index_restored: false,
        vector_search: lib.vector_search().clone(),
    })
}

/// `facelab check`: prints the report; returns the number of problems left (damage).
pub fn command(path: &Path, busy_timeout_ms: u64, json: bool) -> Result<usize> {
    let r = check(path, busy_timeout_ms)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).expect("plain values serialise")
        );
    } else if !r.damaged.is_empty() {
        println!(
            "{}: the face library is damaged ({} problems found by SQLite's integrity check; first: {}) (help: restore this file from a backup; `sqlite3 {} .recover | sqlite3 recovered.sqlite` salvages what is still readable)",
            r.library.display(),
            r.damaged.len(),
            r.damaged[0],
            r.library.display()
        );
    } else {
        println!(
            "{}: sound; {} faces stored twice were merged into their first copy ({} labels on them kept){}; similar faces: {}",
            r.library.display(),
            r.duplicate_faces,
            r.duplicate_labels,
            if r.index_restored {
                "; the unique index on faces was missing and was restored"
            } else {
                ""
            },
            r.vector_search
        );
    }
    Ok(r.damaged.len())
}
