//! Identifiers and clocks, in the exact formats Hermes clients have seen.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use sha2::{Digest, Sha256};

/// `n` lowercase hex digits from the OS-seeded thread RNG.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = hex::encode(bytes);
    s.truncate(n);
    s
}

/// `chatcmpl-<29 hex>` (Hermes slices a UUID's hex to 29).
pub(crate) fn completion_id() -> String {
    format!("chatcmpl-{}", random_hex(29))
}

/// `resp_<28 hex>`.
pub(crate) fn response_id() -> String {
    format!("resp_{}", random_hex(28))
}

/// `run_<32 hex>`.
pub(crate) fn run_id() -> String {
    format!("run_{}", random_hex(32))
}

/// An id with a prefix and `n` hex digits (`msg_`, `fc_`, `fco_`).
pub(crate) fn prefixed(prefix: &str, n: usize) -> String {
    format!("{prefix}{}", random_hex(n))
}

/// A random (version 4) UUID in its usual text form; the session id of a response chain.
pub(crate) fn uuid4() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `api_<unix seconds>_<8 hex>`: the id of a session created without one.
pub(crate) fn api_session_id() -> String {
    format!("api_{}_{}", unix_secs(), random_hex(8))
}

/// The session of a stateless chat-completions conversation. Frontends resend the whole
/// conversation every turn, and its system prompt and first user message never change,
/// so hashing them finds the same session each turn (Hermes `_derive_chat_session_id`).
pub(crate) fn derive_chat_session_id(system_prompt: Option<&str>, first_user_message: &str) -> String {
    let seed = format!("{}\n{}", system_prompt.unwrap_or(""), first_user_message);
    let digest = hex::encode(Sha256::digest(seed.as_bytes()));
    format!("api-{}", &digest[..16])
}

pub(crate) fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Seconds since the epoch as a float (Hermes's `time.time()`).
pub(crate) fn unix_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_session_ids_match_hermes() {
        assert_eq!(derive_chat_session_id(None, "hi"), "api-25f140a6575bf25c");
        assert_eq!(derive_chat_session_id(Some("You are a pirate."), "Hello"), "api-96ab6318772ae8f9");
        // No system prompt and an empty one seed the same text, as in Hermes.
        assert_eq!(derive_chat_session_id(Some(""), "hi"), "api-25f140a6575bf25c");
    }

    #[test]
    fn id_formats() {
        let c = completion_id();
        assert!(c.starts_with("chatcmpl-") && c.len() == 9 + 29, "{c}");
        let r = response_id();
        assert!(r.starts_with("resp_") && r.len() == 5 + 28, "{r}");
        let run = run_id();
        assert!(run.starts_with("run_") && run.len() == 4 + 32, "{run}");
        assert!(run[4..].chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        let s = api_session_id();
        let parts: Vec<&str> = s.split('_').collect();
        assert_eq!(parts.len(), 3, "{s}");
        assert_eq!(parts[0], "api");
        assert!(parts[1].parse::<u64>().is_ok());
        assert_eq!(parts[2].len(), 8);
    }
}
