//! The SQLite side of [`super`]: parameters and columns through rusqlite.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::value::{convert, FromCol, ToCol, Val};
use super::{Error, Result};

/// A parameter as rusqlite binds it.
pub(super) struct Param<'a>(&'a dyn ToCol);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0.to_val() {
            Val::Null => ValueRef::Null,
            Val::Int(i) => ValueRef::Integer(i),
            Val::Real(r) => ValueRef::Real(r),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
            Val::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// `cols` as rusqlite's parameters.
pub(super) fn params<'a>(
    cols: &'a [&'a dyn ToCol],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = Param<'a>>> {
    rusqlite::params_from_iter(cols.iter().map(|c| Param(*c)))
}

/// Column `i` of `row` as `T`.
pub(super) fn get<T: FromCol>(row: &rusqlite::Row<'_>, i: usize) -> Result<T> {
    let v = match row.get_ref(i)? {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(i) => Val::Int(i),
        ValueRef::Real(r) => Val::Real(r),
        ValueRef::Text(t) => Val::Text(
            std::str::from_utf8(t)
                .map_err(|e| Error::Type(format!("column {i} is not UTF-8 text: {e}")))?,
        ),
        ValueRef::Blob(b) => Val::Blob(b),
    };
    convert(i, v)
}
