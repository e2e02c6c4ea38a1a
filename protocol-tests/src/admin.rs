//! A small admin client and producer for tests, on kafkit's own connection and `kafka-protocol`'s
//! encoders. Responses from the test broker are trusted here and decoded with `kafka-protocol`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use kafkit::net::{Connection, NetConfig};

/// Connects to `addr` with test-friendly timeouts.
pub async fn connect(addr: &str) -> Connection {
    let config = NetConfig::default()
        .connect_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(30));
    Connection::connect(addr, &config)
        .await
        .unwrap_or_else(|e| panic!("connect to test broker {addr}: {e}"))
}

/// The highest version of `api` both the broker and this harness (up to `ours_max`) speak.
pub fn version(conn: &Connection, api: ApiKey, ours_max: i16) -> i16 {
    let (min, max) = conn
        .api_versions()
        .broker_range(api)
        .unwrap_or_else(|| panic!("broker lacks {api:?}"));
    assert!(min <= ours_max, "broker's {api:?} starts at v{min}");
    max.min(ours_max)
}

/// Creates `name` with `partitions` partitions (replication factor 1); panics on failure.
pub async fn create_topic(addr: &str, name: &str, partitions: i32) {
    create_topic_with(addr, name, partitions, 1).await;
}

/// Creates `name` with `partitions` partitions of `replicas` replicas each; panics on failure.
/// `addr` may be a comma-separated bootstrap list (the first entry is used).
pub async fn create_topic_with(addr: &str, name: &str, partitions: i32, replicas: i16) {
    create(
        addr,
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_owned())))
            .with_num_partitions(partitions)
            .with_replication_factor(replicas),
    )
    .await;
}

/// Creates `name` with one partition on exactly `replicas` (the first is the preferred leader)
/// and topic `configs`; panics on failure.
pub async fn create_topic_on(addr: &str, name: &str, replicas: &[i32], configs: &[(&str, &str)]) {
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopicConfig};
    create(
        addr,
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_owned())))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![
                CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(replicas.iter().map(|&r| BrokerId(r)).collect()),
            ])
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string((*k).to_owned()))
                            .with_value(Some(StrBytes::from_string((*v).to_owned())))
                    })
                    .collect(),
            ),
    )
    .await;
}

/// Sends one CreateTopics for `topic` to the first broker of `addr`; panics unless it is created.
async fn create(addr: &str, topic: CreatableTopic) {
    let addr = addr.split(',').next().unwrap_or(addr);
    let conn = connect(addr).await;
    let v = version(&conn, ApiKey::CreateTopics, 7);
    let name = topic.name.0.to_string();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![topic]);
    let body = conn
        .send_raw(ApiKey::CreateTopics, &request, v)
        .await
        .expect("CreateTopics");
    let response = CreateTopicsResponse::decode(&mut body.clone(), v).expect("decode CreateTopics");
    for topic in &response.topics {
        assert_eq!(
            topic.error_code, 0,
            "creating topic {name}: error {:?} {:?}",
            topic.error_code, topic.error_message
        );
    }
}

/// Deletes topic `name`; panics on failure.
pub async fn delete_topic(addr: &str, name: &str) {
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
    let addr = addr.split(',').next().unwrap_or(addr);
    let conn = connect(addr).await;
    let v = version(&conn, ApiKey::DeleteTopics, 6);
    let topic = TopicName(StrBytes::from_string(name.to_owned()));
    let request = if v >= 6 {
        DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default().with_name(Some(topic))])
    } else {
        DeleteTopicsRequest::default().with_topic_names(vec![topic])
    }
    .with_timeout_ms(10_000);
    let body = conn
        .send_raw(ApiKey::DeleteTopics, &request, v)
        .await
        .expect("DeleteTopics");
    let response = DeleteTopicsResponse::decode(&mut body.clone(), v).expect("decode DeleteTopics");
    for r in &response.responses {
        assert_eq!(r.error_code, 0, "deleting topic {name}: error {:?}", r.error_code);
    }
}

/// An uncompressed v2 batch of `values` (keys `k{i}`), as a producer would send it.
pub fn batch(values: &[Bytes]) -> Bytes {
    batch_of(&keyed(values))
}

/// Produces `values` (keys `k{i}`) to one partition (acks=all) and returns the base offset the
/// broker assigned.
pub async fn produce(conn: &Connection, topic: &str, partition: i32, values: &[Bytes]) -> i64 {
    produce_records(conn, topic, partition, &keyed(values)).await
}

fn keyed(values: &[Bytes]) -> Vec<TestRecord> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| TestRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(v.clone()),
            headers: vec![],
        })
        .collect()
}

/// One record to produce, with optional key and value (null when `None`) and headers.
#[derive(Debug, Clone, Default)]
pub struct TestRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// An uncompressed v2 batch of `records`, as a producer would send it.
pub fn batch_of(records: &[TestRecord]) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut record = Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // kafka-protocol starts a new batch whenever offset - sequence changes; keep one batch.
                sequence: i as i32,
                timestamp: now,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: Default::default(),
            };
            for (k, v) in &r.headers {
                record.headers.insert(StrBytes::from_string(k.clone()), v.clone());
            }
            record
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

/// Produces `records` to one partition (acks=all) and returns the base offset the broker assigned.
///
/// Retries what a real producer retries (a leader not ready yet right after the topic was
/// created, a leader that moved) for up to 30 s on the same connection: see [`try_produce`]. The
/// caller picks the connection, so after a leader moves it must reconnect.
pub async fn produce_records(conn: &Connection, topic: &str, partition: i32, records: &[TestRecord]) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match try_produce(conn, topic, partition, records).await {
            Ok(base) => return base,
            Err(e) if e.starts_with("retriable") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("produce to {topic}/{partition}: {e}"),
        }
    }
}

/// One Produce of `records` (acks=all): the base offset, or why not. Errors a producer retries
/// start with "retriable": NOT_LEADER_OR_FOLLOWER (6), LEADER_NOT_AVAILABLE (5),
/// UNKNOWN_TOPIC_OR_PARTITION (3), REQUEST_TIMED_OUT (7), NOT_ENOUGH_REPLICAS(_AFTER_APPEND)
/// (19, 20), and a failed connection (the records may have landed).
pub async fn try_produce(
    conn: &Connection,
    topic: &str,
    partition: i32,
    records: &[TestRecord],
) -> Result<i64, String> {
    let v = version(conn, ApiKey::Produce, 9);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch_of(records))),
                ]),
        ]);
    let body = conn
        .send_raw(ApiKey::Produce, &request, v)
        .await
        .map_err(|e| format!("retriable: {e}"))?;
    let response =
        ProduceResponse::decode(&mut body.clone(), v).map_err(|e| format!("decode Produce: {e}"))?;
    let p = &response.responses[0].partition_responses[0];
    match p.error_code {
        0 => Ok(p.base_offset),
        3 | 5 | 6 | 7 | 19 | 20 => Err(format!("retriable: error code {}", p.error_code)),
        code => Err(format!("error code {code}")),
    }
}
