//! One JSON object per record: strings when the bytes are UTF-8, base64 otherwise; and the
//! helpers the offsets and group output share.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kafkit::Record;

/// Appends `record` as one JSON object and a newline to `out`.
///
/// `{"topic":..,"partition":..,"offset":..,"timestamp":..,"key":..,"value":..,"headers":[[k,v],..]}`;
/// a key or value that is not UTF-8 is base64 and flagged with `"key_encoding":"base64"` /
/// `"value_encoding":"base64"`; null as JSON `null`. Headers are `[key, value]` pairs of strings
/// (a null header value is `null`); a header key or value that is not UTF-8 is `{"base64":"..."}`.
pub(crate) fn write_record(out: &mut Vec<u8>, record: &Record) {
    out.extend_from_slice(b"{\"topic\":");
    string(out, record.topic());
    out.extend_from_slice(format!(",\"partition\":{}", record.partition()).as_bytes());
    out.extend_from_slice(format!(",\"offset\":{}", record.offset()).as_bytes());
    out.extend_from_slice(format!(",\"timestamp\":{}", record.timestamp()).as_bytes());
    let key_base64 = bytes_field(out, "key", record.key());
    let value_base64 = bytes_field(out, "value", record.value());
    if key_base64 {
        out.extend_from_slice(b",\"key_encoding\":\"base64\"");
    }
    if value_base64 {
        out.extend_from_slice(b",\"value_encoding\":\"base64\"");
    }
    out.extend_from_slice(b",\"headers\":[");
    for (i, header) in record.headers().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        header_part(out, Some(header.key()));
        out.push(b',');
        header_part(out, header.value());
        out.push(b']');
    }
    out.extend_from_slice(b"]}\n");
}

/// Writes `,"name":<string|base64 string|null>`; returns whether it used base64.
fn bytes_field(out: &mut Vec<u8>, name: &str, bytes: Option<&[u8]>) -> bool {
    out.extend_from_slice(format!(",\"{name}\":").as_bytes());
    match bytes {
        None => {
            out.extend_from_slice(b"null");
            false
        }
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => {
                string(out, s);
                false
            }
            Err(_) => {
                string(out, &BASE64.encode(b));
                true
            }
        },
    }
}

/// A header key or value: a string, `null`, or `{"base64":"..."}` when not UTF-8.
fn header_part(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.extend_from_slice(b"null"),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => string(out, s),
            Err(_) => {
                out.extend_from_slice(b"{\"base64\":");
                string(out, &BASE64.encode(b));
                out.push(b'}');
            }
        },
    }
}

/// A number, or `null` when there is none.
pub(crate) fn opt(n: Option<i64>) -> String {
    n.map_or_else(|| "null".to_owned(), |n| n.to_string())
}

/// Writes `s`, or `null`, as JSON.
pub(crate) fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::string;

    fn esc(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(
            esc("a\"b\\c\nd\u{1}e\u{7f}é"),
            "\"a\\\"b\\\\c\\nd\\u0001e\\u007fé\""
        );
        assert_eq!(esc(""), "\"\"");
    }
}
