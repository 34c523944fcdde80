//! Plain-text tables and CSV exports for command-line output.
//!
//! Tables align by display width (a Chinese character takes two terminal
//! columns); CSV exports start with a UTF-8 byte-order mark so Excel opens
//! Chinese text as Unicode instead of the machine's ANSI code page.

use unicode_width::UnicodeWidthStr;

/// The UTF-8 byte-order mark that starts every CSV export.
pub const UTF8_BOM: &str = "\u{feff}";

/// How wide `s` shows in a terminal, in columns.
pub fn display_width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Lays out rows under a header in aligned columns (two spaces apart; the
/// last column is not padded). Widths count terminal columns, so wide (CJK)
/// characters count two.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(display_width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(w - display_width(cell) + 2));
            }
        }
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// The same rows as a CSV file for Excel: a UTF-8 BOM, the header, then one
/// record per row, quoted by the `csv` crate wherever a field holds a comma,
/// a quote or a line break.
pub fn csv_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(UTF8_BOM.as_bytes().to_vec());
    // Writing into memory has no IO to fail.
    for r in std::iter::once(header.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        .chain(rows.iter().cloned())
    {
        w.write_record(&r)
            .expect("writing CSV into memory cannot fail");
    }
    let bytes = w.into_inner().expect("writing CSV into memory cannot fail");
    String::from_utf8(bytes).expect("the CSV of UTF-8 strings is UTF-8")
}

/// Reads back what [`csv_table`] wrote: the header and the rows. Refuses
/// text that does not start with the BOM, or that is not CSV. (The CLIs'
/// tests read their exports with it.)
pub fn read_csv_table(text: &str) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let body = text
        .strip_prefix(UTF8_BOM)
        .ok_or_else(|| format!("no UTF-8 BOM at the start of:\n{text}"))?;
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(body.as_bytes());
    let record = |r: &csv::StringRecord| r.iter().map(str::to_owned).collect::<Vec<_>>();
    let header = record(r.headers().map_err(|e| e.to_string())?);
    let rows = r
        .records()
        .map(|rec| rec.map(|x| record(&x)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok((header, rows))
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_by_display_width() {
        let t = super::table(
            &["sku", "qty"],
            &[
                vec!["茶叶".into(), "1".into()],
                vec!["A-100".into(), "25".into()],
            ],
        );
        assert_eq!(t, "sku    qty\n茶叶   1\nA-100  25\n");
    }

    #[test]
    fn csv_starts_with_a_bom_and_round_trips_awkward_names() {
        let name = "龙井, \"特级\"\n新茶";
        let out = super::csv_table(&["sku", "name"], &[vec!["TEA-1".into(), name.into()]]);
        assert!(out.starts_with(super::UTF8_BOM));
        let (header, rows) = super::read_csv_table(&out).unwrap();
        assert_eq!(
            (header.join(","), rows),
            (
                "sku,name".into(),
                vec![vec!["TEA-1".to_owned(), name.to_owned()]]
            )
        );
        assert!(super::read_csv_table("sku,name\n").is_err());
    }
}
