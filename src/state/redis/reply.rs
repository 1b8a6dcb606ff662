//! Reading script replies: an array whose first item is `ok` or an error
//! code, then the values the script's header documents. Anything of the
//! wrong shape is an internal error, never a panic.

use std::vec::IntoIter;

use fred::types::Value;

use crate::error::{ChatServiceError, Result};

pub(super) fn malformed(what: &str) -> ChatServiceError {
    ChatServiceError::internal(format!("unexpected reply from Redis ({what})"))
}

/// The reply of a script, consumed front to back.
pub(super) struct Reply {
    items: IntoIter<Value>,
}

/// A script said no: the protocol error code it returned.
pub(super) struct Refused(pub String);

impl Reply {
    /// Splits off the status; `Err(Refused)` carries an error code.
    pub fn parse(value: Value) -> Result<std::result::Result<Reply, Refused>> {
        let items = match value {
            Value::Array(items) => items,
            _ => return Err(malformed("not an array")),
        };
        let mut reply = Reply {
            items: items.into_iter(),
        };
        let status = reply.string()?;
        if status == "ok" {
            Ok(Ok(reply))
        } else {
            Ok(Err(Refused(status)))
        }
    }

    fn next(&mut self) -> Result<Value> {
        self.items.next().ok_or_else(|| malformed("too short"))
    }

    pub fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    pub fn string(&mut self) -> Result<String> {
        to_string(self.next()?)
    }

    pub fn int(&mut self) -> Result<i64> {
        to_int(self.next()?)
    }

    pub fn count(&mut self) -> Result<usize> {
        usize::try_from(self.int()?).map_err(|_| malformed("negative count"))
    }

    pub fn flag(&mut self) -> Result<bool> {
        Ok(self.int()? != 0)
    }

    /// The next `n` items as strings.
    pub fn strings(&mut self, n: usize) -> Result<Vec<String>> {
        (0..n).map(|_| self.string()).collect()
    }

    /// Everything left, as strings.
    pub fn rest(self) -> Result<Vec<String>> {
        self.items.map(to_string).collect()
    }
}

pub(super) fn to_string(value: Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.to_string()),
        Value::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| malformed("not UTF-8")),
        Value::Integer(i) => Ok(i.to_string()),
        _ => Err(malformed("not a string")),
    }
}

pub(super) fn to_int(value: Value) -> Result<i64> {
    match value {
        Value::Integer(i) => Ok(i),
        Value::String(s) => s.parse().map_err(|_| malformed("not an integer")),
        Value::Bytes(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| malformed("not an integer")),
        _ => Err(malformed("not an integer")),
    }
}
