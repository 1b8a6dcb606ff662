//! JSON the way the original's clients see it: JavaScript number and string
//! formatting for error messages (`util.format`), and socket.io binary
//! attachments carried inside `serde_json::Value`.
//!
//! Binary values travel through the service as Node's `Buffer` JSON form,
//! `{"type":"Buffer","data":[..bytes..]}`: that is how the original renders
//! them in error messages and how its Redis state stores them, and it keeps
//! every message an ordinary `serde_json::Value` for hooks and checkers.
//! They are turned back into binary attachments when sent.

use std::fmt::Write as _;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

/// `JSON.stringify(value)`: compact, keys in stored order, JS numbers.
pub fn js_stringify(value: &Value) -> String {
    let mut out = String::new();
    write_js(&mut out, value);
    out
}

/// The length in bytes of `js_stringify(value)`, without building it.
pub fn js_stringify_len(value: &Value) -> usize {
    let mut length = Length(0);
    write_js(&mut length, value);
    length.0
}

/// About the length in bytes of `js_stringify(value)`, from a quick walk:
/// strings as if nothing needed escaping (the real length is at most six
/// times that), numbers at their longest. For budgets on hot paths, where
/// serializing once more to count would cost as much as the reply itself.
pub fn approx_json_len(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.len() + items.iter().map(approx_json_len).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(key, item)| key.len() + 4 + approx_json_len(item))
                .sum::<usize>()
        }
    }
}

/// Where `write_js` writes: a string, or a byte count.
trait JsOut: std::fmt::Write {
    fn push_str(&mut self, s: &str);
}

impl JsOut for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
}

struct Length(usize);

impl std::fmt::Write for Length {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

impl JsOut for Length {
    fn push_str(&mut self, s: &str) {
        self.0 += s.len();
    }
}

fn write_js<W: JsOut>(out: &mut W, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_js_number(out, n),
        Value::String(s) => write_js_string(out, s),
        Value::Array(items) => {
            out.push_str("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",");
                }
                write_js(out, item);
            }
            out.push_str("]");
        }
        Value::Object(map) => {
            out.push_str("{");
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(",");
                }
                write_js_string(out, key);
                out.push_str(":");
                write_js(out, item);
            }
            out.push_str("}");
        }
    }
}

fn write_js_string<W: JsOut>(out: &mut W, s: &str) {
    // serde_json escapes exactly the characters JSON.stringify escapes; it
    // writes straight into `out` (a room message's JSON is built on every
    // message, so no string of its own per field).
    if serde_json::to_writer(JsWriter(out), s).is_err() {
        out.push_str("\"\"");
    }
}

/// `io::Write` into a `JsOut`, for serde_json, which writes valid UTF-8.
struct JsWriter<'a, W>(&'a mut W);

impl<W: JsOut> std::io::Write for JsWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(buf)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
        self.0.push_str(text);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A number as JavaScript prints it (`2`, `1.5`, `1e+21`).
pub fn js_number(n: &Number) -> String {
    let mut out = String::new();
    write_js_number(&mut out, n);
    out
}

fn write_js_number<W: JsOut>(out: &mut W, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        out.push_str(ryu_js::Buffer::new().format(n.as_f64().unwrap_or(f64::NAN)));
    }
}

/// `String(value)` as `util.format`'s `%s` shows it.
pub fn js_to_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => js_number(n),
        other => js_stringify(other),
    }
}

/// Node's `util.format` for the `%s`, `%d`, `%j` and `%%` placeholders.
/// Missing arguments leave the placeholder as is; extra ones are appended,
/// each after a space.
pub fn format_js(fmt: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('%') => {
                chars.next();
                out.push('%');
            }
            Some(spec @ ('s' | 'd' | 'j')) => {
                chars.next();
                match args.next() {
                    Some(arg) => out.push_str(&format_placeholder(spec, arg)),
                    None => {
                        out.push('%');
                        out.push(spec);
                    }
                }
            }
            _ => out.push('%'),
        }
    }
    for arg in args {
        let _ = write!(out, " {}", js_to_string(arg));
    }
    out
}

fn format_placeholder(spec: char, arg: &Value) -> String {
    match spec {
        'j' => js_stringify(arg),
        'd' => match arg {
            Value::Number(n) => js_number(n),
            Value::Bool(b) => u8::from(*b).to_string(),
            Value::Null => "0".to_string(),
            _ => "NaN".to_string(),
        },
        _ => js_to_string(arg),
    }
}

/// The `Buffer` JSON form of a binary attachment.
pub fn buffer_value(bytes: &[u8]) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("type".into(), Value::String("Buffer".into()));
    map.insert(
        "data".into(),
        Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
    );
    Value::Object(map)
}

/// The bytes of a `Buffer` JSON object, if `value` is one.
pub fn as_buffer(value: &Value) -> Option<Vec<u8>> {
    let map = value.as_object()?;
    if map.len() != 2 || map.get("type")?.as_str()? != "Buffer" {
        return None;
    }
    map.get("data")?
        .as_array()?
        .iter()
        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect()
}

/// Serializes a value for socket.io, turning `Buffer` objects back into
/// binary attachments.
pub struct Wire<'a>(pub &'a Value);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Wire(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                if let Some(bytes) = as_buffer(self.0) {
                    return serializer.serialize_bytes(&bytes);
                }
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, item) in map {
                    out.serialize_entry(key, &Wire(item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Several socket.io event or ack arguments: serialized as a tuple so that
/// socketioxide spreads them (`[null, data]` becomes two arguments).
pub struct WireArgs<'a>(pub &'a [Value]);

impl Serialize for WireArgs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for item in self.0 {
            tuple.serialize_element(&Wire(item))?;
        }
        tuple.end()
    }
}

/// The arguments of an incoming event, any number of them, binary
/// attachments included. Deserialized as a tuple so that socketioxide hands
/// over every argument rather than the first one only.
#[derive(Debug, Default)]
pub struct Args(pub Vec<Value>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut args = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(Payload(value)) = seq.next_element()? {
                    args.push(value);
                }
                Ok(Args(args))
            }
        }
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

/// One JSON value that may contain binary attachments.
pub struct Payload(pub Value);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PayloadVisitor).map(Payload)
    }
}

struct PayloadSeed;

impl<'de> DeserializeSeed<'de> for PayloadSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value or binary attachment")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(buffer_value(v))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(buffer_value(&v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(PayloadVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(PayloadSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(PayloadSeed)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stringify_follows_javascript() {
        assert_eq!(js_stringify(&json!(1.5)), "1.5");
        assert_eq!(js_stringify(&json!(2.0)), "2");
        assert_eq!(js_stringify(&json!(1e21)), "1e+21");
        assert_eq!(js_stringify(&json!("a\"b\n\u{1}é")), r#""a\"b\n\u0001é""#);
        assert_eq!(
            js_stringify(&json!({"b": 1, "a": [true, null]})),
            r#"{"b":1,"a":[true,null]}"#
        );
    }

    #[test]
    fn stringify_len_is_the_length_of_stringify() {
        for value in [
            json!(null),
            json!(1.5),
            json!(1e21),
            json!("a\"b\n\u{1}é✓"),
            json!({"b": 1, "a": [true, null, "x"], "é": {"k": -0.000001}}),
        ] {
            assert_eq!(
                js_stringify_len(&value),
                js_stringify(&value).len(),
                "{value}"
            );
        }
    }

    #[test]
    fn format_handles_missing_and_extra_arguments() {
        assert_eq!(format_js("No such room %s", &[]), "No such room %s");
        assert_eq!(
            format_js("Action is not allowed", &[json!("x")]),
            "Action is not allowed x"
        );
        assert_eq!(
            format_js("%d and %j", &[json!(2), json!("q")]),
            "2 and \"q\""
        );
    }

    #[test]
    fn buffers_round_trip() {
        let value = buffer_value(&[1, 2, 255]);
        assert_eq!(as_buffer(&value), Some(vec![1, 2, 255]));
        assert_eq!(as_buffer(&json!({"type": "Buffer", "data": [256]})), None);
        assert_eq!(as_buffer(&json!({"type": "Buffer"})), None);
    }
}
