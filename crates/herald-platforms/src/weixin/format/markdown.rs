//! The Markdown WeChat shows badly, rewritten as Hermes did before 2026-04-15 (its
//! `_rewrite_headers_for_weixin` and `_rewrite_table_block_for_weixin`).

use super::heading;

/// `# Title` → `【Title】`, `## Title` … `###### Title` → `**Title**`; any other line
/// unchanged. Only headings at column 0 count, as in Hermes.
pub(super) fn rewrite_heading(line: &str) -> String {
    match heading(line) {
        Some((1, title)) => format!("【{title}】"),
        Some((_, title)) => format!("**{title}**"),
        None => line.to_string(),
    }
}

/// Hermes's `_split_table_row`: outer pipes dropped, cells trimmed.
fn cells(line: &str) -> Vec<&str> {
    let row = line.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row.strip_suffix('|').unwrap_or(row);
    row.split('|').map(str::trim).collect()
}

/// A table (header row, rule, body rows) as bullet rows, one per body row, pairing each
/// non-empty cell with its header (`Column N` when the header cell is empty):
/// - one pair: `- Header: value`
/// - two pairs: `- H1: v1` and an indented `  H2: v2` under it
/// - more: `- H1: v1 | H2: v2 | H3: v3`
///
/// A table without a non-empty body row is left as it was. One departure from Hermes,
/// which dropped cells past the header's width: they are kept, labelled `Column N`, so a
/// ragged row loses no text.
pub(super) fn rewrite_table(lines: &[&str]) -> String {
    let unchanged = || lines.join("\n");
    if lines.len() < 2 {
        return unchanged();
    }
    let headers = cells(lines[0]);
    let mut rows: Vec<String> = Vec::new();
    for line in lines[2..].iter().filter(|l| !l.trim().is_empty()) {
        let row = cells(line);
        let pairs: Vec<(String, &str)> = row
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.is_empty())
            .map(|(idx, value)| {
                let label = match headers.get(idx) {
                    Some(header) if !header.is_empty() => (*header).to_string(),
                    _ => format!("Column {}", idx + 1),
                };
                (label, *value)
            })
            .collect();
        match pairs.as_slice() {
            [] => {}
            [(label, value)] => rows.push(format!("- {label}: {value}")),
            [(l1, v1), (l2, v2)] => {
                rows.push(format!("- {l1}: {v1}"));
                rows.push(format!("  {l2}: {v2}"));
            }
            many => {
                let summary = many.iter().map(|(l, v)| format!("{l}: {v}")).collect::<Vec<_>>().join(" | ");
                rows.push(format!("- {summary}"));
            }
        }
    }
    if rows.is_empty() { unchanged() } else { rows.join("\n") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_by_level() {
        assert_eq!(rewrite_heading("# One"), "【One】");
        assert_eq!(rewrite_heading("## Two"), "**Two**");
        assert_eq!(rewrite_heading("### Three ###"), "**Three ###**");
        assert_eq!(rewrite_heading("plain"), "plain");
        assert_eq!(rewrite_heading("  # indented"), "  # indented");
    }

    #[test]
    fn one_two_and_many_columns() {
        assert_eq!(rewrite_table(&["| Name |", "|---|---|", "| Ann |"]), "- Name: Ann");
        assert_eq!(
            rewrite_table(&["| k | v |", "|---|---|", "| a | 1 |", "| b | 2 |"]),
            "- k: a\n  v: 1\n- k: b\n  v: 2"
        );
        assert_eq!(
            rewrite_table(&["|城市|天气|温度|", "|:--|:-:|--:|", "|北京|晴|25°C|"]),
            "- 城市: 北京 | 天气: 晴 | 温度: 25°C"
        );
    }

    #[test]
    fn empty_cells_and_headers() {
        // An empty value drops the pair; an empty header gets a positional label.
        assert_eq!(rewrite_table(&["| a | b | c |", "|---|---|---|", "| 1 |  | 3 |"]), "- a: 1\n  c: 3");
        assert_eq!(rewrite_table(&["|  | b |", "|---|---|", "| x | y |"]), "- Column 1: x\n  b: y");
        // A row with only empty cells is dropped.
        assert_eq!(rewrite_table(&["| a | b |", "|---|---|", "|  |  |", "| 1 | 2 |"]), "- a: 1\n  b: 2");
    }

    #[test]
    fn ragged_rows() {
        // Extra cells beyond the header are labelled by position; short rows pair what they have.
        assert_eq!(rewrite_table(&["| a | b |", "|---|---|", "| 1 | 2 | 3 |"]), "- a: 1 | b: 2 | Column 3: 3");
        assert_eq!(rewrite_table(&["| a | b | c |", "|---|---|---|", "| 1 |"]), "- a: 1");
        // Rows need not have outer pipes.
        assert_eq!(rewrite_table(&["a | b", "---|---", "1 | 2"]), "- a: 1\n  b: 2");
    }

    #[test]
    fn tables_without_body_stay() {
        assert_eq!(rewrite_table(&["| a | b |", "|---|---|"]), "| a | b |\n|---|---|");
        assert_eq!(rewrite_table(&["| a | b |", "|---|---|", "|  |  |"]), "| a | b |\n|---|---|\n|  |  |");
        assert_eq!(rewrite_table(&["| a |"]), "| a |");
    }
}
