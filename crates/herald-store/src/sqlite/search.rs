//! Full-text search over the two FTS5 indexes of the search database: `messages_fts`
//! (words) and `messages_fts_trigram` (substrings). It runs on the index thread's
//! connection (`indexer.rs`), whose main database is the index and which has the store
//! attached: the unqualified `messages` and `sessions` below resolve to the store's.
//!
//! User text never reaches FTS5 as query syntax: every token is quoted, so quotes,
//! parentheses, `AND`, `NEAR`, `col:` and `^` are searched for as text.

use std::collections::HashSet;

use rusqlite::Connection;
use rusqlite::types::Value;

use super::rows::role_at;
use crate::{SearchHit, SearchMode, SearchQuery, StoreError};

/// Characters of context kept on each side of a substring match.
const SNIPPET_CONTEXT_CHARS: usize = 40;
/// Tokens FTS5's `snippet()` returns for a word match.
const SNIPPET_TOKENS: u32 = 16;
/// The trigram index only answers queries of at least this many characters.
const TRIGRAM_MIN_CHARS: usize = 3;

/// The search text, trimmed; empty text is refused with a message a user can act on.
pub(crate) fn validated_text(query: &SearchQuery) -> Result<&str, StoreError> {
    let text = query.text.trim();
    if text.is_empty() {
        return Err(StoreError::InvalidInput(
            "the search text is empty; give a word or a few characters to look for".into(),
        ));
    }
    Ok(text)
}

pub(crate) fn search(conn: &Connection, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
    let text = validated_text(query)?;
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let session = query.session_id.as_deref();
    match query.mode {
        SearchMode::Words => words(conn, text, query.limit, session),
        SearchMode::Substring => substring(conn, text, query.limit, session),
        SearchMode::Auto => {
            let mut hits = words(conn, text, query.limit, session)?;
            let wanted = query.limit as usize;
            if hits.len() < wanted {
                let seen: HashSet<i64> = hits.iter().map(|hit| hit.message_id).collect();
                // Asking for the full limit is enough: at most `seen.len()` of the
                // substring hits can be duplicates of word hits.
                let more = substring(conn, text, query.limit, session)?;
                hits.extend(more.into_iter().filter(|hit| !seen.contains(&hit.message_id)).take(wanted - seen.len()));
            }
            Ok(hits)
        }
    }
}

/// Turns user text into an FTS5 query that means "all of these words": each
/// whitespace-separated token becomes a quoted string (quotes doubled), and a trailing
/// `*` becomes a prefix query. `None` when nothing searchable is left.
pub(crate) fn word_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter_map(|token| {
            let stem = token.trim_end_matches('*');
            if stem.is_empty() {
                return None;
            }
            let quoted = format!("\"{}\"", stem.replace('"', "\"\""));
            Some(if stem.len() < token.len() { format!("{quoted}*") } else { quoted })
        })
        .collect();
    if terms.is_empty() { None } else { Some(terms.join(" ")) }
}

/// The whole text as one trigram phrase: the index then matches it as a substring.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A LIKE pattern matching `text` anywhere, with its wildcards taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn words(conn: &Connection, text: &str, limit: u32, session: Option<&str>) -> Result<Vec<SearchHit>, StoreError> {
    let Some(fts_query) = word_query(text) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT m.id, m.session_id, m.role, m.timestamp, s.title, \
                snippet(messages_fts, 0, '[', ']', '…', {SNIPPET_TOKENS}) \
         FROM messages_fts \
         JOIN messages m ON m.id = messages_fts.rowid \
         JOIN sessions s ON s.id = m.session_id \
         WHERE messages_fts MATCH ?1 AND m.active = 1 {} \
         ORDER BY messages_fts.rank, m.id DESC \
         LIMIT ?2",
        session_clause(session)
    );
    run_hits(conn, &sql, fts_query, limit, session, |snippet| collapse_whitespace(&snippet))
}

fn substring(conn: &Connection, text: &str, limit: u32, session: Option<&str>) -> Result<Vec<SearchHit>, StoreError> {
    // The text the indexes see, so a match in a tool name or tool-call JSON is shown.
    const INDEXED_TEXT: &str = "m.content || ' ' || coalesce(m.tool_name, '') || ' ' || coalesce(m.tool_calls, '')";
    let (sql, pattern) = if text.chars().count() >= TRIGRAM_MIN_CHARS {
        let sql = format!(
            "SELECT m.id, m.session_id, m.role, m.timestamp, s.title, {INDEXED_TEXT} \
             FROM messages_fts_trigram \
             JOIN messages m ON m.id = messages_fts_trigram.rowid \
             JOIN sessions s ON s.id = m.session_id \
             WHERE messages_fts_trigram MATCH ?1 AND m.active = 1 {} \
             ORDER BY messages_fts_trigram.rowid DESC \
             LIMIT ?2",
            session_clause(session)
        );
        (sql, phrase(text))
    } else {
        // Too short for trigrams: scan, newest first, stopping at the limit.
        let sql = format!(
            "SELECT m.id, m.session_id, m.role, m.timestamp, s.title, {INDEXED_TEXT} \
             FROM messages m \
             JOIN sessions s ON s.id = m.session_id \
             WHERE ({INDEXED_TEXT}) LIKE ?1 ESCAPE '\\' AND m.active = 1 {} \
             ORDER BY m.id DESC \
             LIMIT ?2",
            session_clause(session)
        );
        (sql, like_pattern(text))
    };
    run_hits(conn, &sql, pattern, limit, session, |indexed| snippet_around(&indexed, text))
}

/// Filters to one session when asked; built into the SQL rather than bound as
/// `?3 IS NULL OR ...` so the planner can use the session index for short scans.
fn session_clause(session: Option<&str>) -> &'static str {
    if session.is_some() { "AND m.session_id = ?3" } else { "" }
}

/// Runs a hit query whose columns are id, session id, role, timestamp, title and the
/// raw snippet source, and whose parameters are the match, the limit and, when
/// filtering, the session.
fn run_hits(
    conn: &Connection,
    sql: &str,
    pattern: String,
    limit: u32,
    session: Option<&str>,
    make_snippet: impl Fn(String) -> String,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut params = vec![Value::Text(pattern), Value::Integer(limit.into())];
    if let Some(session) = session {
        params.push(Value::Text(session.to_owned()));
    }
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(params), |row| {
        Ok(SearchHit {
            message_id: row.get(0)?,
            session_id: row.get(1)?,
            role: role_at(row, 2)?,
            timestamp: row.get(3)?,
            session_title: row.get(4)?,
            snippet: make_snippet(row.get::<_, Option<String>>(5)?.unwrap_or_default()),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// An excerpt of `haystack` around the first case-insensitive occurrence of `needle`,
/// with the match wrapped in `[` `]` like FTS5's `snippet()` output.
pub(crate) fn snippet_around(haystack: &str, needle: &str) -> String {
    let Some((start, end)) = find_ignoring_case(haystack, needle) else {
        // SQLite's and Rust's case folding can disagree on rare characters; the
        // beginning of the message is still a useful excerpt.
        return collapse_whitespace(&excerpt_from(haystack, 0, SNIPPET_CONTEXT_CHARS * 2));
    };
    let before_start =
        haystack[..start].char_indices().rev().nth(SNIPPET_CONTEXT_CHARS - 1).map_or(0, |(index, _)| index);
    let after_end =
        haystack[end..].char_indices().nth(SNIPPET_CONTEXT_CHARS).map_or(haystack.len(), |(index, _)| end + index);
    let mut snippet = String::with_capacity(after_end - before_start + 8);
    if before_start > 0 {
        snippet.push('…');
    }
    snippet.push_str(&haystack[before_start..start]);
    snippet.push('[');
    snippet.push_str(&haystack[start..end]);
    snippet.push(']');
    let tail = &haystack[end..after_end];
    snippet.push_str(tail);
    if after_end < haystack.len() && !haystack[after_end..].trim().is_empty() {
        snippet.push('…');
    }
    collapse_whitespace(&snippet)
}

fn excerpt_from(haystack: &str, start: usize, chars: usize) -> String {
    let rest = &haystack[start..];
    match rest.char_indices().nth(chars) {
        Some((index, _)) => format!("{}…", &rest[..index]),
        None => rest.to_owned(),
    }
}

/// The byte range of the first occurrence of `needle` in `haystack`, comparing
/// lowercased characters.
fn find_ignoring_case(haystack: &str, needle: &str) -> Option<(usize, usize)> {
    let folded: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    if folded.is_empty() {
        return None;
    }
    haystack.char_indices().find_map(|(start, _)| {
        let mut candidate = haystack[start..]
            .char_indices()
            .flat_map(|(i, c)| c.to_lowercase().map(move |l| (start + i + c.len_utf8(), l)));
        let mut end = start;
        for &wanted in &folded {
            match candidate.next() {
                Some((char_end, lower)) if lower == wanted => end = char_end,
                _ => return None,
            }
        }
        Some((start, end))
    })
}

/// Snippets are shown on one line: newlines and runs of spaces from the message (and
/// the separators between content, tool name and tool calls) become single spaces.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
