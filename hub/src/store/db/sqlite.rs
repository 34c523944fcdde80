//! The SQLite engine: one file, WAL, one writer at a time.

use super::{Row, Value};
use crate::error::{HubError, Result};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use std::path::Path;
use std::time::Duration;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Creates `dir` (and its parents) readable by its owner only (0700); a
/// directory that existed already is narrowed too.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| HubError::io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| HubError::io(dir, e))
}

/// Makes the data directory readable by its owner only (0700) and creates
/// the database file 0600 before SQLite opens it: it holds customer data and
/// token hashes. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(dir: &Path, db: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    private_dir(dir)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(db)
        .map_err(|e| HubError::io(db, e))?;
    Ok(())
}

/// Opens (creating if asked) `hub.db` in `dir` and migrates it.
pub(super) fn open(dir: &Path, create: bool, migrations: &[&str]) -> Result<Connection> {
    let path = dir.join(crate::store::DB_FILE);
    if !create && !path.is_file() {
        return Err(HubError::DataDir(format!(
            "no hub at {}: run `jxc-hub init` first (or pass --data DIR)",
            path.display()
        )));
    }
    if create {
        create_private(dir, &path)?;
    }
    let mut conn = Connection::open(&path)?;
    conn.set_prepared_statement_cache_capacity(128);
    conn.busy_timeout(Duration::from_secs(60))?;
    // Movement rows are wide; larger pages mean fewer B-tree splits on
    // ingest. Takes effect only when the file is created.
    conn.pragma_update(None, "page_size", 16384)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                HubError::DataDir(format!("{} is not a jxc hub database", path.display()))
            }
            _ => e.into(),
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(HubError::DataDir(format!(
            "{}: could not switch to WAL mode",
            path.display()
        )));
    }
    // NORMAL in WAL mode keeps every commit atomic and the database
    // consistent; the newest commits may be lost on power failure, which
    // sync repairs: agents always resend from the hwm the hub reports.
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;",
    )?;
    let known = migrations.len() as u32;
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > known {
        return Err(HubError::DataDir(format!(
            "{} was written by a newer jxc-hub (schema {version}; this one knows up to {known})",
            path.display()
        )));
    }
    if version < known {
        in_transaction(&mut conn, true, |tx| {
            let current: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", i as u32 + 1)?;
            }
            Ok(())
        })?;
    }
    Ok(conn)
}

/// Runs `f` in a transaction (IMMEDIATE for writers), committing on `Ok`.
pub(super) fn in_transaction<T>(
    conn: &mut Connection,
    write: bool,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let behavior = if write {
        rusqlite::TransactionBehavior::Immediate
    } else {
        rusqlite::TransactionBehavior::Deferred
    };
    let tx = conn.transaction_with_behavior(behavior)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

pub(super) fn exec(conn: &Connection, sql: &str, params: &[Value]) -> Result<u64> {
    exec_iter(conn, sql, params.iter())
}

pub(super) fn exec_iter<'a>(
    conn: &Connection,
    sql: &str,
    params: impl Iterator<Item = &'a Value>,
) -> Result<u64> {
    let n = conn
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(params))?;
    Ok(n as u64)
}

pub(super) fn query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let width = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut vals = Vec::with_capacity(width);
        for i in 0..width {
            vals.push(value(r.get_ref(i)?));
        }
        out.push(Row(vals));
    }
    Ok(out)
}

pub(super) fn each(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    mut f: impl FnMut(&[super::Cell<'_>]) -> Result<()>,
) -> Result<()> {
    use super::Cell;
    let mut stmt = conn.prepare_cached(sql)?;
    let width = stmt.column_count().min(super::MAX_EACH_COLUMNS);
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(r) = rows.next()? {
        let mut cells = [Cell::Null; super::MAX_EACH_COLUMNS];
        for (i, cell) in cells.iter_mut().enumerate().take(width) {
            *cell = match r.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Real(v),
                ValueRef::Text(t) => Cell::Text(
                    std::str::from_utf8(t)
                        .map_err(|e| HubError::Internal(format!("column {i} is not UTF-8: {e}")))?,
                ),
                ValueRef::Blob(b) => Cell::Blob(b),
            };
        }
        f(&cells[..width])?;
    }
    Ok(())
}

pub(super) fn insert_rows(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<()> {
    for chunk in super::runs(rows) {
        let mut stmt = conn.prepare_cached(&super::insert_sql(table, columns, chunk.len()))?;
        stmt.execute(rusqlite::params_from_iter(chunk.iter().flatten()))?;
    }
    Ok(())
}
