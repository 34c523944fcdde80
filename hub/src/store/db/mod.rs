//! The storage port: one SQL session type over two engines, SQLite (one
//! file, the default) and PostgreSQL (several hub processes on one
//! database). The store writes its SQL once, in the common dialect of both
//! (`?` or `?N` placeholders, `ON CONFLICT`, `CAST(.. AS BIGINT)`), and its
//! decisions as pure functions; this module runs the statements, converts
//! values, runs migrations and bulk-loads rows (multi-row INSERT on SQLite,
//! COPY on PostgreSQL). Where the engines truly differ — locking a row for
//! the rest of the transaction, the identity of a new row — the session
//! says so through [`Sql::backend`] and [`Sql::for_update`].

mod pg;
mod sqlite;

pub(crate) use sqlite::private_dir;

use crate::error::{HubError, Result};

/// Which engine a session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One SQL value, as both engines can hold it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A value that can be bound to a placeholder.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u8 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
}

/// Binds values to a statement's placeholders: `vals![a, b, c]`.
macro_rules! vals {
    () => { &[][..] as &[$crate::store::db::Value] };
    ($($e:expr),+ $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$e)),+][..]
    };
}
pub(crate) use vals;

/// One value of a row as [`Sql::each`] lends it: text and blobs borrowed
/// from the engine's row, so a scan of millions of rows allocates nothing
/// per row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => Cell::Null,
            Value::Int(i) => Cell::Int(*i),
            Value::Real(f) => Cell::Real(*f),
            Value::Text(t) => Cell::Text(t),
            Value::Blob(b) => Cell::Blob(b),
        }
    }
}

impl<'a> Cell<'a> {
    /// The text of a text cell, for the error naming `what` otherwise.
    pub fn text(self, what: &str) -> Result<&'a str> {
        match self {
            Cell::Text(t) => Ok(t),
            other => Err(crate::error::HubError::Internal(format!(
                "{what}: expected text, found {other:?}"
            ))),
        }
    }

    /// The integer of an integer cell (NULL reads as 0).
    pub fn int(self, what: &str) -> Result<i64> {
        match self {
            Cell::Int(i) => Ok(i),
            Cell::Null => Ok(0),
            other => Err(crate::error::HubError::Internal(format!(
                "{what}: expected an integer, found {other:?}"
            ))),
        }
    }
}

/// Most columns [`Sql::each`] hands over.
pub const MAX_EACH_COLUMNS: usize = 8;

/// A value read out of a row.
pub trait FromValue: Sized {
    /// What the column should hold, for the error when it does not.
    const WHAT: &'static str;
    fn from_value(v: Value) -> Option<Self>;
}

impl FromValue for i64 {
    const WHAT: &'static str = "an integer";
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
}
impl FromValue for u64 {
    const WHAT: &'static str = "a non-negative integer";
    fn from_value(v: Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| u64::try_from(i).ok())
    }
}
impl FromValue for u32 {
    const WHAT: &'static str = "a small non-negative integer";
    fn from_value(v: Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| u32::try_from(i).ok())
    }
}
impl FromValue for u8 {
    const WHAT: &'static str = "a small non-negative integer";
    fn from_value(v: Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| u8::try_from(i).ok())
    }
}
impl FromValue for bool {
    const WHAT: &'static str = "a boolean";
    fn from_value(v: Value) -> Option<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    const WHAT: &'static str = "a number";
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Real(f) => Some(f),
            Value::Int(i) => Some(i as f64),
            _ => None,
        }
    }
}
impl FromValue for String {
    const WHAT: &'static str = "text";
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    const WHAT: &'static str = "bytes";
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b),
            _ => None,
        }
    }
}
impl FromValue for Value {
    const WHAT: &'static str = "a value";
    fn from_value(v: Value) -> Option<Self> {
        Some(v)
    }
}
impl<T: FromValue> FromValue for Option<T> {
    const WHAT: &'static str = T::WHAT;
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` as `T`; a mismatch is a database error, never a panic.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).cloned().unwrap_or(Value::Null);
        // Every column read passes here: the message is made only on a mismatch.
        T::from_value(v).ok_or_else(|| {
            HubError::Internal(format!(
                "database column {i} holds {:?}, not {}",
                self.0.get(i).unwrap_or(&Value::Null),
                T::WHAT
            ))
        })
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where the hub's database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `hub.db` in this directory.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection string (`postgres://…` or `host=… dbname=…`).
    Postgres(String),
}

impl Target {
    pub fn backend(&self) -> Backend {
        match self {
            Target::Sqlite(_) => Backend::Sqlite,
            Target::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced, for logs and messages.
    pub fn display(&self) -> String {
        match self {
            Target::Sqlite(dir) => dir.join(super::DB_FILE).display().to_string(),
            Target::Postgres(url) => pg::redact(url),
        }
    }
}

/// A database URL with any password hidden, for messages.
pub fn redacted(url: &str) -> String {
    pg::redact(url)
}

/// A connection to the hub's database.
pub struct Db {
    inner: Inner,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(pg::PgConn),
}

/// Migrations of one engine, applied in order; the version is their count.
pub struct Migrations {
    pub sqlite: &'static [&'static str],
    pub postgres: &'static [&'static str],
}

impl Db {
    /// Opens the database at `target`, creating the SQLite file if `create`,
    /// and brings it to the newest schema. A database a newer hub wrote is
    /// refused.
    pub fn open(target: &Target, create: bool, migrations: &Migrations) -> Result<Db> {
        let inner = match target {
            Target::Sqlite(dir) => Inner::Sqlite(sqlite::open(dir, create, migrations.sqlite)?),
            Target::Postgres(url) => {
                Inner::Postgres(pg::PgConn::open(url, create, migrations.postgres)?)
            }
        };
        Ok(Db { inner })
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `f` outside a transaction: each statement sees the newest
    /// committed state. For reads.
    pub fn read<T>(&mut self, f: impl FnOnce(&mut Sql<'_>) -> Result<T>) -> Result<T> {
        match &mut self.inner {
            Inner::Sqlite(c) => f(&mut Sql {
                inner: SqlInner::Sqlite(c),
            }),
            Inner::Postgres(p) => {
                let (client, cache) = p.session()?;
                f(&mut Sql {
                    inner: SqlInner::Postgres(client, cache),
                })
            }
        }
    }

    /// Runs `f` in one write transaction, committed if it returns `Ok` and
    /// rolled back otherwise. On SQLite it takes the write lock at once
    /// (BEGIN IMMEDIATE: one writer); on PostgreSQL writers run side by side
    /// and serialize on the rows they lock.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut Sql<'_>) -> Result<T>) -> Result<T> {
        match &mut self.inner {
            Inner::Sqlite(c) => sqlite::in_transaction(c, true, |c| {
                f(&mut Sql {
                    inner: SqlInner::Sqlite(c),
                })
            }),
            Inner::Postgres(p) => p.in_transaction(|client, cache| {
                f(&mut Sql {
                    inner: SqlInner::Postgres(client, cache),
                })
            }),
        }
    }

    /// Runs `f` in a read transaction: every statement sees one snapshot.
    pub fn snapshot<T>(&mut self, f: impl FnOnce(&mut Sql<'_>) -> Result<T>) -> Result<T> {
        match &mut self.inner {
            Inner::Sqlite(c) => sqlite::in_transaction(c, false, |c| {
                f(&mut Sql {
                    inner: SqlInner::Sqlite(c),
                })
            }),
            Inner::Postgres(p) => p.in_transaction(|client, cache| {
                client
                    .batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
                f(&mut Sql {
                    inner: SqlInner::Postgres(client, cache),
                })
            }),
        }
    }

    /// Sets how much page cache the connection may use, in KiB (SQLite; the
    /// PostgreSQL server sizes its own).
    pub fn set_cache_kib(&mut self, kib: u32) -> Result<()> {
        if let Inner::Sqlite(c) = &self.inner {
            c.pragma_update(None, "cache_size", -i64::from(kib))?;
        }
        Ok(())
    }
}

/// A session on the database: inside [`Db::write`], [`Db::snapshot`] or
/// [`Db::read`].
pub struct Sql<'a> {
    inner: SqlInner<'a>,
}

enum SqlInner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a mut pg::PgClient, &'a mut pg::Statements),
}

impl Sql<'_> {
    pub fn backend(&self) -> Backend {
        match self.inner {
            SqlInner::Sqlite(_) => Backend::Sqlite,
            SqlInner::Postgres(..) => Backend::Postgres,
        }
    }

    /// ` FOR UPDATE` on PostgreSQL, where concurrent writers must lock the
    /// rows their decision rests on; nothing on SQLite, whose write
    /// transaction already excludes every other writer.
    pub fn for_update(&self) -> &'static str {
        match self.inner {
            SqlInner::Sqlite(_) => "",
            SqlInner::Postgres(..) => " FOR UPDATE",
        }
    }

    /// Makes the rest of the transaction exclusive to `key` (a document's
    /// id): a PostgreSQL advisory lock, released at commit or rollback, so
    /// one hub process at a time changes it. SQLite's write transaction is
    /// exclusive already.
    pub fn lock(&mut self, key: &str) -> Result<()> {
        if self.backend() == Backend::Postgres {
            self.exec(
                "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                vals![key],
            )?;
        }
        Ok(())
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        match &mut self.inner {
            SqlInner::Sqlite(c) => sqlite::exec(c, sql, params),
            SqlInner::Postgres(c, s) => pg::exec(c, s, sql, params),
        }
    }

    /// Runs a statement whose parameters are `rows`' values in order (a
    /// multi-row INSERT); on SQLite they are bound where they lie, not copied.
    fn exec_rows(&mut self, sql: &str, rows: &[Vec<Value>]) -> Result<u64> {
        match &mut self.inner {
            SqlInner::Sqlite(c) => sqlite::exec_iter(c, sql, rows.iter().flatten()),
            SqlInner::Postgres(c, s) => {
                let params: Vec<Value> = rows.iter().flatten().cloned().collect();
                pg::exec(c, s, sql, &params)
            }
        }
    }

    /// Runs statements without parameters, separated by `;`.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match &mut self.inner {
            SqlInner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            SqlInner::Postgres(c, _) => c.batch_execute(sql),
        }
    }

    /// Every row of a query.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match &mut self.inner {
            SqlInner::Sqlite(c) => sqlite::query(c, sql, params),
            SqlInner::Postgres(c, s) => pg::query(c, s, sql, params),
        }
    }

    /// Calls `f` with each row of a query, in the engine's order, without
    /// holding the rows in memory (SQLite) or copying them once more
    /// (PostgreSQL). At most [`MAX_EACH_COLUMNS`] columns.
    pub fn each(
        &mut self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&[Cell<'_>]) -> Result<()>,
    ) -> Result<()> {
        match &mut self.inner {
            SqlInner::Sqlite(c) => sqlite::each(c, sql, params, f),
            SqlInner::Postgres(c, s) => {
                for r in pg::query(c, s, sql, params)? {
                    let mut cells = [Cell::Null; MAX_EACH_COLUMNS];
                    let n = r.0.len().min(MAX_EACH_COLUMNS);
                    for (cell, v) in cells.iter_mut().zip(&r.0) {
                        *cell = Cell::from(v);
                    }
                    f(&cells[..n])?;
                }
                Ok(())
            }
        }
    }

    /// The first row of a query, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row a query must return.
    pub fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| HubError::Internal(format!("no row from: {sql}")))
    }

    /// The first column of every row.
    pub fn column<T: FromValue>(&mut self, sql: &str, params: &[Value]) -> Result<Vec<T>> {
        self.query(sql, params)?.iter().map(|r| r.get(0)).collect()
    }

    /// Column 0 of the first row, if any.
    pub fn scalar<T: FromValue>(&mut self, sql: &str, params: &[Value]) -> Result<Option<T>> {
        self.query_opt(sql, params)?.map(|r| r.get(0)).transpose()
    }

    /// Inserts or replaces rows of `table` by their `key` columns, many per
    /// statement (the same SQL on both engines).
    pub fn upsert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        key: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<()> {
        let set: Vec<String> = columns
            .iter()
            .filter(|c| !key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        for run in runs(rows) {
            let sql = format!(
                "{} ON CONFLICT ({}) DO UPDATE SET {}",
                insert_sql(table, columns, run.len()),
                key.join(", "),
                set.join(", ")
            );
            self.exec_rows(&sql, run)?;
        }
        Ok(())
    }

    /// Adds rows into `table`: a row whose `key` is new is inserted, and
    /// where it exists each of the `sums` columns is increased by the row's
    /// value (the other columns keep what they hold). Each row holds a value
    /// per column of `columns`, in order.
    pub fn accumulate_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        key: &[&str],
        sums: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<()> {
        // Qualified: PostgreSQL finds a bare name on the right ambiguous.
        let set: Vec<String> = sums
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect();
        for run in runs(rows) {
            let sql = format!(
                "{} ON CONFLICT ({}) DO UPDATE SET {}",
                insert_sql(table, columns, run.len()),
                key.join(", "),
                set.join(", ")
            );
            self.exec_rows(&sql, run)?;
        }
        Ok(())
    }

    /// Appends rows to `table`: multi-row INSERTs on SQLite, one COPY on
    /// PostgreSQL. Each row holds a value per column, in order.
    pub fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match &mut self.inner {
            SqlInner::Sqlite(c) => sqlite::insert_rows(c, table, columns, rows),
            SqlInner::Postgres(c, _) => pg::copy_rows(c, table, columns, rows),
        }
    }
}

/// Splits `rows` into runs of 256, 128, … 1 rows, so multi-row statements
/// come in few distinct shapes and stay in the statement caches.
pub(crate) fn runs<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let n = if rows.len() >= 256 {
            256
        } else {
            1 << (usize::BITS - 1 - rows.len().leading_zeros())
        };
        let (run, rest) = rows.split_at(n);
        rows = rest;
        Some(run)
    })
}

/// `INSERT INTO table (columns) VALUES (?, …), …` for `rows` rows.
pub(crate) fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        vec![one; rows].join(", ")
    )
}

/// `?` and `?N` placeholders as PostgreSQL's `$N`, outside quoted text.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 0u32;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    next += 1;
                    out.push_str(&next.to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{numbered_placeholders, runs};

    #[test]
    fn rows_go_in_runs_of_few_shapes() {
        let rows: Vec<u32> = (0..1000).collect();
        let lens: Vec<usize> = runs(&rows).map(<[u32]>::len).collect();
        assert_eq!(lens, [256, 256, 256, 128, 64, 32, 8]);
        assert_eq!(lens.iter().sum::<usize>(), 1000);
        assert_eq!(runs::<u32>(&[]).count(), 0);
    }

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2"
        );
        assert_eq!(
            numbered_placeholders("UPDATE t SET a = ?2 WHERE id = ?1 AND ?2 > a"),
            "UPDATE t SET a = $2 WHERE id = $1 AND $2 > a"
        );
    }
}
