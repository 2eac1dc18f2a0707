//! Reads a `.env` file: `KEY=value` lines, as python-dotenv and shells write them.

/// A `.env` line herald cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEnvError {
    pub line: usize,
    pub message: String,
}

/// One assignment with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEnvEntry {
    pub name: String,
    pub value: String,
    pub line: usize,
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `.env` text. Accepts `export KEY=value`, `#` comments, single quotes (literal),
/// double quotes (with `\n`, `\t`, `\"`, `\\` escapes) and unquoted values ending at ` #`.
pub fn parse(text: &str) -> Result<Vec<DotEnvEntry>, DotEnvError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed.strip_prefix("export ").map(str::trim_start).unwrap_or(trimmed);
        let Some((name, rest)) = body.split_once('=') else {
            return Err(DotEnvError { line, message: "expected `NAME=value`".into() });
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(DotEnvError {
                line,
                message: format!(
                    "`{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"
                ),
            });
        }
        let value = parse_value(rest.trim_start()).map_err(|message| DotEnvError { line, message })?;
        out.push(DotEnvEntry { name: name.to_string(), value, line });
    }
    Ok(out)
}

fn parse_value(rest: &str) -> Result<String, String> {
    let after_quote = |tail: &str| -> Result<(), String> {
        let tail = tail.trim();
        if tail.is_empty() || tail.starts_with('#') {
            Ok(())
        } else {
            Err(format!("unexpected text `{tail}` after the closing quote"))
        }
    };
    if let Some(inner) = rest.strip_prefix('\'') {
        let end = inner.find('\'').ok_or("the single quote is never closed")?;
        after_quote(&inner[end + 1..])?;
        return Ok(inner[..end].to_string());
    }
    if let Some(inner) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    after_quote(&inner[i + 1..])?;
                    return Ok(value);
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some('r') => value.push('\r'),
                    Some(other) => value.push(other),
                    None => break,
                },
                other => value.push(other),
            }
        }
        return Err("the double quote is never closed".into());
    }
    let value = match rest.find(" #") {
        Some(i) => &rest[..i],
        None => rest,
    };
    Ok(value.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_forms() {
        let text = "# secrets\nA=1\nexport B = two words # comment\nC='lit #$x'\nD=\"a\\nb \\\"q\\\"\"\nE=\n";
        let got: Vec<(String, String)> = parse(text).unwrap().into_iter().map(|e| (e.name, e.value)).collect();
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "lit #$x".into()),
                ("D".into(), "a\nb \"q\"".into()),
                ("E".into(), "".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("A=1\nnot a line\n").unwrap_err().line, 2);
        assert_eq!(parse("1A=x").unwrap_err().line, 1);
        assert!(parse("A='open").unwrap_err().message.contains("never closed"));
        assert!(parse("A=\"x\" y").unwrap_err().message.contains("after the closing quote"));
    }
}
