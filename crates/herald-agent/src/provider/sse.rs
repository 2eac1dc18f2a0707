//! An incremental Server-Sent Events parser: bytes in, events out.
//!
//! It follows the WHATWG "event stream interpretation" rules
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>)
//! with two deliberate differences, both because the input is an LLM answer and not a
//! browser feed:
//!
//! - invalid UTF-8 is an error instead of being replaced with U+FFFD, so a corrupted
//!   answer is reported rather than shown to the user with garbage in it;
//! - an event may not grow past a size limit ([`DEFAULT_MAX_EVENT_SIZE`]), so a server
//!   that never sends a blank line cannot make us buffer without bound.
//!
//! The parser does no I/O. Feed it chunks exactly as they come off the socket with
//! [`SseParser::push`], then drain events with [`SseParser::next_event`]. Because it
//! splits lines on bytes and decodes only complete lines, a multi-byte character or a
//! `\r\n` split across two chunks is handled without special cases: neither `\r` nor
//! `\n` can occur inside a UTF-8 sequence.

use std::time::Duration;

/// The largest event (data plus the line being read) buffered before giving up.
/// LLM stream events are a few hundred bytes; a whole non-streamed answer with a
/// large tool call fits easily.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message` when the event had none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream so far (it carries over between events, as
    /// the spec says), empty if none.
    pub id: String,
}

/// Why the parser stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event grew past {limit} bytes without ending")]
    EventTooLarge { limit: usize },
    #[error("the event stream is not valid UTF-8 (line starting at byte {offset})")]
    InvalidUtf8 { offset: u64 },
}

/// Incremental parser state. See the module docs.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes pushed but not yet consumed as complete lines; `input[..start]` is consumed.
    input: Vec<u8>,
    start: usize,
    /// How far past `start` has been searched for a line end without finding one, so a
    /// long line arriving in many chunks is scanned once, not once per chunk.
    scanned: usize,
    /// The previous line ended with `\r`; a `\n` right after it is part of that line
    /// break, even when it arrives in the next chunk.
    skip_lf: bool,
    /// No line has been read yet: a leading byte order mark is dropped.
    at_start: bool,
    /// Stream offset of `input[start]`, for error messages.
    offset: u64,
    data: String,
    event: String,
    last_id: String,
    reconnection_time: Option<Duration>,
    max_event_size: usize,
    failed: Option<SseError>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    pub fn with_max_event_size(max_event_size: usize) -> Self {
        SseParser {
            input: Vec::new(),
            start: 0,
            scanned: 0,
            skip_lf: false,
            at_start: true,
            offset: 0,
            data: String::new(),
            event: String::new(),
            last_id: String::new(),
            reconnection_time: None,
            max_event_size,
            failed: None,
        }
    }

    /// Adds a chunk of the stream. Call [`SseParser::next_event`] until it returns
    /// `Ok(None)` before pushing more, or bytes accumulate.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        // Drop consumed bytes before growing, so the buffer holds at most one
        // unfinished line plus the new chunk.
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        self.input.extend_from_slice(chunk);
    }

    /// The next complete event, `Ok(None)` when more input is needed. After an error
    /// the parser stays failed and returns the same error.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.advance() {
            Ok(event) => Ok(event),
            Err(e) => {
                self.failed = Some(e.clone());
                self.input = Vec::new();
                self.data = String::new();
                Err(e)
            }
        }
    }

    /// Ends the stream. The spec discards an event whose blank line never came; we
    /// hand back one whose lines were all complete, because servers that close right
    /// after `data: [DONE]\n` exist and the data is whole. A partial last line is
    /// dropped. Returns the pending error if the parser has failed.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.input.clear();
        self.start = 0;
        self.scanned = 0;
        Ok(self.dispatch())
    }

    /// The reconnection time the server asked for with `retry:`, if any.
    pub fn reconnection_time(&self) -> Option<Duration> {
        self.reconnection_time
    }

    fn advance(&mut self) -> Result<Option<SseEvent>, SseError> {
        loop {
            if self.skip_lf && self.start < self.input.len() {
                if self.input[self.start] == b'\n' {
                    self.consume(1);
                }
                self.skip_lf = false;
            }
            let rest = &self.input[self.start..];
            let Some(rel) = rest[self.scanned..].iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.scanned = rest.len();
                if self.data.len() + rest.len() > self.max_event_size {
                    return Err(SseError::EventTooLarge { limit: self.max_event_size });
                }
                return Ok(None);
            };
            let end = self.scanned + rel;
            self.skip_lf = rest[end] == b'\r';
            let line_offset = self.offset;
            let line_start = self.start;
            self.consume(end + 1);
            let mut line = &self.input[line_start..line_start + end];
            if self.at_start {
                self.at_start = false;
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            let line = std::str::from_utf8(line).map_err(|_| SseError::InvalidUtf8 { offset: line_offset })?;
            // `process_line` needs `&mut self`, so the line leaves the buffer first.
            // Lines are short in practice; the copy is cheaper than the bookkeeping
            // needed to avoid it.
            let line = line.to_owned();
            if let Some(event) = self.process_line(&line)? {
                return Ok(Some(event));
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
        self.scanned = 0;
    }

    fn process_line(&mut self, line: &str) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > self.max_event_size {
                    return Err(SseError::EventTooLarge { limit: self.max_event_size });
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => {
                if value.len() > self.max_event_size {
                    return Err(SseError::EventTooLarge { limit: self.max_event_size });
                }
                self.event = value.to_owned();
            }
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Digits only, so the parse fails only on overflow; an absurd value is
                // ignored as the spec ignores any other unusable one.
                if let Ok(ms) = value.parse::<u64>() {
                    self.reconnection_time = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let mut data = std::mem::take(&mut self.data);
        let event = std::mem::take(&mut self.event);
        if data.is_empty() {
            return None;
        }
        data.pop(); // the trailing `\n` every data line adds
        Some(SseEvent {
            event: if event.is_empty() { "message".to_owned() } else { event },
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, SseError> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.push(chunk);
            while let Some(event) = parser.next_event()? {
                events.push(event);
            }
        }
        events.extend(parser.finish()?);
        Ok(events)
    }

    fn parse(input: &str) -> Vec<SseEvent> {
        parse_chunks(&[input.as_bytes()]).unwrap()
    }

    fn datas(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    /// Every way of cutting `input` into two or three pieces gives the same events.
    fn assert_split_invariant(input: &[u8]) {
        let whole = parse_chunks(&[input]);
        for i in 0..=input.len() {
            assert_eq!(parse_chunks(&[&input[..i], &input[i..]]), whole, "split at {i}");
            for j in i..=input.len() {
                assert_eq!(parse_chunks(&[&input[..i], &input[i..j], &input[j..]]), whole, "split at {i},{j}");
            }
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), whole, "byte by byte");
    }

    #[test]
    fn single_event() {
        let events = parse("data: hello\n\n");
        assert_eq!(events, vec![SseEvent { event: "message".into(), data: "hello".into(), id: String::new() }]);
    }

    #[test]
    fn data_lines_join_with_newline() {
        assert_eq!(datas(&parse("data: a\ndata: b\ndata:\ndata: c\n\n")), ["a\nb\n\nc"]);
    }

    #[test]
    fn all_three_line_endings() {
        assert_eq!(datas(&parse("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n")), ["a", "b", "c", "d"]);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_break() {
        // If the `\n` were taken as a second line break it would dispatch early and
        // the next `data:` would start a new event.
        let events = parse_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]).unwrap();
        assert_eq!(datas(&events), ["a\nb"]);
    }

    #[test]
    fn lone_cr_at_chunk_end_then_data() {
        let events = parse_chunks(&[b"data: a\r", b"data: b\r\r"]).unwrap();
        assert_eq!(datas(&events), ["a\nb"]);
    }

    #[test]
    fn only_one_space_after_colon_is_stripped() {
        assert_eq!(datas(&parse("data:  two\n\ndata:none\n\n")), [" two", "none"]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        assert_eq!(datas(&parse(": keep-alive\nfoo: bar\ndata: x\n:another\n\n")), ["x"]);
    }

    #[test]
    fn field_without_colon_has_empty_value() {
        // `data` alone adds an empty line; the event is dispatched with empty data.
        assert_eq!(datas(&parse("data\n\n")), [""]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        assert!(parse("event: ping\n\n").is_empty());
        assert!(parse("id: 7\n\n").is_empty());
    }

    #[test]
    fn event_type_resets_but_id_carries_over() {
        let events = parse("event: message_start\nid: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n");
        assert_eq!(events[0].event, "message_start");
        assert_eq!(events[0].id, "1");
        assert_eq!(events[1].event, "message");
        assert_eq!(events[1].id, "1");
        assert_eq!(events[2].id, "");
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let events = parse("id: 1\n\nid: a\0b\ndata: x\n\n");
        assert_eq!(events[0].id, "1");
    }

    #[test]
    fn retry_sets_reconnection_time_only_for_digits() {
        let mut parser = SseParser::new();
        parser.push(b"retry: 1500\n\nretry: 12x\n\nretry: 99999999999999999999999\n\n");
        assert_eq!(parser.next_event(), Ok(None));
        assert_eq!(parser.reconnection_time(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn leading_bom_is_dropped_once() {
        let events = parse_chunks(&[b"\xEF\xBB", b"\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n"]).unwrap();
        // The second BOM is not at the start, so `\u{feff}data` is an unknown field.
        assert_eq!(datas(&events), ["a"]);
    }

    #[test]
    fn utf8_split_across_chunks() {
        let input = "data: héllo wörld 😀 中文\n\n".as_bytes();
        assert_split_invariant(input);
        assert_eq!(datas(&parse_chunks(&[input]).unwrap()), ["héllo wörld 😀 中文"]);
    }

    #[test]
    fn split_invariance_over_a_mixed_stream() {
        assert_split_invariant(b"event: a\r\ndata: 1\r\n\r\n: c\rdata: 2\r\rid: 9\ndata:3\n\n");
    }

    #[test]
    fn invalid_utf8_is_an_error_with_offset() {
        let err = parse_chunks(&[b"data: ok\n\ndata: \xff\n\n"]).unwrap_err();
        assert_eq!(err, SseError::InvalidUtf8 { offset: 10 });
    }

    #[test]
    fn events_before_an_error_are_delivered() {
        let mut parser = SseParser::new();
        parser.push(b"data: a\n\ndata: \xc3\n\n");
        assert_eq!(parser.next_event().unwrap().unwrap().data, "a");
        assert!(parser.next_event().is_err());
        // It stays failed; more input changes nothing.
        parser.push(b"data: b\n\n");
        assert!(parser.next_event().is_err());
        assert!(parser.finish().is_err());
    }

    #[test]
    fn oversized_line_without_newline_is_an_error() {
        let mut parser = SseParser::with_max_event_size(64);
        parser.push(b"data: ");
        for _ in 0..10 {
            parser.push(&[b'x'; 10]);
            if parser.next_event().is_err() {
                return;
            }
        }
        panic!("a 100-byte line passed a 64-byte limit");
    }

    #[test]
    fn oversized_event_of_many_lines_is_an_error() {
        let mut parser = SseParser::with_max_event_size(64);
        parser.push("data: 0123456789\n".repeat(10).as_bytes());
        assert_eq!(parser.next_event(), Err(SseError::EventTooLarge { limit: 64 }));
    }

    #[test]
    fn limit_is_per_event() {
        let mut parser = SseParser::with_max_event_size(64);
        for _ in 0..100 {
            parser.push(b"data: 0123456789\n\n");
            assert!(parser.next_event().unwrap().is_some());
        }
    }

    #[test]
    fn finish_returns_an_event_missing_only_its_blank_line() {
        assert_eq!(datas(&parse("data: [DONE]\n")), ["[DONE]"]);
        // A partial last line is cut, not data.
        assert!(parse("data: {\"choi").is_empty());
        assert_eq!(datas(&parse("data: a\ndata: b")), ["a"]);
    }

    #[test]
    fn openai_style_stream() {
        let input = "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n";
        assert_eq!(datas(&parse(input)), ["{\"a\":1}", "{\"a\":2}", "[DONE]"]);
    }

    #[test]
    fn consumed_bytes_are_released() {
        let mut parser = SseParser::new();
        for _ in 0..1000 {
            parser.push(b"data: 0123456789\n\ndata: partial");
            while parser.next_event().unwrap().is_some() {}
            parser.push(b"\n\n");
            while parser.next_event().unwrap().is_some() {}
        }
        assert!(parser.input.len() < 64, "buffer kept {} bytes", parser.input.len());
    }
}
