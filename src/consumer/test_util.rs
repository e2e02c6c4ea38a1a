//! Test helpers for the application-side streams.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::PartitionStream;
use crate::handoff::{Chunk, Command, Delivery, NewPartition, PartitionHandoff, partition_handoff};
use crate::records::RecordsConfig;
use crate::types::TopicPartition;

/// Both ends of partition `t/partition`'s handoff.
pub(super) fn handoff(partition: i32) -> (PartitionHandoff, NewPartition) {
    partition_handoff(
        TopicPartition::new("t", partition),
        Arc::new(AtomicUsize::new(0)),
        0,
    )
}

/// A stream for `t/partition` and the engine's end of it.
pub(super) fn stream(
    partition: i32,
    commands: &mpsc::Sender<Command>,
) -> (PartitionStream, PartitionHandoff) {
    let (engine, new) = handoff(partition);
    (
        PartitionStream::new(new, commands.clone(), RecordsConfig::default()),
        engine,
    )
}

pub(super) fn chunk(from: i64, to: i64) -> Delivery {
    use kafka_protocol::records::{
        Compression, Record as KpRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<KpRecord> = (from..to)
        .map(|o| KpRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: o,
            sequence: (o - from) as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(format!("v{o}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    Delivery::Chunk(Chunk {
        records: buf.freeze(),
        start_at: from,
        aborted: None,
        seek_epoch: 0,
    })
}
