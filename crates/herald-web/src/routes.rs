//! The route table. The router is built from it and the OpenAPI document is checked
//! against it, so neither can list a route the other lacks.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::state::SharedState;
use crate::{auth, chat, cors, health, layers, logins, openapi, responses, runs, session_chat, sessions};

/// Who may call a route, and whether it is refused while draining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// No key (health checks, the API description).
    Public,
    /// Key required; still served while draining, because it reports on or stops work
    /// that the drain is waiting for.
    Observe,
    /// Key required; refused with 503 while draining.
    Protected,
}

pub(crate) struct Route {
    /// Read by the test that checks the OpenAPI document against this table.
    #[cfg_attr(not(test), allow(dead_code))]
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<SharedState>,
}

/// A route whose method router is built from `method`, so the table's method is the one
/// served.
fn r<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, SharedState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("the route table names standard methods");
    Route { method, path, access, handler: on(filter, handler) }
}

/// Every route herald serves.
pub(crate) fn table() -> Vec<Route> {
    use Access::*;
    vec![
        r(Method::GET, "/health", Public, health::health),
        r(Method::GET, "/v1/health", Public, health::health),
        r(Method::GET, "/openapi.json", Public, openapi::document),
        r(Method::GET, "/health/detailed", Observe, health::detailed),
        r(Method::GET, "/v1/models", Protected, health::models),
        r(Method::GET, "/v1/capabilities", Protected, health::capabilities),
        r(Method::GET, "/v1/skills", Protected, health::skills),
        r(Method::POST, "/v1/chat/completions", Protected, chat::chat_completions),
        r(Method::POST, "/v1/responses", Protected, responses::create),
        r(Method::GET, "/v1/responses/{response_id}", Protected, responses::fetch),
        r(Method::DELETE, "/v1/responses/{response_id}", Protected, responses::remove),
        r(Method::POST, "/v1/runs", Protected, runs::start),
        r(Method::GET, "/v1/runs/{run_id}", Observe, runs::status),
        r(Method::GET, "/v1/runs/{run_id}/events", Observe, runs::events),
        r(Method::POST, "/v1/runs/{run_id}/stop", Observe, runs::stop),
        r(Method::POST, "/v1/runs/{run_id}/approval", Protected, runs::approval),
        r(Method::GET, "/api/sessions", Protected, sessions::list),
        r(Method::POST, "/api/sessions", Protected, sessions::create),
        r(Method::GET, "/api/sessions/{session_id}", Protected, sessions::fetch),
        r(Method::PATCH, "/api/sessions/{session_id}", Protected, sessions::update),
        r(Method::DELETE, "/api/sessions/{session_id}", Protected, sessions::remove),
        r(Method::GET, "/api/sessions/{session_id}/messages", Protected, sessions::messages),
        r(Method::POST, "/api/sessions/{session_id}/fork", Protected, sessions::fork),
        r(Method::POST, "/api/sessions/{session_id}/chat", Protected, session_chat::chat),
        r(Method::POST, "/api/sessions/{session_id}/chat/stream", Protected, session_chat::chat_stream),
        r(Method::POST, "/api/platforms/{platform}/login", Protected, logins::start),
        r(Method::GET, "/api/platforms/{platform}/login/{login_id}", Observe, logins::status),
        r(Method::POST, "/api/platforms/{platform}/login/{login_id}/verify-code", Protected, logins::verify_code),
        r(Method::DELETE, "/api/platforms/{platform}/login/{login_id}", Observe, logins::cancel),
    ]
}

/// The application. Layers, outermost first: security headers (so every reply, even a
/// CORS refusal, carries them), CORS, the declared body size; then per route the key
/// and the drain gate.
pub(crate) fn router(state: SharedState) -> Router {
    let mut app = Router::new();
    for route in table() {
        let mut handler = route.handler;
        if route.access == Access::Protected {
            handler = handler.route_layer(from_fn_with_state(state.clone(), layers::refuse_while_draining));
        }
        if route.access != Access::Public {
            handler = handler.route_layer(from_fn_with_state(state.clone(), auth::require_key));
        }
        app = app.route(route.path, handler);
    }
    app.fallback(layers::not_found)
        .method_not_allowed_fallback(layers::method_not_allowed)
        .layer(from_fn(layers::declared_body_limit))
        .layer(from_fn_with_state(state.clone(), cors::cors))
        .layer(from_fn(layers::security_headers))
        .with_state(state)
}
