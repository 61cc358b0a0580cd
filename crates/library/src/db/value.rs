//! Values in and out of either backend: [`ToCol`] for parameters, [`FromCol`] for columns,
//! both through the five kinds of value SQLite has ([`Val`]).

use super::{Error, Result};

/// A value as both backends see it: SQLite's five storage classes. PostgreSQL's types map
/// onto them (booleans and integers are `Int`, `numeric` and floats `Real`, `bytea` `Blob`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    /// SQL NULL.
    Null,
    /// An integer (or a boolean: 0 or 1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// UTF-8 text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

impl Val<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Val::Null => "NULL",
            Val::Int(_) => "an integer",
            Val::Real(_) => "a real number",
            Val::Text(_) => "text",
            Val::Blob(_) => "bytes",
        }
    }
}

/// An owned value of any kind: what a copy reads from one engine and writes to the other.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl ToCol for Value {
    fn to_val(&self) -> Val<'_> {
        match self {
            Value::Null => Val::Null,
            Value::Int(i) => Val::Int(*i),
            Value::Real(r) => Val::Real(*r),
            Value::Text(s) => Val::Text(s),
            Value::Blob(b) => Val::Blob(b),
        }
    }
}

impl FromCol for Value {
    fn from_val(v: Val<'_>) -> Option<Self> {
        Some(match v {
            Val::Null => Value::Null,
            Val::Int(i) => Value::Int(i),
            Val::Real(r) => Value::Real(r),
            Val::Text(s) => Value::Text(s.to_owned()),
            Val::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
    const WANT: &'static str = "any value";
}

/// A Rust value that binds as a statement parameter.
pub trait ToCol {
    /// The value to bind.
    fn to_val(&self) -> Val<'_>;
}

/// A Rust value a column converts into.
pub trait FromCol: Sized {
    /// Converts `v`; `None` of the column when it does not fit, for the error message.
    fn from_val(v: Val<'_>) -> Option<Self>;
    /// What this type is, for the error message.
    const WANT: &'static str;
}

/// Converts column `i`'s value, with an error naming the column and both types.
pub(crate) fn convert<T: FromCol>(i: usize, v: Val<'_>) -> Result<T> {
    T::from_val(v).ok_or_else(|| {
        Error::Type(format!(
            "column {i} holds {}, read as {}",
            v.kind(),
            T::WANT
        ))
    })
}

macro_rules! int_cols {
    ($($t:ty),*) => {$(
        impl ToCol for $t {
            fn to_val(&self) -> Val<'_> {
                Val::Int(*self as i64)
            }
        }
        impl FromCol for $t {
            fn from_val(v: Val<'_>) -> Option<Self> {
                match v {
                    Val::Int(i) => <$t>::try_from(i).ok(),
                    _ => None,
                }
            }
            const WANT: &'static str = stringify!($t);
        }
    )*};
}
int_cols!(i64, i32, u32, u64, usize, u8);

impl ToCol for bool {
    fn to_val(&self) -> Val<'_> {
        Val::Int(*self as i64)
    }
}
impl FromCol for bool {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Int(i) => Some(i != 0),
            _ => None,
        }
    }
    const WANT: &'static str = "a boolean";
}

impl ToCol for f64 {
    fn to_val(&self) -> Val<'_> {
        Val::Real(*self)
    }
}
impl ToCol for f32 {
    fn to_val(&self) -> Val<'_> {
        Val::Real(*self as f64)
    }
}
impl FromCol for f64 {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Real(r) => Some(r),
            Val::Int(i) => Some(i as f64),
            _ => None,
        }
    }
    const WANT: &'static str = "f64";
}
impl FromCol for f32 {
    fn from_val(v: Val<'_>) -> Option<Self> {
        f64::from_val(v).map(|r| r as f32)
    }
    const WANT: &'static str = "f32";
}

impl ToCol for str {
    fn to_val(&self) -> Val<'_> {
        Val::Text(self)
    }
}
impl ToCol for String {
    fn to_val(&self) -> Val<'_> {
        Val::Text(self)
    }
}
impl FromCol for String {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Text(s) => Some(s.to_owned()),
            _ => None,
        }
    }
    const WANT: &'static str = "text";
}

impl ToCol for [u8] {
    fn to_val(&self) -> Val<'_> {
        Val::Blob(self)
    }
}
impl ToCol for Vec<u8> {
    fn to_val(&self) -> Val<'_> {
        Val::Blob(self)
    }
}
impl FromCol for Vec<u8> {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Blob(b) => Some(b.to_vec()),
            Val::Text(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }
    const WANT: &'static str = "bytes";
}

impl<T: ToCol> ToCol for Option<T> {
    fn to_val(&self) -> Val<'_> {
        self.as_ref().map_or(Val::Null, ToCol::to_val)
    }
}
impl<T: FromCol> FromCol for Option<T> {
    fn from_val(v: Val<'_>) -> Option<Self> {
        match v {
            Val::Null => Some(None),
            v => T::from_val(v).map(Some),
        }
    }
    const WANT: &'static str = T::WANT;
}

impl<T: ToCol + ?Sized> ToCol for &T {
    fn to_val(&self) -> Val<'_> {
        (**self).to_val()
    }
}

/// Statement parameters: `params![a, b]`, an array of one type (`[id]`), or `[]`.
pub trait Params {
    /// The parameters, in order.
    fn cols(&self) -> Vec<&dyn ToCol>;
}

impl Params for &[&dyn ToCol] {
    fn cols(&self) -> Vec<&dyn ToCol> {
        self.to_vec()
    }
}

impl Params for Vec<&dyn ToCol> {
    fn cols(&self) -> Vec<&dyn ToCol> {
        self.clone()
    }
}

impl Params for [&dyn ToCol; 0] {
    fn cols(&self) -> Vec<&dyn ToCol> {
        Vec::new()
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToCol> Params for [T; $n] {
            fn cols(&self) -> Vec<&dyn ToCol> {
                self.iter().map(|t| t as &dyn ToCol).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8);

/// Parameters of several types: `params![id, name, score]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::db::ToCol]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::db::ToCol),+] as &[&dyn $crate::db::ToCol]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_reals_convert_as_sqlite_does_and_mismatches_name_both_types() {
        assert_eq!(convert::<f64>(0, Val::Int(3)).unwrap(), 3.0);
        assert_eq!(convert::<Option<i64>>(0, Val::Null).unwrap(), None);
        assert!(convert::<bool>(0, Val::Int(1)).unwrap());
        let e = convert::<i64>(2, Val::Text("x")).unwrap_err().to_string();
        assert!(e.contains("column 2 holds text, read as i64"), "{e}");
        assert!(convert::<u8>(0, Val::Int(300)).is_err());
    }
}
