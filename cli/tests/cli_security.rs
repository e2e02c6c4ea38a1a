//! The `kafkit` binary over SASL_SSL and SSL against the secure test broker, configured with
//! `--config FILE` and `-X key=value` as a librdkafka user would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use kafkit_protocol_tests::harness;
use kafkit_protocol_tests::real::unique_name;
use kafkit_protocol_tests::secure::{self, properties};

const KAFKIT: &str = env!("CARGO_BIN_EXE_kafkit");

async fn kafkit(args: &[&str]) -> Output {
    let child = tokio::process::Command::new(KAFKIT)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn kafkit");
    match tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await {
        Ok(out) => out.expect("kafkit output"),
        Err(_) => panic!("kafkit {args:?} did not finish within 60 s"),
    }
}

/// A client.properties for `listener` and `mechanism`, as a file.
fn config_file(listener: &str, mechanism: Option<&str>, password: Option<&str>) -> tempfile_path::Path {
    let mut text = String::from("# written by cli_security.rs\n");
    for (k, v) in properties(listener, mechanism) {
        let v = if k == "sasl.password" {
            password.map(str::to_owned).unwrap_or(v)
        } else {
            v
        };
        text.push_str(&format!("{k} = {v}\n"));
    }
    tempfile_path::Path::with(&text)
}

mod tempfile_path {
    /// A file removed on drop.
    pub(crate) struct Path(pub(crate) std::path::PathBuf);
    impl Path {
        pub(crate) fn with(text: &str) -> Path {
            let p = std::env::temp_dir().join(kafkit_protocol_tests::real::unique_name("kafkit-cli-config"));
            std::fs::write(&p, text).unwrap();
            Path(p)
        }
        pub(crate) fn as_str(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[tokio::test]
async fn consumes_over_sasl_ssl_from_a_config_file() {
    let addr = secure::plaintext_addr();
    let topic = unique_name("cli-sasl");
    harness::topic_with_partitions(&addr, &topic, 2).await;
    harness::produce(&addr, &topic, 2, 0, 50, 20).await;
    let config = config_file("SASL_SSL", Some("SCRAM-SHA-256"), None);
    let group = unique_name("cli-sasl-group");
    let out = kafkit(&[
        "consume",
        "--config",
        config.as_str(),
        "--topic",
        &topic,
        "--group",
        &group,
        "--from",
        "earliest",
        "--count",
        "100",
        "--idle-timeout",
        "30",
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 100);

    // metadata over SSL with -X only.
    let ca = secure::pki("ca.pem");
    let out = kafkit(&[
        "metadata",
        "--brokers",
        &secure::listener("SSL"),
        "-X",
        "security.protocol=SSL",
        "-X",
        &format!("ssl.ca.location={}", ca.display()),
        "--topic",
        &topic,
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{topic}  2 partitions")));
}

#[tokio::test]
async fn a_wrong_password_exits_1_at_once_and_never_prints_it() {
    let config = config_file("SASL_SSL", Some("PLAIN"), Some("N0t-The-Pa55word"));
    let started = Instant::now();
    let out = kafkit(&[
        "consume",
        "--config",
        config.as_str(),
        "--topic",
        "whatever",
        "--group",
        "g",
        "--idle-timeout",
        "30",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SASL_AUTHENTICATION_FAILED"), "{stderr}");
    assert!(!stderr.contains("N0t-The-Pa55word"), "{stderr}");

    let out = kafkit(&["metadata", "--config", config.as_str(), "--timeout", "20"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SASL_AUTHENTICATION_FAILED") && !stderr.contains("N0t-The"),
        "{stderr}"
    );
}

#[tokio::test]
async fn bad_config_lines_exit_2_without_echoing_them() {
    let config = tempfile_path::Path::with("bootstrap.servers=127.0.0.1:9\nsasl.password hunter2\n");
    let out = kafkit(&["consume", "--config", config.as_str(), "--topic", "t"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2 is not key=value") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}
