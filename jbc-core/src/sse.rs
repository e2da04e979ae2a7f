//! [`EventDecoder`]: Server-Sent Events (the `GET /events` stream) decoded
//! from bytes as they arrive, with a bound on each event's size. Sans-IO:
//! a follower pushes the chunks it read and gets whole events back.

use alloc::string::String;
use alloc::vec::Vec;

/// Most bytes of one event a follower reads (PROTOCOL.md §7.2):
/// a block's event is at most about 26 KiB.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// One event: its name (`message` when the stream gave none) and its data
/// (the `data:` lines joined with `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field.
    pub name: String,
    /// The `data:` field.
    pub data: String,
}

/// An event grew past its bound: the stream must be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event of the stream is larger than {0} bytes")]
pub struct EventTooLarge(pub usize);

/// Decodes a stream of Server-Sent Events chunk by chunk.
#[derive(Debug, Clone)]
pub struct EventDecoder {
    max_event_bytes: usize,
    line: Vec<u8>,
    name: Option<String>,
    data: Option<String>,
    /// Bytes of the event so far (its lines, comments included).
    event_bytes: usize,
}

impl EventDecoder {
    /// A decoder refusing events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> EventDecoder {
        EventDecoder {
            max_event_bytes,
            line: Vec::new(),
            name: None,
            data: None,
            event_bytes: 0,
        }
    }

    /// Takes the next bytes of the stream; appends each event they complete
    /// to `events`. After an error the stream must be dropped.
    pub fn push(&mut self, bytes: &[u8], events: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        for &byte in bytes {
            self.event_bytes += 1;
            if self.event_bytes > self.max_event_bytes {
                return Err(EventTooLarge(self.max_event_bytes));
            }
            if byte != b'\n' {
                self.line.push(byte);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = core::mem::take(&mut self.line);
            self.take_line(&line, events);
        }
        Ok(())
    }

    fn take_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            // The end of an event: dispatch it if it has data.
            if let Some(data) = self.data.take() {
                let name = self.name.take().unwrap_or_else(|| "message".into());
                events.push(SseEvent { name, data });
            }
            self.name = None;
            self.event_bytes = 0;
            return;
        }
        if line[0] == b':' {
            // A comment (keep-alive): it ends no event, but costs nothing.
            if self.name.is_none() && self.data.is_none() {
                self.event_bytes = 0;
            }
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.name = Some(value.into()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.into()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn decode(chunks: &[&[u8]], max: usize) -> Result<Vec<SseEvent>, EventTooLarge> {
        let mut decoder = EventDecoder::new(max);
        let mut events = Vec::new();
        for chunk in chunks {
            decoder.push(chunk, &mut events)?;
        }
        Ok(events)
    }

    #[test]
    fn events_split_anywhere_are_decoded_whole_and_comments_are_skipped() {
        let stream = b"event: status\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: block\r\ndata: x\r\ndata: y\r\n\r\ndata: plain\n\n";
        let whole = decode(&[stream], MAX_EVENT_BYTES).unwrap();
        let expected = vec![
            SseEvent {
                name: "status".into(),
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                name: "block".into(),
                data: "x\ny".into(),
            },
            SseEvent {
                name: "message".into(),
                data: "plain".into(),
            },
        ];
        assert_eq!(whole, expected);
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(
                decode(&[a, b], MAX_EVENT_BYTES).unwrap(),
                expected,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_event_over_the_bound_is_refused_but_many_small_ones_are_not() {
        let mut big = b"event: block\ndata: ".to_vec();
        big.extend(core::iter::repeat_n(b'x', 100));
        assert_eq!(decode(&[&big], 64), Err(EventTooLarge(64)));
        // A line that never ends is refused too.
        assert_eq!(decode(&[&[b'y'; 65]], 64), Err(EventTooLarge(64)));
        let small = b"event: a\ndata: 1\n\n: ping\n\n".repeat(100);
        assert_eq!(decode(&[&small], 64).unwrap().len(), 100);
    }
}
