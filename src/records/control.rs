//! Control records: the transaction markers (and other broker bookkeeping) in control batches.

use super::cursor::Cursor;
use super::{Record, RecordsError};

/// What a control record marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The producer's transaction was aborted: its records up to here are to be skipped by a
    /// `read_committed` consumer.
    Abort,
    /// The producer's transaction was committed.
    Commit,
    /// Another control type (for example KRaft's leader-change records); consumers skip it.
    Other(i16),
}

/// The control record of a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRecord {
    /// The key's schema version.
    pub version: i16,
    /// What it marks.
    pub kind: ControlRecordType,
}

impl ControlRecord {
    /// Reads the control type from a control record's key (`version: i16, type: i16`).
    pub fn parse(record: &Record, base_offset: i64) -> Result<ControlRecord, RecordsError> {
        let invalid = |reason| RecordsError::InvalidControlRecord { base_offset, reason };
        let key = record.key().ok_or(invalid("control record has a null key"))?;
        let mut c = Cursor::new(key);
        let version = c
            .i16("control record version")
            .map_err(|_| invalid("control record key is too short"))?;
        if version < 0 {
            return Err(invalid("negative control record version"));
        }
        let kind = c
            .i16("control record type")
            .map_err(|_| invalid("control record key is too short"))?;
        let kind = match kind {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Other(other),
        };
        Ok(ControlRecord { version, kind })
    }
}
