//! Reading Redis stream replies straight from [`redis::Value`], without the intermediate hash
//! maps of the `redis` crate's reply types, in RESP2 (arrays) and RESP3 (maps) alike.

use redis::Value;

/// A reply did not have the shape the command documents.
#[derive(Debug, thiserror::Error)]
#[error("unexpected reply to {command}: {detail}")]
pub struct UnexpectedReply {
    /// The command whose reply it was.
    pub command: &'static str,
    /// What was wrong.
    pub detail: String,
}

impl UnexpectedReply {
    pub(crate) fn new(command: &'static str, value: &Value) -> Self {
        let mut detail = format!("{value:?}");
        detail.truncate(200);
        Self { command, detail }
    }
}

/// One stream entry as read: its ID and fields; `fields` is `None` for an entry that was deleted
/// while still pending (history reads give `[id, nil]` for those).
#[derive(Debug)]
pub(crate) struct RawEntry {
    pub(crate) id: String,
    pub(crate) fields: Option<Vec<(String, Vec<u8>)>>,
}

pub(crate) fn text(value: Value, command: &'static str) -> Result<String, UnexpectedReply> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).map_err(|e| UnexpectedReply {
            command,
            detail: format!("non-UTF-8 text: {e}"),
        }),
        Value::SimpleString(s) => Ok(s),
        Value::VerbatimString { text, .. } => Ok(text),
        Value::Int(n) => Ok(n.to_string()),
        other => Err(UnexpectedReply::new(command, &other)),
    }
}

pub(crate) fn int(value: &Value, command: &'static str) -> Result<i64, UnexpectedReply> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| UnexpectedReply::new(command, value)),
        other => Err(UnexpectedReply::new(command, other)),
    }
}

/// The items of an array (or set) reply; `nil` as no items.
pub(crate) fn items(value: Value, command: &'static str) -> Result<Vec<Value>, UnexpectedReply> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(UnexpectedReply::new(command, &other)),
    }
}

/// `[id, [field, value, …] | nil]`.
pub(crate) fn entry(value: Value, command: &'static str) -> Result<RawEntry, UnexpectedReply> {
    let mut parts = items(value, command)?.into_iter();
    let id = text(
        parts
            .next()
            .ok_or_else(|| UnexpectedReply::new(command, &Value::Nil))?,
        command,
    )?;
    let fields = match parts.next() {
        None | Some(Value::Nil) => None,
        Some(Value::Map(pairs)) => Some(
            pairs
                .into_iter()
                .map(|(k, v)| Ok((text(k, command)?, bytes(v, command)?)))
                .collect::<Result<_, UnexpectedReply>>()?,
        ),
        Some(list) => {
            let flat = items(list, command)?;
            let mut fields = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let Some(name) = flat.next() {
                let value = flat
                    .next()
                    .ok_or_else(|| UnexpectedReply::new(command, &name))?;
                fields.push((text(name, command)?, bytes(value, command)?));
            }
            Some(fields)
        }
    };
    Ok(RawEntry { id, fields })
}

fn bytes(value: Value, command: &'static str) -> Result<Vec<u8>, UnexpectedReply> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        other => Err(UnexpectedReply::new(command, &other)),
    }
}

/// A list of entries (`XRANGE`-like, the middle of an `XAUTOCLAIM` reply).
pub(crate) fn entries(
    value: Value,
    command: &'static str,
) -> Result<Vec<RawEntry>, UnexpectedReply> {
    items(value, command)?
        .into_iter()
        .map(|v| entry(v, command))
        .collect()
}

/// An `XREAD`/`XREADGROUP` reply: per stream, its entries. `nil` (timeout) is empty.
pub(crate) fn read_reply(
    value: Value,
    command: &'static str,
) -> Result<Vec<(String, Vec<RawEntry>)>, UnexpectedReply> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Ok((text(k, command)?, entries(v, command)?)))
            .collect(),
        other => items(other, command)?
            .into_iter()
            .map(|stream| {
                let mut parts = items(stream, command)?.into_iter();
                match (parts.next(), parts.next()) {
                    (Some(key), Some(list)) => Ok((text(key, command)?, entries(list, command)?)),
                    _ => Err(UnexpectedReply {
                        command,
                        detail: "stream without key and entries".into(),
                    }),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn resp2_read_reply_with_a_deleted_entry() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("event"), bulk("{}")]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let streams = read_reply(reply, "XREADGROUP").unwrap();
        assert_eq!(streams.len(), 1);
        let (key, entries) = &streams[0];
        assert_eq!(key, "s");
        assert_eq!(entries[0].id, "1-0");
        assert_eq!(
            entries[0].fields.as_deref(),
            Some(&[("event".to_string(), b"{}".to_vec())][..])
        );
        assert!(entries[1].fields.is_none());
    }

    #[test]
    fn resp3_map_read_reply() {
        let reply = Value::Map(vec![(
            bulk("s"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("repo"), bulk("x")]),
            ])]),
        )]);
        let streams = read_reply(reply, "XREADGROUP").unwrap();
        assert_eq!(streams[0].1[0].fields.as_ref().unwrap()[0].0, "repo");
        assert!(read_reply(Value::Nil, "XREADGROUP").unwrap().is_empty());
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(read_reply(Value::Int(3), "XREADGROUP").is_err());
        let odd = Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("event")])]);
        assert!(entry(odd, "XRANGE").is_err());
        assert!(int(&bulk("x"), "XLEN").is_err());
        assert_eq!(int(&bulk("12"), "XLEN").unwrap(), 12);
    }
}
