//! Reading and validating a model request the way the real servers do, minimally.
//!
//! Fields are taken as borrowed raw JSON slices, so an unrecorded request (the
//! benchmark path) is validated without building a JSON tree or copying its
//! messages.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::record::Wire;

/// The parts of a valid request that shape the response.
pub(crate) struct RequestView<'a> {
    pub model: Cow<'a, str>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    /// The raw `messages` array, parsed only if the reply is `Echo`.
    pub messages: &'a RawValue,
}

/// Why a request is rejected with 400; each wire words it its own way.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    NotJson(String),
    NotObject,
    Missing(&'static str),
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    EmptyMessages,
    /// OpenAI: `stream_options` without `"stream": true`.
    StreamOptionsWithoutStream,
    /// Anthropic: `max_tokens` below 1.
    MaxTokensTooSmall,
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
    #[serde(borrow)]
    stream: Option<&'a RawValue>,
    #[serde(borrow)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow)]
    max_tokens: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

pub(crate) fn parse(wire: Wire, body: &[u8]) -> Result<RequestView<'_>, Invalid> {
    let fields: Fields<'_> = serde_json::from_slice(body).map_err(|e| {
        let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if e.is_data() && !object {
            // Every field is an optional raw value, so a data error on anything
            // but an object means the document itself is not an object.
            Invalid::NotObject
        } else {
            Invalid::NotJson(e.to_string())
        }
    })?;

    let model = match fields.model {
        None => return Err(Invalid::Missing("model")),
        Some(raw) => string(raw).ok_or(Invalid::WrongType { field: "model", expected: "a string" })?,
    };

    let messages = fields.messages.ok_or(Invalid::Missing("messages"))?;
    let text = messages.get();
    if !text.starts_with('[') {
        return Err(Invalid::WrongType { field: "messages", expected: "an array" });
    }
    // The raw value is already valid JSON, so `[` then `]` means an empty array.
    if text[1..].trim_start().starts_with(']') {
        return Err(Invalid::EmptyMessages);
    }

    let stream = match fields.stream.map(RawValue::get) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(Invalid::WrongType { field: "stream", expected: "a boolean" });
        }
    };

    let mut include_usage = false;
    match wire {
        Wire::OpenAi => {
            if let Some(raw) = fields.stream_options {
                if !stream {
                    return Err(Invalid::StreamOptionsWithoutStream);
                }
                let options: StreamOptions = serde_json::from_str(raw.get()).map_err(|_| Invalid::WrongType {
                    field: "stream_options",
                    expected: "an object with a boolean include_usage",
                })?;
                include_usage = options.include_usage.unwrap_or(false);
            }
        }
        Wire::Anthropic => {
            let raw = fields.max_tokens.ok_or(Invalid::Missing("max_tokens"))?;
            let max_tokens: i64 = serde_json::from_str(raw.get())
                .map_err(|_| Invalid::WrongType { field: "max_tokens", expected: "an integer" })?;
            if max_tokens < 1 {
                return Err(Invalid::MaxTokensTooSmall);
            }
        }
    }

    Ok(RequestView { model, stream, include_usage, messages })
}

/// A JSON string's value, borrowed when it has no escapes.
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw.get()).ok().map(Cow::Owned),
    }
}

/// Whether the body asks for a stream, for recording requests that failed validation.
pub(crate) fn wants_stream(body: &serde_json::Value) -> bool {
    body.get("stream").and_then(serde_json::Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai(body: &str) -> Result<(String, bool, bool), Invalid> {
        parse(Wire::OpenAi, body.as_bytes()).map(|v| (v.model.into_owned(), v.stream, v.include_usage))
    }

    fn anthropic(body: &str) -> Result<(String, bool), Invalid> {
        parse(Wire::Anthropic, body.as_bytes()).map(|v| (v.model.into_owned(), v.stream))
    }

    const MSGS: &str = r#""messages":[{"role":"user","content":"hi"}]"#;

    #[test]
    fn openai_valid() {
        assert_eq!(openai(&format!(r#"{{"model":"gpt-x",{MSGS}}}"#)), Ok(("gpt-x".into(), false, false)));
        assert_eq!(
            openai(&format!(r#"{{"model":"m\u0041",{MSGS},"stream":true,"stream_options":{{"include_usage":true}}}}"#)),
            Ok(("mA".into(), true, true))
        );
        assert_eq!(openai(&format!(r#"{{"model":"m",{MSGS},"stream":null}}"#)), Ok(("m".into(), false, false)));
    }

    #[test]
    fn openai_invalid() {
        assert!(matches!(openai("{"), Err(Invalid::NotJson(_))));
        assert_eq!(openai("[1]"), Err(Invalid::NotObject));
        assert_eq!(openai(&format!("{{{MSGS}}}")), Err(Invalid::Missing("model")));
        assert_eq!(openai(r#"{"model":"m"}"#), Err(Invalid::Missing("messages")));
        assert_eq!(openai(r#"{"model":"m","messages":[ ]}"#), Err(Invalid::EmptyMessages));
        assert!(matches!(
            openai(r#"{"model":"m","messages":"hi"}"#),
            Err(Invalid::WrongType { field: "messages", .. })
        ));
        assert!(matches!(openai(&format!(r#"{{"model":3,{MSGS}}}"#)), Err(Invalid::WrongType { field: "model", .. })));
        assert_eq!(
            openai(&format!(r#"{{"model":"m",{MSGS},"stream_options":{{"include_usage":true}}}}"#)),
            Err(Invalid::StreamOptionsWithoutStream)
        );
        assert!(matches!(
            openai(&format!(r#"{{"model":"m",{MSGS},"stream":"yes"}}"#)),
            Err(Invalid::WrongType { field: "stream", .. })
        ));
    }

    #[test]
    fn anthropic_requires_max_tokens() {
        assert_eq!(
            anthropic(&format!(r#"{{"model":"c",{MSGS},"max_tokens":10,"stream":true}}"#)),
            Ok(("c".into(), true))
        );
        assert_eq!(anthropic(&format!(r#"{{"model":"c",{MSGS}}}"#)), Err(Invalid::Missing("max_tokens")));
        assert_eq!(anthropic(&format!(r#"{{"model":"c",{MSGS},"max_tokens":0}}"#)), Err(Invalid::MaxTokensTooSmall));
        assert!(matches!(
            anthropic(&format!(r#"{{"model":"c",{MSGS},"max_tokens":"10"}}"#)),
            Err(Invalid::WrongType { field: "max_tokens", .. })
        ));
        // stream_options is an OpenAI field; Anthropic ignores it.
        assert!(anthropic(&format!(r#"{{"model":"c",{MSGS},"max_tokens":1,"stream_options":{{}}}}"#)).is_ok());
    }
}
