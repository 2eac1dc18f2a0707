//! Flattens `config.yaml` into dotted keys, each with the line it was written on.
//!
//! We read YAML as events rather than into a document tree so that every value keeps
//! its position: an error can then name the file, the key and the line.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A value found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlValue {
    Scalar(String),
    /// A sequence of scalars, joined with `,` like the CSV environment variables.
    List(Vec<String>),
    /// A nested structure where a plain value was expected (a mapping inside a list,
    /// an alias); fine for keys herald ignores, an error for keys it reads.
    Complex,
}

/// One `a.b.c: value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlEntry {
    pub key: String,
    pub value: YamlValue,
    pub line: usize,
}

/// Why the file is not usable YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlSyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

enum Frame {
    Map { prefix: String, pending_key: Option<(String, usize)> },
    Seq { key: String, line: usize, items: Vec<String>, complex: bool },
    Skip { depth: usize },
}

#[derive(Default)]
struct Flattener {
    stack: Vec<Frame>,
    entries: Vec<YamlEntry>,
    error: Option<YamlSyntaxError>,
    root_done: bool,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
}

fn is_null(value: &str, style: TScalarStyle) -> bool {
    style == TScalarStyle::Plain && matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

impl Flattener {
    fn fail(&mut self, mark: Marker, message: &str) {
        if self.error.is_none() {
            self.error =
                Some(YamlSyntaxError { line: mark.line(), column: mark.col() + 1, message: message.to_string() });
        }
    }

    /// A nested structure starts (`map` says which kind).
    fn open(&mut self, map: bool, mark: Marker) {
        let Some(top) = self.stack.last_mut() else {
            if self.root_done {
                return;
            }
            if map {
                self.stack.push(Frame::Map { prefix: String::new(), pending_key: None });
            } else {
                self.fail(mark, "the top level must be a mapping of settings (`key: value` lines), not a list");
            }
            return;
        };
        match top {
            Frame::Map { prefix, pending_key } => match pending_key.take() {
                Some((key, line)) => {
                    let full = join(prefix, &key);
                    self.stack.push(if map {
                        Frame::Map { prefix: full, pending_key: None }
                    } else {
                        Frame::Seq { key: full, line, items: Vec::new(), complex: false }
                    });
                }
                None => self.fail(mark, "a key must be plain text, not a mapping or a list"),
            },
            Frame::Seq { complex, .. } => {
                *complex = true;
                self.stack.push(Frame::Skip { depth: 1 });
            }
            Frame::Skip { depth } => *depth += 1,
        }
    }

    fn close(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Skip { depth }) if *depth > 1 => *depth -= 1,
            Some(_) => {
                if let Some(Frame::Seq { key, line, items, complex }) = self.stack.pop() {
                    let value = if complex { YamlValue::Complex } else { YamlValue::List(items) };
                    self.entries.push(YamlEntry { key, value, line });
                }
                if self.stack.is_empty() {
                    self.root_done = true;
                }
            }
            None => {}
        }
    }

    fn scalar(&mut self, value: String, style: TScalarStyle, mark: Marker, alias: bool) {
        let Some(top) = self.stack.last_mut() else {
            if !self.root_done && !is_null(&value, style) {
                self.fail(mark, "the top level must be a mapping of settings (`key: value` lines)");
            }
            return;
        };
        match top {
            Frame::Map { prefix, pending_key } => match pending_key.take() {
                None if alias => self.fail(mark, "a key must be plain text, not an alias"),
                None => *pending_key = Some((value, mark.line())),
                Some((key, line)) => {
                    let key = join(prefix, &key);
                    if alias {
                        self.entries.push(YamlEntry { key, value: YamlValue::Complex, line });
                    } else if !is_null(&value, style) {
                        self.entries.push(YamlEntry { key, value: YamlValue::Scalar(value), line });
                    }
                }
            },
            Frame::Seq { items, complex, .. } => {
                if alias {
                    *complex = true;
                } else if !is_null(&value, style) {
                    items.push(value);
                }
            }
            Frame::Skip { .. } => {}
        }
    }
}

impl MarkedEventReceiver for Flattener {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::MappingStart(..) => self.open(true, mark),
            Event::SequenceStart(..) => self.open(false, mark),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            Event::Scalar(value, style, _, _) => self.scalar(value, style, mark, false),
            Event::Alias(_) => self.scalar(String::new(), TScalarStyle::Plain, mark, true),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

/// Parses YAML text into flat entries, in file order. Only the first document is read.
pub fn flatten(text: &str) -> Result<Vec<YamlEntry>, YamlSyntaxError> {
    let mut flattener = Flattener::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut flattener, false) {
        let mark = e.marker();
        return Err(YamlSyntaxError { line: mark.line(), column: mark.col() + 1, message: e.info().to_string() });
    }
    match flattener.error {
        Some(e) => Err(e),
        None => Ok(flattener.entries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(key: &str, v: &str, line: usize) -> YamlEntry {
        YamlEntry { key: key.into(), value: YamlValue::Scalar(v.into()), line }
    }

    #[test]
    fn nested_keys_keep_their_lines() {
        let text = "# comment\nmodel:\n  default: gpt-4o\n  provider: openai\nagent:\n  max_turns: 12\n";
        assert_eq!(
            flatten(text).unwrap(),
            vec![
                scalar("model.default", "gpt-4o", 3),
                scalar("model.provider", "openai", 4),
                scalar("agent.max_turns", "12", 6)
            ]
        );
    }

    #[test]
    fn lists_nulls_and_complex_values() {
        let text = "a: [1, 2]\nb:\n  - x\n  - y\nc: ~\nd:\ne:\n  - {k: v}\n";
        let entries = flatten(text).unwrap();
        assert_eq!(entries[0].value, YamlValue::List(vec!["1".into(), "2".into()]));
        assert_eq!(
            entries[1],
            YamlEntry { key: "b".into(), value: YamlValue::List(vec!["x".into(), "y".into()]), line: 2 }
        );
        assert_eq!(entries[2].key, "e");
        assert_eq!(entries[2].value, YamlValue::Complex);
        assert_eq!(entries.len(), 3);
    }

    #[test]
    fn quoted_null_is_a_string() {
        assert_eq!(flatten("a: 'null'\n").unwrap(), vec![scalar("a", "null", 1)]);
    }

    #[test]
    fn empty_and_comment_only_files_are_fine() {
        assert!(flatten("").unwrap().is_empty());
        assert!(flatten("# nothing here\n").unwrap().is_empty());
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = flatten("model:\n  default: [unclosed\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        let err = flatten("- a\n- b\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("mapping"));
        assert!(flatten("just text").is_err());
    }
}
