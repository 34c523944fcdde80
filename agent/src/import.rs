//! Bulk CSV imports: movements (streamed through one transaction), products
//! and stocktake lines. Every bad row is reported with its line number, column
//! and reason; nothing is written unless the caller chose to skip bad rows.

use crate::error::{AgentError, Result};
use crate::store::{CountSession, FileImport, ImportKind, Store};
use chrono::{DateTime, FixedOffset};
use csv::ByteRecord;
use encoding_rs::{Decoder, DecoderResult, Encoding, GB18030, UTF_8};
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use jxc_shared::product::{parse_bool, parse_decimals};
use jxc_shared::row::{ImportColumns, parse_import_row};
use jxc_shared::{DomainError, Product, Sku};
use sha2::{Digest, Sha256};
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

/// How many leading bytes decide a file's encoding when it has no BOM.
const SNIFF_BYTES: usize = 64 * 1024;

/// A CSV file opened for reading: its header, its records as UTF-8 with
/// every line break as `\n`, the encoding it was read in, and the content
/// hash of what has been read so far.
pub struct CsvFile {
    reader: csv::Reader<TextReader<Hashing<Box<dyn Read>>>>,
    header: Vec<String>,
    progress: Option<ProgressBar>,
    encoding: &'static Encoding,
}

impl CsvFile {
    /// The SHA-256 of the file's content (after gunzip), once read to the end.
    fn content_hash(&self) -> String {
        self.reader.get_ref().inner.hash()
    }
}

/// Opens a CSV file (gzip-compressed when its name ends in `.gz`), works out
/// its encoding, reads its header, and wraps it in a progress bar when asked.
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
    let input = content(path, file, progress.as_ref());
    let text = TextReader::new(Hashing::new(input)).map_err(|e| AgentError::io(path, e))?;
    let encoding = text.encoding();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(text);
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
        encoding,
    })
}

fn bad_file(path: &Path, e: &csv::Error) -> AgentError {
    let at = e
        .position()
        .map(|p| format!(" line {}", p.line()))
        .unwrap_or_default();
    AgentError::BadFile(format!("{}{at}: cannot read the file: {e}", path.display()))
}

/// A file's content: gunzipped when its name ends in `.gz`, counted by the
/// progress bar when there is one.
fn content(path: &Path, file: File, progress: Option<&ProgressBar>) -> Box<dyn Read> {
    let raw: Box<dyn Read> = match progress {
        Some(pb) => Box::new(pb.wrap_read(file)),
        None => Box::new(file),
    };
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if gz {
        Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 16, raw)))
    } else {
        raw
    }
}

/// The SHA-256 of a file's content (after gunzip), read once from start to
/// end without holding it in memory.
pub fn content_hash(path: &Path) -> Result<String> {
    let file = File::open(path).map_err(|e| AgentError::io(path, e))?;
    let mut hashing = Hashing::new(content(path, file, None));
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| AgentError::io(path, e))?;
    Ok(hashing.hash())
}

/// Works out a file's encoding from its first bytes: a BOM says it; else
/// UTF-8 when the prefix is valid UTF-8 (a character cut by the end of the
/// prefix allowed), or mostly so (more well-formed non-ASCII characters than
/// bad sequences: a UTF-8 file with a stray byte, whose rows holding one are
/// then reported rather than the whole file misread); else GB18030 (which
/// reads GBK and GB2312 too), Chinese Excel's default. Returns the encoding
/// and the length of its BOM.
pub fn sniff_encoding(prefix: &[u8], whole_file: bool) -> (&'static Encoding, usize) {
    if let Some(found) = Encoding::for_bom(prefix) {
        return found;
    }
    let (mut wide, mut bad) = (0usize, 0usize);
    let mut rest = prefix;
    loop {
        let (good, next) = match std::str::from_utf8(rest) {
            Ok(all) => (all, None),
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                let good = std::str::from_utf8(good).unwrap_or_default();
                match e.error_len() {
                    Some(n) => (good, Some(&after[n..])),
                    // Cut by the end of the prefix: fine unless that is the
                    // end of the file.
                    None => {
                        bad += usize::from(whole_file);
                        (good, None)
                    }
                }
            }
        };
        wide += good.chars().filter(|c| !c.is_ascii()).count();
        match next {
            Some(after) => {
                bad += 1;
                rest = after;
            }
            None => break,
        }
    }
    if bad == 0 || wide > bad {
        (UTF_8, 0)
    } else {
        (GB18030, 0)
    }
}

/// Feeds the CSV reader UTF-8 text with every line break (CRLF, CR, LF) as
/// `\n`, decoding incrementally so a file of any size is never held in
/// memory. The csv crate's line numbers are one too low after each CRLF;
/// with `\n` alone they are right.
///
/// Nothing is silently garbled: a UTF-8 file's bytes pass through as they
/// are, so an invalid sequence reaches the row's field check; a sequence the
/// decoder finds malformed becomes the byte 0xFF, never valid UTF-8, which
/// the same check reports as that row's error, naming the encoding.
struct TextReader<R> {
    inner: R,
    /// `None` passes UTF-8 through unchanged.
    decoder: Option<Decoder>,
    encoding: &'static Encoding,
    raw: Vec<u8>,
    raw_pos: usize,
    eof: bool,
    decoded: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// The last byte seen was a CR, so an LF right after it is dropped.
    after_cr: bool,
}

/// A byte that never occurs in UTF-8; marks a sequence the decoder refused.
const MALFORMED: u8 = 0xFF;

impl<R: Read> TextReader<R> {
    fn new(mut inner: R) -> std::io::Result<Self> {
        let mut raw = vec![0; SNIFF_BYTES];
        let mut n = 0;
        while n < raw.len() {
            match inner.read(&mut raw[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        raw.truncate(n);
        let whole_file = n < SNIFF_BYTES;
        let (encoding, bom) = sniff_encoding(&raw, whole_file);
        let decoder = (encoding != UTF_8).then(|| encoding.new_decoder_without_bom_handling());
        Ok(Self {
            inner,
            decoder,
            encoding,
            raw,
            raw_pos: bom,
            eof: whole_file,
            decoded: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            after_cr: false,
        })
    }

    fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// Reads more raw bytes when all were used; false at the end of input.
    fn fill_raw(&mut self) -> std::io::Result<bool> {
        if self.raw_pos < self.raw.len() {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.raw.resize(1 << 16, 0);
        let n = loop {
            match self.inner.read(&mut self.raw) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.raw.truncate(n);
        self.raw_pos = 0;
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Produces the next piece of output; false when there is none left.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.out_pos = 0;
        while self.out.is_empty() {
            let more = self.fill_raw()?;
            if !more && self.decoder.is_none() {
                return Ok(false);
            }
            let text: &[u8] = match &mut self.decoder {
                None => {
                    let chunk = &self.raw[self.raw_pos..];
                    self.raw_pos = self.raw.len();
                    chunk
                }
                Some(decoder) => {
                    let input = &self.raw[self.raw_pos..];
                    let last = !more;
                    self.decoded.clear();
                    self.decoded.reserve(
                        decoder
                            .max_utf8_buffer_length_without_replacement(input.len())
                            .unwrap_or(input.len() * 4 + 16),
                    );
                    let mut used = 0;
                    loop {
                        let start = self.decoded.len();
                        let room = self.decoded.capacity() - start;
                        self.decoded.resize(start + room.max(16), 0);
                        let (res, read, written) = decoder.decode_to_utf8_without_replacement(
                            &input[used..],
                            &mut self.decoded[start..],
                            last,
                        );
                        self.decoded.truncate(start + written);
                        used += read;
                        match res {
                            DecoderResult::InputEmpty => break,
                            DecoderResult::OutputFull => self.decoded.reserve(64),
                            DecoderResult::Malformed(..) => self.decoded.push(MALFORMED),
                        }
                    }
                    self.raw_pos = self.raw.len();
                    if last {
                        self.decoder = None;
                    }
                    &self.decoded
                }
            };
            to_lf(text, &mut self.out, &mut self.after_cr);
            if !more && self.out.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Appends `text` to `out` with CRLF and CR as LF. `after_cr` carries a CR
/// that ended the previous piece, so a CRLF split across pieces is one break.
fn to_lf(mut text: &[u8], out: &mut Vec<u8>, after_cr: &mut bool) {
    if text.is_empty() {
        return;
    }
    if std::mem::take(after_cr) && text[0] == b'\n' {
        text = &text[1..];
    }
    // Most files have LF alone: one fast scan, one copy.
    if !text.contains(&b'\r') {
        out.extend_from_slice(text);
        return;
    }
    for &b in text {
        match b {
            b'\r' => {
                out.push(b'\n');
                *after_cr = true;
            }
            b'\n' if *after_cr => *after_cr = false,
            _ => {
                out.push(b);
                *after_cr = false;
            }
        }
    }
}

impl<R: Read> Read for TextReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.out_pos == self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// Hashes the bytes read through it: the file's content hash.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn hash(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The fields of a record as text; a field that is not valid text in the
/// file's encoding is named, with the encoding.
fn fields<'r>(
    rec: &'r ByteRecord,
    header: &[String],
    encoding: &'static Encoding,
) -> std::result::Result<Vec<&'r str>, DomainError> {
    rec.iter()
        .enumerate()
        .map(|(i, f)| {
            std::str::from_utf8(f).map_err(|_| {
                let col = header.get(i).map(String::as_str).unwrap_or("?");
                let how = if encoding == UTF_8 {
                    format!(
                        "is not valid UTF-8 (the file was read as UTF-8, judged from its first {} KiB): save the whole file as UTF-8 or as GB18030",
                        SNIFF_BYTES / 1024
                    )
                } else {
                    format!("holds bytes that are not valid {}", encoding.name())
                };
                DomainError::new("encoding", col, format!("this column {how}"))
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
    loop {
        match csv.reader.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(bad_file(path, &e)),
        }
        sum.rows += 1;
        let line = line_of(&rec);
        let outcome = fields(&rec, &csv.header, csv.encoding)
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
pub struct Row<'r> {
    header: &'r [String],
    fields: Vec<&'r str>,
}

impl<'r> Row<'r> {
    /// The named column's text; empty when the column or the field is absent.
    pub fn get(&self, name: &str) -> &'r str {
        column(self.header, name)
            .and_then(|i| self.fields.get(i).copied())
            .unwrap_or("")
    }
}

/// Which columns a small file must have, and (when `known` is given) the
/// only ones it may have; otherwise other columns are ignored.
pub struct Columns<'a> {
    pub required: &'a [&'a str],
    pub known: Option<&'a [&'a str]>,
}

/// Reads a whole small file (products, counted lines, SKU mappings, HQ's
/// catalog) in any encoding [`sniff_encoding`] accepts, validating each row
/// with `parse`; reports every bad row to `report` as `line N: …` and fails
/// if there was one. Returns the rows and the file's content hash.
pub fn read_rows<T>(
    path: &Path,
    columns: Columns<'_>,
    report: &mut dyn Write,
    mut parse: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<(Vec<T>, String)> {
    let mut csv = open_csv(path, false)?;
    require_columns(path, &csv.header, columns.required)?;
    if let Some(known) = columns.known {
        for h in &csv.header {
            let name = h.trim_start_matches('\u{feff}').trim();
            if !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(AgentError::Invalid(DomainError::new(
                    "header",
                    name,
                    format!(
                        "{}: unknown column; columns are {}",
                        path.display(),
                        known.join(",")
                    ),
                )));
            }
        }
    }
    let (mut out, mut bad, mut rows) = (Vec::new(), 0u64, 0u64);
    let mut rec = ByteRecord::new();
    while csv
        .reader
        .read_byte_record(&mut rec)
        .map_err(|e| bad_file(path, &e))?
    {
        rows += 1;
        let line = line_of(&rec);
        let result = fields(&rec, &csv.header, csv.encoding)
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
    Ok((out, csv.content_hash()))
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
    let (products, _) = read_rows(path, columns, report, |row| {
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
    let (entries, hash) = read_rows(path, columns, report, |row| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes `step` at a time, so every boundary is tried.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn decode(data: &[u8], step: usize) -> (Vec<u8>, &'static Encoding) {
        let mut r = TextReader::new(Trickle { data, step }).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (out, r.encoding())
    }

    #[test]
    fn encodings_are_sniffed_and_line_breaks_become_lf_across_any_boundary() {
        let text = "sku,name\r\nA,龙井\r\n\r\nB,\"碧\r螺春\"\nC,白茶\r";
        let want = "sku,name\nA,龙井\n\nB,\"碧\n螺春\"\nC,白茶\n";
        let (gb, _, _) = GB18030.encode(text);
        let bom = [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat();
        for step in [1, 2, 3, 7, 1 << 16] {
            for (bytes, enc) in [
                (text.as_bytes(), UTF_8),
                (&gb[..], GB18030),
                (&bom[..], UTF_8),
            ] {
                let (out, found) = decode(bytes, step);
                assert_eq!(found, enc, "step {step}");
                assert_eq!(String::from_utf8(out).unwrap(), want, "step {step}");
            }
        }
    }

    #[test]
    fn a_mostly_utf8_prefix_is_utf8_and_gb18030_text_is_gb18030() {
        let text = "sku,name\nA,龙井\nB,碧螺春\n";
        let (gb, _, _) = GB18030.encode(text);
        assert_eq!(sniff_encoding(&gb, true).0, GB18030);
        assert_eq!(sniff_encoding(text.as_bytes(), true).0, UTF_8);
        // One stray byte in UTF-8 Chinese: still UTF-8, so only its row is bad.
        let stray = [text.as_bytes(), b"C,caf\xe9\n"].concat();
        assert_eq!(sniff_encoding(&stray, true).0, UTF_8);
        // A character cut by the end of the prefix, not of the file.
        let cut = &text.as_bytes()[..text.find("井").unwrap() + 1];
        assert_eq!(sniff_encoding(cut, false).0, UTF_8);
        assert_eq!(sniff_encoding(b"sku\ncaf\xe9\n", true).0, GB18030);
    }

    #[test]
    fn what_cannot_be_decoded_is_marked_never_replaced() {
        // Long enough to decide from a prefix; the bad sequence comes after.
        let mut data = "x".repeat(SNIFF_BYTES + 10).into_bytes();
        data.extend_from_slice(b"\n\xe9\n");
        let (out, enc) = decode(&data, 1 << 16);
        assert_eq!(enc, UTF_8);
        assert!(std::str::from_utf8(&out).is_err(), "passed through as is");
        // GB18030 with a lead byte and no trail byte: marked, not U+FFFD.
        let mut gb = GB18030.encode("龙井,").0.into_owned();
        gb.extend_from_slice(b"\x81\n");
        let (out, enc) = decode(&gb, 3);
        assert_eq!(enc, GB18030);
        let want = ["龙井,".as_bytes(), &[MALFORMED, b'\n']].concat();
        assert_eq!(out, want);
    }
}
