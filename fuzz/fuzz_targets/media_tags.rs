//! Arbitrary answer text through the delivery stage's file extraction: `MEDIA:` tags,
//! then bare image and video paths (the model's text decides what a platform is asked to
//! upload, so it is outside input).
//!
//! Beyond "never panics", it checks the promises: every file taken is absolute and has
//! no `..`, and the text left never grows.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none media_tags`

#![no_main]

use std::path::Component;

use herald_gateway::delivery::media::{extract, extract_bare};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (tagged, rest) = extract(&text);
    let (bare, left) = extract_bare(&rest);
    assert!(rest.len() <= text.len() && left.len() <= rest.len());
    for file in tagged.iter().chain(&bare) {
        assert!(file.is_absolute() && !file.components().any(|c| c == Component::ParentDir), "{file:?}");
    }
});
