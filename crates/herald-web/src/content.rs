//! Message content as OpenAI clients send it (a string, or an array of typed parts),
//! flattened to the text herald's turns carry.
//!
//! herald's `Message` is text-only, so image parts are refused with a clear 400 rather
//! than silently dropped: a turn that pretends to have seen a picture is worse than an
//! error the client can show.

use serde_json::Value;

use crate::errors::ApiError;

/// Longest text kept from one message (Hermes: 64 Ki characters).
pub(crate) const MAX_TEXT_CHARS: usize = 65_536;
/// Most parts read from one content array.
pub(crate) const MAX_PARTS: usize = 1_000;
/// Nested arrays deeper than this are ignored (system content only).
const MAX_DEPTH: usize = 10;

const TEXT_PARTS: [&str; 3] = ["text", "input_text", "output_text"];
const IMAGE_PARTS: [&str; 2] = ["image_url", "input_image"];
const FILE_PARTS: [&str; 2] = ["file", "input_file"];

fn cap(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

fn part_type(part: &serde_json::Map<String, Value>) -> (String, String) {
    let raw = match part.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    (raw.trim().to_lowercase(), raw)
}

/// A scalar as Python's `str()` would print it, for lenient fields.
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    }
}

/// Lenient flattening for system messages (Hermes `_normalize_chat_content`): text parts
/// are joined by newlines and everything else is skipped, because a system prompt with an
/// image part is a client quirk, not a reason to fail the turn.
pub(crate) fn flatten_text(content: &Value) -> String {
    flatten_at(content, 0)
}

fn flatten_at(content: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return String::new();
    }
    match content {
        Value::Null => String::new(),
        Value::String(s) => cap(s),
        Value::Array(items) => {
            let mut parts: Vec<String> = Vec::new();
            let mut total = 0;
            for item in items.iter().take(MAX_PARTS) {
                let text = match item {
                    Value::String(s) => cap(s),
                    Value::Object(part) if TEXT_PARTS.contains(&part_type(part).0.as_str()) => {
                        part.get("text").map(|t| cap(&scalar_text(t))).unwrap_or_default()
                    }
                    Value::Array(_) => flatten_at(item, depth + 1),
                    _ => String::new(),
                };
                if !text.is_empty() {
                    total += text.chars().count();
                    parts.push(text);
                }
                if total >= MAX_TEXT_CHARS {
                    break;
                }
            }
            cap(&parts.join("\n"))
        }
        other => cap(&scalar_text(other)),
    }
}

/// Strict normalisation for user and assistant content (Hermes
/// `_normalize_multimodal_content`, text-only): text parts are joined by newlines; image,
/// file and unknown parts are a 400 naming `param`.
pub(crate) fn normalize_content(content: &Value, param: &str) -> Result<String, ApiError> {
    let items: Vec<&Value> = match content {
        Value::Null => return Ok(String::new()),
        Value::String(s) => return Ok(cap(s)),
        Value::Array(items) => items.iter().take(MAX_PARTS).collect(),
        // One part not wrapped in an array: read it as the array it meant to be.
        Value::Object(_) => vec![content],
        other => return Ok(cap(&scalar_text(other))),
    };
    let mut parts: Vec<String> = Vec::new();
    for item in items {
        let part = match item {
            Value::String(s) => {
                if !s.is_empty() {
                    parts.push(cap(s));
                }
                continue;
            }
            Value::Object(part) => part,
            // Unknown scalars are skipped for forward compatibility, as Hermes does.
            _ => continue,
        };
        let (kind, raw) = part_type(part);
        if TEXT_PARTS.contains(&kind.as_str()) {
            if let Some(text) = part.get("text").filter(|t| !t.is_null()) {
                let text = scalar_text(text);
                if !text.is_empty() {
                    parts.push(cap(&text));
                }
            }
        } else if IMAGE_PARTS.contains(&kind.as_str()) {
            return Err(unsupported(
                "Image inputs are not supported by this server: herald's turns carry text only. \
                 Send the message without image parts.",
                param,
            ));
        } else if FILE_PARTS.contains(&kind.as_str()) {
            return Err(unsupported("Uploaded files and document inputs are not supported on this endpoint.", param));
        } else {
            return Err(unsupported(
                &format!("Unsupported content part type '{raw}'. Only text parts are supported."),
                param,
            ));
        }
    }
    Ok(cap(&parts.join("\n")))
}

fn unsupported(message: &str, param: &str) -> ApiError {
    ApiError::bad_request(message).code("unsupported_content_type").param(param)
}

/// Whether a turn would have something to say (Hermes `_content_has_visible_payload`).
pub(crate) fn has_visible_text(text: &str) -> bool {
    !text.trim().is_empty()
}

/// Boolean-ish request flags: clients send `true`, `"true"`, `"1"`, `1`. Anything else
/// means the default, because Python truthiness would read `"false"` as true.
pub(crate) fn coerce_bool(value: Option<&Value>, default: bool) -> bool {
    match value {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => match s.trim().to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => default,
        },
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(_) => default,
    }
}

/// Python truthiness, for the places Hermes writes `if body.get(x):`.
pub(crate) fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_parts_of_every_spelling_are_joined() {
        let content = json!([
            {"type": "text", "text": "a"},
            {"type": "input_text", "text": "b"},
            {"type": "OUTPUT_TEXT", "text": "c"},
            "d",
            {"type": "text", "text": null},
            7
        ]);
        assert_eq!(normalize_content(&content, "p").unwrap(), "a\nb\nc\nd");
        assert_eq!(normalize_content(&json!(null), "p").unwrap(), "");
        assert_eq!(normalize_content(&json!(12), "p").unwrap(), "12");
        assert_eq!(normalize_content(&json!({"type": "text", "text": "solo"}), "p").unwrap(), "solo");
    }

    #[test]
    fn images_files_and_unknown_parts_are_refused() {
        for part in [
            json!({"type": "image_url", "image_url": {"url": "https://x/y.png"}}),
            json!({"type": "input_image", "image_url": "data:image/png;base64,AA"}),
            json!({"type": "file", "file_id": "f"}),
            json!({"type": "input_file"}),
            json!({"type": "audio"}),
        ] {
            let err = normalize_content(&json!([part]), "messages[0].content").unwrap_err();
            assert_eq!(err.code, Some("unsupported_content_type"));
            assert_eq!(err.param.as_deref(), Some("messages[0].content"));
        }
    }

    #[test]
    fn system_content_is_flattened_leniently() {
        let content = json!([{"type": "text", "text": "x"}, {"type": "image_url"}, [["y"]], 3]);
        assert_eq!(flatten_text(&content), "x\ny");
        assert_eq!(flatten_text(&json!(3)), "3");
    }

    #[test]
    fn text_is_capped_by_characters() {
        let long = "é".repeat(MAX_TEXT_CHARS + 10);
        assert_eq!(normalize_content(&json!(long), "p").unwrap().chars().count(), MAX_TEXT_CHARS);
        let parts: Vec<Value> = (0..5).map(|_| json!("x".repeat(30_000))).collect();
        assert_eq!(normalize_content(&Value::Array(parts), "p").unwrap().chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn booleans_are_coerced_like_hermes() {
        assert!(coerce_bool(Some(&json!("true")), false));
        assert!(coerce_bool(Some(&json!(" On ")), false));
        assert!(!coerce_bool(Some(&json!("false")), true));
        assert!(coerce_bool(Some(&json!("maybe")), true));
        assert!(coerce_bool(Some(&json!(1)), false));
        assert!(!coerce_bool(Some(&json!(0)), true));
        assert!(!coerce_bool(None, false));
        assert!(coerce_bool(Some(&json!([])), true));
    }
}
