//! Client properties from `--config FILE` (`key=value` lines, as librdkafka's and Java's
//! `client.properties`) and `-X key=value` flags; flags override the file.
//!
//! Values are never echoed in an error (a line may hold `sasl.password`).

use std::path::Path;

use crate::Failure;

/// The properties, file first, then flags (so a later one wins when applied in order).
pub(crate) fn load(config: Option<&Path>, flags: &[String]) -> Result<Vec<(String, String)>, Failure> {
    let mut props = Vec::new();
    if let Some(path) = config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("--config {}: {e}", path.display())))?;
        props.extend(
            parse_file(&text).map_err(|e| Failure::usage(format!("--config {}: {e}", path.display())))?,
        );
    }
    for kv in flags {
        props.push(parse_flag(kv)?);
    }
    Ok(props)
}

/// `key=value` lines; blank lines and lines starting with `#` or `!` are skipped; `key: value`
/// and `key = value` work too, as in Java properties files.
fn parse_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut props = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']);
        match split {
            Some(at) if !line[..at].trim().is_empty() => {
                props.push((line[..at].trim().to_owned(), line[at + 1..].trim().to_owned()));
            }
            _ => return Err(format!("line {} is not key=value", i + 1)),
        }
    }
    Ok(props)
}

fn parse_flag(kv: &str) -> Result<(String, String), Failure> {
    match kv.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => {
            let key = kv.split_once('=').map_or(kv, |(k, _)| k);
            Err(Failure::usage(format!(
                "-X '{}' must be KEY=VALUE, e.g. -X session.timeout.ms=10000",
                if key.contains("password") {
                    "<redacted>"
                } else {
                    kv
                }
            )))
        }
    }
}

/// The properties that configure connections (for `kafkit metadata` and diagnostics).
pub(crate) fn connection_only(props: &[(String, String)]) -> Vec<(&str, &str)> {
    props
        .iter()
        .filter(|(k, _)| {
            k.starts_with("ssl.")
                || k.starts_with("sasl.")
                || matches!(
                    k.as_str(),
                    "security.protocol"
                        | "enable.sasl.oauthbearer.unsecure.jwt"
                        | "client.id"
                        | "socket.connection.setup.timeout.ms"
                        | "request.timeout.ms"
                        | "reconnect.backoff.ms"
                        | "reconnect.backoff.max.ms"
                        | "receive.message.max.bytes"
                )
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// `bootstrap.servers` from the properties, if set there.
pub(crate) fn bootstrap(props: &[(String, String)]) -> Option<&str> {
    props
        .iter()
        .rev()
        .find(|(k, _)| k == "bootstrap.servers")
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_take_java_and_librdkafka_syntax() {
        let text = "# Confluent Cloud\nbootstrap.servers=pkc-1.aws.confluent.cloud:9092\n\nsecurity.protocol = SASL_SSL\n! comment\nsasl.mechanisms: PLAIN\nsasl.password=a=b\n";
        let props = parse_file(text).unwrap();
        assert_eq!(
            props,
            vec![
                (
                    "bootstrap.servers".to_owned(),
                    "pkc-1.aws.confluent.cloud:9092".to_owned()
                ),
                ("security.protocol".to_owned(), "SASL_SSL".to_owned()),
                ("sasl.mechanisms".to_owned(), "PLAIN".to_owned()),
                ("sasl.password".to_owned(), "a=b".to_owned()),
            ]
        );
        let err = parse_file("ok=1\nsasl.password secret\n").unwrap_err();
        assert_eq!(err, "line 2 is not key=value");
        assert_eq!(bootstrap(&props), Some("pkc-1.aws.confluent.cloud:9092"));
    }

    #[test]
    fn flags_are_key_equals_value() {
        assert_eq!(
            parse_flag("a.b=1=2").unwrap(),
            ("a.b".to_owned(), "1=2".to_owned())
        );
        assert!(parse_flag("novalue").is_err());
        assert!(parse_flag("=x").is_err());
    }
}
