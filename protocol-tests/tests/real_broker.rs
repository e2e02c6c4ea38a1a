//! Against the real broker that `scripts/test.sh` starts (Apache Kafka in CI): version negotiation and
//! metadata, with random topic names and a deadline on every wait.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafkit::net::{BrokerPool, NetConfig};
use kafkit::wire::KafkaCode;
use kafkit_protocol_tests::{admin, real};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn negotiates_versions_with_the_real_broker() {
    let addr = real::broker_addr();
    let conn = tokio::time::timeout(WAIT, admin::connect(&addr))
        .await
        .expect("connect in time");
    let versions = conn.api_versions();
    for api in [ApiKey::ApiVersions, ApiKey::Metadata] {
        let v = versions.version_for(api).unwrap_or_else(|e| panic!("{e}"));
        let (min, max) = kafkit::wire::supported_range(api).unwrap();
        assert!((min..=max).contains(&v), "{api:?} v{v}");
    }
    // The broker offers the APIs a consumer group needs.
    for api in [
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::OffsetCommit,
    ] {
        assert!(versions.broker_range(api).is_some(), "broker lacks {api:?}");
    }
}

#[tokio::test]
async fn metadata_from_the_real_broker() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-md");
    tokio::time::timeout(WAIT, admin::create_topic(&addr, &topic, 3))
        .await
        .expect("create topic in time");

    let pool = BrokerPool::new([addr.as_str()], NetConfig::default().request_timeout(WAIT)).unwrap();
    let md = tokio::time::timeout(WAIT, async {
        // A new topic's leaders may take a moment to appear.
        loop {
            let md = pool.metadata(Some(&[topic.as_str()])).await.unwrap();
            let t = md.topic(&topic).unwrap();
            if t.error.is_none() && t.partitions.len() == 3 && t.partitions.iter().all(|p| p.leader.is_some())
            {
                return md;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("topic has leaders in time");

    let t = md.topic(&topic).unwrap();
    assert_eq!(
        t.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(!t.is_internal);
    assert!(md.brokers().count() >= 1);
    for p in &t.partitions {
        let leader = p.leader.unwrap();
        assert!(md.broker(leader).is_some(), "leader {leader} is a listed broker");
        // The leader is reachable through the pool, by node id.
        let conn = tokio::time::timeout(WAIT, pool.connection(leader))
            .await
            .unwrap()
            .unwrap();
        assert!(!conn.is_poisoned());
        // And accepts records for that partition.
        let base = admin::produce(&conn, &topic, p.partition, &[Bytes::from_static(b"hello")]).await;
        assert!(base >= 0);
    }
}

#[tokio::test]
async fn unknown_topic_is_reported_per_topic() {
    let addr = real::broker_addr();
    let pool = BrokerPool::new([addr.as_str()], NetConfig::default().request_timeout(WAIT)).unwrap();
    let missing = real::unique_name("kafkit-missing");
    let md = pool.metadata(Some(&[missing.as_str()])).await.unwrap();
    // Metadata requests never auto-create topics.
    let t = md
        .topic(&missing)
        .expect("the broker answers for the requested topic");
    assert_eq!(t.error, Some(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION), "{t:?}");
}
