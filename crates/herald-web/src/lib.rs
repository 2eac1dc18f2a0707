//! The OpenAI-compatible API server and the browser chat, both served by the gateway.
//! The API server lands with issue 4; this crate holds its place in the layering so the
//! architecture test covers it from the start.
