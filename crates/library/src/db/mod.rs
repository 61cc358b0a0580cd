//! The library's storage: one interface over two SQL engines, SQLite (an embedded file, the
//! default) and PostgreSQL (a server several machines share). The library's logic is
//! written once against [`Conn`], [`Tx`], [`Stmt`] and [`Row`].
//!
//! SQL is written once, in the part of SQLite's dialect PostgreSQL also speaks, with `?N`
//! parameters; [`pg::translate`] rewrites the few spellings that differ. Where the engines
//! genuinely differ (the schema's DDL, reading the version, integrity checks) the caller
//! asks [`Conn::backend`] and says each engine's form.
//!
//! One writer at a time on both: a write transaction is SQLite's `BEGIN IMMEDIATE`, and on
//! PostgreSQL a transaction that first takes the library's advisory lock, so the library's
//! rule "plan from a snapshot, write in one transaction that re-checks it" holds unchanged.

pub mod connect;
mod lite;
pub mod pg;
mod value;

use std::cell::RefCell;
use std::collections::HashMap;

pub use value::{FromCol, Params, ToCol, Val, Value};

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// An error of either engine, or a column read as a type it does not hold.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite's error.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL's error.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// A query that must return a row returned none.
    #[error("the query returned no rows")]
    NoRows,
    /// A column read as a type it does not hold.
    #[error("{0}")]
    Type(String),
}

/// Result of a storage call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `query_row(…).optional()`: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    /// `Ok(None)` for no row.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows | Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An open connection to a library's database.
pub struct Conn {
    inner: Inner,
}

enum Inner {
    Lite(rusqlite::Connection),
    Pg(Box<pg::PgConn>),
}

/// A column's position (a trait, so `r.get(0)` infers `usize`).
pub trait ColIndex {
    /// The position, from 0.
    fn index(self) -> usize;
}

impl ColIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of a result.
pub struct Row<'a>(RowInner<'a>);

enum RowInner<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Pg(&'a postgres::Row),
}

impl Row<'_> {
    /// Column `i` as `T` (`r.get::<_, T>(i)` as with rusqlite, or `r.get(i)`).
    pub fn get<I: ColIndex, T: FromCol>(&self, i: I) -> Result<T> {
        let i = i.index();
        match &self.0 {
            RowInner::Lite(r) => lite::get(r, i),
            RowInner::Pg(r) => pg::get(r, i),
        }
    }
}

impl Conn {
    /// Wraps an SQLite connection.
    pub fn sqlite(conn: rusqlite::Connection) -> Conn {
        Conn {
            inner: Inner::Lite(conn),
        }
    }

    /// Wraps a PostgreSQL client.
    pub fn postgres(client: postgres::Client) -> Conn {
        Conn {
            inner: Inner::Pg(Box::new(pg::PgConn::new(client))),
        }
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Lite(_) => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// The PostgreSQL client, for what only PostgreSQL has (LISTEN/NOTIFY, COPY).
    pub fn as_postgres(&self) -> Option<std::cell::RefMut<'_, postgres::Client>> {
        match &self.inner {
            Inner::Lite(_) => None,
            Inner::Pg(c) => Some(c.client.borrow_mut()),
        }
    }

    /// Whether `embeddings` has pgvector's `vec` column beside the bytes (PostgreSQL with
    /// the `vector` extension; see [`crate::vectors`]).
    pub fn has_vec_column(&self) -> bool {
        match &self.inner {
            Inner::Lite(_) => false,
            Inner::Pg(c) => c.vec_column.get(),
        }
    }

    /// Records whether `embeddings.vec` exists.
    pub(crate) fn set_vec_column(&self, on: bool) {
        if let Inner::Pg(c) = &self.inner {
            c.vec_column.set(on);
        }
    }

    /// Runs statements without parameters, separated by `;`.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Lite(c) => Ok(c.execute_batch(sql)?),
            Inner::Pg(c) => Ok(c.client.borrow_mut().batch_execute(&pg::translate(sql))?),
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare(sql)?.execute(params)
    }

    /// The first row of a query, through `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare(sql)?.query_row(params, f)
    }

    /// A statement to run once or many times.
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'_>> {
        Ok(Stmt(match &self.inner {
            Inner::Lite(c) => StmtInner::Lite(c.prepare(sql)?),
            Inner::Pg(c) => StmtInner::Pg(c, c.statement(sql)?),
        }))
    }

    /// [`Conn::prepare`], kept prepared for the connection's lifetime.
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        Ok(Stmt(match &self.inner {
            Inner::Lite(c) => StmtInner::LiteCached(c.prepare_cached(sql)?),
            Inner::Pg(c) => StmtInner::Pg(c, c.statement(sql)?),
        }))
    }

    /// Starts the one write transaction the library allows at a time (waiting for another
    /// process's, up to the busy timeout). Rolled back when dropped uncommitted.
    pub fn begin_write(&self) -> Result<Tx<'_>> {
        match &self.inner {
            Inner::Lite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Inner::Pg(c) => c.begin_write()?,
        }
        Ok(Tx {
            conn: self,
            open: true,
        })
    }
}

/// A write transaction: everything [`Conn`] does, then [`Tx::commit`].
pub struct Tx<'c> {
    conn: &'c Conn,
    open: bool,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Tx<'_> {
    /// Commits.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT")
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback leaves nothing to do: the engine discards an unfinished
            // transaction when the connection closes.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// A prepared statement.
pub struct Stmt<'c>(StmtInner<'c>);

enum StmtInner<'c> {
    Lite(rusqlite::Statement<'c>),
    LiteCached(rusqlite::CachedStatement<'c>),
    Pg(&'c pg::PgConn, postgres::Statement),
}

impl Stmt<'_> {
    /// Runs it; the number of rows it changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        let cols = params.cols();
        match &mut self.0 {
            StmtInner::Lite(s) => Ok(s.execute(lite::params(&cols))?),
            StmtInner::LiteCached(s) => Ok(s.execute(lite::params(&cols))?),
            StmtInner::Pg(c, s) => c.execute(s, &cols),
        }
    }

    /// The rows, to step through with [`Rows::next`].
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        let cols = params.cols();
        Ok(Rows(match &mut self.0 {
            StmtInner::Lite(s) => RowsInner::Lite(s.query(lite::params(&cols))?),
            StmtInner::LiteCached(s) => RowsInner::Lite(s.query(lite::params(&cols))?),
            StmtInner::Pg(c, s) => RowsInner::Pg(c.query(s, &cols)?.into_iter(), None),
        }))
    }

    /// Every row through `f`.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut rows = self.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(f(&r));
        }
        Ok(out.into_iter())
    }

    /// The first row through `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(Error::NoRows),
        }
    }
}

/// Rows of a query.
pub struct Rows<'s>(RowsInner<'s>);

enum RowsInner<'s> {
    Lite(rusqlite::Rows<'s>),
    Pg(std::vec::IntoIter<postgres::Row>, Option<postgres::Row>),
}

impl Rows<'_> {
    /// The next row, `None` after the last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.0 {
            RowsInner::Lite(r) => Ok(r.next()?.map(|r| Row(RowInner::Lite(r)))),
            RowsInner::Pg(it, cur) => {
                *cur = it.next();
                Ok(cur.as_ref().map(|r| Row(RowInner::Pg(r))))
            }
        }
    }
}

/// Prepared PostgreSQL statements by their SQL, per connection.
type StatementCache = RefCell<HashMap<String, postgres::Statement>>;
