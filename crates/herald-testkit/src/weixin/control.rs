//! The HTTP control interface, for tests that drive the real `herald` binary from
//! another process ([`super::client::WeixinControl`] is its typed client). Answers are
//! plain JSON (not the iLink envelope); errors are `{"error": "..."}` with 400 or 404.
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `GET /_control/info` | | [`Info`] |
//! | `GET /_control/config` | | [`Config`](super::Config) |
//! | `POST /_control/config` | a [`ConfigPatch`] | the new `Config` |
//! | `POST /_control/inbound` | an [`InboundMessage`](super::InboundMessage) | [`Injected`](super::Injected) |
//! | `POST /_control/inbound/text` | `{"from", "text"}` | `Injected` |
//! | `POST /_control/inbound/raw` | a raw `WeixinMessage` (`seq`, `message_id`, `context_token` added when missing) | `Injected` |
//! | `GET /_control/sent[?to=&min=&wait_ms=]` | | the bot's [`SentMessage`](super::SentMessage)s (to one peer), waiting up to `wait_ms` for at least `min` |
//! | `GET /_control/typing[?user=]` | | [`TypingEvent`](super::TypingEvent)s |
//! | `GET /_control/uploads` | | [`Upload`](super::Upload)s (`plain` in base64) |
//! | `GET /_control/media?encrypt_query_param=` | | the decrypted bytes the bot uploaded there (`application/octet-stream`) |
//! | `POST /_control/qr/script` | `[QrStep, ...]` | `{}`; the next QR issued follows it (queued) |
//! | `POST /_control/qr/<qrcode>/script` | `[QrStep, ...]` | `{}`; replaces that QR's remaining steps |
//! | `GET /_control/qr` | | every [`QrLogin`](super::QrLogin) |
//! | `POST /_control/faults` | `{"endpoint", "count", "fault": Fault}` | `{}` |
//! | `DELETE /_control/faults` | | `{}`; forgets every pending fault |
//! | `POST /_control/throttle` | `{"user", "on"}` | `{}`; sends to `user` answer `-2` while on |
//! | `GET /_control/calls[?endpoint=]` | | every [`Call`](super::Call) |
//! | `GET /_control/violations` | | the calls refused as malformed |
//! | `GET /_control/counts` | | `{"<endpoint>": n}` requests per endpoint |
//! | `GET /_control/status` | | `{"waiting_polls", "inbox", "notify_started"}` |

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{FromRequest, Query, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::inject;
use super::state::Shared;
use super::types::{ConfigPatch, Fault, InboundMessage, Info, QrStep};

/// The longest a `GET /_control/sent` waits.
const MAX_WAIT: Duration = Duration::from_secs(120);

fn error(status: u16, message: impl Into<String>) -> Response {
    json(status, &json!({"error": message.into()}))
}

fn json(status: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn ok(value: impl serde::Serialize) -> Response {
    json(200, &serde_json::to_value(value).unwrap_or(Value::Null))
}

#[derive(Deserialize)]
struct TextBody {
    from: String,
    text: String,
}

#[derive(Deserialize)]
struct FaultBody {
    endpoint: String,
    #[serde(default = "one")]
    count: usize,
    fault: Fault,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
struct ThrottleBody {
    user: String,
    #[serde(default = "yes")]
    on: bool,
}

fn yes() -> bool {
    true
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(error(400, format!("invalid JSON body: {e}"))))
}

/// The endpoint names faults can name.
pub const ENDPOINTS: [&str; 11] = [
    "getupdates",
    "sendmessage",
    "getuploadurl",
    "getconfig",
    "sendtyping",
    "notifystart",
    "notifystop",
    "get_bot_qrcode",
    "get_qrcode_status",
    "cdn_upload",
    "cdn_download",
];

pub fn info(shared: &Shared) -> Info {
    Info {
        base_url: shared.id.base_url.clone(),
        cdn_base_url: shared.cdn_base_url(),
        redirect_host: shared.id.redirect_host.clone(),
        token: shared.id.token.clone(),
        bot_id: shared.id.bot_id.clone(),
        owner_user_id: shared.id.owner_user_id.clone(),
        route_tag: shared.id.route_tag.clone(),
    }
}

pub async fn handle(shared: &Shared, rest: &str, req: Request) -> Response {
    let method = req.method().clone();
    let query: HashMap<String, String> = Query::try_from_uri(req.uri()).map(|Query(q)| q).unwrap_or_default();
    let body = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(_) => return error(400, "cannot read the body"),
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let result = match (method.as_str(), segments.as_slice()) {
        ("GET", ["info"]) => Ok(ok(info(shared))),
        ("GET", ["config"]) => Ok(ok(shared.lock().config.clone())),
        ("POST", ["config"]) => parse::<ConfigPatch>(&body).map(|p| {
            ok(shared.update(|s| {
                p.apply(&mut s.config);
                s.config.clone()
            }))
        }),
        ("POST", ["inbound"]) => parse::<InboundMessage>(&body).map(|m| injected(shared, &m)),
        ("POST", ["inbound", "text"]) => {
            parse::<TextBody>(&body).map(|t| injected(shared, &InboundMessage::text(t.from, t.text)))
        }
        ("POST", ["inbound", "raw"]) => {
            parse::<Value>(&body).map(|v| match shared.update(|s| inject::push_raw(s, v)) {
                Ok(i) => ok(i),
                Err(e) => error(400, e),
            })
        }
        ("GET", ["sent"]) => Ok(sent(shared, &query).await),
        ("GET", ["typing"]) => {
            let s = shared.lock();
            let events: Vec<_> =
                s.typing.iter().filter(|t| query.get("user").is_none_or(|u| *u == t.ilink_user_id)).cloned().collect();
            Ok(ok(events))
        }
        ("GET", ["uploads"]) => Ok(ok(shared.lock().uploads.clone())),
        ("GET", ["media"]) => Ok(match query.get("encrypt_query_param") {
            None => error(400, "encrypt_query_param is required"),
            Some(p) => {
                let s = shared.lock();
                match s.uploads.iter().find(|u| u.encrypt_query_param.as_deref() == Some(p.as_str())) {
                    Some(u) => {
                        let bytes = u.plain.clone().unwrap_or_default();
                        (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
                    }
                    None => error(404, "the bot uploaded nothing with this encrypt_query_param"),
                }
            }
        }),
        ("POST", ["qr", "script"]) => parse::<Vec<QrStep>>(&body).map(|steps| {
            if steps.is_empty() {
                return error(400, "a script has at least one step");
            }
            shared.update(|s| s.qr_scripts.push_back(steps));
            ok(json!({}))
        }),
        ("POST", ["qr", qrcode, "script"]) => parse::<Vec<QrStep>>(&body).map(|steps| {
            if steps.is_empty() {
                return error(400, "a script has at least one step");
            }
            let found = shared.update(|s| s.qrs.get_mut(*qrcode).map(|qr| qr.steps = steps).is_some());
            if found { ok(json!({})) } else { error(404, "no such QR code") }
        }),
        ("GET", ["qr"]) => Ok(ok(shared.lock().qrs.values().cloned().collect::<Vec<_>>())),
        ("POST", ["faults"]) => parse::<FaultBody>(&body).map(|f| {
            if !ENDPOINTS.contains(&f.endpoint.as_str()) {
                return error(400, format!("unknown endpoint {:?}; one of {ENDPOINTS:?}", f.endpoint));
            }
            shared.update(|s| s.faults.entry(f.endpoint).or_default().extend(std::iter::repeat_n(f.fault, f.count)));
            ok(json!({}))
        }),
        ("DELETE", ["faults"]) => {
            shared.update(|s| s.faults.clear());
            Ok(ok(json!({})))
        }
        ("POST", ["throttle"]) => parse::<ThrottleBody>(&body).map(|t| {
            shared.update(|s| {
                if t.on {
                    s.throttled.insert(t.user);
                } else {
                    s.throttled.remove(&t.user);
                }
            });
            ok(json!({}))
        }),
        ("GET", ["calls"]) => {
            let s = shared.lock();
            let calls: Vec<_> =
                s.calls.iter().filter(|c| query.get("endpoint").is_none_or(|e| *e == c.endpoint)).cloned().collect();
            Ok(ok(calls))
        }
        ("GET", ["violations"]) => {
            let s = shared.lock();
            Ok(ok(s.calls.iter().filter(|c| c.violation.is_some()).cloned().collect::<Vec<_>>()))
        }
        ("GET", ["counts"]) => Ok(ok(shared.lock().counts.clone())),
        ("GET", ["status"]) => {
            let s = shared.lock();
            Ok(ok(
                json!({"waiting_polls": s.waiting_polls, "inbox": s.inbox.len(), "notify_started": s.notify_started}),
            ))
        }
        _ => Ok(error(404, "unknown control route")),
    };
    result.unwrap_or_else(|e| *e)
}

fn injected(shared: &Shared, m: &InboundMessage) -> Response {
    match shared.update(|s| inject::push(shared, s, m)) {
        Ok(i) => ok(i),
        Err(e) => error(400, e),
    }
}

async fn sent(shared: &Shared, query: &HashMap<String, String>) -> Response {
    let to = query.get("to");
    let min: usize = query.get("min").and_then(|m| m.parse().ok()).unwrap_or(0);
    let wait = Duration::from_millis(query.get("wait_ms").and_then(|m| m.parse().ok()).unwrap_or(0)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let list: Vec<_> =
            shared.lock().sent.iter().filter(|m| to.is_none_or(|t| *t == m.to_user_id)).cloned().collect();
        if list.len() >= min || tokio::time::Instant::now() >= deadline {
            return ok(list);
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.stop.cancelled() => return ok(list),
        }
    }
}
