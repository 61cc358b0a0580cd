//! The PostgreSQL side of [`super`]: statements prepared once per connection, values of
//! PostgreSQL's types read as SQLite's five kinds, and the SQL translation.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::path::Path;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};

use super::value::{convert, FromCol, ToCol, Val};
use super::{Result, StatementCache};
use crate::LibraryError;

/// The advisory lock every write transaction takes first: one writer at a time, as SQLite's
/// `BEGIN IMMEDIATE` ("FLAB").
pub const WRITE_LOCK: i64 = 0x464C_4142;

/// A PostgreSQL connection and its prepared statements.
pub(super) struct PgConn {
    pub(super) client: RefCell<postgres::Client>,
    cache: StatementCache,
    /// `embeddings.vec` exists (pgvector's `vector`, written beside the bytes).
    pub(super) vec_column: std::cell::Cell<bool>,
}

impl PgConn {
    pub(super) fn new(client: postgres::Client) -> PgConn {
        PgConn {
            client: RefCell::new(client),
            cache: RefCell::default(),
            vec_column: std::cell::Cell::new(false),
        }
    }

    /// `sql` translated and prepared, once per connection.
    pub(super) fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.borrow_mut().prepare(&translate(sql))?;
        self.cache.borrow_mut().insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub(super) fn execute(&self, s: &postgres::Statement, cols: &[&dyn ToCol]) -> Result<usize> {
        let params = bind(cols);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        Ok(self.client.borrow_mut().execute(s, &refs)? as usize)
    }

    pub(super) fn query(
        &self,
        s: &postgres::Statement,
        cols: &[&dyn ToCol],
    ) -> Result<Vec<postgres::Row>> {
        let params = bind(cols);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        Ok(self.client.borrow_mut().query(s, &refs)?)
    }

    pub(super) fn begin_write(&self) -> Result<()> {
        self.client.borrow_mut().batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        ))?;
        Ok(())
    }
}

/// A parameter as the server wants it: bound by the type the server inferred for it.
#[derive(Debug)]
struct Param(Owned);

/// An owned [`Val`]: postgres' `ToSql` wants `Sync` values.
#[derive(Debug)]
enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

fn bind(cols: &[&dyn ToCol]) -> Vec<Param> {
    cols.iter()
        .map(|c| {
            Param(match c.to_val() {
                Val::Null => Owned::Null,
                Val::Int(i) => Owned::Int(i),
                Val::Real(r) => Owned::Real(r),
                Val::Text(s) => Owned::Text(s.to_owned()),
                Val::Blob(b) => Owned::Blob(b.to_vec()),
            })
        })
        .collect()
}

type BoxError = Box<dyn StdError + Sync + Send>;

/// Bytes as they are on the wire (text and `bytea` in binary format).
fn raw(out: &mut BytesMut, bytes: &[u8]) -> std::result::Result<IsNull, BoxError> {
    out.extend_from_slice(bytes);
    Ok(IsNull::No)
}

/// An embedding's bytes (little-endian `f32`s, as the library stores them) in pgvector's
/// binary form: the dimension and a reserved word as big-endian `i16`, then big-endian
/// `f32`s.
fn vector(out: &mut BytesMut, blob: &[u8]) -> std::result::Result<IsNull, BoxError> {
    if !blob.len().is_multiple_of(4) {
        return Err(format!("an embedding of {} bytes is not f32s", blob.len()).into());
    }
    let dim = i16::try_from(blob.len() / 4)?;
    out.extend_from_slice(&dim.to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for f in blob.chunks_exact(4) {
        out.extend_from_slice(&[f[3], f[2], f[1], f[0]]);
    }
    Ok(IsNull::No)
}

fn is_text(ty: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(ty)
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match (&self.0, ty) {
            (Owned::Null, _) => Ok(IsNull::Yes),
            (Owned::Int(i), t) if *t == Type::INT8 => i.to_sql(ty, out),
            (Owned::Int(i), t) if *t == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            (Owned::Int(i), t) if *t == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            (Owned::Int(i), t) if *t == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            (Owned::Int(i), t) if *t == Type::FLOAT4 => (*i as f32).to_sql(ty, out),
            (Owned::Int(i), t) if *t == Type::BOOL => (*i != 0).to_sql(ty, out),
            (Owned::Int(i), t) if is_text(t) => raw(out, i.to_string().as_bytes()),
            (Owned::Real(r), t) if *t == Type::FLOAT8 => r.to_sql(ty, out),
            (Owned::Real(r), t) if *t == Type::FLOAT4 => (*r as f32).to_sql(ty, out),
            (Owned::Real(r), t) if is_text(t) => raw(out, r.to_string().as_bytes()),
            (Owned::Text(s), t) if is_text(t) => raw(out, s.as_bytes()),
            (Owned::Text(s), t) if *t == Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
            (Owned::Blob(b), t) if *t == Type::BYTEA => raw(out, b),
            (Owned::Blob(b), t) if t.name() == "vector" => vector(out, b),
            (v, t) => Err(format!("cannot bind {v:?} as {t}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Any column, read as SQLite's kinds.
struct Any<'a>(Val<'a>);

impl<'a> FromSql<'a> for Any<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Any<'a>, BoxError> {
        Ok(Any(match ty {
            t if *t == Type::BOOL => Val::Int(bool::from_sql(ty, raw)? as i64),
            t if *t == Type::INT2 => Val::Int(i16::from_sql(ty, raw)? as i64),
            t if *t == Type::INT4 => Val::Int(i32::from_sql(ty, raw)? as i64),
            t if *t == Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
            t if *t == Type::OID => Val::Int(u32::from_sql(ty, raw)? as i64),
            t if *t == Type::FLOAT4 => Val::Real(f32::from_sql(ty, raw)? as f64),
            t if *t == Type::FLOAT8 => Val::Real(f64::from_sql(ty, raw)?),
            t if *t == Type::NUMERIC => numeric(raw)?,
            t if *t == Type::BYTEA => Val::Blob(raw),
            t if *t == Type::VOID => Val::Null,
            t if is_text(t) => Val::Text(std::str::from_utf8(raw)?),
            t => return Err(format!("PostgreSQL type {t} is not one facelab reads").into()),
        }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Any<'a>, BoxError> {
        Ok(Any(Val::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `numeric` (what `sum` of integers gives) as an integer when it is one, else a real.
fn numeric(raw: &[u8]) -> std::result::Result<Val<'static>, BoxError> {
    let word = |i: usize| -> std::result::Result<i16, BoxError> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".into())
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Ok(Val::Real(f64::NAN));
    }
    let mut value = 0f64;
    for i in 0..ndigits.max(0) as usize {
        value += word(4 + i)? as f64 * 10_000f64.powi(weight as i32 - i as i32);
    }
    if sign == 0x4000 {
        value = -value;
    }
    Ok(if dscale == 0 && value.abs() < 9.0e15 {
        Val::Int(value as i64)
    } else {
        Val::Real(value)
    })
}

/// A server's error as the library's: waiting too long for the write lock is
/// [`LibraryError::Locked`], a lost connection and damaged data say so.
pub fn library_error(path: &Path, busy_timeout_ms: u64, e: postgres::Error) -> LibraryError {
    use postgres::error::SqlState;
    let lost = e.is_closed()
        || e.code()
            .is_some_and(|c| *c == SqlState::ADMIN_SHUTDOWN || c.code().starts_with("08"))
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if lost {
        return LibraryError::Connect {
            url: path.display().to_string(),
            message: "the connection to the server was lost (help: check that the PostgreSQL server is running and reachable)".into(),
        };
    }
    let message = match e.as_db_error() {
        Some(d) => d.message().to_owned(),
        None => e.to_string(),
    };
    match e.code() {
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::QUERY_CANCELED => {
            LibraryError::Locked {
                path: path.to_owned(),
                waited_ms: busy_timeout_ms,
            }
        }
        Some(c) if *c == SqlState::DATA_CORRUPTED || *c == SqlState::INDEX_CORRUPTED => {
            LibraryError::Corrupt {
                path: path.to_owned(),
                message,
            }
        }
        _ => LibraryError::Sql {
            path: path.to_owned(),
            message,
        },
    }
}

/// Column `i` of `row` as `T`.
pub(super) fn get<T: FromCol>(row: &postgres::Row, i: usize) -> Result<T> {
    let Any(v) = row.try_get::<_, Any<'_>>(i)?;
    convert(i, v)
}

/// The library's SQL in PostgreSQL's spelling: `?N` parameters become `$N` (a bare `?` the
/// next number), and the few functions and clauses the two spell differently are renamed.
/// Text in single quotes is left as it is.
pub fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let (mut quoted, mut next) = (false, 1);
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                if n.is_empty() {
                    n = next.to_string();
                }
                next = n.parse::<usize>().unwrap_or(next) + 1;
                out.push('$');
                out.push_str(&n);
            }
            c => out.push(c),
        }
    }
    // SQLite spelling → PostgreSQL spelling.
    const RENAMES: &[(&str, &str)] = &[
        ("group_concat(", "string_agg("),
        ("char(31)", "chr(31)"),
        ("AS INTEGER)", "AS BIGINT)"),
        ("AS BLOB)", "AS BYTEA)"),
    ];
    for (from, to) in RENAMES {
        if out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_sqlite_spellings_are_translated_outside_quotes() {
        assert_eq!(
            translate(
                "SELECT group_concat(x, char(31)) FROM t WHERE a = ?1 AND b = '?' AND c = ?2"
            ),
            "SELECT string_agg(x, chr(31)) FROM t WHERE a = $1 AND b = '?' AND c = $2"
        );
        assert_eq!(translate("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(
            translate("SELECT CAST(value AS INTEGER) FROM p ORDER BY lower(p.name)"),
            "SELECT CAST(value AS BIGINT) FROM p ORDER BY lower(p.name)"
        );
    }

    #[test]
    fn a_numeric_reads_as_an_integer_or_a_real() {
        // 12345678 = 1234 * 10000 + 5678: two base-10000 digits, weight 1.
        let raw: Vec<u8> = [2i16, 1, 0, 0, 1234, 5678]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric(&raw).unwrap(), Val::Int(12_345_678));
        let neg: Vec<u8> = [1i16, 0, 0x4000, 1, 7]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric(&neg).unwrap(), Val::Real(-7.0));
    }
}
