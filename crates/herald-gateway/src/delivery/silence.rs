//! Silence markers (Hermes's `response_filters`): an answer that is exactly one of them
//! means the agent chose not to reply, so nothing is sent and previews are removed.

const MARKERS: &[&str] = &["[SILENT]", "SILENT", "NO_REPLY", "NO REPLY"];
const MAX_LEN: usize = 64;

fn normalise(text: &str) -> Option<String> {
    if text.chars().count() > MAX_LEN {
        return None;
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
    let edge = |c: char| c.is_ascii_punctuation() && c != '[' && c != ']';
    Some(collapsed.trim_matches(|c: char| edge(c) || c.is_whitespace()).to_string())
}

/// Whether the whole answer is a silence marker.
pub fn is_silence(text: &str) -> bool {
    normalise(text).is_some_and(|n| MARKERS.contains(&n.as_str()))
}

/// Whether the text so far could still become a silence marker: previews are held
/// back until it is decided.
pub fn could_become_silence(text: &str) -> bool {
    match normalise(text) {
        Some(n) if n.is_empty() => true,
        Some(n) => MARKERS.iter().any(|m| m.starts_with(&n)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermes_vectors() {
        for s in ["*NO_REPLY*", "no reply", "[SILENT]", "  silent. ", "No_Reply"] {
            assert!(is_silence(s), "{s:?}");
        }
        assert!(!is_silence("[SILENT"));
        assert!(could_become_silence("[SILENT"));
        assert!(could_become_silence("NO_"));
        assert!(!is_silence("The answer is NO_REPLY"));
        assert!(!could_become_silence("The answer"));
        assert!(!is_silence(&format!("{}NO_REPLY", " ".repeat(70))));
    }
}
