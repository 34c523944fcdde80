//! Bulk CSV imports: movements (streamed through one transaction), products
//! and stocktake lines. Every bad row is reported with its line number, column
//! and reason; nothing is written unless the caller chose to skip bad rows.

use crate::error::{AgentError, Result};
use crate::store::{CountSession, Store};
use chrono::{DateTime, FixedOffset};
use csv::ByteRecord;
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use jxc_shared::product::{parse_bool, parse_decimals};
use jxc_shared::row::{ImportColumns, parse_import_row};
use jxc_shared::{DomainError, Product, Sku};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
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

struct CsvFile {
    reader: csv::Reader<Box<dyn Read>>,
    header: Vec<String>,
    progress: Option<ProgressBar>,
}

/// Opens a CSV file (gzip-compressed when its name ends in `.gz`), reads its
/// header, and wraps it in a progress bar when asked.
fn open_csv(path: &Path, progress: bool) -> Result<CsvFile> {
    let file = File::open(path).map_err(|e| AgentError::io(path, e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = progress.then(|| {
        let pb = ProgressBar::new(len);
        pb.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("static template"),
        );
        pb
    });
    let raw: Box<dyn Read> = match &progress {
        Some(pb) => Box::new(pb.wrap_read(file)),
        None => Box::new(file),
    };
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let input: Box<dyn Read> = if gz {
        Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 16, raw)))
    } else {
        raw
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let header = reader
        .byte_headers()
        .map_err(|e| bad_file(path, &e))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    Ok(CsvFile {
        reader,
        header,
        progress,
    })
}

fn bad_file(path: &Path, e: &csv::Error) -> AgentError {
    let at = e
        .position()
        .map(|p| format!(" line {}", p.line()))
        .unwrap_or_default();
    AgentError::BadFile(format!("{}{at}: cannot read the file: {e}", path.display()))
}

/// The fields of a record as text; a field that is not UTF-8 is named.
fn fields<'r>(
    rec: &'r ByteRecord,
    header: &[String],
) -> std::result::Result<Vec<&'r str>, DomainError> {
    rec.iter()
        .enumerate()
        .map(|(i, f)| {
            std::str::from_utf8(f).map_err(|_| {
                let col = header.get(i).map(String::as_str).unwrap_or("?");
                DomainError::new(
                    "encoding",
                    col,
                    "this column is not UTF-8 text: save the file as UTF-8",
                )
            })
        })
        .collect()
}

fn line_of(rec: &ByteRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
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
/// any bad row rolls everything back.
pub fn import_movements(
    store: &mut Store,
    path: &Path,
    rejects: Option<&Path>,
    progress: bool,
    now: DateTime<FixedOffset>,
    report: &mut dyn Write,
) -> Result<ImportSummary> {
    let mut csv = open_csv(path, progress)?;
    let cols = ImportColumns::from_header(csv.header.iter().map(String::as_str))?;
    let products: HashMap<Sku, Product> = store
        .products()?
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect();
    let mut rejects = rejects
        .map(|p| Rejects::create(p, &csv.header))
        .transpose()?;
    store.set_cache_kib(IMPORT_CACHE_KIB)?;

    let mut ledger = store.ledger(now)?;
    let mut sum = ImportSummary::default();
    let mut rec = ByteRecord::new();
    loop {
        match csv.reader.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(bad_file(path, &e)),
        }
        sum.rows += 1;
        let line = line_of(&rec);
        let outcome = fields(&rec, &csv.header)
            .map_err(AgentError::Invalid)
            .and_then(|f| {
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
    if let Some(pb) = &csv.progress {
        pb.finish_and_clear();
    }
    if sum.rejected > 0 && rejects.is_none() {
        return Err(AgentError::BadFile(format!(
            "{}: {} bad row(s) of {}; nothing was written (fix them, or pass --skip-bad REJECTS.csv to write only the good rows)",
            path.display(),
            sum.rejected,
            sum.rows
        )));
    }
    ledger.commit()?;
    if let Some(r) = rejects {
        r.finish()?;
    }
    Ok(sum)
}

fn column(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| {
        h.trim_start_matches('\u{feff}')
            .trim()
            .eq_ignore_ascii_case(name)
    })
}

fn require_columns(path: &Path, header: &[String], names: &[&str]) -> Result<()> {
    for n in names {
        if column(header, n).is_none() {
            return Err(AgentError::Invalid(DomainError::new(
                "header",
                header.join(","),
                format!("{}: missing column {n}", path.display()),
            )));
        }
    }
    Ok(())
}

/// One row of a small file, read by column name.
struct Row<'r> {
    header: &'r [String],
    fields: Vec<&'r str>,
}

impl<'r> Row<'r> {
    /// The named column's text; empty when the column or the field is absent.
    fn get(&self, name: &str) -> &'r str {
        column(self.header, name)
            .and_then(|i| self.fields.get(i).copied())
            .unwrap_or("")
    }
}

/// Reads a whole small file (products, counted lines), validating each row
/// with `parse`; reports every bad row and fails if there was one.
fn read_all<T>(
    path: &Path,
    required: &[&str],
    report: &mut dyn Write,
    mut parse: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut csv = open_csv(path, false)?;
    require_columns(path, &csv.header, required)?;
    let (mut out, mut bad, mut rows) = (Vec::new(), 0u64, 0u64);
    let mut rec = ByteRecord::new();
    while csv
        .reader
        .read_byte_record(&mut rec)
        .map_err(|e| bad_file(path, &e))?
    {
        rows += 1;
        let line = line_of(&rec);
        let result = fields(&rec, &csv.header)
            .map_err(AgentError::Invalid)
            .and_then(|fields| {
                parse(&Row {
                    header: &csv.header,
                    fields,
                })
            });
        match result {
            Ok(v) => out.push(v),
            Err(e) if e.is_row_error() || matches!(e, AgentError::Conflict(_)) => {
                bad += 1;
                let _ = writeln!(report, "line {line}: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if bad > 0 {
        return Err(AgentError::BadFile(format!(
            "{}: {bad} bad row(s) of {rows}; nothing was written",
            path.display()
        )));
    }
    Ok(out)
}

/// Imports products: header `sku,name,unit,category,brand`, optionally
/// `decimals` and `lot_tracked`; other columns are ignored. All or nothing.
pub fn import_products(
    store: &mut Store,
    path: &Path,
    report: &mut dyn Write,
) -> Result<(usize, usize)> {
    let mut seen = HashSet::new();
    let products = read_all(path, &["sku", "name"], report, |row| {
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
        Ok(p)
    })?;
    store.upsert_products(&products)
}

/// Imports counted lines into an open count: header `sku,qty`, optionally
/// `lot`. All or nothing.
pub fn import_count(
    store: &mut Store,
    count: &CountSession,
    path: &Path,
    now: DateTime<FixedOffset>,
    report: &mut dyn Write,
) -> Result<usize> {
    let entries = read_all(path, &["sku", "qty"], report, |row| {
        store.count_entry(row.get("sku"), row.get("qty"), Some(row.get("lot")))
    })?;
    Ok(store.count_record(count, &entries, now)?.len())
}
