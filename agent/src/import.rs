//! Bulk CSV imports: movements (streamed through one transaction), products
//! and stocktake lines. Every bad row is reported with its line number, column
//! and reason; nothing is written unless the caller chose to skip bad rows.
//! Reading the files (encodings, gzip, line breaks, content hashes) is
//! `jxc_runtime::csv_file`'s, shared with the hub's catalog import.

use crate::error::{AgentError, Result};
use crate::store::{CountSession, FileImport, ImportKind, Store};
use chrono::{DateTime, FixedOffset};
use csv::ByteRecord;
use jxc_runtime::csv_file::{Columns, CsvFile, content_hash, line_of, read_rows};
use jxc_shared::product::{parse_bool, parse_decimals};
use jxc_shared::row::{ImportColumns, parse_import_row};
use jxc_shared::{DomainError, Product, Sku};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// SQLite page cache for a bulk import, in KiB: enough to keep the balance
/// and movement B-tree pages hot while staying well under the memory target.
const IMPORT_CACHE_KIB: u32 = 16 * 1024;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub written: u64,
    pub rejected: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

/// Writes rejected rows: the original columns, then `line` and `error`.
struct Rejects {
    tmp: PathBuf,
    path: PathBuf,
    writer: csv::Writer<File>,
    /// Columns of the header: a short row is padded to it.
    width: usize,
}

impl Rejects {
    fn create(path: &Path, header: &[String]) -> Result<Self> {
        let tmp = path.with_extension("csv.partial");
        let file = File::create(&tmp).map_err(|e| AgentError::io(&tmp, e))?;
        // Rows may be shorter or longer than the header (the reader is
        // flexible too): short ones are padded so `line` and `error` stay
        // under their headings, long ones keep every field.
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(file);
        let mut h: Vec<&str> = header.iter().map(String::as_str).collect();
        h.extend(["line", "error"]);
        writer
            .write_record(&h)
            .map_err(|e| AgentError::io(&tmp, e.into()))?;
        Ok(Self {
            tmp,
            path: path.to_path_buf(),
            writer,
            width: header.len(),
        })
    }

    fn write(&mut self, rec: &ByteRecord, line: u64, err: &str) -> Result<()> {
        let mut out = rec.clone();
        while out.len() < self.width {
            out.push_field(b"");
        }
        out.push_field(line.to_string().as_bytes());
        out.push_field(err.as_bytes());
        self.writer
            .write_byte_record(&out)
            .map_err(|e| AgentError::io(&self.tmp, e.into()))
    }

    fn finish(mut self) -> Result<()> {
        self.writer
            .flush()
            .map_err(|e| AgentError::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| AgentError::io(&self.path, e))
    }
}

/// Imports a movement file. Rows apply in file order inside one transaction;
/// a bad row is reported to `report` and skipped. Unless `rejects` is given,
/// any bad row rolls everything back. A file whose content was imported
/// before is refused unless `again`; its hash commits with its rows.
pub fn import_movements(
    store: &mut Store,
    path: &Path,
    rejects: Option<&Path>,
    progress: bool,
    again: bool,
    now: DateTime<FixedOffset>,
    report: &mut dyn Write,
) -> Result<ImportSummary> {
    let mut csv = CsvFile::open(path, progress)?;
    let cols = ImportColumns::from_header(csv.header().iter().map(String::as_str))?;
    let products: HashMap<Sku, Product> = store
        .products()?
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect();
    let mut rejects = rejects
        .map(|p| Rejects::create(p, csv.header()))
        .transpose()?;
    store.set_cache_kib(IMPORT_CACHE_KIB)?;

    let mut ledger = store.ledger(now)?;
    // Hashed once before the rows, inside the transaction, so a repeat is
    // refused before any work; the rows' own read is hashed too, and must
    // agree, so the hash recorded is that of the rows written.
    let import = FileImport {
        kind: ImportKind::Movements,
        hash: content_hash(path)?,
        file: path.display().to_string(),
        again,
    };
    ledger.check_import(&import)?;
    let mut sum = ImportSummary::default();
    let mut rec = ByteRecord::new();
    while csv.read_record(&mut rec)? {
        sum.rows += 1;
        let line = line_of(&rec);
        let outcome = csv.fields(&rec).map_err(AgentError::Invalid).and_then(|f| {
            let draft = parse_import_row(
                &cols,
                |i| f.get(i).copied().unwrap_or(""),
                |s| products.get(s),
                |l| ledger.has_location(l),
                now,
                crate::clock::zone(),
            )?;
            ledger.apply(draft)
        });
        match outcome {
            Ok(m) => {
                sum.written += 1;
                sum.first_seq.get_or_insert(m.seq);
                sum.last_seq = Some(m.seq);
            }
            Err(e) => {
                if !e.is_row_error() {
                    return Err(e);
                }
                sum.rejected += 1;
                let _ = writeln!(report, "line {line}: {e}");
                if let Some(r) = rejects.as_mut() {
                    r.write(&rec, line, &e.to_string())?;
                }
            }
        }
    }
    csv.finish_progress();
    if sum.rejected > 0 && rejects.is_none() {
        return Err(AgentError::BadFile(format!(
            "{}: {} bad row(s) of {}; nothing was written (fix them, or pass --skip-bad REJECTS.csv to write only the good rows)",
            path.display(),
            sum.rejected,
            sum.rows
        )));
    }
    changed_underway(path, &csv, &import)?;
    ledger.record_import(&import, sum.written)?;
    ledger.commit()?;
    if let Some(r) = rejects {
        r.finish()?;
    }
    Ok(sum)
}

/// Refuses a file whose content changed between its hash and its rows.
fn changed_underway(path: &Path, csv: &CsvFile, import: &FileImport) -> Result<()> {
    if csv.content_hash() != import.hash {
        return Err(AgentError::BadFile(format!(
            "{}: the file changed while it was being imported; nothing was written (import it again once it is complete)",
            path.display()
        )));
    }
    Ok(())
}

/// Imports products: header `sku,name,unit,category,brand`, optionally
/// `decimals` and `lot_tracked`; other columns are ignored. All or nothing.
pub fn import_products(
    store: &mut Store,
    path: &Path,
    report: &mut dyn Write,
) -> Result<(usize, usize)> {
    let mut seen = HashSet::new();
    let columns = Columns {
        required: &["sku", "name"],
        known: None,
    };
    let (products, _) = read_rows(path, columns, report, |row| -> Result<Product> {
        let get = |name| row.get(name);
        let decimals = match get("decimals") {
            "" => 0,
            d => parse_decimals(d)?,
        };
        let p = Product::new(
            get("sku"),
            get("name"),
            Some(get("unit")),
            Some(get("category")),
            Some(get("brand")),
            decimals,
            parse_bool("lot_tracked", get("lot_tracked"))?,
        )?;
        if !seen.insert(p.sku.clone()) {
            return Err(
                DomainError::new("sku", p.sku.as_str(), "appears twice in this file").into(),
            );
        }
        // Checked here to report every such row; again when written.
        store.check_product(&p)?;
        Ok(p)
    })?;
    store.upsert_products(&products)
}

/// Imports counted lines into an open count: header `sku,qty`, optionally
/// `lot`. All or nothing. A file whose content was imported into a count
/// before is refused unless `again`; its hash commits with its lines.
pub fn import_count(
    store: &mut Store,
    count: &CountSession,
    path: &Path,
    again: bool,
    now: DateTime<FixedOffset>,
    report: &mut dyn Write,
) -> Result<usize> {
    let columns = Columns {
        required: &["sku", "qty"],
        known: None,
    };
    let (entries, hash) = read_rows(path, columns, report, |row| -> Result<_> {
        store.count_entry(row.get("sku"), row.get("qty"), Some(row.get("lot")))
    })?;
    let import = FileImport {
        kind: ImportKind::Count,
        hash,
        file: path.display().to_string(),
        again,
    };
    Ok(store
        .count_record_logged(count, &entries, now, Some(&import))?
        .len())
}
