//! The face library: one embedded SQLite database (WAL) with every scanned photo, each
//! face's box and landmarks, its embedding once per recognizer model, people, the user's
//! labels (confirmed, rejected, suggested) and clusters of unknown faces.
//!
//! Names attach to faces, never to embeddings, so a recognizer switch only adds embeddings,
//! and a detector switch matches new boxes to old faces by IoU and keeps their ids.
//!
//! # Several processes at once
//!
//! Any number of `scan`, `cluster`, `tag`, `import-labels`, … processes may work on one
//! library at the same time; none of them duplicates or loses another's work. The rule:
//! **work is planned from a snapshot, and written in one `BEGIN IMMEDIATE` transaction that
//! re-checks the snapshot**. SQLite lets one writer at a time in; each write re-reads what it
//! depends on under that lock and drops its result when another process got there first.
//! - A scan writes a photo only if its row is still at the `revision` it planned from (a new
//!   photo: only if no row holds its path yet); otherwise the other process's result stays
//!   and the photo is counted as `concurrent`. Marking a photo missing is checked the same
//!   way, so a photo another scan just moved is not marked missing.
//! - A face is removed by a re-detection only if it still has no confirmed name.
//! - `cluster` writes only if no other clustering change (`cluster`, `clusters name|merge|
//!   split`) committed since it read the faces, else it clusters again from the new state.
//! - Names and people are upserts, so two `tag`s adding one new person both succeed.
//!
//! Unique constraints back this up: a path (as bytes), a box per photo, a label per (face,
//! person), one confirmed person per face, an embedding per (face, model). Waiting for the
//! lock is bounded by `library.busy_timeout_ms`; scans write in batches, so others get in
//! between. `facelab check` ([`check`]) finds and merges duplicates an older version stored.
//!
//! Paths are stored as the bytes the OS gives ([`paths`]), with a display form beside them.

pub mod check;
pub mod clusters;
pub mod identity;
pub mod manual;
pub mod paths;
pub mod scan;
pub mod schema;
pub mod search;
pub mod session;
pub mod suggest;
pub mod walk;
pub mod xmp;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use facelab_engine::quality::Quality;
pub use schema::SCHEMA_VERSION;

/// Why a library operation failed. Each message names what to do.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The database was written by a newer facelab.
    #[error("{path}: this face library has schema version {found}, newer than this facelab knows ({known}) (help: upgrade facelab; this version will not touch the file)")]
    TooNew {
        /// The database.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this program knows.
        known: i64,
    },
    /// Not a facelab database.
    #[error("{path}: not a facelab face library ({reason}) (help: point library.path or --library at a new file or an existing facelab library)")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// Another process holds the lock for longer than the busy timeout.
    #[error("{path}: the face library is locked by another process (waited {waited_ms} ms) (help: wait for the other facelab, for example a running scan, to finish, or raise library.busy_timeout_ms)")]
    Locked {
        /// The database.
        path: PathBuf,
        /// How long this process waited.
        waited_ms: u64,
    },
    /// The database file cannot be opened or created.
    #[error("{path}: cannot open the face library: {message} (help: check that the folder exists and is writable)")]
    Open {
        /// The database.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// Something the user named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A request that contradicts the library's content.
    #[error("{0}")]
    Conflict(String),
    /// The database file is damaged.
    #[error("{path}: the face library is damaged: SQLite says \"{message}\" (help: restore this file from a backup; `facelab check` lists what is damaged)")]
    Corrupt {
        /// The database.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// Any other SQLite error.
    #[error("{path}: database error: {message}")]
    Sql {
        /// The database.
        path: PathBuf,
        /// SQLite's message (kept as text, so it is printed once, not again as a cause).
        message: String,
    },
}

/// Result of library operations.
pub type Result<T, E = LibraryError> = std::result::Result<T, E>;

/// An open face library.
pub struct Library {
    pub(crate) conn: Connection,
    path: PathBuf,
    busy_timeout_ms: u64,
}

/// Seconds since the Unix epoch, for `*_at` columns.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A person.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Person {
    /// Row id.
    pub id: i64,
    /// Name, unique ignoring case.
    pub name: String,
    /// Confirmed faces.
    pub faces: i64,
}

/// A face with its photo and label, for listings and export.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaceRow {
    /// Face id (what `tag`, `confirm`, `reject` take).
    pub id: i64,
    /// The photo's path, for display: exact when `path_utf8`, else with each byte that is
    /// not UTF-8 written as `\xNN`.
    pub path: String,
    /// Whether the file name is valid UTF-8 (`path` is then the exact name).
    pub path_utf8: bool,
    /// Box in upright-photo pixels: x, y, width, height.
    pub bbox: [f32; 4],
    /// Detector confidence.
    pub score: f32,
    /// Its quality ([`facelab_engine::quality`]): the components and their product, `score`.
    /// `None` for a face stored before facelab measured quality, until the next scan of
    /// its folder; such a face passes `library.min_quality`.
    pub quality: Option<Quality>,
    /// The detector key (`plugin:kind:model`) that found it.
    pub detector: String,
    /// Confirmed person, if any.
    pub person: Option<String>,
    /// Pending suggestion (person, score), if any.
    pub suggestion: Option<(String, f32)>,
    /// People this face was rejected for.
    pub rejected: Vec<String>,
    /// Models it has an embedding for.
    pub models: Vec<String>,
}

impl Library {
    /// Opens (creating if needed) the library at `path`, migrating an older schema step by
    /// step, refusing a newer one. Waits up to `busy_timeout_ms` for another process's lock.
    pub fn open(path: &Path, busy_timeout_ms: u64) -> Result<Library> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LibraryError::Open {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| LibraryError::Open {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut lib = Library {
            conn,
            path: path.to_owned(),
            busy_timeout_ms,
        };
        lib.conn
            .busy_timeout(Duration::from_millis(busy_timeout_ms))
            .map_err(|e| lib.err(e))?;
        // Only reads until the version is known: a newer or foreign file is refused before
        // anything (even the journal mode) is written to it.
        schema::check_version(&lib).map_err(|e| match e {
            LibraryError::Corrupt { message, .. } if message.contains("not a database") => {
                LibraryError::Foreign {
                    path: path.to_owned(),
                    reason: "the file is not an SQLite database, or its header is damaged".into(),
                }
            }
            e => e,
        })?;
        // journal_mode needs the lock briefly; a locked database reports busy here.
        lib.conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| lib.err(e))?;
        lib.conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
            .map_err(|e| lib.err(e))?;
        schema::migrate(&mut lib)?;
        lib.conn
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| lib.err(e))?;
        Ok(lib)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Maps an SQLite error, turning "busy" into [`LibraryError::Locked`].
    pub(crate) fn err(&self, e: rusqlite::Error) -> LibraryError {
        sql_error(&self.path, self.busy_timeout_ms, e)
    }

    /// Runs `f` in an immediate (write-locking) transaction.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let (path, busy) = (self.path.clone(), self.busy_timeout_ms);
        let err = |e| sql_error(&path, busy, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let v = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(v)
    }

    // ---- people -------------------------------------------------------------------

    /// Every person with their number of confirmed faces, by name.
    pub fn people(&self) -> Result<Vec<Person>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.id, p.name, (SELECT count(*) FROM labels l WHERE l.person_id = p.id AND l.state = 'confirmed')
                 FROM people p ORDER BY p.name COLLATE NOCASE",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Person {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    faces: r.get(2)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The person called `name` (ignoring case).
    pub fn person(&self, name: &str) -> Result<Option<Person>> {
        Ok(self
            .people()?
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.trim())))
    }

    fn person_or_err(&self, name: &str) -> Result<Person> {
        self.person(name)?.ok_or_else(|| {
            LibraryError::NotFound(format!(
                "no person called {name:?} (help: `facelab people list` shows them; `facelab people add {name:?}` adds one)"
            ))
        })
    }

    /// Adds a person; an existing name is an error.
    pub fn add_person(&mut self, name: &str) -> Result<Person> {
        let name = valid_name(name)?;
        if self.person(&name)?.is_some() {
            return Err(LibraryError::Conflict(format!(
                "a person called {name:?} already exists (help: `facelab people list`)"
            )));
        }
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO people(name, created_at) VALUES (?1, ?2)",
                params![name, now()],
            )?;
            Ok(tx.last_insert_rowid())
        })?;
        Ok(Person { id, name, faces: 0 })
    }

    /// The person called `name`, added if missing; the flag says whether it was added.
    pub fn person_or_add(&mut self, name: &str) -> Result<(Person, bool)> {
        if let Some(p) = self.person(name)? {
            return Ok((p, false));
        }
        let name = valid_name(name)?;
        // Another process may add the same person meanwhile: an upsert, not check-then-insert.
        let (id, stored, added): (i64, String, bool) = self.write(|tx| {
            let added = tx.execute(
                "INSERT INTO people(name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![name, now()],
            )?;
            let (id, stored): (i64, String) = tx.query_row(
                "SELECT id, name FROM people WHERE name = ?1",
                [&name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((id, stored, added == 1))
        })?;
        let faces = if added {
            0
        } else {
            self.person(&stored)?.map_or(0, |p| p.faces)
        };
        Ok((
            Person {
                id,
                name: stored,
                faces,
            },
            added,
        ))
    }

    /// Renames a person; their labels stay.
    pub fn rename_person(&mut self, old: &str, new: &str) -> Result<()> {
        let p = self.person_or_err(old)?;
        let new = valid_name(new)?;
        if let Some(other) = self.person(&new)? {
            if other.id != p.id {
                return Err(LibraryError::Conflict(format!(
                    "a person called {new:?} already exists (help: `facelab people merge {old:?} {new:?}` joins the two)"
                )));
            }
        }
        self.write(|tx| {
            tx.execute(
                "UPDATE people SET name = ?1 WHERE id = ?2",
                params![new, p.id],
            )
            .map(|_| ())
        })
    }

    /// Moves every label of `from` to `into` and removes `from`. A face confirmed for
    /// either stays confirmed; a rejection never overrides a confirmation.
    pub fn merge_people(&mut self, from: &str, into: &str) -> Result<i64> {
        let a = self.person_or_err(from)?;
        let b = self.person_or_err(into)?;
        if a.id == b.id {
            return Err(LibraryError::Conflict(format!(
                "{from:?} and {into:?} are the same person"
            )));
        }
        self.write(|tx| {
            // Labels of faces that `into` has no label for move over as they are.
            let mut moved = tx.execute(
                "UPDATE labels SET person_id = ?2 WHERE person_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM labels l2 WHERE l2.face_id = labels.face_id AND l2.person_id = ?2)",
                params![a.id, b.id],
            )?;
            // Faces labelled for both: confirmed beats rejected beats suggested.
            let both: Vec<(i64, String)> = tx
                .prepare("SELECT face_id, state FROM labels WHERE person_id = ?1")?
                .query_map([a.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (face, state) in both {
                tx.execute(
                    "DELETE FROM labels WHERE face_id = ?1 AND person_id = ?2",
                    params![face, a.id],
                )?;
                tx.execute(
                    "UPDATE labels SET state = CASE
                       WHEN 'confirmed' IN (state, ?3) THEN 'confirmed'
                       WHEN 'rejected' IN (state, ?3) THEN 'rejected'
                       ELSE state END
                     WHERE face_id = ?1 AND person_id = ?2",
                    params![face, b.id, state],
                )?;
                moved += 1;
            }
            tx.execute("DELETE FROM people WHERE id = ?1", params![a.id])?;
            Ok(moved as i64)
        })
    }

    // ---- labels -------------------------------------------------------------------

    fn face_exists(&self, face: i64) -> Result<()> {
        let found: Option<i64> = self
            .conn
            .query_row("SELECT id FROM faces WHERE id = ?1", [face], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        found.map(|_| ()).ok_or_else(|| {
            LibraryError::NotFound(format!(
                "no face with id {face} (help: `facelab faces` lists the faces and their ids)"
            ))
        })
    }

    /// Confirms `face` as `person` (the face's only confirmed person), recording `source`.
    pub fn confirm(&mut self, face: i64, person: &str, source: &str) -> Result<Person> {
        self.face_exists(face)?;
        let (p, _) = self.person_or_add(person)?;
        let source = source.to_owned();
        let pid = p.id;
        let exists = self.write(move |tx| {
            // A scan may have removed the face since it was checked above.
            if tx
                .query_row("SELECT 1 FROM faces WHERE id = ?1", [face], |_| Ok(()))
                .optional()?
                .is_none()
            {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM labels WHERE face_id = ?1 AND (state = 'confirmed' OR state = 'suggested')",
                params![face],
            )?;
            tx.execute(
                "INSERT INTO labels(face_id, person_id, state, score, source, at) VALUES (?1, ?2, 'confirmed', NULL, ?3, ?4)
                 ON CONFLICT(face_id, person_id) DO UPDATE SET state = 'confirmed', score = NULL, source = excluded.source, at = excluded.at",
                params![face, pid, source, now()],
            )?;
            Ok(true)
        })?;
        if !exists {
            self.face_exists(face)?;
        }
        Ok(p)
    }

    /// Records that `face` is not `person`: that pair is never suggested again.
    pub fn reject(&mut self, face: i64, person: &str) -> Result<Person> {
        self.face_exists(face)?;
        let p = self.person_or_err(person)?;
        let pid = p.id;
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO labels(face_id, person_id, state, score, source, at) VALUES (?1, ?2, 'rejected', NULL, 'user', ?3)
                 ON CONFLICT(face_id, person_id) DO UPDATE SET state = 'rejected', score = NULL, source = 'user', at = excluded.at",
                params![face, pid, now()],
            )?;
            Ok(())
        })?;
        Ok(p)
    }

    /// The confirmed person of `face`, if any.
    pub fn person_of(&self, face: i64) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 AND l.state = 'confirmed'",
                [face],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Removes the confirmed (and any suggested) person of `face`; returns the old name.
    pub fn untag(&mut self, face: i64) -> Result<Option<String>> {
        self.face_exists(face)?;
        let old = self.person_of(face)?;
        self.write(|tx| {
            tx.execute(
                "DELETE FROM labels WHERE face_id = ?1 AND state IN ('confirmed', 'suggested')",
                [face],
            )
            .map(|_| ())
        })?;
        Ok(old)
    }

    /// The pending suggestion of `face`, if any.
    pub fn suggestion(&self, face: i64) -> Result<Option<(String, f32)>> {
        self.conn
            .query_row(
                "SELECT p.name, l.score FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 AND l.state = 'suggested'",
                [face],
                |r| Ok((r.get(0)?, r.get::<_, Option<f64>>(1)?.unwrap_or(0.0) as f32)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    // ---- listings -----------------------------------------------------------------

    /// Faces of photos that are in the library (not missing), optionally only those
    /// confirmed as `person`, in photo-path order.
    pub fn faces(&self, person: Option<&str>) -> Result<Vec<FaceRow>> {
        let pid = match person {
            Some(name) => Some(self.person_or_err(name)?.id),
            None => None,
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, i.path, f.x, f.y, f.w, f.h, f.score, f.detector,
                   (SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = f.id AND l.state = 'confirmed'),
                   (SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = f.id AND l.state = 'suggested'),
                   (SELECT l.score FROM labels l WHERE l.face_id = f.id AND l.state = 'suggested'),
                   (SELECT group_concat(p.name, char(31)) FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = f.id AND l.state = 'rejected'),
                   (SELECT group_concat(e.model_id, char(31)) FROM embeddings e WHERE e.face_id = f.id),
                   i.path_bytes, f.quality_parts
                 FROM faces f JOIN images i ON i.id = f.image_id
                 WHERE i.status = 'done'
                   AND (?1 IS NULL OR EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.person_id = ?1 AND l.state = 'confirmed'))
                 ORDER BY i.path, f.id",
            )
            .map_err(|e| self.err(e))?;
        let split = |s: Option<String>| -> Vec<String> {
            s.map(|s| s.split('\u{1f}').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let rows = stmt
            .query_map([pid], |r| {
                let suggested: Option<String> = r.get(9)?;
                let sscore: Option<f64> = r.get(10)?;
                Ok(FaceRow {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    path_utf8: std::str::from_utf8(&r.get::<_, Vec<u8>>(13)?).is_ok(),
                    bbox: [
                        r.get::<_, f64>(2)? as f32,
                        r.get::<_, f64>(3)? as f32,
                        r.get::<_, f64>(4)? as f32,
                        r.get::<_, f64>(5)? as f32,
                    ],
                    score: r.get::<_, f64>(6)? as f32,
                    quality: quality_from_blob(r.get(14)?),
                    detector: r.get(7)?,
                    person: r.get(8)?,
                    suggestion: suggested.map(|s| (s, sscore.unwrap_or(0.0) as f32)),
                    rejected: split(r.get(11)?),
                    models: split(r.get(12)?),
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Counts of what the library holds: images by status, faces, embeddings, people,
    /// confirmed labels.
    pub fn counts(&self) -> Result<Counts> {
        let q = |sql: &str| -> Result<i64> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        Ok(Counts {
            images: q("SELECT count(*) FROM images WHERE status = 'done'")?,
            failed: q("SELECT count(*) FROM images WHERE status = 'failed'")?,
            missing: q("SELECT count(*) FROM images WHERE status = 'missing'")?,
            faces: q("SELECT count(*) FROM faces")?,
            embeddings: q("SELECT count(*) FROM embeddings")?,
            people: q("SELECT count(*) FROM people")?,
            confirmed: q("SELECT count(*) FROM labels WHERE state = 'confirmed'")?,
        })
    }

    /// The image row id of `path` (as stored: absolute), if scanned.
    pub fn image_id(&self, path: &Path) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT id FROM images WHERE path_bytes = ?1",
                [paths::to_bytes(path)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The faces of an image: (face id, box area), largest first.
    pub fn image_faces(&self, image: i64) -> Result<Vec<(i64, f64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, w * h FROM faces WHERE image_id = ?1 ORDER BY w * h DESC, id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([image], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}

/// What the library holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Photos scanned with success.
    pub images: i64,
    /// Photos that failed (with a recorded reason).
    pub failed: i64,
    /// Photos no longer found where they were.
    pub missing: i64,
    /// Faces.
    pub faces: i64,
    /// Embeddings, over all models.
    pub embeddings: i64,
    /// People.
    pub people: i64,
    /// Confirmed labels.
    pub confirmed: i64,
}

/// SQLite's own words for an error, without rusqlite's wrapping.
fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        rusqlite::Error::SqliteFailure(f, None) => f.to_string(),
        e => e.to_string(),
    }
}

fn sql_error(path: &Path, busy_timeout_ms: u64, e: rusqlite::Error) -> LibraryError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            LibraryError::Locked {
                path: path.to_owned(),
                waited_ms: busy_timeout_ms,
            }
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            LibraryError::Corrupt {
                path: path.to_owned(),
                message: sqlite_message(&e),
            }
        }
        _ => LibraryError::Sql {
            path: path.to_owned(),
            message: sqlite_message(&e),
        },
    }
}

fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(LibraryError::Conflict(format!(
            "{name:?} is not a usable name (help: give a non-empty name without control characters)"
        )));
    }
    Ok(name.to_owned())
}

/// A face's quality from its stored components (`faces.quality_parts`).
pub(crate) fn quality_from_blob(blob: Option<Vec<u8>>) -> Option<Quality> {
    let v = from_blob(&blob?);
    let parts: [f32; 4] = v.try_into().ok()?;
    Some(Quality::from_parts(parts))
}

/// Little-endian f32 blob.
pub fn to_blob(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The f32 values of a little-endian blob.
pub fn from_blob(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
