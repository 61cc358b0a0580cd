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

pub mod browse;
pub mod check;
pub mod clusters;
pub mod copy;
pub mod db;
pub mod hidden;
pub mod identity;
pub mod manual;
pub mod paths;
pub mod queue;
pub mod scan;
pub mod schema;
pub mod search;
pub mod session;
pub mod suggest;
pub mod vectors;
pub mod walk;
pub mod xmp;

// `impl Library`, by what each part manages: photo rows, faces and their stored vectors,
// people and names, a face's labels (clusters have their own module above). This file
// keeps the type, opening, the transaction and error plumbing.
mod faces;
mod labels;
mod people;
mod photos;

use std::path::{Path, PathBuf};
use std::time::Duration;

use db::Conn;

pub use faces::{from_blob, to_blob, FaceRow, FusedVectors};
pub use people::Person;
pub use photos::Counts;
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
    /// The PostgreSQL server cannot be reached, or refused the login.
    #[error("{url}: {message}")]
    Connect {
        /// The server, without the password.
        url: String,
        /// What happened, and the fix.
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
    pub(crate) conn: Conn,
    path: PathBuf,
    busy_timeout_ms: u64,
    vector_search: vectors::VectorSearch,
    ef_search: usize,
}

/// Seconds since the Unix epoch, for `*_at` columns.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Library {
    /// Opens (creating if needed) the library at `path` (an SQLite file, or a PostgreSQL
    /// URL, [`Library::open_url`]), migrating an older schema step by step, refusing a newer
    /// one. Waits up to `busy_timeout_ms` for another process's lock.
    pub fn open(path: &Path, busy_timeout_ms: u64) -> Result<Library> {
        if let Some(url) = path.to_str().filter(|p| db::connect::is_url(p)) {
            return Library::open_url(url, busy_timeout_ms);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LibraryError::Open {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        }
        let conn = rusqlite::Connection::open(path).map_err(|e| LibraryError::Open {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        conn.busy_timeout(Duration::from_millis(busy_timeout_ms))
            .map_err(|e| sql_error(path, busy_timeout_ms, e))?;
        let mut lib = Library {
            conn: Conn::sqlite(conn),
            path: path.to_owned(),
            busy_timeout_ms,
            vector_search: vectors::VectorSearch::Portable { why: None },
            ef_search: vectors::EF_SEARCH,
        };
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
        lib.set_wal()?;
        lib.conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
            .map_err(|e| lib.err(e))?;
        schema::migrate(&mut lib)?;
        lib.conn
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| lib.err(e))?;
        Ok(lib)
    }

    /// Opens (creating the schema in an empty database) the library on the PostgreSQL
    /// server at `url`. A database holding another application's tables is refused, and
    /// nothing is written to it.
    pub fn open_url(url: &str, busy_timeout_ms: u64) -> Result<Library> {
        let target = db::connect::Target::parse(url)?;
        let client = target.connect(busy_timeout_ms)?;
        let mut lib = Library {
            conn: Conn::postgres(client),
            path: PathBuf::from(&target.display),
            busy_timeout_ms,
            vector_search: vectors::VectorSearch::Portable { why: None },
            ef_search: vectors::EF_SEARCH,
        };
        schema::pg::migrate(&mut lib)?;
        lib.vector_search = vectors::setup(&mut lib)?;
        Ok(lib)
    }

    /// Switches the file to write-ahead logging. Switching a new file needs it to itself for
    /// a moment, and SQLite answers "busy" at once, without its busy handler, when another
    /// process is reading it then (several facelab commands opening one new library at
    /// once), so this retries until `busy_timeout_ms` has passed.
    fn set_wal(&self) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_millis(self.busy_timeout_ms);
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))
            {
                Ok(_) => return Ok(()),
                Err(e) => match e {
                    LibraryError::Locked { .. } if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    e => return Err(e),
                },
            }
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The storage engine.
    pub fn backend(&self) -> db::Backend {
        self.conn.backend()
    }

    /// Maps a storage error, turning "busy" into [`LibraryError::Locked`].
    pub(crate) fn err(&self, e: db::Error) -> LibraryError {
        db_error(&self.path, self.busy_timeout_ms, e)
    }

    /// Runs `f` in the library's one write transaction (waiting for another process's).
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&db::Tx<'_>) -> db::Result<T>) -> Result<T> {
        let (path, busy) = (self.path.clone(), self.busy_timeout_ms);
        let err = |e| db_error(&path, busy, e);
        let tx = self.conn.begin_write().map_err(err)?;
        let v = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(v)
    }
}

/// A storage error of either engine as the library's error.
pub(crate) fn db_error(path: &Path, busy_timeout_ms: u64, e: db::Error) -> LibraryError {
    match e {
        db::Error::Sqlite(e) => sql_error(path, busy_timeout_ms, e),
        db::Error::Postgres(e) => db::pg::library_error(path, busy_timeout_ms, e),
        e => LibraryError::Sql {
            path: path.to_owned(),
            message: e.to_string(),
        },
    }
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

/// Tests that are not about one engine run on both.
#[cfg(test)]
pub(crate) mod backends {
    /// Runs `test` on a new SQLite library's location, then on a new PostgreSQL database's
    /// URL (a server of the test's own; skipped with a message when PostgreSQL is not
    /// installed, failed under `FACELAB_REQUIRE_SHARED=1`).
    pub fn each(test: impl Fn(&std::path::Path)) {
        let dir = tempfile::tempdir().unwrap();
        test(&dir.path().join("library.sqlite"));
        if let Some(server) = facelab_testpg::Server::start() {
            test(std::path::Path::new(&server.url("test")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens `location(round)` from four threads at once, `rounds` times; panics with the
    /// first error.
    fn four_open_at_once(rounds: usize, location: impl Fn(usize) -> std::path::PathBuf) {
        for round in 0..rounds {
            let path = location(round);
            let barrier = std::sync::Barrier::new(4);
            std::thread::scope(|s| {
                let opened: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            Library::open(&path, 10_000).map(|_| ())
                        })
                    })
                    .collect();
                for o in opened {
                    if let Err(e) = o.join().unwrap() {
                        panic!("round {round}: {e}");
                    }
                }
            });
        }
    }

    /// Several commands started at once on a library that does not exist yet all open it:
    /// none is told it is locked while another switches the new file's journal mode.
    #[test]
    fn a_new_library_opened_by_several_processes_at_once_opens_for_all() {
        let dir = tempfile::tempdir().unwrap();
        four_open_at_once(40, |round| {
            dir.path().join(format!("library-{round}.sqlite"))
        });
    }

    /// The same on PostgreSQL: several processes creating a new database's schema at once
    /// create it once, and every one opens it.
    #[test]
    fn a_new_postgresql_library_opened_by_several_processes_at_once_opens_for_all() {
        let Some(server) = facelab_testpg::Server::start() else {
            return;
        };
        four_open_at_once(8, |round| {
            PathBuf::from(server.url(&format!("open{round}")))
        });
    }
}
