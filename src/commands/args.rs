//! Argument checkers (protocol.md 3): each reads one positional argument,
//! converting it, or fails with `badArgument` at that position.

use serde_json::{Map, Value};

use crate::error::{ChatServiceError, Result};
use crate::options::MessageFormat;

fn arg(args: &[Value], pos: usize) -> &Value {
    args.get(pos).unwrap_or(&Value::Null)
}

fn bad(args: &[Value], pos: usize) -> ChatServiceError {
    ChatServiceError::bad_argument(pos, arg(args, pos))
}

/// `str`: any string.
pub fn string(args: &[Value], pos: usize) -> Result<String> {
    match arg(args, pos) {
        Value::String(s) => Ok(s.clone()),
        _ => Err(bad(args, pos)),
    }
}

/// `bool`: exactly `true` or `false`.
pub fn boolean(args: &[Value], pos: usize) -> Result<bool> {
    arg(args, pos).as_bool().ok_or_else(|| bad(args, pos))
}

/// `str[]`: an array of strings.
pub fn strings(args: &[Value], pos: usize) -> Result<Vec<String>> {
    let items = arg(args, pos).as_array().ok_or_else(|| bad(args, pos))?;
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad(args, pos))
}

/// `num>=min`: a finite number not below `min`, truncated to an integer
/// the way the original's array slicing truncates it.
pub fn number(args: &[Value], pos: usize, min: f64) -> Result<u64> {
    match arg(args, pos).as_f64() {
        Some(n) if n.is_finite() && n >= min => Ok(n.trunc() as u64),
        _ => Err(bad(args, pos)),
    }
}

/// `any`: anything, `null` included.
pub fn any(args: &[Value], pos: usize) -> Value {
    arg(args, pos).clone()
}

/// Fields the server sets on a message (protocol.md 3.2); a message
/// checked by a schema may not carry them (interface.md 7).
const SERVER_FIELDS: [&str; 3] = ["id", "author", "timestamp"];

/// `msg`: the default format `{textMessage: string}` and nothing else; with
/// a checker hook, any plain object (the checker runs later); with a
/// schema, a plain object that satisfies it and has none of the server's
/// fields. Its JSON no longer than `max_bytes` (0: any).
pub fn message(
    args: &[Value],
    pos: usize,
    format: &MessageFormat,
    max_bytes: usize,
) -> Result<Map<String, Value>> {
    let value = arg(args, pos);
    let Value::Object(map) = value else {
        return Err(bad(args, pos));
    };
    let accepted = match &format.schema {
        Some(schema) => {
            !SERVER_FIELDS.iter().any(|field| map.contains_key(*field)) && schema.accepts(value)
        }
        None => {
            format.custom
                || (map.len() == 1 && map.get("textMessage").is_some_and(Value::is_string))
        }
    };
    if !accepted {
        return Err(bad(args, pos));
    }
    if max_bytes > 0 && crate::json::js_stringify_len(value) > max_bytes {
        crate::metrics::limited("max_message_bytes");
        return Err(bad(args, pos));
    }
    Ok(map.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checkers_accept_and_reject_as_the_protocol_says() {
        let args = vec![
            json!("r"),
            json!(1.5),
            json!(["a", 1]),
            json!({"textMessage": "x", "other": 1}),
        ];
        assert_eq!(string(&args, 0).unwrap(), "r");
        assert!(string(&args, 1).is_err());
        assert_eq!(number(&args, 1, 1.0).unwrap(), 1);
        assert!(number(&args, 0, 0.0).is_err());
        assert_eq!(
            strings(&args, 2).unwrap_err(),
            ChatServiceError::BadArgument(2, json!(["a", 1]))
        );
        let default = MessageFormat::default();
        let custom = MessageFormat {
            custom: true,
            schema: None,
        };
        assert!(message(&args, 3, &default, 0).is_err());
        assert!(message(&args, 3, &custom, 0).is_ok());
        // {"textMessage":"x","other":1} is 29 bytes
        assert!(message(&args, 3, &custom, 29).is_ok());
        assert!(message(&args, 3, &custom, 28).is_err());
        assert!(boolean(&[json!(0)], 0).is_err());
        assert!(number(&[json!("1")], 0, 0.0).is_err());
        assert!(number(&[json!(-1)], 0, 0.0).is_err());
        assert!(number(&[json!(0)], 0, 1.0).is_err());
    }

    #[test]
    fn a_schema_replaces_the_default_format_and_server_fields_stay_refused() {
        let schema = crate::schema::MessageSchema::new(&json!({
            "type": "object",
            "properties": { "type": { "const": "smile" }, "smileId": { "type": "integer" } },
            "required": ["type", "smileId"]
        }))
        .unwrap();
        let format = MessageFormat {
            custom: false,
            schema: Some(schema),
        };
        let smile = json!({"type": "smile", "smileId": 2});
        assert_eq!(
            message(&[json!("r"), smile.clone()], 1, &format, 0).unwrap(),
            *smile.as_object().unwrap()
        );
        let text = json!({"textMessage": "x"});
        assert_eq!(
            message(&[json!("r"), text.clone()], 1, &format, 0).unwrap_err(),
            ChatServiceError::BadArgument(1, text)
        );
        for field in ["id", "author", "timestamp"] {
            let forged = json!({"type": "smile", "smileId": 2, field: 1});
            assert!(
                message(&[json!("r"), forged], 1, &format, 0).is_err(),
                "{field}"
            );
        }
    }
}
