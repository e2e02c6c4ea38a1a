//! The broker pool: no I/O at construction, lazy connections, backoff that never blocks the runtime,
//! metadata that a late response cannot roll back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, MetadataRequest};
use kafkit::ErrorKind;
use kafkit::net::{BackoffConfig, BrokerPool, NetConfig};
use kafkit_protocol_tests::responses::{self, MODERN};
use kafkit_protocol_tests::scripted::{Action, ScriptedBroker};

fn no_jitter(initial_ms: u64, max_ms: u64) -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(initial_ms),
        max: Duration::from_millis(max_ms),
        multiplier: 2,
        jitter_percent: 0,
    }
}

#[tokio::test]
async fn building_a_pool_does_no_io_and_validates_addresses() {
    let started = Instant::now();
    // Nothing listens on port 1; building must still succeed at once.
    let pool = BrokerPool::new(["127.0.0.1:1", "kafka.invalid:9092"], NetConfig::default()).unwrap();
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(pool.cached_metadata().is_none());
    for bad in ["localhost", "localhost:notaport", ":9092", ""] {
        let err = BrokerPool::new([bad], NetConfig::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad:?}: {err}");
    }
    let err = BrokerPool::new(["localhost:99999"], NetConfig::default()).unwrap_err();
    assert!(err.to_string().contains("localhost:99999"), "{err}");
}

/// The broker refuses every session (closes on ApiVersions). The pool retries with growing delays,
/// and a timer task on the same current-thread runtime keeps ticking on time throughout.
#[tokio::test(flavor = "current_thread")]
async fn unreachable_broker_retries_with_backoff_while_the_runtime_keeps_ticking() {
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let broker = {
        let attempts = attempts.clone();
        ScriptedBroker::start(move |_| {
            attempts.lock().unwrap().push(Instant::now());
            Action::Close
        })
        .await
    };
    let config = NetConfig::default()
        .backoff(no_jitter(20, 160))
        .request_timeout(Duration::from_millis(1500));
    let pool = BrokerPool::new([broker.addr()], config).unwrap();

    let ticks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.lock().unwrap().push(Instant::now());
            }
        })
    };
    let started = Instant::now();
    let err = pool.metadata(None).await.unwrap_err();
    let elapsed = started.elapsed();
    ticker.abort();

    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    let attempts = attempts.lock().unwrap().clone();
    // 20 + 40 + 80 + 160 + 160 ... ms between attempts: about 10 in 1.5 s, never a tight loop.
    assert!((5..=16).contains(&attempts.len()), "{} attempts", attempts.len());
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(15), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(150), "delays grow: {gaps:?}");
    assert!(
        gaps.iter().all(|g| *g < Duration::from_millis(400)),
        "delays are capped: {gaps:?}"
    );

    let ticks = ticks.lock().unwrap().clone();
    let worst = ticks.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(ticks.len() > 80, "{} ticks in {elapsed:?}", ticks.len());
    assert!(
        worst < Duration::from_millis(100),
        "a 10 ms timer was late by {worst:?}"
    );
}

#[tokio::test]
async fn metadata_names_brokers_and_connections_follow_it() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ => Action::Close,
    })
    .await;
    // A second broker that serves metadata pointing at the first as node 1.
    let port = broker.port();
    let bootstrap = ScriptedBroker::start(move |r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ => responses::metadata(r, port, &[("orders", 3)]),
    })
    .await;
    let pool = BrokerPool::new([bootstrap.addr()], NetConfig::default()).unwrap();
    let err = pool.connection(1).await.unwrap_err();
    assert!(err.to_string().contains("not in the cluster metadata"), "{err}");

    let md = pool.metadata(Some(&["orders"])).await.unwrap();
    let topic = md.topic("orders").unwrap();
    assert_eq!(topic.partitions.len(), 3);
    assert!(
        topic
            .partitions
            .iter()
            .all(|p| p.leader == Some(1) && p.leader_epoch == 5)
    );
    assert_eq!(md.broker(1).unwrap().addr(), broker.addr());
    assert_eq!(md.cluster_id(), Some("scripted"));

    let conn = pool.connection(1).await.unwrap();
    assert_eq!(conn.addr(), broker.addr());
    assert_eq!(broker.connections(), 1);
    // The same healthy connection is reused.
    let again = pool.connection(1).await.unwrap();
    assert!(Arc::ptr_eq(&conn, &again));
    assert_eq!(broker.connections(), 1);
}

#[tokio::test]
async fn a_late_metadata_response_does_not_undo_a_newer_one() {
    let bootstrap = ScriptedBroker::start(move |r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ => {
            let req: MetadataRequest = r.decode();
            let topic = req.topics.unwrap()[0].name.as_ref().unwrap().0.to_string();
            let delay = if topic == "old" { 300 } else { 0 };
            responses::metadata(r, 1, &[(topic.as_str(), 1)]).after(Duration::from_millis(delay))
        }
    })
    .await;
    let pool = BrokerPool::new([bootstrap.addr()], NetConfig::default()).unwrap();
    pool.metadata(Some(&["warmup"])).await.unwrap();
    let (old, new) = tokio::join!(pool.metadata_once(Some(&["old"])), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        pool.metadata_once(Some(&["new"])).await
    });
    let (old, new) = (old.unwrap(), new.unwrap());
    assert!(new.topic("new").is_some());
    // The older request finished last; the pool keeps (and returns) the newer snapshot.
    assert!(
        old.topic("new").is_some(),
        "late response replaced a newer snapshot"
    );
    assert!(pool.cached_metadata().unwrap().topic("new").is_some());
}

#[tokio::test]
async fn bootstrap_falls_over_to_a_working_address() {
    let dead = ScriptedBroker::start(|_| Action::Close).await;
    let alive = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ => responses::metadata(r, 1, &[("t", 2)]),
    })
    .await;
    let config = NetConfig::default()
        .backoff(no_jitter(10, 50))
        .request_timeout(Duration::from_secs(5));
    let pool = BrokerPool::new([dead.addr(), alive.addr()], config).unwrap();
    let md = pool.metadata(Some(&["t"])).await.unwrap();
    assert_eq!(md.topic("t").unwrap().partitions.len(), 2);
    assert_eq!(
        dead.connections(),
        1,
        "the failed address is tried once, then the other"
    );
}
