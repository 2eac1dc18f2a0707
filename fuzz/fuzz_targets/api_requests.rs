//! The API server's request parsers over arbitrary bytes: chat-completions and responses
//! bodies, and session ids. Nothing may panic, and what is accepted must be usable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 3 {
        0 => {
            let _ = herald_web::fuzzing::chat_completions(rest);
        }
        1 => {
            let _ = herald_web::fuzzing::responses(rest);
        }
        _ => {
            if let Ok(id) = std::str::from_utf8(rest) {
                let _ = herald_web::fuzzing::session_id(id);
            }
        }
    }
});
