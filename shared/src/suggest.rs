//! "Did you mean …?": the nearest of a set of known names to one typed.

/// Edit distance (insertions, deletions, substitutions and swaps of two
/// neighbours: optimal string alignment) between two strings, by
/// characters, so a Chinese name counts one per character.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The known name nearest to `typed`, if one is near enough to be a typo:
/// at most a third of its length away (at least 1, at most 3 edits), ignoring
/// ASCII case. Ties go to the first in `known`.
pub fn nearest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed_l = typed.to_lowercase();
    let limit = (typed.chars().count() / 3).clamp(1, 3);
    known
        .into_iter()
        .map(|k| (edit_distance(&typed_l, &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `; did you mean X?` when a near name exists, else nothing: for the end
/// of a refusal.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    nearest(typed, known)
        .map(|k| format!("; did you mean {k}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name_and_strangers_find_none() {
        assert_eq!(edit_distance("mian", "main"), 1);
        assert_eq!(edit_distance("龙井", "龙井茶"), 1);
        assert_eq!(nearest("mian", ["store", "main"]), Some("main"));
        assert_eq!(
            nearest("TEA-LJ-1", ["TEA-LJ-01", "TEA-BL-02"]),
            Some("TEA-LJ-01")
        );
        assert_eq!(nearest("SH02", ["SH01", "BJ01"]), Some("SH01"));
        assert_eq!(
            nearest("dealers", ["dealer", "branch", "hq"]),
            Some("dealer")
        );
        assert_eq!(nearest("warehouse", ["main", "store"]), None);
        assert_eq!(did_you_mean("x", Vec::<&str>::new()), "");
    }
}
