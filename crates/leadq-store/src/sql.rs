//! The small seam between the store's logic and a database driver: run a
//! statement, read rows of plain values. SQL is written once with `$1`-style
//! placeholders (PostgreSQL's); the SQLite driver rewrites them to `?1`.

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}
impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Bool(v)
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// One result row. Getters convert between the drivers' representations
/// (SQLite keeps booleans as integers).
#[derive(Debug, Clone)]
pub struct Row(pub Vec<SqlValue>);

impl Row {
    fn at(&self, i: usize) -> &SqlValue {
        self.0.get(i).unwrap_or(&SqlValue::Null)
    }
    pub fn int(&self, i: usize) -> i64 {
        self.opt_int(i).unwrap_or(0)
    }
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match self.at(i) {
            SqlValue::Int(v) => Some(*v),
            SqlValue::Real(v) => Some(*v as i64),
            SqlValue::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    pub fn real(&self, i: usize) -> f64 {
        self.opt_real(i).unwrap_or(0.0)
    }
    pub fn opt_real(&self, i: usize) -> Option<f64> {
        match self.at(i) {
            SqlValue::Real(v) => Some(*v),
            SqlValue::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    pub fn bool(&self, i: usize) -> bool {
        self.opt_bool(i).unwrap_or(false)
    }
    pub fn opt_bool(&self, i: usize) -> Option<bool> {
        match self.at(i) {
            SqlValue::Bool(b) => Some(*b),
            SqlValue::Int(v) => Some(*v != 0),
            _ => None,
        }
    }
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.at(i) {
            SqlValue::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
    /// [`Row::opt_text`], moving the string out of the row (it reads as
    /// null afterwards).
    pub fn take_text(&mut self, i: usize) -> Option<String> {
        match self.0.get_mut(i) {
            Some(SqlValue::Text(s)) => Some(std::mem::take(s)),
            _ => None,
        }
    }
    /// [`Row::text`], moving the string out of the row.
    pub fn take_text_or_empty(&mut self, i: usize) -> String {
        self.take_text(i).unwrap_or_default()
    }
}

/// A statement runner inside one transaction.
pub trait Tx {
    /// Runs a statement; returns the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError>;

    fn query_one(&mut self, sql: &str, params: &[SqlValue]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
    /// Runs a batch of `;`-separated statements without parameters.
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Whether the statements run on SQLite, for the few places where its
    /// dialect says more than the common one.
    fn is_sqlite(&self) -> bool {
        false
    }
}

/// A unit of work handed to a backend's writer.
pub type WriteFn<R> = Box<dyn FnOnce(&mut dyn Tx) -> Result<R, StoreError> + Send>;
pub type ReadFn<'a, R> = Box<dyn FnOnce(&mut dyn Tx) -> Result<R, StoreError> + 'a>;

/// A database the store can run transactions on.
pub trait Backend: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn kind(&self) -> &'static str;
    /// Runs `f` in a write transaction; returns once it is durable.
    fn write_boxed(
        &self,
        f: WriteFn<Box<dyn std::any::Any + Send>>,
    ) -> Result<Box<dyn std::any::Any + Send>, StoreError>;
    /// Runs `f` in a write transaction that returns once committed and
    /// visible but not yet synced to disk: for data that can be recomputed
    /// (a re-score). A crash of the process loses nothing; a power loss may
    /// lose the last such commits, never part of one. Any later durable
    /// write syncs them too. Backends without the distinction write durably.
    fn write_relaxed_boxed(
        &self,
        f: WriteFn<Box<dyn std::any::Any + Send>>,
    ) -> Result<Box<dyn std::any::Any + Send>, StoreError> {
        self.write_boxed(f)
    }
    /// Runs `f` on a consistent read view.
    fn read_boxed(
        &self,
        f: ReadFn<'_, Box<dyn std::any::Any + Send>>,
    ) -> Result<Box<dyn std::any::Any + Send>, StoreError>;
    /// Flushes the write-ahead log into the main database file (SQLite); a
    /// no-op where the server manages it.
    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Typed helpers over the object-safe [`Backend`] methods.
pub fn write<B: Backend + ?Sized, R: Send + 'static>(
    b: &B,
    f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    typed_write(f, |work| b.write_boxed(work))
}

/// [`write`] through [`Backend::write_relaxed_boxed`].
pub fn write_relaxed<B: Backend + ?Sized, R: Send + 'static>(
    b: &B,
    f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    typed_write(f, |work| b.write_relaxed_boxed(work))
}

type AnySend = Box<dyn std::any::Any + Send>;

fn typed_write<R: Send + 'static>(
    f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError> + Send + 'static,
    run: impl FnOnce(WriteFn<AnySend>) -> Result<AnySend, StoreError>,
) -> Result<R, StoreError> {
    let out = run(Box::new(move |tx| f(tx).map(|r| Box::new(r) as AnySend)))?;
    Ok(*out
        .downcast::<R>()
        .expect("write result has the type it was boxed with"))
}

pub fn read<B: Backend + ?Sized, R: Send + 'static>(
    b: &B,
    f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let out = b.read_boxed(Box::new(move |tx| {
        f(tx).map(|r| Box::new(r) as Box<dyn std::any::Any + Send>)
    }))?;
    Ok(*out
        .downcast::<R>()
        .expect("read result has the type it was boxed with"))
}

/// Rewrites `$1` placeholders to SQLite's numbered `?1` form. A statement
/// with none (built for SQLite with `?1` already) is returned as it is.
pub fn to_sqlite_placeholders(sql: &str) -> std::borrow::Cow<'_, str> {
    let bytes = sql.as_bytes();
    if !bytes
        .windows(2)
        .any(|w| w[0] == b'$' && w[1].is_ascii_digit())
    {
        return std::borrow::Cow::Borrowed(sql);
    }
    // Byte-wise: `$` and digits are ASCII, so every other byte (including
    // those of multi-byte characters) is copied through in runs.
    let mut out = String::with_capacity(sql.len());
    let mut start = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'$') {
        let at = i + at;
        if bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
            out.push_str(&sql[start..at]);
            out.push('?');
            start = at + 1;
        }
        i = at + 1;
    }
    out.push_str(&sql[start..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_placeholders_become_numbered_question_marks() {
        assert_eq!(
            to_sqlite_placeholders("SELECT a FROM t WHERE b = $1 AND c = $12"),
            "SELECT a FROM t WHERE b = ?1 AND c = ?12"
        );
        assert_eq!(
            to_sqlite_placeholders("SELECT '$x', 'é$' || $3 FROM t$"),
            "SELECT '$x', 'é$' || ?3 FROM t$"
        );
        let native = "SELECT a FROM t WHERE b = ?1 AND c = '$x'";
        assert!(matches!(
            to_sqlite_placeholders(native),
            std::borrow::Cow::Borrowed(s) if s == native
        ));
    }
}
