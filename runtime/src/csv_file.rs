//! Reading CSV files as Excel saves them: UTF-8, GB18030/GBK (Chinese
//! Excel's default) or whatever a BOM says, gzip-compressed when the name
//! ends in `.gz`, any line breaks; streamed, so a file of any size is never
//! held in memory, and hashed as it is read. Both binaries import through
//! it: the agent its ledger files, the hub HQ's catalog. What a row means is
//! the caller's: this module knows columns and text, not products or stock.

use csv::ByteRecord;
use encoding_rs::{Decoder, DecoderResult, Encoding, GB18030, UTF_8};
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use jxc_shared::DomainError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// A header or field that is not what was asked for (a missing or
    /// unknown column, a value a row parser refused).
    #[error("{0}")]
    Invalid(#[from] DomainError),
    /// The file is not CSV that can be read, or had bad rows (each was
    /// reported as it was found).
    #[error("{0}")]
    BadFile(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CsvError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CsvError::Io {
            path: path.into(),
            source,
        }
    }
}

/// An error a row parser of [`read_rows`] returns: one that is about its row
/// is reported with the row's line and reading goes on (the file is refused
/// at the end); any other stops the read.
pub trait RowError: From<CsvError> + std::fmt::Display {
    fn is_bad_row(&self) -> bool;
}

impl RowError for CsvError {
    fn is_bad_row(&self) -> bool {
        matches!(self, CsvError::Invalid(_))
    }
}

/// How many leading bytes decide a file's encoding when it has no BOM.
const SNIFF_BYTES: usize = 64 * 1024;

/// A CSV file opened for reading: its header, its records as UTF-8 with
/// every line break as `\n`, the encoding it was read in, and the content
/// hash of what has been read so far.
pub struct CsvFile {
    path: PathBuf,
    reader: csv::Reader<TextReader<Hashing<Box<dyn Read>>>>,
    header: Vec<String>,
    progress: Option<ProgressBar>,
    encoding: &'static Encoding,
}

impl CsvFile {
    /// Opens a CSV file (gzip-compressed when its name ends in `.gz`), works
    /// out its encoding, reads its header, and shows a progress bar on
    /// stderr when asked.
    pub fn open(path: &Path, progress: bool) -> Result<CsvFile, CsvError> {
        let file = File::open(path).map_err(|e| CsvError::io(path, e))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let progress = progress.then(|| {
            let pb = ProgressBar::new(len);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                pb.set_style(style);
            }
            pb
        });
        let input = content(path, file, progress.as_ref());
        let text = TextReader::new(Hashing::new(input)).map_err(|e| CsvError::io(path, e))?;
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
            path: path.to_path_buf(),
            reader,
            header,
            progress,
            encoding,
        })
    }

    /// The header's column names, as written.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The encoding the file is read in.
    pub fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// Reads the next record into `rec`; false at the end of the file.
    pub fn read_record(&mut self, rec: &mut ByteRecord) -> Result<bool, CsvError> {
        self.reader
            .read_byte_record(rec)
            .map_err(|e| bad_file(&self.path, &e))
    }

    /// The fields of a record as text; a field that is not valid text in
    /// the file's encoding is named, with the encoding.
    pub fn fields<'r>(&self, rec: &'r ByteRecord) -> Result<Vec<&'r str>, DomainError> {
        let encoding = self.encoding;
        rec.iter()
            .enumerate()
            .map(|(i, f)| {
                std::str::from_utf8(f).map_err(|_| {
                    let col = self.header.get(i).map(String::as_str).unwrap_or("?");
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

    /// The SHA-256 of the file's content (after gunzip), once read to the end.
    pub fn content_hash(&self) -> String {
        self.reader.get_ref().inner.hash()
    }

    /// Clears the progress bar, if there is one.
    pub fn finish_progress(&self) {
        if let Some(pb) = &self.progress {
            pb.finish_and_clear();
        }
    }
}

/// The line a record started on, counting the header as line 1.
pub fn line_of(rec: &ByteRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
}

fn bad_file(path: &Path, e: &csv::Error) -> CsvError {
    let at = e
        .position()
        .map(|p| format!(" line {}", p.line()))
        .unwrap_or_default();
    CsvError::BadFile(format!("{}{at}: cannot read the file: {e}", path.display()))
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
pub fn content_hash(path: &Path) -> Result<String, CsvError> {
    let file = File::open(path).map_err(|e| CsvError::io(path, e))?;
    let mut hashing = Hashing::new(content(path, file, None));
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| CsvError::io(path, e))?;
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

fn column(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| {
        h.trim_start_matches('\u{feff}')
            .trim()
            .eq_ignore_ascii_case(name)
    })
}

fn require_columns(path: &Path, header: &[String], names: &[&str]) -> Result<(), CsvError> {
    for n in names {
        if column(header, n).is_none() {
            return Err(CsvError::Invalid(DomainError::new(
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
/// with `parse`; reports every bad row (see [`RowError`]) to `report` as
/// `line N: …` and fails if there was one. Returns the rows and the file's
/// content hash.
pub fn read_rows<T, E: RowError>(
    path: &Path,
    columns: Columns<'_>,
    report: &mut dyn Write,
    mut parse: impl FnMut(&Row<'_>) -> Result<T, E>,
) -> Result<(Vec<T>, String), E> {
    let mut csv = CsvFile::open(path, false)?;
    require_columns(path, &csv.header, columns.required)?;
    if let Some(known) = columns.known {
        for h in &csv.header {
            let name = h.trim_start_matches('\u{feff}').trim();
            if !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(CsvError::Invalid(DomainError::new(
                    "header",
                    name,
                    format!(
                        "{}: unknown column; columns are {}",
                        path.display(),
                        known.join(",")
                    ),
                ))
                .into());
            }
        }
    }
    let (mut out, mut bad, mut rows) = (Vec::new(), 0u64, 0u64);
    let mut rec = ByteRecord::new();
    while csv.read_record(&mut rec)? {
        rows += 1;
        let line = line_of(&rec);
        let result = csv
            .fields(&rec)
            .map_err(|e| E::from(CsvError::Invalid(e)))
            .and_then(|fields| {
                parse(&Row {
                    header: &csv.header,
                    fields,
                })
            });
        match result {
            Ok(v) => out.push(v),
            Err(e) if e.is_bad_row() => {
                bad += 1;
                let _ = writeln!(report, "line {line}: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if bad > 0 {
        return Err(CsvError::BadFile(format!(
            "{}: {bad} bad row(s) of {rows}; nothing was written",
            path.display()
        ))
        .into());
    }
    Ok((out, csv.content_hash()))
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

    fn sku_and_qty(row: &Row<'_>) -> Result<(String, u32), CsvError> {
        let qty = row.get("qty");
        let n = qty
            .parse()
            .map_err(|_| DomainError::new("qty", qty, "not a whole number"))?;
        Ok((row.get("sku").to_owned(), n))
    }

    #[test]
    fn read_rows_reads_gb18030_by_name_and_reports_every_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.csv");
        let (gb, _, _) = GB18030.encode("\u{feff}Qty,SKU,备注\r\n3,龙井,x\r\n4,B,\r\n");
        std::fs::write(&good, &gb[..]).unwrap();
        let columns = || Columns {
            required: &["sku", "qty"],
            known: None,
        };
        let mut report = Vec::new();
        let (rows, hash) = read_rows(&good, columns(), &mut report, sku_and_qty).unwrap();
        assert_eq!(rows, [("龙井".to_owned(), 3), ("B".to_owned(), 4)]);
        assert_eq!(hash, content_hash(&good).unwrap());
        assert!(report.is_empty());

        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "sku,qty\nA,1\nB,x\nC,2\nD,-1\n").unwrap();
        let err = read_rows(&bad, columns(), &mut report, sku_and_qty).unwrap_err();
        assert!(matches!(err, CsvError::BadFile(_)), "{err}");
        assert!(err.to_string().contains("2 bad row(s) of 4"), "{err}");
        let report = String::from_utf8(report).unwrap();
        let lines: Vec<_> = report.lines().map(|l| l.split(':').next()).collect();
        assert_eq!(lines, [Some("line 3"), Some("line 5")], "{report}");
    }

    #[test]
    fn read_rows_refuses_a_missing_or_unknown_column_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, "sku,colour\nA,red\n").unwrap();
        let mut report = Vec::new();
        let missing = Columns {
            required: &["sku", "qty"],
            known: None,
        };
        let err = read_rows(&path, missing, &mut report, sku_and_qty).unwrap_err();
        assert!(err.to_string().contains("missing column qty"), "{err}");
        let closed = Columns {
            required: &["sku"],
            known: Some(&["sku", "qty"]),
        };
        let err = read_rows(&path, closed, &mut report, sku_and_qty).unwrap_err();
        assert!(
            matches!(&err, CsvError::Invalid(e) if e.value == "colour"),
            "{err}"
        );
        let absent = dir.path().join("absent.csv");
        let any = Columns {
            required: &["sku"],
            known: None,
        };
        let err = read_rows(&absent, any, &mut report, sku_and_qty).unwrap_err();
        assert!(matches!(err, CsvError::Io { .. }), "{err}");
    }
}
