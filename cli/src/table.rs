//! Aligned text tables with a header row.

/// `header` and `rows` as lines of columns separated by two spaces, each column as wide as its
/// widest cell (the last column is not padded).
pub(crate) fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
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
    use super::render;

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["orders".to_owned(), "0".to_owned(), "-".to_owned()],
            vec!["o".to_owned(), "10".to_owned(), "12345".to_owned()],
        ];
        assert_eq!(
            render(&["TOPIC", "PARTITION", "LAG"], &rows),
            "TOPIC   PARTITION  LAG\norders  0          -\no       10         12345\n"
        );
    }
}
