//! The import log: each imported file's content hash, so a second import of
//! the same file is refused unless asked for (`--again`). The check and the
//! record run in the transaction that writes the file's rows.

use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::time::format_time;
use rusqlite::{Connection, OptionalExtension, params};

/// What kind of import a file went into; the same content may go into each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Movements,
    Count,
}

impl ImportKind {
    fn as_str(self) -> &'static str {
        match self {
            ImportKind::Movements => "movements",
            ImportKind::Count => "count",
        }
    }
}

/// A file being imported.
#[derive(Debug, Clone)]
pub struct FileImport {
    pub kind: ImportKind,
    /// SHA-256 of the content, hex.
    pub hash: String,
    /// The path as the user gave it.
    pub file: String,
    /// Import even if the same content was imported before.
    pub again: bool,
}

/// Refuses `import` when its content was imported before, unless `again`,
/// naming the file, when it was imported and how many rows it wrote.
pub(crate) fn check(conn: &Connection, import: &FileImport) -> Result<()> {
    if import.again {
        return Ok(());
    }
    let past: Option<(String, String, i64)> = conn
        .prepare_cached(
            "SELECT file, imported_at, rows FROM import_log WHERE kind = ? AND content_hash = ?
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![import.kind.as_str(), import.hash], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match past {
        None => Ok(()),
        Some((file, at, rows)) => Err(AgentError::Conflict(format!(
            "{}: this file was already imported at {at} as {file} ({rows} row(s) written); nothing was written (pass --again to import it again)",
            import.file
        ))),
    }
}

/// Checks `import` (see [`check`]) and records it as having written `rows`.
pub(crate) fn record(
    conn: &Connection,
    import: &FileImport,
    rows: u64,
    now: DateTime<FixedOffset>,
) -> Result<()> {
    check(conn, import)?;
    conn.prepare_cached(
        "INSERT INTO import_log (kind, content_hash, file, rows, imported_at, again)
         VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        import.kind.as_str(),
        import.hash,
        import.file,
        i64::try_from(rows).unwrap_or(i64::MAX),
        format_time(&now),
        import.again
    ])?;
    Ok(())
}
