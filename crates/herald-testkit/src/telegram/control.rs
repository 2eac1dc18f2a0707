//! The HTTP control interface, for tests that drive the real `herald` binary from
//! another process. Answers are plain JSON (not the Bot API envelope); errors are
//! `{"error": "..."}` with status 400 or 404.
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `GET /_control/info` | | `{"token", "bot"}` |
//! | `POST /_control/updates` | a raw `Update` (`update_id` optional) | `{"update_id"}` |
//! | `POST /_control/message` | an [`IncomingMessage`] | [`Injected`](super::Injected) |
//! | `POST /_control/private_text` | `{"user": TgUser, "text"}` | `Injected` |
//! | `POST /_control/group_text` | `{"chat_id", "title", "user", "text"}` | `Injected` |
//! | `POST /_control/files?file_name=&mime_type=&kind=photo\|document\|voice` | the file's bytes | [`FileInfo`](super::FileInfo) |
//! | `GET /_control/chats/<id>/messages` | | the bot's [`ChatMessage`](super::ChatMessage)s |
//! | `GET /_control/chats/<id>/drafts` | | [`Draft`](super::Draft)s |
//! | `GET /_control/chats/<id>/actions` | | `["typing", ...]` |
//! | `GET /_control/calls[?method=sendMessage]` | | every [`Call`](super::Call) |
//! | `GET /_control/pending_updates` | | `{"count"}` unconfirmed updates |
//! | `GET /_control/stats` | | `{"bot_messages", "calls", "pending_updates"}` counters |
//! | `POST /_control/rate_limit` | `{"max_calls", "window_ms"}` or `null` | `{}` |
//! | `POST /_control/faults` | `{"method", "count", "fault": Fault}` | `{}` |
//! | `GET /_control/webhook` | | the webhook or `null` |

use axum::extract::{FromRequest, Query, Request};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::inject;
use super::server::json_response;
use super::state::Shared;
use super::types::{ChatInfo, Fault, IncomingMessage, RateLimit, TgUser};

fn error(status: u16, message: impl Into<String>) -> Response {
    json_response(status, &json!({"error": message.into()}))
}

fn ok(value: impl serde::Serialize) -> Response {
    json_response(200, &serde_json::to_value(value).unwrap_or(Value::Null))
}

#[derive(Deserialize)]
struct PrivateText {
    user: TgUser,
    text: String,
}

#[derive(Deserialize)]
struct GroupText {
    chat_id: i64,
    #[serde(default)]
    title: Option<String>,
    user: TgUser,
    text: String,
}

#[derive(Deserialize)]
struct FaultRequest {
    method: String,
    #[serde(default = "one")]
    count: usize,
    fault: Fault,
}

fn one() -> usize {
    1
}

#[derive(Deserialize, Default)]
struct FileQuery {
    file_name: Option<String>,
    mime_type: Option<String>,
    kind: Option<String>,
    method: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(error(400, format!("invalid JSON body: {e}"))))
}

pub async fn handle(shared: &Shared, rest: &str, req: Request) -> Response {
    let method = req.method().clone();
    let query: FileQuery = Query::try_from_uri(req.uri()).map(|Query(q)| q).unwrap_or_default();
    let body = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(_) => return error(400, "cannot read the body"),
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let result = match (method.as_str(), segments.as_slice()) {
        ("GET", ["info"]) => Ok(ok(json!({"token": shared.token, "bot": shared.bot_json()}))),
        ("POST", ["updates"]) => parse::<Value>(&body).map(|update| {
            if !update.is_object() {
                return error(400, "an update is a JSON object");
            }
            let id = shared.update(|s| s.push_update(update));
            ok(json!({"update_id": id}))
        }),
        ("POST", ["message"]) => parse::<IncomingMessage>(&body).map(|m| inject_message(shared, &m)),
        ("POST", ["private_text"]) => parse::<PrivateText>(&body)
            .map(|p| inject_message(shared, &IncomingMessage::text(ChatInfo::private(&p.user), &p.user, p.text))),
        ("POST", ["group_text"]) => parse::<GroupText>(&body).map(|g| {
            let chat = ChatInfo::group(g.chat_id, g.title.unwrap_or_else(|| "Group".into()));
            inject_message(shared, &IncomingMessage::text(chat, &g.user, g.text))
        }),
        ("POST", ["files"]) => {
            let dir = match query.kind.as_deref() {
                Some("photo") => "photos",
                Some("voice") => "voice",
                _ => "documents",
            };
            if body.is_empty() {
                Ok(error(400, "a file must have content"))
            } else {
                Ok(ok(shared.update(|s| s.add_file(body.clone(), query.file_name, query.mime_type, dir))))
            }
        }
        ("GET", ["chats", id, what]) => match id.parse::<i64>() {
            Err(_) => Ok(error(400, "a chat id is an integer")),
            Ok(id) => {
                let s = shared.lock();
                match *what {
                    "messages" => Ok(ok(s.bot_messages(id))),
                    "drafts" => Ok(ok(s.chats.get(&id).map(|c| c.drafts.clone()).unwrap_or_default())),
                    "actions" => Ok(ok(s.chats.get(&id).map(|c| c.actions.clone()).unwrap_or_default())),
                    _ => Ok(error(404, "unknown control route")),
                }
            }
        },
        ("GET", ["calls"]) => {
            let s = shared.lock();
            let calls: Vec<_> = s
                .calls
                .iter()
                .filter(|c| query.method.as_deref().is_none_or(|m| c.method.eq_ignore_ascii_case(m)))
                .cloned()
                .collect();
            Ok(ok(calls))
        }
        ("GET", ["stats"]) => {
            // Cheap counters for load generators, which cannot afford to list every call.
            let s = shared.lock();
            let bot_messages: usize =
                s.chats.values().map(|c| c.messages.values().filter(|m| m.from_bot).count()).sum();
            Ok(ok(json!({"bot_messages": bot_messages, "calls": s.calls.len(), "pending_updates": s.updates.len()})))
        }
        ("GET", ["pending_updates"]) => Ok(ok(json!({"count": shared.lock().updates.len()}))),
        ("POST", ["rate_limit"]) => parse::<Option<RateLimit>>(&body).map(|r| {
            shared.update(|s| s.rate_limit = r);
            ok(json!({}))
        }),
        ("POST", ["faults"]) => parse::<FaultRequest>(&body).map(|f| {
            shared.update(|s| {
                let q = s.faults.entry(f.method.to_ascii_lowercase()).or_default();
                q.extend(std::iter::repeat_n(f.fault, f.count));
            });
            ok(json!({}))
        }),
        ("GET", ["webhook"]) => Ok(ok(shared.lock().webhook.clone())),
        _ => Ok(error(404, "unknown control route")),
    };
    result.unwrap_or_else(|e| *e)
}

fn inject_message(shared: &Shared, m: &IncomingMessage) -> Response {
    match shared.update(|s| inject::push_message(s, &shared.bot, m)) {
        Ok(injected) => ok(injected),
        Err(e) => error(400, e.description),
    }
}
