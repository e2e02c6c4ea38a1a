//! An axum service that runs a consumer and serves `/health` from `consumer.health()` and
//! `/metrics` (Prometheus text format) from `consumer.metrics()`.
//!
//! The service starts and answers even while Kafka is unreachable; `/health` says so (503) until
//! the consumer is consuming, and `/metrics` shows each broker's connection state.
//!
//! ```sh
//! cargo run --example axum_health -- localhost:9092 my-group my-topic 127.0.0.1:8080
//! curl -i localhost:8080/health
//! curl localhost:8080/metrics
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use kafkit::{Consumer, OffsetReset};

async fn health(State(consumer): State<Arc<Consumer>>) -> (StatusCode, String) {
    let h = consumer.health();
    let code = if h.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let error = h.last_error.map(|e| e.to_string()).unwrap_or_default();
    (
        code,
        format!("{:?} partitions={} {error}\n", h.status, h.assigned_partitions),
    )
}

async fn metrics(
    State(consumer): State<Arc<Consumer>>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    const TEXT: [(&str, &str); 1] = [("content-type", "text/plain; version=0.0.4")];
    match consumer.metrics().await {
        Ok(m) => (StatusCode::OK, TEXT, m.prometheus_text()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("# {e}\n")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().unwrap_or_else(|| "localhost:9092".into());
    let group = args.next().unwrap_or_else(|| "kafkit-example".into());
    let topic = args.next().unwrap_or_else(|| "orders".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());

    let consumer = Arc::new(
        Consumer::builder()
            .bootstrap(&brokers)
            .group_id(&group)
            .subscribe([topic])
            .offset_reset(OffsetReset::Earliest)
            .build()?,
    );
    let mut records = consumer.records()?;
    tokio::spawn(async move {
        while let Some(record) = records.next().await {
            match record {
                Ok(r) => tracing_free_log(&r),
                Err(e) => eprintln!("error: {e}"),
            }
        }
    });

    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(consumer);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("serving /health and /metrics on http://{listen}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn tracing_free_log(record: &kafkit::Record) {
    println!("{}/{}@{}", record.topic(), record.partition(), record.offset());
}
