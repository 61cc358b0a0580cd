//! The schema and its migrations. Each migration runs in its own transaction and bumps
//! `meta.schema_version`; a database newer than [`SCHEMA_VERSION`] is refused untouched.

use rusqlite::{params, OptionalExtension};

use super::{Library, LibraryError, Result};

/// `PRAGMA application_id` of a facelab library ("FLAB").
pub const APPLICATION_ID: i64 = 0x464C_4142;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the face library.
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE images(
       id INTEGER PRIMARY KEY,
       path TEXT NOT NULL UNIQUE,
       size INTEGER NOT NULL,
       mtime_ns INTEGER NOT NULL,
       hash TEXT,
       width INTEGER,
       height INTEGER,
       orientation INTEGER,
       status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'missing')),
       error TEXT,
       detector TEXT,
       scanned_at INTEGER NOT NULL
     );
     CREATE INDEX images_hash ON images(hash);
     CREATE TABLE faces(
       id INTEGER PRIMARY KEY,
       image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
       x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
       landmarks BLOB,
       score REAL NOT NULL,
       detector TEXT NOT NULL,
       created_at INTEGER NOT NULL
     );
     CREATE INDEX faces_image ON faces(image_id);
     CREATE TABLE embeddings(
       face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
       model_id TEXT NOT NULL,
       dim INTEGER NOT NULL,
       normalized INTEGER NOT NULL,
       vector BLOB NOT NULL,
       PRIMARY KEY (face_id, model_id)
     ) WITHOUT ROWID;
     CREATE INDEX embeddings_model ON embeddings(model_id);
     CREATE TABLE people(
       id INTEGER PRIMARY KEY,
       name TEXT NOT NULL UNIQUE COLLATE NOCASE,
       created_at INTEGER NOT NULL
     );
     CREATE TABLE labels(
       face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
       person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
       state TEXT NOT NULL CHECK (state IN ('confirmed', 'rejected', 'suggested')),
       score REAL,
       source TEXT NOT NULL,
       at INTEGER NOT NULL,
       PRIMARY KEY (face_id, person_id)
     ) WITHOUT ROWID;
     CREATE UNIQUE INDEX labels_one_confirmed ON labels(face_id) WHERE state = 'confirmed';
     CREATE INDEX labels_person ON labels(person_id, state);
     CREATE TABLE clusters(
       id INTEGER PRIMARY KEY,
       model_id TEXT NOT NULL,
       created_at INTEGER NOT NULL
     );
     CREATE TABLE cluster_members(
       face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
       cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
       PRIMARY KEY (face_id, cluster_id)
     ) WITHOUT ROWID;
     CREATE INDEX cluster_members_cluster ON cluster_members(cluster_id);",
    // 1 → 2: clustering of unknown faces. Cluster ids come from a counter, so an id is
    // never reused for another group; user splits are cannot-link pairs.
    "ALTER TABLE clusters ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
     INSERT INTO meta(key, value) VALUES ('next_cluster_id', (SELECT coalesce(max(id), 0) + 1 FROM clusters));
     CREATE TABLE cannot_link(
       a INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
       b INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
       source TEXT NOT NULL,
       at INTEGER NOT NULL,
       PRIMARY KEY (a, b),
       CHECK (a < b)
     ) WITHOUT ROWID;
     CREATE INDEX clusters_model ON clusters(model_id);",
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn version(lib: &Library) -> Result<i64> {
    let has_meta: Option<String> = lib
        .conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| lib.err(e))?;
    let app: i64 = lib
        .conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| lib.err(e))?;
    let tables: i64 = lib
        .conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| lib.err(e))?;
    if has_meta.is_none() {
        if tables > 0 || (app != 0 && app != APPLICATION_ID) {
            return Err(LibraryError::Foreign {
                path: lib.path().to_owned(),
                reason: format!(
                    "an SQLite database with {tables} other objects and no facelab meta table"
                ),
            });
        }
        return Ok(0);
    }
    let v: Option<String> = lib
        .conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| lib.err(e))?;
    v.and_then(|v| v.parse().ok())
        .ok_or_else(|| LibraryError::Foreign {
            path: lib.path().to_owned(),
            reason: "its meta table has no schema_version".into(),
        })
}

/// Brings the schema to [`SCHEMA_VERSION`], one transaction per step.
pub(super) fn migrate(lib: &mut Library) -> Result<()> {
    let found = version(lib)?;
    if found > SCHEMA_VERSION {
        return Err(LibraryError::TooNew {
            path: lib.path().to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let to = step as i64 + 1;
        lib.write(|tx| {
            // Re-check inside the write lock: another process may have migrated meanwhile.
            let now: Option<String> = tx
                .query_row(
                    "SELECT value FROM sqlite_master m, meta WHERE m.name = 'meta' AND meta.key = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .unwrap_or(None);
            if now.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0) >= to {
                return Ok(());
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![to.to_string()],
            )?;
            tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_library_is_migrated_step_by_step_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        {
            // A library as the first release wrote it.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO meta VALUES ('schema_version', '1');
                 INSERT INTO people(name, created_at) VALUES ('Ada', 0);
                 INSERT INTO clusters(id, model_id, created_at) VALUES (7, 'm', 0);",
            )
            .unwrap();
        }
        let lib = Library::open(&path, 1000).unwrap();
        assert_eq!(version(&lib).unwrap(), SCHEMA_VERSION);
        let name: String = lib
            .conn
            .query_row("SELECT name FROM people", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "Ada");
        // Cluster ids continue after the highest one ever used.
        let next: String = lib
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'next_cluster_id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(next, "8");
        let app: i64 = lib
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(app, APPLICATION_ID);
        drop(lib);
        // Opening again is a no-op.
        let lib = Library::open(&path, 1000).unwrap();
        assert_eq!(version(&lib).unwrap(), SCHEMA_VERSION);
    }
}
