//! Reading an incoming event: its name and its arguments, from any JSON a
//! JavaScript client can send.
//!
//! socketioxide's own extractors give up on things JavaScript clients
//! produce and the original server accepts: event names written with an
//! escape (`"\u0000"`), object keys written with one (`{"\t": 1}` as the
//! first key), strings holding a lone UTF-16 surrogate
//! (`JSON.stringify('\ud800')` is the valid JSON `"\ud800"`, which no Rust
//! string can hold), values nested deeper than serde_json's recursion
//! limit; and, from clients that write their own packets, numbers beyond
//! the double range and malformed binary placeholders. A request it gives
//! up on is dropped unanswered, with an ERROR log line per request.
//! [`Incoming`] reads every event instead: the usual way first (no extra
//! cost), and only when that fails a second time, one argument at a time,
//! with
//!
//! - each lone surrogate escape replaced by `\ufffd` (U+FFFD, what
//!   `TextEncoder` makes of them),
//! - each number beyond the double range read as `null` (what
//!   `JSON.stringify` makes of the `Infinity` that `JSON.parse` reads),
//! - binary attachments put where a well-formed placeholder
//!   `{"_placeholder": true, "num": n}` names them (anything else is an
//!   ordinary object), and
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

use crate::json::{Args, buffer_value};
use crate::metrics;

/// The deepest nesting of arrays and objects an argument may have. Values
/// are handled recursively everywhere (parsing, validation, hooks,
/// serialization, drop), so the depth is bounded; the usual reading (one
/// serde_json pass over the packet, whose recursion limit of 128 counts the
/// event's own array) takes 126, the second reading the rest.
pub const MAX_ARGUMENT_DEPTH: usize = 128;

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
    // Placeholder-shaped objects are left to the second reading, which
    // keeps only well-formed ones (a memchr-fast look at the text).
    let placeholders = packet
        .as_str()
        .is_some_and(|text| memchr::memmem::find(text.as_bytes(), b"placeholder").is_some());
    let event = CommonParser.read_event(packet).map(str::to_owned);
    if !placeholders
        && let Ok(event) = event
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
    let unreadable = || {
        metrics::bad_input("unreadable");
        Incoming {
            unreadable: true,
            ..Incoming::default()
        }
    };
    let repaired = replace_lone_surrogates(text);
    if repaired.is_some() {
        metrics::bad_input("lone_surrogate");
    }
    let text = repaired.as_deref().unwrap_or(text);
    let Some(elements) = top_level_elements(text) else {
        return unreadable();
    };
    let event = elements
        .first()
        .filter(|e| e.depth == 0)
        .and_then(|e| serde_json::from_str::<String>(&text[e.span.clone()]).ok());
    let attachments: Vec<Bytes> = attachments.map(Vec::from).unwrap_or_default();
    let mut args = Vec::with_capacity(elements.len().saturating_sub(1));
    let mut too_deep = Vec::new();
    for (index, element) in elements.iter().enumerate().skip(1) {
        let json = &text[element.span.clone()];
        if element.depth > MAX_ARGUMENT_DEPTH {
            too_deep.push(TooDeep {
                position: index - 1,
                json: json.to_string(),
            });
            args.push(Value::Null);
            continue;
        }
        let Some(mut value) = parse_value(json) else {
            return Incoming {
                event,
                ..unreadable()
            };
        };
        put_attachments(&mut value, &attachments);
        args.push(value);
    }
    if !too_deep.is_empty() {
        metrics::bad_input("too_deep");
    }
    Incoming {
        event,
        args,
        too_deep,
        unreadable: false,
    }
}

/// One argument's JSON text (at most [`MAX_ARGUMENT_DEPTH`] deep), numbers
/// beyond the double range read as `null`.
fn parse_value(json: &str) -> Option<Value> {
    let parse = |json: &str| {
        let mut de = serde_json::Deserializer::from_str(json);
        // The depth was checked by `top_level_elements`.
        de.disable_recursion_limit();
        serde::Deserialize::deserialize(&mut de)
            .and_then(|value| de.end().map(|()| value))
            .ok()
    };
    parse(json).or_else(|| {
        let finite = replace_huge_numbers(json)?;
        metrics::bad_input("huge_number");
        parse(&finite)
    })
}

/// Replaces every well-formed placeholder in `value` by the attachment it
/// names, in the `Buffer` form the service carries binary values in, and
/// any other object with a `_placeholder` key by `null`: the original's
/// parser makes `buffers[num]` of it (`undefined`, sent on as `null`), and
/// passed on as it is, it would make the socket.io clients that receive it
/// fail ("illegal attachments") and close.
fn put_attachments(value: &mut Value, attachments: &[Bytes]) {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| put_attachments(item, attachments)),
        Value::Object(map) if map.contains_key("_placeholder") => {
            let named = (map.len() == 2 && map.get("_placeholder") == Some(&Value::Bool(true)))
                .then(|| map.get("num").and_then(Value::as_u64))
                .flatten()
                .and_then(|num| attachments.get(usize::try_from(num).ok()?));
            *value = named.map_or(Value::Null, |bytes| buffer_value(bytes));
        }
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| put_attachments(item, attachments)),
        _ => {}
    }
}

/// `json` with every number token that overflows a double replaced by
/// `null`; `None` if it has none.
fn replace_huge_numbers(json: &str) -> Option<String> {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let (mut copied, mut replaced) = (0, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            i = string_end(bytes, i);
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            if json[start..i].parse::<f64>().is_ok_and(f64::is_infinite) {
                out.push_str(&json[copied..start]);
                out.push_str("null");
                copied = i;
                replaced = true;
            }
            continue;
        }
        i += 1;
    }
    replaced.then(|| {
        out.push_str(&json[copied..]);
        out
    })
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

/// The index just past the JSON string that opens at `open` (a `"`), or the
/// end of `bytes` if it is not closed.
fn string_end(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
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
    let mut i = open + 1;
    while i < bytes.len() {
        let b = bytes[i];
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
            b'"' => {
                i = string_end(bytes, i);
                last = i;
                continue;
            }
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
        for depth in [126, 127, MAX_ARGUMENT_DEPTH] {
            let limit = nested(depth);
            let incoming = read_text(&format!(r#"["systemMessage",{limit}]"#));
            assert!(
                incoming.too_deep.is_empty() && !incoming.unreadable,
                "{depth}"
            );
            assert_eq!(incoming.args, vec![parse_value(&limit).unwrap()]);
            assert_eq!(crate::json::js_stringify(&incoming.args[0]), limit);
        }
        for depth in [MAX_ARGUMENT_DEPTH + 1, 1000, 100_000] {
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
    fn keys_with_escapes_are_read() {
        let incoming = read_text(r#"["roomLeave",{"\t":"","\"":1},[{"a\nb":{"\u0000":2}}]]"#);
        assert!(!incoming.unreadable);
        assert_eq!(
            incoming.args,
            vec![json!({"\t": "", "\"": 1}), json!([{"a\nb": {"\u{0}": 2}}])]
        );
    }

    #[test]
    fn numbers_beyond_doubles_read_as_null() {
        let incoming = read_text(r#"["roomHistoryGet","r",1e400,[-1E+999,"1e400",2.5]]"#);
        assert_eq!(
            incoming.args,
            vec![json!("r"), Value::Null, json!([null, "1e400", 2.5])]
        );
    }

    #[test]
    fn attachments_go_where_well_formed_placeholders_name_them() {
        let bins: VecDeque<Bytes> =
            vec![Bytes::from_static(&[1]), Bytes::from_static(&[2, 3])].into();
        // the second reading (a key with an escape), with attachments
        let text = r#"["systemMessage",{"\t":{"_placeholder":true,"num":1}},{"num":0,"_placeholder":true},{"_placeholder":true},{"_placeholder":true,"num":7},{"_placeholder":1,"num":0}]"#;
        let incoming = read(&mut Packet::Str(text.to_string().into(), Some(bins)));
        assert_eq!(
            incoming.args,
            vec![
                json!({"\t": buffer_value(&[2, 3])}),
                buffer_value(&[1]),
                Value::Null,
                Value::Null,
                Value::Null,
            ]
        );
        // without attachments, anywhere in a value
        let incoming = read_text(
            r#"["systemMessage",{"a":1,"b":[{"_placeholder":true,"num":0}]},{"c":{"_placeholder":false}}]"#,
        );
        assert_eq!(
            incoming.args,
            vec![json!({"a": 1, "b": [null]}), json!({"c": null})]
        );
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
        for text in [
            "",
            "{}",
            "[",
            r#"["a","#,
            r#"["a",tru]"#,
            "[\"a\\",
            r#"["a",1 2]"#,
        ] {
            let incoming = read_text(text);
            assert!(incoming.unreadable, "{text:?}");
        }
    }
}
