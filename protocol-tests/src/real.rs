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
