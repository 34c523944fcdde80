//! Command-line flags both binaries take the same way.

use clap::Args;

/// How a listing is printed: an aligned table by default, `--json`, or
/// `--csv` (for Excel: UTF-8 with a BOM).
#[derive(Debug, Clone, Copy, Args)]
pub struct ListFormat {
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV for Excel: UTF-8 with a byte-order mark, quoted where needed.
    #[arg(long)]
    pub csv: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct List {
        #[command(flatten)]
        format: ListFormat,
    }

    #[test]
    fn json_and_csv_are_flags_and_exclude_each_other() {
        let f = List::try_parse_from(["list", "--csv"]).unwrap().format;
        assert!(f.csv && !f.json);
        let f = List::try_parse_from(["list"]).unwrap().format;
        assert!(!f.csv && !f.json);
        assert!(List::try_parse_from(["list", "--json", "--csv"]).is_err());
    }
}
