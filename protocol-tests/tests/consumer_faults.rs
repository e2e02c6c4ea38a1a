//! Faults at the consumer level: a broker that is down at start, and a commit that meets a rebalance
//! (librdkafka's mock cluster injects the error).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use kafkit::{Consumer, OffsetReset};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::real;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn http_get(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The broker is unreachable when the consumer is built: `build()` returns at once, an HTTP server on
/// the same (current-thread) runtime answers every request promptly while the consumer retries, and
/// when the broker comes up the consumer starts consuming without a restart.
#[tokio::test(flavor = "current_thread")]
async fn unreachable_broker_at_start_then_consumes_while_http_stays_responsive() {
    let real_addr = real::broker_addr();
    let topic = real::unique_name("kafkit-late");
    harness::topic_with_partitions(&real_addr, &topic, 2).await;
    harness::produce(&real_addr, &topic, 2, 0, 100, 10).await;

    // A port with nothing behind it yet.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let consumer = Consumer::builder()
        .bootstrap(format!("127.0.0.1:{port}"))
        .group_id(real::unique_name("g-late"))
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(100));

    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(http, Router::new().route("/health", get(|| async { "ok" }))).await },
    );

    let mut records = consumer.records().unwrap();
    // During the outage: the runtime serves HTTP promptly, every time.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let response = within(
            Duration::from_secs(2),
            "HTTP answer during the outage",
            http_get(http_addr),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        worst < Duration::from_millis(500),
        "slowest HTTP answer {worst:?}"
    );
    assert!(!consumer.health().is_healthy());
    assert!(consumer.health().last_error.is_some());

    // The broker "comes up": a proxy on the bootstrap port forwards to the real broker (whose
    // metadata then points the consumer at the broker directly).
    let proxy = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let target = real_addr.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = proxy.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let mut seen = BTreeSet::new();
    within(
        Duration::from_secs(60),
        "all records once the broker is up",
        async {
            while seen.len() < 200 {
                let r = records.next().await.unwrap().unwrap();
                seen.insert((r.partition(), r.offset()));
            }
        },
    )
    .await;
    assert!(consumer.health().is_healthy(), "{:?}", consumer.health());
    let response = http_get(http_addr).await;
    assert!(response.starts_with("HTTP/1.1 200"));
    drop(records);
    consumer.close().await.unwrap();
}

/// An OffsetCommit answered with REBALANCE_IN_PROGRESS returns a typed, retriable error at once; the
/// consumer rejoins and consumes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_during_rebalance_is_a_typed_error_and_consuming_continues() {
    harness::init_tracing();
    let mock = MockCluster::new(1).unwrap();
    // librdkafka 2.12's mock advertises flexible versions of the group APIs that its own parsers
    // do not read as the protocol specifies: a valid JoinGroup v6 makes it close the connection
    // (it reads the protocol count as an INT32), and a SyncGroup v4 crashes the whole process.
    // Cap them at the versions librdkafka itself sends, so the test exercises the commit path.
    for (api, max) in [
        (RDKafkaApiKey::JoinGroup, 5),
        (RDKafkaApiKey::SyncGroup, 3),
        (RDKafkaApiKey::Heartbeat, 3),
        (RDKafkaApiKey::LeaveGroup, 1),
    ] {
        mock.apiversion(api, Some(0), Some(max)).unwrap();
    }
    let addr = mock.bootstrap_servers();
    let topic = real::unique_name("kafkit-mock");
    mock.create_topic(&topic, 2, 1).unwrap();
    harness::produce(&addr, &topic, 2, 0, 100, 10).await;

    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .group_id(real::unique_name("g-mock"))
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .auto_commit(false)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut partitions = consumer.partitions().unwrap();
    let mut p = within(Duration::from_secs(60), "a partition", partitions.next())
        .await
        .unwrap();
    let first = within(Duration::from_secs(30), "a record", p.next())
        .await
        .unwrap()
        .unwrap();

    mock.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS],
    );
    let t = Instant::now();
    let err = within(Duration::from_secs(10), "the commit answer", p.commit(&first))
        .await
        .unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "commit took {:?}",
        t.elapsed()
    );
    assert_eq!(
        err.kafka_code(),
        Some(kafkit::wire::KafkaCode::REBALANCE_IN_PROGRESS),
        "{err}"
    );
    assert!(err.is_retriable(), "{err}");

    // Keep consuming through the rejoin: every record arrives (at least once), and commits work again.
    let mut seen = BTreeSet::new();
    seen.insert((first.partition(), first.offset()));
    let mut streams = vec![p];
    within(
        Duration::from_secs(90),
        "all 200 records after the rejoin",
        async {
            while seen.len() < 200 {
                let mut progressed = false;
                let mut ended = Vec::new();
                for (i, s) in streams.iter_mut().enumerate() {
                    loop {
                        match tokio::time::timeout(Duration::from_millis(50), s.next()).await {
                            Ok(Some(item)) => {
                                let r = item.unwrap();
                                seen.insert((r.partition(), r.offset()));
                                progressed = true;
                                if r.offset() == 99 {
                                    s.commit(&r).await.unwrap();
                                }
                            }
                            // Revoked: drop the stream so the rebalance can go on.
                            Ok(None) => {
                                ended.push(i);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
                for i in ended.into_iter().rev() {
                    streams.remove(i);
                }
                if let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(50), partitions.next()).await
                {
                    streams.push(s);
                    progressed = true;
                }
                if !progressed {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        },
    )
    .await;
    drop(streams);
    consumer.close().await.unwrap();
}
