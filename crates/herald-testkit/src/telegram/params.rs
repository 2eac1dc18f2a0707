//! Method parameters in every encoding the Bot API accepts (query string,
//! `application/x-www-form-urlencoded`, `application/json`, `multipart/form-data`), read
//! into one map, and the error envelope.
//!
//! Outside JSON every value is a string, and structured ones (`reply_parameters`,
//! `allowed_updates`, `commands`) are JSON inside that string, as on Telegram.

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Query, Request};
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// An error answer: `{"ok":false,"error_code":N,"description":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErr {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u64>,
}

impl ApiErr {
    pub fn new(code: u16, description: impl Into<String>) -> ApiErr {
        ApiErr { code, description: description.into(), retry_after: None }
    }

    /// `400 Bad Request: <what>`.
    pub fn bad(what: impl std::fmt::Display) -> ApiErr {
        ApiErr::new(400, format!("Bad Request: {what}"))
    }

    pub fn too_many(retry_after: u64) -> ApiErr {
        ApiErr {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }

    pub fn envelope(&self) -> Value {
        let mut v = json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(r) = self.retry_after {
            v["parameters"] = json!({"retry_after": r});
        }
        v
    }
}

/// An uploaded file of a multipart request.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// The parameters of one call.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pub fields: Map<String, Value>,
    pub files: HashMap<String, Upload>,
}

impl Params {
    /// Reads the query string and the body of `req`. `Err` is Telegram's answer to a
    /// body it cannot read.
    pub async fn read(req: Request) -> Result<Params, ApiErr> {
        let mut params = Params::default();
        if let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
            for (k, v) in pairs {
                params.fields.insert(k, Value::String(v));
            }
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_default();
        if content_type.starts_with("application/json") {
            let body = Bytes::from_request(req, &()).await.map_err(|_| ApiErr::bad("can't read the request body"))?;
            if !body.iter().all(u8::is_ascii_whitespace) {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(map)) => params.fields.extend(map),
                    // Telegram's answer to a JSON body that is not an object.
                    _ => return Err(ApiErr::bad("can't parse JSON object")),
                }
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, &())
                .await
                .map_err(|_| ApiErr::bad("can't parse the form body"))?;
            for (k, v) in pairs {
                params.fields.insert(k, Value::String(v));
            }
        } else if content_type.starts_with("multipart/form-data") {
            let mut multipart =
                Multipart::from_request(req, &()).await.map_err(|_| ApiErr::bad("can't parse multipart body"))?;
            loop {
                let field = match multipart.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(_) => return Err(ApiErr::bad("can't parse multipart body")),
                };
                let Some(name) = field.name().map(str::to_string) else { continue };
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                let bytes = field.bytes().await.map_err(|_| ApiErr::bad("can't parse multipart body"))?;
                if file_name.is_some() {
                    params.files.insert(name, Upload { file_name, content_type, bytes });
                } else {
                    let text = String::from_utf8(bytes.to_vec())
                        .map_err(|_| ApiErr::bad("strings must be encoded in UTF-8"))?;
                    params.fields.insert(name, Value::String(text));
                }
            }
        }
        Ok(params)
    }

    /// The parameters for the call history: files become their name and size.
    pub fn to_record(&self) -> Value {
        let mut m = self.fields.clone();
        for (k, f) in &self.files {
            m.insert(k.clone(), json!({"file_name": f.file_name, "size": f.bytes.len()}));
        }
        Value::Object(m)
    }

    fn raw(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    /// A string parameter (numbers and booleans as their text).
    pub fn str(&self, name: &str) -> Option<String> {
        match self.raw(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// An integer parameter; a value that is not one is refused with Telegram's text.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiErr> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                n.as_i64().map(Some).ok_or_else(|| ApiErr::bad(format!("invalid {name} specified")))
            }
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                s.trim().parse::<i64>().map(Some).map_err(|_| ApiErr::bad(format!("invalid {name} specified")))
            }
            Some(_) => Err(ApiErr::bad(format!("invalid {name} specified"))),
        }
    }

    /// A boolean parameter (`true`/`false`, also as strings and 0/1).
    pub fn bool(&self, name: &str) -> bool {
        match self.raw(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1"),
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        }
    }

    /// A structured parameter, given as JSON or as a JSON-serialised string.
    pub fn json(&self, name: &str, what: &str) -> Result<Option<Value>, ApiErr> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                serde_json::from_str(s).map(Some).map_err(|_| ApiErr::bad(format!("can't parse {what} JSON object")))
            }
            Some(v) => Ok(Some(v.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(fields: Value) -> Params {
        let Value::Object(fields) = fields else { panic!() };
        Params { fields, files: HashMap::new() }
    }

    #[test]
    fn values_read_from_json_and_from_strings() {
        let p = params(json!({"a": 5, "b": "7", "c": "x", "d": "[1,2]", "e": [3], "f": "true", "g": ""}));
        assert_eq!(p.int("a").unwrap(), Some(5));
        assert_eq!(p.int("b").unwrap(), Some(7));
        assert_eq!(p.int("c").unwrap_err().description, "Bad Request: invalid c specified");
        assert_eq!(p.int("g").unwrap(), None);
        assert_eq!(p.json("d", "d").unwrap(), Some(json!([1, 2])));
        assert_eq!(p.json("e", "e").unwrap(), Some(json!([3])));
        assert!(p.json("c", "reply parameters").is_err());
        assert!(p.bool("f"));
        assert!(!p.bool("zz"));
        assert_eq!(p.str("a").as_deref(), Some("5"));
    }

    #[test]
    fn error_envelopes_match_telegram() {
        assert_eq!(
            ApiErr::too_many(3).envelope(),
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3",
                   "parameters": {"retry_after": 3}})
        );
        assert_eq!(
            ApiErr::bad("message text is empty").envelope(),
            json!({"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"})
        );
    }
}
