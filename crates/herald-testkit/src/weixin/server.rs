//! Routing: `/ilink/bot/...` (the bot API and the QR login), `/c2c/...` (the CDN),
//! `/_control/...`; recording every non-control request and applying injected faults.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::checks::{self, Refusal};
use super::state::Shared;
use super::types::{Call, Fault};
use super::{bot, control, login, media};

/// Room for a large upload (TW caps media at 100 MiB) plus padding.
const BODY_LIMIT: usize = 101 * 1024 * 1024;

/// Which listener a request came in on.
pub type Listener = &'static str;

pub fn router(shared: Arc<Shared>, listener: Listener) -> Router {
    Router::new().fallback(route).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state((shared, listener))
}

/// An answer, with what the call record needs to know about it.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: &'static str,
    pub body: Bytes,
    pub ret: Option<i64>,
    pub violation: Option<String>,
}

impl Reply {
    pub fn json(value: &Value) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            content_type: "application/json",
            body: Bytes::from(value.to_string()),
            ret: value.get("ret").and_then(Value::as_i64),
            violation: None,
        }
    }

    /// `ret` (and `errcode`) with `errmsg`, HTTP 200, as iLink reports errors.
    pub fn ret(ret: i64, errmsg: &str) -> Reply {
        Reply::json(&json!({"ret": ret, "errmsg": errmsg}))
    }

    pub fn stale() -> Reply {
        Reply::json(&json!({"ret": -14, "errcode": -14, "errmsg": "session timeout"}))
    }

    /// A malformed request: HTTP 400 saying what is wrong.
    pub fn violation(why: impl Into<String>) -> Reply {
        let why = why.into();
        let mut r = Reply::json(&json!({"ret": -1, "errmsg": format!("fake iLink: {why}")}));
        r.status = 400;
        r.violation = Some(why);
        r
    }

    pub fn refusal(r: Refusal) -> Reply {
        match r {
            Refusal::Violation(why) => Reply::violation(why),
            Refusal::Stale => Reply::stale(),
        }
    }

    pub fn status(status: u16, text: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(text.to_string()),
            ret: None,
            violation: None,
        }
    }

    pub fn bytes(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            content_type: "application/octet-stream",
            body: Bytes::from(body),
            ret: None,
            violation: None,
        }
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, [(header::CONTENT_TYPE, self.content_type)], Body::from(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = value.parse() {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

/// One request, read whole.
pub struct Ctx {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    pub listener: Listener,
}

impl Ctx {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    let Some(raw) = raw else { return Vec::new() };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space), lossy on bad UTF-8.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() => {
                let hex = [bytes[i + 1], bytes[i + 2]];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap_or("00"), 16).unwrap_or(0));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The endpoint a path names, `None` when unknown.
fn endpoint(path: &str) -> Option<&'static str> {
    Some(match path {
        "/ilink/bot/getupdates" => "getupdates",
        "/ilink/bot/sendmessage" => "sendmessage",
        "/ilink/bot/getuploadurl" => "getuploadurl",
        "/ilink/bot/getconfig" => "getconfig",
        "/ilink/bot/sendtyping" => "sendtyping",
        "/ilink/bot/msg/notifystart" => "notifystart",
        "/ilink/bot/msg/notifystop" => "notifystop",
        "/ilink/bot/get_bot_qrcode" => "get_bot_qrcode",
        "/ilink/bot/get_qrcode_status" => "get_qrcode_status",
        "/c2c/upload" => "cdn_upload",
        "/c2c/download" => "cdn_download",
        _ => return None,
    })
}

/// The endpoints that are authenticated JSON POSTs.
pub fn is_bot_post(endpoint: &str) -> bool {
    matches!(
        endpoint,
        "getupdates" | "sendmessage" | "getuploadurl" | "getconfig" | "sendtyping" | "notifystart" | "notifystop"
    )
}

async fn route(AxState((shared, listener)): AxState<(Arc<Shared>, Listener)>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/_control/") {
        return control::handle(&shared, rest, req).await;
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let query = parse_query(req.uri().query());
    let body = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(_) => return Reply::status(413, "fake iLink: the body could not be read").into_response(),
    };
    let ctx = Ctx { method, headers, query, body, listener };
    let Some(ep) = endpoint(&path) else {
        let reply = Reply::status(404, "Not Found");
        record(&shared, &path, &ctx, &reply);
        return reply.into_response();
    };
    let reply = dispatch(&shared, ep, &ctx).await;
    record(&shared, ep, &ctx, &reply);
    reply.into_response()
}

async fn dispatch(shared: &Shared, ep: &'static str, ctx: &Ctx) -> Reply {
    let checked = if is_bot_post(ep) {
        if ctx.method != Method::POST {
            return Reply::violation(format!("{ep} takes POST, not {}", ctx.method));
        }
        let headers = shared.update(|s| checks::post_headers(&ctx.headers, &shared.id, s));
        match headers.and_then(|()| checks::post_body(&ctx.body)) {
            Ok(body) => Some(body),
            Err(r) => return Reply::refusal(r),
        }
    } else {
        None
    };
    // Faults come after the checks: a malformed request is a bug whatever the server's mood.
    loop {
        match shared.update(|s| s.take_fault(ep)) {
            None => break,
            Some(Fault::Delay { ms }) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    () = shared.stop.cancelled() => return Reply::status(503, "fake iLink: stopped"),
                }
            }
            Some(Fault::Ret { ret, errcode, errmsg }) => {
                let mut v = json!({"ret": ret, "errmsg": errmsg});
                if let Some(code) = errcode {
                    v["errcode"] = json!(code);
                }
                return Reply::json(&v);
            }
            Some(Fault::Http { status, body }) => return Reply::status(status, &body),
            Some(Fault::EmptyBody) => return Reply::status(200, ""),
        }
    }
    match (ep, checked) {
        ("getupdates", Some(body)) => bot::get_updates(shared, &body).await,
        ("sendmessage", Some(body)) => shared.update(|s| bot::send_message(shared, s, &body)),
        ("getconfig", Some(body)) => shared.update(|s| bot::get_config(s, &body)),
        ("sendtyping", Some(body)) => shared.update(|s| bot::send_typing(s, &body)),
        ("notifystart", Some(_)) => shared.update(|s| bot::notify(s, true)),
        ("notifystop", Some(_)) => shared.update(|s| bot::notify(s, false)),
        ("getuploadurl", Some(body)) => shared.update(|s| media::get_upload_url(shared, s, &body)),
        ("get_bot_qrcode", _) => login::get_bot_qrcode(shared, ctx),
        ("get_qrcode_status", _) => login::get_qrcode_status(shared, ctx),
        ("cdn_upload", _) => media::cdn_upload(shared, ctx),
        ("cdn_download", _) => media::cdn_download(shared, ctx),
        _ => Reply::status(404, "Not Found"),
    }
}

fn record(shared: &Shared, endpoint: &str, ctx: &Ctx, reply: &Reply) {
    let body = if endpoint.starts_with("cdn_") {
        Value::Null
    } else {
        serde_json::from_slice(&ctx.body).unwrap_or(Value::Null)
    };
    if let Some(why) = &reply.violation {
        tracing::warn!(endpoint, %why, "fake iLink refused a malformed request");
    }
    shared.update(|s| {
        s.record(Call {
            seq: 0,
            endpoint: endpoint.to_string(),
            listener: ctx.listener.to_string(),
            method: ctx.method.to_string(),
            status: reply.status,
            ret: reply.ret,
            violation: reply.violation.clone(),
            body,
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_form_decoded() {
        let q = parse_query(Some("encrypted_query_param=a%2Bb%3D%3D&filekey=ab+c&x&bad=%zz%4"));
        assert_eq!(q[0], ("encrypted_query_param".into(), "a+b==".into()));
        assert_eq!(q[1], ("filekey".into(), "ab c".into()));
        assert_eq!(q[2], ("x".into(), String::new()));
        assert_eq!(q[3], ("bad".into(), "%zz%4".into()));
    }
}
