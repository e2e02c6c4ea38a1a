//! kafkit's connection against a scripted broker: pipelining, out-of-order answers, poisoning,
//! cancellation, deadlines, version negotiation and hostile bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafkit::ErrorKind;
use kafkit::net::{Connection, NetConfig};
use kafkit::wire::MetadataResponse;
use kafkit_protocol_tests::responses::{self, MODERN};
use kafkit_protocol_tests::scripted::{Action, Received, ScriptedBroker};

fn config() -> NetConfig {
    NetConfig::default()
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(5))
}

fn metadata_request(topic: &str) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(topic.to_owned())))),
    ]))
}

async fn md(conn: &Connection, topic: &str) -> kafkit::Result<MetadataResponse> {
    conn.request::<_, MetadataResponse>(&metadata_request(topic))
        .await
}

/// The topic a Metadata request asks for.
fn requested_topic(r: &Received) -> String {
    let req: MetadataRequest = r.decode();
    req.topics.unwrap()[0].name.as_ref().unwrap().0.to_string()
}

/// A broker answering ApiVersions like a modern Kafka and Metadata with the requested topic, each
/// answer delayed by `delay_for(topic)`.
async fn echo_broker(delay_for: impl Fn(&str) -> Duration + Send + Sync + 'static) -> ScriptedBroker {
    ScriptedBroker::start(move |r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        Some(ApiKey::Metadata) => {
            let topic = requested_topic(r);
            let partitions = topic.len().min(8) as i32;
            responses::metadata(r, 1, &[(&topic, partitions)]).after(delay_for(&topic))
        }
        _ => Action::Close,
    })
    .await
}

#[tokio::test]
async fn out_of_order_responses_reach_their_requests() {
    let broker = echo_broker(|topic| {
        Duration::from_millis(match topic {
            "a" => 300,
            "bb" => 150,
            _ => 0,
        })
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();
    let (a, b, c) = tokio::join!(md(&conn, "a"), md(&conn, "bb"), md(&conn, "ccc"),);
    for (resp, name) in [(a, "a"), (b, "bb"), (c, "ccc")] {
        let resp = resp.unwrap();
        assert_eq!(resp.topics[0].name.as_deref(), Some(name));
        assert_eq!(resp.topics[0].partitions.len(), name.len());
    }
    // All three were pipelined on one connection, and answered in reverse order.
    assert_eq!(broker.connections(), 1);
    assert_eq!(conn.in_flight(), 0);
}

#[tokio::test]
async fn a_failed_socket_poisons_every_waiter_with_the_same_error() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ if requested_topic(r) == "boom" => Action::Close.after(Duration::from_millis(100)),
        _ => Action::Silent,
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();
    let (a, b, c) = tokio::join!(md(&conn, "x"), md(&conn, "y"), md(&conn, "boom"),);
    let errors = [a.unwrap_err(), b.unwrap_err(), c.unwrap_err()];
    for e in &errors {
        assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
        assert_eq!(e.to_string(), errors[0].to_string());
    }
    assert!(conn.is_poisoned());
    // A later request fails at once with that same error, without touching the socket.
    let started = Instant::now();
    let later = md(&conn, "z").await.unwrap_err();
    assert_eq!(later.to_string(), errors[0].to_string());
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(
        broker.received().len(),
        4,
        "ApiVersions + 3 requests, nothing after poisoning"
    );
}

#[tokio::test]
async fn dropped_request_leaves_no_half_frame_and_no_entry() {
    let broker = echo_broker(|topic| {
        if topic.starts_with("slow") {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        }
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();

    // A ~2 MB request, dropped right after its first poll: its frame must still be written whole.
    let big = format!("slow{}", "x".repeat(2_000_000));
    let mut fut = Box::pin(md(&conn, &big));
    assert!(futures_poll_once(&mut fut).await.is_none());
    drop(fut);
    assert_eq!(
        conn.in_flight(),
        0,
        "dropping the future removes its correlation entry"
    );

    // A request dropped while waiting for its (delayed) answer.
    let dropped = tokio::time::timeout(Duration::from_millis(50), md(&conn, "slow-2")).await;
    assert!(dropped.is_err());
    assert_eq!(conn.in_flight(), 0);

    // The connection is healthy: the broker parsed every frame whole, and the late answers to the
    // abandoned requests are discarded without confusing later ones.
    let ok = md(&conn, "fine").await.unwrap();
    assert_eq!(ok.topics[0].name.as_deref(), Some("fine"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ok = md(&conn, "still-fine").await.unwrap();
    assert_eq!(ok.topics[0].name.as_deref(), Some("still-fine"));
    assert!(!conn.is_poisoned());
    let topics: Vec<_> = broker
        .received()
        .iter()
        .filter(|r| r.api() == Some(ApiKey::Metadata))
        .map(requested_topic)
        .collect();
    assert_eq!(topics.len(), 4);
    assert_eq!(topics[0].len(), big.len(), "the big frame arrived whole");
}

/// Polls a future once; `Some` if it completed.
async fn futures_poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *fut).poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[tokio::test]
async fn request_deadline_fails_the_connection() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ => Action::Silent,
    })
    .await;
    let conn = Connection::connect(
        &broker.addr(),
        &config().request_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let err = md(&conn, "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retriable());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(conn.is_poisoned());
}

#[tokio::test]
async fn connect_timeout_against_a_socket_that_never_answers() {
    // Accepts TCP connections but never answers ApiVersions.
    let broker = ScriptedBroker::start(|_| Action::Silent).await;
    let started = Instant::now();
    let err = Connection::connect(
        &broker.addr(),
        &config().connect_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn api_versions_falls_back_when_v3_is_unsupported() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) if r.version > 2 => {
            // What an old broker does: the v0 format with UNSUPPORTED_VERSION and its own range.
            let body = ApiVersionsResponse::default()
                .with_error_code(35)
                .with_api_keys(vec![
                    kafka_protocol::messages::api_versions_response::ApiVersion::default()
                        .with_api_key(18)
                        .with_min_version(0)
                        .with_max_version(2),
                ]);
            Action::respond(&body, 0)
        }
        Some(ApiKey::ApiVersions) => {
            responses::api_versions(r, &[(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 7)])
        }
        _ => responses::metadata(r, 1, &[("t", 1)]),
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();
    let versions: Vec<_> = broker.received().iter().map(|r| (r.api_key, r.version)).collect();
    assert_eq!(versions, vec![(18, 3), (18, 2)]);
    assert_eq!(conn.api_versions().version_for(ApiKey::Metadata), Ok(7));
    let resp = md(&conn, "t").await.unwrap();
    assert_eq!(resp.topics[0].partitions[0].leader_epoch, 5);
    assert_eq!(broker.received().last().unwrap().version, 7);
}

#[tokio::test]
async fn no_common_version_is_an_error_naming_the_api() {
    let broker = ScriptedBroker::start(|r| {
        responses::api_versions(r, &[(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 2)])
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();
    let err = md(&conn, "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedVersion);
    assert!(format!("{err}").contains("Metadata"), "{err}");
}

#[tokio::test]
async fn garbage_from_a_non_kafka_service_is_a_typed_error() {
    let broker =
        ScriptedBroker::start(|_| Action::Raw(Bytes::from_static(b"HTTP/1.1 400 Bad Request\r\n\r\n"))).await;
    let err = Connection::connect(&broker.addr(), &config()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn oversized_frame_is_rejected_before_allocation() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        // Announces a 2 GiB - 1 frame.
        _ => Action::Raw(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1])),
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config().max_frame_size(1 << 20))
        .await
        .unwrap();
    let err = md(&conn, "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("exceeds the maximum"), "{err}");
}

#[tokio::test]
async fn hostile_response_body_is_a_typed_error() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        // Metadata v12 body: throttle, then a compact broker array of ~2^32 elements.
        _ => Action::Respond(Bytes::from_static(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f])),
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();
    let err = md(&conn, "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("brokers"), "{err}");
}

#[tokio::test]
async fn response_with_unknown_correlation_id_poisons() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ => Action::Raw(Bytes::from_static(&[
            0, 0, 0, 8, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0,
        ])),
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();
    let err = md(&conn, "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("correlation id"), "{err}");
}

#[tokio::test]
async fn truncated_frame_then_close_is_a_connection_error() {
    let broker = ScriptedBroker::start(|r| match r.api() {
        Some(ApiKey::ApiVersions) => responses::api_versions(r, MODERN),
        _ => Action::Seq(vec![
            Action::Raw(Bytes::from_static(&[0, 0, 0, 100, 0, 0, 0, 1, 2, 3])),
            Action::Close,
        ]),
    })
    .await;
    let conn = Connection::connect(&broker.addr(), &config()).await.unwrap();
    let err = md(&conn, "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
}

#[tokio::test]
async fn client_id_is_sent_in_every_header() {
    let broker = echo_broker(|_| Duration::ZERO).await;
    let conn = Connection::connect(&broker.addr(), &config().client_id("billing-7"))
        .await
        .unwrap();
    md(&conn, "t").await.unwrap();
    assert!(
        broker
            .received()
            .iter()
            .all(|r| r.client_id.as_deref() == Some("billing-7"))
    );
}

/// Many concurrent requests from many tasks on one connection all get their own answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_from_many_tasks() {
    let broker = echo_broker(|topic| Duration::from_micros((topic.len() as u64 * 37) % 500)).await;
    let conn = Arc::new(Connection::connect(&broker.addr(), &config()).await.unwrap());
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let conn = conn.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let name = format!("t{t}-{i}-{}", "z".repeat(i % 7));
                let resp = md(&conn, &name).await.unwrap();
                assert_eq!(resp.topics[0].name.as_deref(), Some(name.as_str()));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), 800);
    assert_eq!(conn.in_flight(), 0);
}
