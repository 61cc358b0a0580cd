//! The schema and its migrations. Each migration runs in its own transaction and bumps
//! `meta.schema_version`; a database newer than [`SCHEMA_VERSION`] is refused untouched.

pub(crate) mod pg;

use crate::db::OptionalExtension;
use crate::params;

use super::{Library, LibraryError, Result};

/// `PRAGMA application_id` of a facelab library ("FLAB").
pub const APPLICATION_ID: i64 = 0x464C_4142;

/// Merges faces stored twice (same photo, same box) into the one with the lowest id. Names
/// are kept: a confirmation beats a rejection beats a suggestion, and the kept face's own
/// confirmed name beats one on a duplicate. Embeddings, cluster memberships and cannot-links
/// move over. Shared by the 2 → 3 migration and `facelab check`; foreign keys may be off
/// (a migration rebuilds tables), so dependent rows are removed explicitly.
macro_rules! merge_duplicate_faces_sql {
    () => {
        "CREATE TEMP TABLE face_dups AS
           SELECT f.id AS dup, k.keep AS keep FROM faces f
           JOIN (SELECT image_id, x, y, w, h, min(id) AS keep FROM faces
                 GROUP BY image_id, x, y, w, h HAVING count(*) > 1) k
             ON f.image_id = k.image_id AND f.x = k.x AND f.y = k.y AND f.w = k.w AND f.h = k.h
           WHERE f.id <> k.keep;
         UPDATE labels SET state = 'rejected' WHERE state = 'suggested' AND EXISTS (
           SELECT 1 FROM face_dups d JOIN labels l ON l.face_id = d.dup
           WHERE d.keep = labels.face_id AND l.person_id = labels.person_id AND l.state = 'rejected');
         UPDATE labels SET state = 'confirmed' WHERE state <> 'confirmed' AND EXISTS (
           SELECT 1 FROM face_dups d JOIN labels l ON l.face_id = d.dup
           WHERE d.keep = labels.face_id AND l.person_id = labels.person_id AND l.state = 'confirmed')
           AND NOT EXISTS (SELECT 1 FROM labels c WHERE c.face_id = labels.face_id AND c.state = 'confirmed');
         INSERT OR IGNORE INTO labels(face_id, person_id, state, score, source, at)
           SELECT d.keep, l.person_id, l.state, l.score, l.source, l.at
           FROM labels l JOIN face_dups d ON l.face_id = d.dup
           ORDER BY CASE l.state WHEN 'confirmed' THEN 0 WHEN 'rejected' THEN 1 ELSE 2 END, l.at;
         INSERT OR IGNORE INTO embeddings(face_id, model_id, dim, normalized, vector)
           SELECT d.keep, e.model_id, e.dim, e.normalized, e.vector
           FROM embeddings e JOIN face_dups d ON e.face_id = d.dup;
         INSERT OR IGNORE INTO cluster_members(face_id, cluster_id)
           SELECT d.keep, m.cluster_id FROM cluster_members m JOIN face_dups d ON m.face_id = d.dup;
         INSERT OR IGNORE INTO cannot_link(a, b, source, at)
           SELECT min(a2, b2), max(a2, b2), source, at FROM (
             SELECT coalesce((SELECT keep FROM face_dups WHERE dup = c.a), c.a) AS a2,
                    coalesce((SELECT keep FROM face_dups WHERE dup = c.b), c.b) AS b2,
                    c.source, c.at
             FROM cannot_link c) WHERE a2 <> b2;
         DELETE FROM labels WHERE face_id IN (SELECT dup FROM face_dups);
         DELETE FROM embeddings WHERE face_id IN (SELECT dup FROM face_dups);
         DELETE FROM cluster_members WHERE face_id IN (SELECT dup FROM face_dups);
         DELETE FROM cannot_link WHERE a IN (SELECT dup FROM face_dups) OR b IN (SELECT dup FROM face_dups);
         DELETE FROM faces WHERE id IN (SELECT dup FROM face_dups);
         DROP TABLE temp.face_dups;"
    };
}

/// [`merge_duplicate_faces_sql`] for `facelab check`.
pub(super) const MERGE_DUPLICATE_FACES: &str = merge_duplicate_faces_sql!();

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
    // 2 → 3: integrity. Paths are the file name's bytes as the OS gives them (unique), with a
    // display form beside them, so names that are not UTF-8 neither collide nor get mangled.
    // `revision` counts the writes of a photo's row: a scan writes its result only if the
    // row is still at the revision it planned from. Duplicate faces an older version stored
    // (two scans at once) are merged, then a unique index makes another one impossible.
    concat!(
        "CREATE TABLE images_v3(
           id INTEGER PRIMARY KEY,
           path_bytes BLOB NOT NULL UNIQUE,
           path TEXT NOT NULL,
           size INTEGER NOT NULL,
           mtime_ns INTEGER NOT NULL,
           hash TEXT,
           width INTEGER,
           height INTEGER,
           orientation INTEGER,
           status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'missing')),
           error TEXT,
           detector TEXT,
           scanned_at INTEGER NOT NULL,
           revision INTEGER NOT NULL DEFAULT 0
         );
         INSERT INTO images_v3(id, path_bytes, path, size, mtime_ns, hash, width, height,
           orientation, status, error, detector, scanned_at)
         SELECT id, CAST(path AS BLOB), path, size, mtime_ns, hash, width, height, orientation,
           status, error, detector, scanned_at FROM images;
         DROP TABLE images;
         ALTER TABLE images_v3 RENAME TO images;
         CREATE INDEX images_hash ON images(hash);
         CREATE INDEX images_path ON images(path);",
        merge_duplicate_faces_sql!(),
        "CREATE UNIQUE INDEX faces_one_box ON faces(image_id, x, y, w, h);"
    ),
    // 3 → 4: face quality (`facelab_engine::quality`): the score and its four components (size,
    // sharpness, pose, detector; four little-endian f32). Faces stored before have NULL:
    // unknown, which passes `library.min_quality`, until the next scan of their folder
    // measures them (it decodes the photo again, without detecting or embedding).
    "ALTER TABLE faces ADD COLUMN quality REAL;
     ALTER TABLE faces ADD COLUMN quality_parts BLOB;",
    // 4 → 5: where a face came from. `detected` faces belong to the detector that found
    // them and follow its re-detections; `manual` (`facelab faces add`) and `xmp` (created
    // by `facelab import-xmp` where no detected face matched a region) are the user's, and
    // no rescan or detector switch moves or removes them. Faces stored before are detected.
    "ALTER TABLE faces ADD COLUMN origin TEXT NOT NULL DEFAULT 'detected'
       CHECK (origin IN ('detected', 'manual', 'xmp'));",
    // 5 → 6: "not someone I know" ([`crate::hidden`]). A hidden face stays out of
    // suggestions and clusters until it is shown again; a hidden person stays out of the
    // people list and the suggestion queue. NULL: shown; else when it was hidden.
    "ALTER TABLE faces ADD COLUMN hidden_at INTEGER;
     ALTER TABLE people ADD COLUMN hidden_at INTEGER;",
    // 6 → 7: the scan queue ([`crate::queue`]; used on PostgreSQL, the same tables here so
    // the schema is one). A job per photo to scan, named by its root and the path under it,
    // leased to one worker at a time; the workers with their heartbeats.
    "CREATE TABLE jobs(
       id INTEGER PRIMARY KEY,
       root TEXT NOT NULL,
       rel BLOB NOT NULL,
       path_bytes BLOB NOT NULL,
       size INTEGER NOT NULL,
       mtime_ns INTEGER NOT NULL,
       work TEXT NOT NULL,
       image_id INTEGER,
       hash TEXT,
       revision INTEGER,
       state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
       attempts INTEGER NOT NULL DEFAULT 0,
       worker TEXT,
       lease_until INTEGER,
       error TEXT,
       enqueued_at INTEGER NOT NULL,
       finished_at INTEGER
     );
     CREATE UNIQUE INDEX jobs_open_path ON jobs(path_bytes) WHERE state IN ('queued', 'running');
     CREATE INDEX jobs_state ON jobs(state, id);
     CREATE TABLE workers(
       name TEXT PRIMARY KEY,
       detector TEXT NOT NULL,
       models TEXT NOT NULL,
       started_at INTEGER NOT NULL,
       heartbeat_at INTEGER NOT NULL,
       photos INTEGER NOT NULL DEFAULT 0
     );",
];

/// The index that makes a duplicate face impossible; `facelab check` restores it.
pub(super) const FACES_UNIQUE_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS faces_one_box ON faces(image_id, x, y, w, h);";

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn version(lib: &Library) -> Result<i64> {
    // One statement, so one snapshot: read apart, another process creating the library
    // could commit between "no meta table" and the object count, and the new library would
    // look like a foreign database.
    let (has_meta, tables): (bool, i64) = lib
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'),
                    (SELECT count(*) FROM sqlite_master)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| lib.err(e))?;
    let app: i64 = lib
        .conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| lib.err(e))?;
    if !has_meta {
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

/// Reads the schema version without writing anything (on either engine), refusing a newer
/// or foreign database. On SQLite it runs before the journal mode is set, so a refused file
/// is left byte for byte.
pub(crate) fn check_version(lib: &Library) -> Result<i64> {
    let found = match lib.backend() {
        crate::db::Backend::Sqlite => version(lib)?,
        crate::db::Backend::Postgres => pg::version(lib)?,
    };
    if found > SCHEMA_VERSION {
        return Err(LibraryError::TooNew {
            path: lib.path().to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Brings the schema to [`SCHEMA_VERSION`], one transaction per step. Foreign keys must be
/// off (the caller turns them on afterwards): a step may rebuild a table that others
/// reference, and dropping the old one must not cascade. Each step checks the references
/// before it commits instead.
pub(super) fn migrate(lib: &mut Library) -> Result<()> {
    let found = check_version(lib)?;
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let to = step as i64 + 1;
        let (path, busy) = (lib.path.clone(), lib.busy_timeout_ms);
        let err = |e| super::db_error(&path, busy, e);
        let tx = lib.conn.begin_write().map_err(err)?;
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
            continue;
        }
        tx.execute_batch(sql).map_err(err)?;
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        if let Some(table) = dangling {
            // Dropping the transaction uncommitted rolls the step back.
            return Err(LibraryError::Corrupt {
                path: path.clone(),
                message: format!("rows of table {table} point at rows that do not exist (found while upgrading to schema version {to}; nothing was changed)"),
            });
        }
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![to.to_string()],
        )
        .map_err(err)?;
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new file at `path` as facelab's schema version `v` left it, holding `rows` (SQL).
    fn library_at_version(path: &std::path::Path, v: usize, rows: &str) {
        let conn = rusqlite::Connection::open(path).unwrap();
        for step in &MIGRATIONS[..v] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(&format!(
            "INSERT INTO meta VALUES ('schema_version', '{v}'); {rows}"
        ))
        .unwrap();
    }

    #[test]
    fn a_version_1_library_is_migrated_step_by_step_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        // A library as the first release wrote it.
        library_at_version(
            &path,
            1,
            "INSERT INTO people(name, created_at) VALUES ('Ada', 0);
                 INSERT INTO clusters(id, model_id, created_at) VALUES (7, 'm', 0);",
        );
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

    #[test]
    fn a_version_5_library_opens_with_every_face_and_person_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.sqlite");
        library_at_version(
            &path,
            5,
            "INSERT INTO images(id, path_bytes, path, size, mtime_ns, status, scanned_at)
                   VALUES (1, x'2f702f612e6a7067', '/p/a.jpg', 1, 1, 'done', 0);
                 INSERT INTO faces(id, image_id, x, y, w, h, score, detector, created_at) VALUES
                   (1, 1, 0, 0, 10, 10, 0.9, 'd', 0);
                 INSERT INTO people(id, name, created_at) VALUES (1, 'Ada', 0);",
        );
        let mut lib = Library::open(&path, 1000).unwrap();
        assert_eq!(version(&lib).unwrap(), SCHEMA_VERSION);
        let shown: i64 = lib
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM faces WHERE hidden_at IS NULL) + (SELECT count(*) FROM people WHERE hidden_at IS NULL)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(shown, 2);
        // Hiding is reversible, and only the faces it hid are shown again.
        assert_eq!(lib.hide_faces(&[1, 99]).unwrap(), [1]);
        assert_eq!(lib.hidden_faces(0, 10).unwrap(), (1, vec![1]));
        assert_eq!(lib.show_faces(&[1]).unwrap(), 1);
        assert_eq!(lib.hidden_faces(0, 10).unwrap().0, 0);
    }

    #[test]
    fn a_version_3_library_keeps_every_face_with_an_unknown_quality() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.sqlite");
        library_at_version(
            &path,
            3,
            "INSERT INTO images(id, path_bytes, path, size, mtime_ns, status, scanned_at)
                   VALUES (1, x'2f702f612e6a7067', '/p/a.jpg', 1, 1, 'done', 0);
                 INSERT INTO faces(id, image_id, x, y, w, h, score, detector, created_at) VALUES
                   (1, 1, 0, 0, 10, 10, 0.9, 'd', 0), (2, 1, 50, 0, 10, 10, 0.8, 'd', 0);
                 INSERT INTO embeddings VALUES (1, 'm', 1, 1, x'0000803f');
                 INSERT INTO people(id, name, created_at) VALUES (1, 'Ada', 0);
                 INSERT INTO labels VALUES (1, 1, 'confirmed', NULL, 'user', 0);",
        );
        let lib = Library::open(&path, 1000).unwrap();
        assert_eq!(version(&lib).unwrap(), SCHEMA_VERSION);
        let faces = lib.faces(None).unwrap();
        assert_eq!(faces.iter().map(|f| f.id).collect::<Vec<_>>(), [1, 2]);
        assert!(faces.iter().all(|f| f.quality.is_none()));
        assert_eq!(faces[0].person.as_deref(), Some("Ada"));
        // Unknown quality passes any threshold: the named face is still evidence.
        let known = crate::suggest::load(
            &lib,
            &"m".into(),
            facelab_engine::config::MinQuality::new(1.0).unwrap(),
        )
        .unwrap();
        assert_eq!((known.confirmed.len(), known.below_min_quality), (1, 0));
    }

    #[test]
    fn a_version_2_library_holding_duplicate_faces_migrates_merging_them_keeping_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.sqlite");
        // What two scans at once stored with version 2: each face twice; the user named
        // the second copy of face 1 and rejected a person on the first copy of face 3.
        library_at_version(
            &path,
            2,
            "INSERT INTO images(id, path, size, mtime_ns, status, scanned_at)
                   VALUES (1, '/p/a.jpg', 1, 1, 'done', 0);
                 INSERT INTO faces(id, image_id, x, y, w, h, score, detector, created_at) VALUES
                   (1, 1, 0, 0, 10, 10, 0.9, 'd', 0), (2, 1, 50, 0, 10, 10, 0.9, 'd', 0),
                   (3, 1, 0, 0, 10, 10, 0.9, 'd', 0), (4, 1, 50, 0, 10, 10, 0.9, 'd', 0);
                 INSERT INTO embeddings VALUES (1, 'm', 1, 1, x'0000803f'), (3, 'm', 1, 1, x'0000803f'),
                   (4, 'm', 1, 1, x'0000803f');
                 INSERT INTO people(id, name, created_at) VALUES (1, 'Ada', 0), (2, 'Bob', 0);
                 INSERT INTO labels VALUES (3, 1, 'confirmed', NULL, 'user', 0),
                   (2, 2, 'rejected', NULL, 'user', 0), (4, 2, 'suggested', 0.5, 'suggest', 0);
                 INSERT INTO clusters(id, model_id, created_at) VALUES (7, 'm', 0);
                 INSERT INTO cluster_members VALUES (4, 7);",
        );
        let lib = Library::open(&path, 1000).unwrap();
        assert_eq!(version(&lib).unwrap(), SCHEMA_VERSION);
        let q = |sql: &str| -> String {
            lib.conn
                .query_row(sql, [], |r| r.get::<_, String>(0))
                .unwrap()
        };
        assert_eq!(q("SELECT group_concat(id) FROM faces ORDER BY id"), "1,2");
        assert_eq!(
            q("SELECT group_concat(face_id || ':' || person_id || ':' || state) FROM (SELECT * FROM labels ORDER BY face_id)"),
            "1:1:confirmed,2:2:rejected"
        );
        assert_eq!(q("SELECT group_concat(face_id) FROM (SELECT face_id FROM embeddings ORDER BY face_id)"), "1,2");
        assert_eq!(
            q("SELECT group_concat(face_id || ':' || cluster_id) FROM cluster_members"),
            "2:7"
        );
        assert_eq!(q("SELECT path FROM images"), "/p/a.jpg");
        let bytes: Vec<u8> = lib
            .conn
            .query_row("SELECT path_bytes FROM images", [], |r| r.get(0))
            .unwrap();
        assert_eq!(bytes, b"/p/a.jpg");
        // The unique index now refuses another copy.
        assert!(lib
            .conn
            .execute_batch("INSERT INTO faces(image_id, x, y, w, h, score, detector, created_at) VALUES (1, 0, 0, 10, 10, 0.9, 'd', 0)")
            .is_err());
    }
}
