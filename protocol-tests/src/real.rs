//! The real broker that `scripts/test.sh` starts (Apache Kafka in CI).

use std::sync::atomic::{AtomicU32, Ordering};

/// The address of the test broker, from `KAFKIT_TEST_BROKER`.
///
/// Panics (failing the test, never skipping it) when the variable is not set: run the tests with
/// `./scripts/test.sh`, or start a broker with `scripts/broker.sh start` and export its address.
pub fn broker_addr() -> String {
    match std::env::var("KAFKIT_TEST_BROKER") {
        Ok(addr) if !addr.is_empty() => addr,
        _ => panic!(
            "KAFKIT_TEST_BROKER is not set: run ./scripts/test.sh, or `export KAFKIT_TEST_BROKER=$(scripts/broker.sh start)`"
        ),
    }
}

/// A name no other test run uses: `prefix-<pid>-<nanos>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A Kafka node of a test's own, for settings the shared test broker must not have (started with
/// `scripts/kafka-broker.sh`, stopped on drop).
pub struct OwnBroker {
    pub addr: String,
    state: std::path::PathBuf,
}

impl OwnBroker {
    /// Starts one node with `overrides` (`key=value` broker settings) added to the test defaults.
    pub fn start(overrides: &[&str]) -> OwnBroker {
        let state = std::env::temp_dir().join(unique_name("kafkit-own-broker"));
        let out = std::process::Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-broker.sh"),
        )
        .arg("start")
        .env("KAFKIT_STATE", &state)
        .env("KAFKIT_BROKER_NODES", "1")
        .env("KAFKIT_KAFKA_OVERRIDES", overrides.join(" "))
        .output()
        .unwrap_or_else(|e| panic!("run scripts/kafka-broker.sh start: {e}"));
        assert!(
            out.status.success(),
            "starting a broker of the test's own failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        OwnBroker {
            addr: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
            state,
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = std::process::Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-broker.sh"),
        )
        .arg("stop")
        .env("KAFKIT_STATE", &self.state)
        .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
