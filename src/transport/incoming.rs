//! Reading an incoming event: its name and its arguments, from any JSON a
//! JavaScript client can send.
//!
//! socketioxide's own extractors give up on three things JavaScript clients
//! produce and the original server accepts: event names written with an
//! escape (`"\u0000"`), strings holding a lone UTF-16 surrogate
//! (`JSON.stringify('\ud800')` is the valid JSON `"\ud800"`, which no Rust
//! string can hold) and values nested deeper than serde_json's recursion
//! limit. A request it gives up on is dropped unanswered, with an ERROR log
//! line per request. [`Incoming`] reads every event instead: the usual way
//! first (no extra cost), and only when that fails a second time with
//!
//! - each lone surrogate escape replaced by `\ufffd` (U+FFFD, what
//!   `TextEncoder` makes of them), and
//! - each argument nested deeper than [`MAX_ARGUMENT_DEPTH`] levels set
//!   aside as [`TooDeep`] with its JSON text (and `null` in its place), so
//!   that the request is answered with `badArgument` at that position rather
//!   than overflowing a stack anywhere downstream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value as Packet;
use socketioxide_core::parser::Parse;
use socketioxide_parser_common::CommonParser;

use crate::json::Args;
use crate::metrics;

/// The deepest nesting of arrays and objects an argument may have: the
/// most serde_json reads inside the event's own array (its recursion limit
/// is 128 levels for the whole packet, one of which is that array; one
/// more is kept in reserve).
pub const MAX_ARGUMENT_DEPTH: usize = 126;

/// An argument nested deeper than [`MAX_ARGUMENT_DEPTH`]: its position among
/// the arguments and its JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct TooDeep {
    pub position: usize,
    pub json: String,
}

/// An incoming event, read whatever it holds.
#[derive(Debug, Default)]
pub struct Incoming {
    /// `None` when the name is not a string: no command or handler has it.
    pub event: Option<String>,
    pub args: Vec<Value>,
    /// Arguments too deep to read (`null` in `args`), in position order.
    pub too_deep: Vec<TooDeep>,
    /// The arguments could not be read at all (not from a JavaScript client:
    /// malformed JSON or binary attachments that do not match).
    pub unreadable: bool,
}

impl<A: Adapter> FromMessageParts<A> for Incoming {
    type Error = Infallible;

    fn from_message_parts(
        _: &Arc<Socket<A>>,
        packet: &mut Packet,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(read(packet))
    }
}

/// Reads an event packet: the plain way, else the repairing way.
pub fn read(packet: &mut Packet) -> Incoming {
    // Binary attachments are consumed as they are read: keep them for the
    // second reading (a clone of `Bytes` shares the data).
    let attachments = match packet {
        Packet::Str(_, Some(bins)) => Some(bins.clone()),
        _ => None,
    };
    let event = CommonParser.read_event(packet).map(str::to_owned);
    if let Ok(event) = event
        && let Ok(Args(args)) = CommonParser.decode_value::<Args>(packet, true)
    {
        return Incoming {
            event: Some(event),
            args,
            ..Incoming::default()
        };
    }
    let Some(text) = packet.as_str() else {
        metrics::bad_input("unreadable");
        return Incoming {
            unreadable: true,
            ..Incoming::default()
        };
    };
    read_repaired(text, attachments)
}

fn read_repaired(text: &str, attachments: Option<VecDeque<Bytes>>) -> Incoming {
    let repaired = replace_lone_surrogates(text);
    if repaired.is_some() {
        metrics::bad_input("lone_surrogate");
    }
    let text = repaired.as_deref().unwrap_or(text);
    let Some(elements) = top_level_elements(text) else {
        metrics::bad_input("unreadable");
        return Incoming {
            unreadable: true,
            ..Incoming::default()
        };
    };
    let event = elements
        .first()
        .filter(|e| e.depth == 0)
        .and_then(|e| serde_json::from_str::<String>(&text[e.span.clone()]).ok());
    let mut too_deep = Vec::new();
    let mut shallow = String::with_capacity(text.len());
    let mut copied = 0;
    for (index, element) in elements.iter().enumerate().skip(1) {
        if element.depth > MAX_ARGUMENT_DEPTH {
            too_deep.push(TooDeep {
                position: index - 1,
                json: text[element.span.clone()].to_string(),
            });
            shallow.push_str(&text[copied..element.span.start]);
            shallow.push_str("null");
            copied = element.span.end;
        }
    }
    if !too_deep.is_empty() {
        metrics::bad_input("too_deep");
    }
    shallow.push_str(&text[copied..]);
    let mut packet = Packet::Str(shallow.into(), attachments);
    match CommonParser.decode_value::<Args>(&mut packet, true) {
        Ok(Args(args)) => Incoming {
            event,
            args,
            too_deep,
            unreadable: false,
        },
        Err(_) => {
            metrics::bad_input("unreadable");
            Incoming {
                event,
                unreadable: true,
                ..Incoming::default()
            }
        }
    }
}

/// `text` with every `\uXXXX` escape of an unpaired UTF-16 surrogate
/// replaced by `\ufffd` (same length, so offsets stay valid); `None` if it
/// has none. Backslashes occur only inside JSON strings, so every one
/// starts an escape.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut lone = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escaped_unit(bytes, i) else {
            i += 2;
            continue;
        };
        match unit {
            0xD800..=0xDBFF => match escaped_unit(bytes, i + 6) {
                Some(0xDC00..=0xDFFF) => i += 12,
                _ => {
                    lone.push(i);
                    i += 6;
                }
            },
            0xDC00..=0xDFFF => {
                lone.push(i);
                i += 6;
            }
            _ => i += 6,
        }
    }
    if lone.is_empty() {
        return None;
    }
    let mut repaired = text.as_bytes().to_vec();
    for at in lone {
        repaired[at..at + 6].copy_from_slice(b"\\ufffd");
    }
    // Only ASCII bytes of escapes were replaced by ASCII bytes.
    String::from_utf8(repaired).ok()
}

/// The UTF-16 code unit of the `\uXXXX` escape at `at`, if there is one.
fn escaped_unit(bytes: &[u8], at: usize) -> Option<u16> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

/// One element of the packet's top-level array.
#[derive(Debug, PartialEq)]
struct Element {
    span: std::ops::Range<usize>,
    /// How deeply arrays and objects nest inside it (0 for a scalar).
    depth: usize,
}

/// The elements of a JSON array text, found without recursion (any depth);
/// `None` if `text` is not an array.
fn top_level_elements(text: &str) -> Option<Vec<Element>> {
    let bytes = text.as_bytes();
    let open = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes[open] != b'[' {
        return None;
    }
    let mut elements = Vec::new();
    let mut depth = 1usize;
    let mut start: Option<usize> = None;
    let mut deepest = 0;
    let mut last = open;
    let mut in_string = false;
    let mut i = open + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            last = i;
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b',' | b']' | b'}' if depth == 1 => {
                if let Some(s) = start.take() {
                    elements.push(Element {
                        span: s..last,
                        depth: deepest,
                    });
                }
                deepest = 0;
                if b != b',' {
                    return Some(elements);
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth - 1);
            }
            b']' | b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
        last = i;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_text(text: &str) -> Incoming {
        read(&mut Packet::Str(text.to_string().into(), None))
    }

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn plain_events_read_as_usual() {
        let incoming = read_text(r#"["roomJoin","r1",{"a":[1,2]}]"#);
        assert_eq!(incoming.event.as_deref(), Some("roomJoin"));
        assert_eq!(incoming.args, vec![json!("r1"), json!({"a": [1, 2]})]);
        assert!(incoming.too_deep.is_empty() && !incoming.unreadable);
    }

    #[test]
    fn escaped_event_names_are_read() {
        let incoming = read_text(r#"["\u0000","x"]"#);
        assert_eq!(incoming.event.as_deref(), Some("\u{0}"));
        assert_eq!(incoming.args, vec![json!("x")]);
        assert_eq!(read_text(r#"[12,"x"]"#).event, None);
        assert_eq!(read_text(r#"[["a"],"x"]"#).event, None);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let incoming =
            read_text(r#"["roomJoin","x\ud800y","\udc00","a\ud83d","\ud83d\ude00","\\ud800"]"#);
        assert_eq!(
            incoming.args,
            vec![
                json!("x\u{fffd}y"),
                json!("\u{fffd}"),
                json!("a\u{fffd}"),
                json!("😀"),
                json!("\\ud800"),
            ]
        );
        let incoming = read_text(r#"["\ud800",1]"#);
        assert_eq!(incoming.event.as_deref(), Some("\u{fffd}"));
    }

    #[test]
    fn arguments_up_to_the_limit_are_read_deeper_ones_set_aside() {
        let limit = nested(MAX_ARGUMENT_DEPTH);
        let incoming = read_text(&format!(r#"["systemMessage",{limit}]"#));
        assert!(incoming.too_deep.is_empty());
        assert_eq!(incoming.args.len(), 1);

        for depth in [MAX_ARGUMENT_DEPTH + 1, 130, 1000, 100_000] {
            let deep = nested(depth);
            let incoming = read_text(&format!(r#"["roomJoin", "r", {deep} ,"x\ud800"]"#));
            assert_eq!(incoming.event.as_deref(), Some("roomJoin"), "{depth}");
            assert_eq!(
                incoming.args,
                vec![json!("r"), Value::Null, json!("x\u{fffd}")]
            );
            assert_eq!(
                incoming.too_deep,
                vec![TooDeep {
                    position: 1,
                    json: deep
                }]
            );
        }
        let objects = format!("{}1{}", r#"{"a":"#.repeat(500), "}".repeat(500));
        let incoming = read_text(&format!(r#"["roomJoin",{objects}]"#));
        assert_eq!(incoming.too_deep[0].json, objects);
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!(r#"["roomJoin","{}\"]",[["]"]]]"#, "[".repeat(500));
        let elements = top_level_elements(&text).unwrap();
        assert_eq!(elements.len(), 3);
        assert_eq!(elements[1].depth, 0);
        assert_eq!(elements[2].depth, 2);
        assert_eq!(&text[elements[2].span.clone()], r#"[["]"]]"#);
    }

    #[test]
    fn what_no_client_sends_is_unreadable_not_a_panic() {
        for text in ["", "{}", "[", r#"["a","#, r#"["a",tru]"#, "[\"a\\"] {
            let incoming = read_text(text);
            assert!(incoming.unreadable, "{text:?}");
        }
    }
}
