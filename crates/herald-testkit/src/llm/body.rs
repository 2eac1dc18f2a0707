//! Response bodies: whole, server-sent events, or cut off on purpose.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde::Serialize;
use tokio::time::Sleep;

/// The body error that makes hyper drop the connection without finishing the
/// response: no terminating chunk, or fewer bytes than `Content-Length` said.
#[derive(Debug, thiserror::Error)]
#[error("scripted connection cut")]
pub(crate) struct ConnectionCut;

/// How long a cut body waits, after its last bytes, before dropping the connection.
const CUT_FLUSH_PAUSE: Duration = Duration::from_millis(5);

/// Server-sent events written into one buffer, with the end of each event
/// remembered so the body can send them as separate frames (and pause between
/// them) without one allocation per event.
#[derive(Default)]
pub(crate) struct Frames {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Frames {
    /// `data: <json>\n\n` (OpenAI style: no event names).
    pub fn data(&mut self, value: &impl Serialize) {
        self.buf.extend_from_slice(b"data: ");
        write_json(&mut self.buf, value);
        self.buf.extend_from_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }

    /// `event: <name>\ndata: <json>\n\n` (Anthropic style).
    pub fn event(&mut self, name: &str, value: &impl Serialize) {
        self.buf.extend_from_slice(b"event: ");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\ndata: ");
        write_json(&mut self.buf, value);
        self.buf.extend_from_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }

    /// A pre-formatted event, for the deliberately broken ones.
    pub fn raw(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
        self.ends.push(self.buf.len());
    }
}

/// Serializes into a buffer. Our response types are plain structs, strings and
/// `serde_json::Value`s, and writing to a `Vec` cannot fail, so an error here is
/// a bug in this crate, not something a request can cause.
pub(crate) fn write_json(buf: &mut Vec<u8>, value: &impl Serialize) {
    serde_json::to_writer(buf, value).expect("response types always serialize");
}

pub(crate) fn to_json(value: &impl Serialize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    write_json(&mut buf, value);
    buf
}

/// The body of every response this server sends.
pub(crate) struct ReplyBody {
    data: Bytes,
    /// End offset of each frame in `data`.
    ends: Vec<usize>,
    next_frame: usize,
    offset: usize,
    pause: Option<Pin<Box<Sleep>>>,
    frame_delay: Duration,
    /// Error out (dropping the connection) after the last frame.
    cut: bool,
    cut_armed: bool,
    /// Known length, so hyper sends `Content-Length` instead of chunking.
    exact: bool,
}

impl ReplyBody {
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let ends = if data.is_empty() { Vec::new() } else { vec![data.len()] };
        Self {
            data,
            ends,
            next_frame: 0,
            offset: 0,
            pause: None,
            frame_delay: Duration::ZERO,
            cut: false,
            cut_armed: false,
            exact: true,
        }
    }

    /// Sends `data`, then drops the connection.
    pub fn cut_after(data: impl Into<Bytes>) -> Self {
        Self { cut: true, exact: false, ..Self::full(data) }
    }

    /// An event stream: waits `first_delay`, then sends each event with
    /// `frame_delay` between them, then ends cleanly or drops the connection.
    pub fn events(frames: Frames, first_delay: Duration, frame_delay: Duration, cut: bool) -> Self {
        Self {
            data: Bytes::from(frames.buf),
            ends: frames.ends,
            next_frame: 0,
            offset: 0,
            pause: (!first_delay.is_zero()).then(|| Box::pin(tokio::time::sleep(first_delay))),
            frame_delay,
            cut,
            cut_armed: false,
            exact: false,
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = ConnectionCut;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ConnectionCut>>> {
        let this = self.get_mut();
        if let Some(pause) = &mut this.pause {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pause = None;
        }
        if let Some(&end) = this.ends.get(this.next_frame) {
            let frame = this.data.slice(this.offset..end);
            this.offset = end;
            this.next_frame += 1;
            let more = this.next_frame < this.ends.len() || this.cut;
            if more && !this.frame_delay.is_zero() {
                this.pause = Some(Box::pin(tokio::time::sleep(this.frame_delay)));
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        if this.cut {
            if !this.cut_armed {
                // Return Pending once before the error: hyper flushes what it has
                // buffered while the body is pending, and drops buffered bytes when
                // the body errors, so without this the client might never see the
                // text that came before the cut.
                this.cut_armed = true;
                let mut pause = Box::pin(tokio::time::sleep(CUT_FLUSH_PAUSE));
                if pause.as_mut().poll(cx).is_pending() {
                    this.pause = Some(pause);
                    return Poll::Pending;
                }
            }
            this.cut = false;
            return Poll::Ready(Some(Err(ConnectionCut)));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.pause.is_none() && !self.cut && self.next_frame >= self.ends.len()
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact { SizeHint::with_exact((self.data.len() - self.offset) as u64) } else { SizeHint::default() }
    }
}
