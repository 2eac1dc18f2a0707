//! `GET /openapi.json`: an OpenAPI 3.1 description of every route. A test checks it
//! against the route table, both ways.

use std::sync::OnceLock;

use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::errors::JsonReply;
use crate::state::SharedState;

pub(crate) async fn document(State(state): State<SharedState>) -> JsonReply {
    static DOC: OnceLock<Value> = OnceLock::new();
    let mut doc = DOC.get_or_init(build).clone();
    doc["info"]["version"] = json!(state.config.version);
    JsonReply::ok(doc)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn reply(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn sse_reply(description: &str) -> Value {
    json!({"description": description, "content": {"text/event-stream": {"schema": {"type": "string"}}}})
}

fn error(description: &str) -> Value {
    reply(description, schema_ref("Error"))
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn header_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": description, "schema": {"type": "string", "maxLength": 256}})
}

struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    public: bool,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(&'static str, Value)>,
}

fn op(method: &'static str, path: &'static str, summary: &'static str) -> Op {
    Op { method, path, summary, public: false, params: Vec::new(), body: None, responses: Vec::new() }
}

impl Op {
    fn public(mut self) -> Self {
        self.public = true;
        self
    }
    fn param(mut self, p: Value) -> Self {
        self.params.push(p);
        self
    }
    fn body(mut self, schema: Value) -> Self {
        self.body = Some(json_body(schema));
        self
    }
    fn ok(mut self, code: &'static str, response: Value) -> Self {
        self.responses.push((code, response));
        self
    }
    /// The turn-starting routes' shared refusals.
    fn turn_errors(self) -> Self {
        self.ok("400", error("Invalid request"))
            .ok("413", error("Body over 10,000,000 bytes"))
            .ok("429", error("Concurrency cap reached (Retry-After: 1)"))
            .ok("503", error("Draining (Retry-After: 1)"))
    }
}

fn session_headers() -> [Value; 2] {
    [
        header_param("X-Hermes-Session-Id", "Continue a stored session (echoed back)."),
        header_param("X-Hermes-Session-Key", "Stable long-term scope (echoed back)."),
    ]
}

fn operations() -> Vec<Op> {
    let obj = || json!({"type": "object"});
    let [sid, skey] = session_headers();
    let idem = header_param("Idempotency-Key", "Replay-safe retries of non-streaming requests.");
    vec![
        op("get", "/health", "Liveness (no key)").public().ok("200", reply("OK", schema_ref("Health"))),
        op("get", "/v1/health", "Liveness (no key)").public().ok("200", reply("OK", schema_ref("Health"))),
        op("get", "/openapi.json", "This document (no key)").public().ok("200", reply("OpenAPI 3.1", obj())),
        op("get", "/health/detailed", "Gateway state and API load").ok("200", reply("OK", obj())),
        op("get", "/v1/models", "Advertised model and route aliases").ok("200", reply("Models", schema_ref("List"))),
        op("get", "/v1/capabilities", "What this server supports").ok("200", reply("Capabilities", obj())),
        op("get", "/v1/skills", "Skills (none yet)").ok("200", reply("Skills", schema_ref("List"))),
        op("post", "/v1/chat/completions", "OpenAI chat completion, streaming or not")
            .param(sid.clone())
            .param(skey.clone())
            .param(idem.clone())
            .body(schema_ref("ChatCompletionRequest"))
            .ok("200", {
                let mut r = reply("Completion (or SSE chunks when stream is true)", obj());
                r["content"]["text/event-stream"] = json!({"schema": {"type": "string"}});
                r
            })
            .ok("502", error("The turn failed without producing text (agent_incomplete)"))
            .turn_errors(),
        op("post", "/v1/responses", "OpenAI Responses, chained and stored")
            .param(skey.clone())
            .param(idem)
            .body(schema_ref("ResponsesRequest"))
            .ok("200", {
                let mut r = reply("Response object (or SSE events when stream is true)", obj());
                r["content"]["text/event-stream"] = json!({"schema": {"type": "string"}});
                r
            })
            .ok("404", error("Previous response not found"))
            .turn_errors(),
        op("get", "/v1/responses/{response_id}", "A stored response")
            .param(path_param("response_id"))
            .ok("200", reply("Response object", obj()))
            .ok("404", error("Not found")),
        op("delete", "/v1/responses/{response_id}", "Delete a stored response")
            .param(path_param("response_id"))
            .ok("200", reply("Deleted", obj()))
            .ok("404", error("Not found")),
        op("post", "/v1/runs", "Start a run; follow it with /events")
            .param(skey.clone())
            .body(schema_ref("RunRequest"))
            .ok("202", reply("Started", json!({"type": "object", "properties": {"run_id": {"type": "string"}, "status": {"const": "started"}}})))
            .turn_errors(),
        op("get", "/v1/runs/{run_id}", "Run status")
            .param(path_param("run_id"))
            .ok("200", reply("Status", obj()))
            .ok("404", error("run_not_found")),
        op("get", "/v1/runs/{run_id}/events", "Run events (SSE, unnamed data events, from the start)")
            .param(path_param("run_id"))
            .ok("200", sse_reply("Events, then ': stream closed'"))
            .ok("404", error("run_not_found")),
        op("post", "/v1/runs/{run_id}/stop", "Stop a run")
            .param(path_param("run_id"))
            .ok("200", reply("Stopping", obj()))
            .ok("404", error("run_not_found")),
        op("post", "/v1/runs/{run_id}/approval", "Answer an approval (herald never asks: 409)")
            .param(path_param("run_id"))
            .body(json!({"type": "object", "properties": {"choice": {"type": "string"}}}))
            .ok("400", error("invalid_approval_choice"))
            .ok("404", error("run_not_found"))
            .ok("409", error("approval_not_active")),
        op("get", "/api/sessions", "List sessions")
            .param(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50, "maximum": 200}}))
            .param(json!({"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}}))
            .param(json!({"name": "source", "in": "query", "schema": {"type": "string"}}))
            .param(json!({"name": "include_children", "in": "query", "schema": {"type": "boolean"}}))
            .ok("200", reply("Sessions", schema_ref("List"))),
        op("post", "/api/sessions", "Create a session")
            .body(json!({"type": "object", "properties": {"id": {"type": "string"}, "model": {"type": "string"}, "system_prompt": {"type": "string"}, "title": {"type": "string"}}}))
            .ok("201", reply("Created", schema_ref("SessionReply")))
            .ok("400", error("invalid_session_id"))
            .ok("409", error("session_exists")),
        op("get", "/api/sessions/{session_id}", "A session")
            .param(path_param("session_id"))
            .ok("200", reply("Session", schema_ref("SessionReply")))
            .ok("404", error("session_not_found")),
        op("patch", "/api/sessions/{session_id}", "Set the title or end the session")
            .param(path_param("session_id"))
            .body(json!({"type": "object", "properties": {"title": {"type": ["string", "null"]}, "end_reason": {"type": "string"}}, "additionalProperties": false}))
            .ok("200", reply("Session", schema_ref("SessionReply")))
            .ok("400", error("unsupported_session_field"))
            .ok("404", error("session_not_found")),
        op("delete", "/api/sessions/{session_id}", "Delete a session and its messages")
            .param(path_param("session_id"))
            .ok("200", reply("Deleted", obj()))
            .ok("404", error("session_not_found")),
        op("get", "/api/sessions/{session_id}/messages", "A session's messages")
            .param(path_param("session_id"))
            .ok("200", reply("Messages", schema_ref("List")))
            .ok("404", error("session_not_found")),
        op("post", "/api/sessions/{session_id}/fork", "Branch a session")
            .param(path_param("session_id"))
            .ok("201", reply("The child session", schema_ref("SessionReply")))
            .ok("404", error("session_not_found")),
        op("post", "/api/sessions/{session_id}/chat", "A turn in a stored session")
            .param(path_param("session_id"))
            .param(skey.clone())
            .body(schema_ref("SessionChatRequest"))
            .ok("200", reply("Reply", obj()))
            .ok("404", error("session_not_found"))
            .ok("502", error("agent_incomplete"))
            .turn_errors(),
        op("post", "/api/sessions/{session_id}/chat/stream", "A streamed turn in a stored session (named SSE events)")
            .param(path_param("session_id"))
            .param(skey)
            .body(schema_ref("SessionChatRequest"))
            .ok("200", sse_reply("run.started … done"))
            .ok("404", error("session_not_found"))
            .turn_errors(),
        op("post", "/api/platforms/{platform}/login", "Start a QR login of a platform account (weixin)")
            .param(path_param("platform"))
            .ok("201", reply("The login with its QR", schema_ref("Login")))
            .ok("404", error("unsupported_platform or login_unavailable"))
            .ok("429", error("too_many_logins (Retry-After: 5)"))
            .ok("502", error("login_upstream_error: the platform's login server failed")),
        op("get", "/api/platforms/{platform}/login/{login_id}", "A login's status; ?wait=N holds up to N s for a change")
            .param(path_param("platform"))
            .param(path_param("login_id"))
            .param(json!({"name": "wait", "in": "query", "schema": {"type": "integer", "default": 0, "maximum": 30}}))
            .ok("200", reply("The login", schema_ref("Login")))
            .ok("404", error("login_not_found")),
        op("post", "/api/platforms/{platform}/login/{login_id}/verify-code", "Send the digits the app shows")
            .param(path_param("platform"))
            .param(path_param("login_id"))
            .body(json!({"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "pattern": "^[0-9]{4,8}$"}}}))
            .ok("200", reply("The login", schema_ref("Login")))
            .ok("400", error("invalid_request"))
            .ok("404", error("login_not_found"))
            .ok("409", error("login_not_waiting_for_code")),
        op("delete", "/api/platforms/{platform}/login/{login_id}", "Cancel a login")
            .param(path_param("platform"))
            .param(path_param("login_id"))
            .ok("200", reply("The cancelled login", schema_ref("Login")))
            .ok("404", error("login_not_found")),
    ]
}

fn components() -> Value {
    json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "API_SERVER_KEY"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "object", "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]}
                }}}
            },
            "Login": {"type": "object", "required": ["login_id", "platform", "status", "qr_refreshes", "started_at", "expires_at"], "properties": {
                "login_id": {"type": "string"},
                "platform": {"type": "string"},
                "status": {"enum": ["wait", "scanned", "need_verify_code", "confirmed", "already_bound", "failed", "cancelled"]},
                "qr_url": {"type": "string", "description": "What the QR encodes; show it as a QR, it changes when the QR is replaced"},
                "qr_png_base64": {"type": "string"},
                "qr_refreshes": {"type": "integer", "maximum": 3},
                "verify_code_wrong": {"type": "boolean"},
                "account_id": {"type": "string", "description": "The bot account (ilink_bot_id), once confirmed"},
                "user_id": {"type": "string", "description": "The WeChat user who scanned: the owner (ilink_user_id)"},
                "adapter_started": {"type": "boolean"},
                "error": {"type": "string"},
                "started_at": {"type": "integer", "description": "ms since the Unix epoch"},
                "expires_at": {"type": "integer"}
            }},
            "Health": {"type": "object", "properties": {
                "status": {"type": "string"}, "platform": {"const": "hermes-agent"},
                "server": {"const": "herald"}, "version": {"type": "string"}
            }},
            "List": {"type": "object", "properties": {"object": {"const": "list"}, "data": {"type": "array"}}},
            "SessionReply": {"type": "object", "properties": {"object": {"const": "hermes.session"}, "session": {"type": "object"}}},
            "ChatCompletionRequest": {"type": "object", "required": ["messages"], "properties": {
                "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
                    "role": {"type": "string"}, "content": {"type": ["string", "array", "null"]}}}},
                "model": {"type": "string"},
                "stream": {"type": ["boolean", "string"]}
            }},
            "ResponsesRequest": {"type": "object", "required": ["input"], "properties": {
                "input": {"type": ["string", "array"]},
                "instructions": {"type": "string"},
                "previous_response_id": {"type": "string"},
                "conversation": {"type": "string"},
                "conversation_history": {"type": "array"},
                "store": {"type": "boolean", "default": true},
                "truncation": {"type": "string", "enum": ["auto", "disabled"]},
                "model": {"type": "string"},
                "stream": {"type": "boolean"}
            }},
            "RunRequest": {"type": "object", "required": ["input"], "properties": {
                "input": {"type": ["string", "array"]},
                "instructions": {"type": "string"},
                "previous_response_id": {"type": "string"},
                "conversation_history": {"type": "array"},
                "session_id": {"type": "string"},
                "model": {"type": "string"}
            }},
            "SessionChatRequest": {"type": "object", "properties": {
                "message": {"type": ["string", "array"]},
                "input": {"type": ["string", "array"]},
                "system_message": {"type": "string"},
                "instructions": {"type": "string"}
            }}
        }
    })
}

fn build() -> Value {
    let mut paths = Map::new();
    for o in operations() {
        let mut operation = json!({"summary": o.summary, "parameters": o.params});
        let mut responses = o.responses;
        if o.public {
            operation["security"] = json!([]);
        } else {
            responses.push(("401", error("Missing or wrong key (invalid_api_key)")));
        }
        operation["responses"] = Value::Object(responses.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
        if let Some(b) = o.body {
            operation["requestBody"] = b;
        }
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "herald API server",
            "description": "Hermes-compatible OpenAI API: chat completions, responses, runs and sessions. See docs/api.md.",
            "version": "0"
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": components(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn document_and_route_table_list_the_same_routes() {
        let doc = build();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
            .collect();
        let served: BTreeSet<(String, String)> =
            crate::routes::table().iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
        assert_eq!(documented, served);
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
            }
        }
    }
}
