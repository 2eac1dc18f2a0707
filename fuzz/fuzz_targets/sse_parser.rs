//! Arbitrary bytes, cut into arbitrary chunks, through the SSE parser and through the
//! OpenAI and Anthropic stream decoders and response parsers.
//!
//! Beyond "never panics", it checks that chunking changes nothing (the socket decides
//! where chunks end, so the answer must not depend on it) and that the deltas a
//! caller saw add up to the completion it got.
//!
//! Seeds (recorded streams) are in `fuzz/seeds/sse_parser`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none sse_parser corpus/sse_parser seeds/sse_parser`

#![no_main]

use herald_agent::provider::anthropic::{self, AnthropicStreamDecoder};
use herald_agent::provider::http::{StreamDecoder, decode_stream};
use herald_agent::provider::openai::{self, OpenAiStreamDecoder};
use herald_agent::provider::sse::{SseError, SseEvent, SseParser};
use herald_agent::provider::{Completion, StreamDelta};
use libfuzzer_sys::fuzz_target;

/// Input layout: one byte `n`, then `n` chunk lengths (used cyclically; 0 is an empty
/// chunk, which must be harmless), then the stream. A recorded stream prefixed with
/// `\0` is a valid seed.
fn split_input(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len())),
        None => (&[], bytes),
    }
}

fn chunks<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    if cuts.is_empty() {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    for &cut in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(usize::from(cut).min(rest.len()));
        out.push(head);
        rest = tail;
        if out.len() > data.len() * 2 + 2 {
            // Only zero-length cuts left: hand over the rest in one piece.
            out.push(rest);
            break;
        }
    }
    out
}

fn parse(pieces: &[&[u8]], limit: usize) -> (Vec<SseEvent>, Option<SseError>) {
    let mut parser = SseParser::with_max_event_size(limit);
    let mut events = Vec::new();
    for piece in pieces {
        parser.push(piece);
        loop {
            match parser.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    match parser.finish() {
        Ok(last) => events.extend(last),
        Err(e) => return (events, Some(e)),
    }
    (events, None)
}

type Outcome = (Result<Completion, String>, Vec<StreamDelta>);

fn decode<D: StreamDecoder>(decoder: D, pieces: &[&[u8]]) -> Outcome {
    let mut deltas = Vec::new();
    let result = decode_stream("fuzz", decoder, pieces.iter().copied(), &mut |d| {
        deltas.push(d)
    });
    (result.map_err(|e| format!("{e:?}")), deltas)
}

/// What a caller assembled from the deltas matches the completion.
fn check_consistent(outcome: &Outcome) {
    let (Ok(completion), deltas) = outcome else {
        return;
    };
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut started = Vec::new();
    for delta in deltas {
        match delta {
            StreamDelta::Text(t) => text.push_str(t),
            StreamDelta::Reasoning(r) => reasoning.push_str(r),
            StreamDelta::ToolCallStarted { id, name } => started.push((id.clone(), name.clone())),
        }
    }
    assert_eq!(text, completion.content);
    assert_eq!(reasoning, completion.reasoning.clone().unwrap_or_default());
    let mut finished: Vec<_> = completion
        .tool_calls
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    started.sort();
    finished.sort();
    assert_eq!(started, finished);
}

fuzz_target!(|bytes: &[u8]| {
    let (cuts, data) = split_input(bytes);
    let whole: &[&[u8]] = &[data];
    let pieces = chunks(data, cuts);

    // With a limit no input reaches, chunking must change nothing at all.
    let reference = parse(whole, usize::MAX);
    assert_eq!(parse(&pieces, usize::MAX), reference);
    // A small limit must fail cleanly, and agree when neither run hit it.
    let small_whole = parse(whole, 64);
    let small_pieces = parse(&pieces, 64);
    let too_large =
        |r: &(Vec<SseEvent>, Option<SseError>)| matches!(r.1, Some(SseError::EventTooLarge { .. }));
    if !too_large(&small_whole) && !too_large(&small_pieces) {
        assert_eq!(small_whole, small_pieces);
    }

    let openai_whole = decode(OpenAiStreamDecoder::new(), whole);
    let openai_pieces = decode(OpenAiStreamDecoder::new(), &pieces);
    assert_eq!(openai_whole, openai_pieces);
    check_consistent(&openai_whole);

    let anthropic_whole = decode(AnthropicStreamDecoder::new(), whole);
    let anthropic_pieces = decode(AnthropicStreamDecoder::new(), &pieces);
    assert_eq!(anthropic_whole, anthropic_pieces);
    check_consistent(&anthropic_whole);

    let _ = openai::parse_response(data);
    let _ = anthropic::parse_response(data);
});
