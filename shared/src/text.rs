//! Plain-text tables for command-line output.

/// Lays out rows under a header in aligned columns (two spaces apart; the
/// last column is not padded). Widths count characters.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
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

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_by_characters() {
        let t = super::table(
            &["sku", "qty"],
            &[
                vec!["茶叶".into(), "1".into()],
                vec!["A-100".into(), "25".into()],
            ],
        );
        assert_eq!(t, "sku    qty\n茶叶     1\nA-100  25\n");
    }
}
