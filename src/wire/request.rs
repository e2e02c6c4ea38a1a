//! Request encoding (with `kafka-protocol`) and response-header reading.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{DecodeError, Reader};

/// A request encoded as one complete frame (size prefix included), ready to write.
#[derive(Debug, Clone)]
pub struct RequestFrame {
    /// The API.
    pub api: ApiKey,
    /// The API version the body was encoded with.
    pub version: i16,
    /// The correlation id in the header.
    pub correlation_id: i32,
    /// The whole frame: size prefix, header, body.
    pub bytes: Bytes,
}

/// A request that could not be encoded at the chosen version (a field the version cannot carry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {api:?} v{version}: {reason}")]
pub struct EncodeError {
    /// The API.
    pub api: ApiKey,
    /// The version.
    pub version: i16,
    /// What went wrong.
    pub reason: String,
}

/// A request kafkit sends: encodable by `kafka-protocol`, with its API key.
///
/// (`kafka-protocol`'s own `Request` trait needs its broker-side decoders too, which kafkit does not
/// compile in.)
pub trait KafkaRequest: Encodable {
    /// The API.
    const API: ApiKey;
}

macro_rules! kafka_requests {
    ($($ty:ident => $api:ident),* $(,)?) => {
        $(impl KafkaRequest for kafka_protocol::messages::$ty {
            const API: ApiKey = ApiKey::$api;
        })*
    };
}

kafka_requests! {
    ApiVersionsRequest => ApiVersions,
    MetadataRequest => Metadata,
    FetchRequest => Fetch,
    ListOffsetsRequest => ListOffsets,
    OffsetFetchRequest => OffsetFetch,
    OffsetCommitRequest => OffsetCommit,
    OffsetForLeaderEpochRequest => OffsetForLeaderEpoch,
    FindCoordinatorRequest => FindCoordinator,
    JoinGroupRequest => JoinGroup,
    SyncGroupRequest => SyncGroup,
    HeartbeatRequest => Heartbeat,
    LeaveGroupRequest => LeaveGroup,
    DescribeGroupsRequest => DescribeGroups,
}

/// Encodes `request` (a request body of `api`) at `version` with the request-header version that API and version require.
pub fn encode_request<R: Encodable>(
    api: ApiKey,
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> Result<RequestFrame, EncodeError> {
    let fail = |e: &dyn std::fmt::Display| EncodeError {
        api,
        version,
        reason: e.to_string(),
    };
    let header_version = api.request_header_version(version);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(|c| StrBytes::from_string(c.to_owned())));
    let header_size = header.compute_size(header_version).map_err(|e| fail(&e))?;
    let body_size = request.compute_size(version).map_err(|e| fail(&e))?;
    let size = header_size + body_size;
    let size_prefix = i32::try_from(size).map_err(|_| EncodeError {
        api,
        version,
        reason: format!("request of {size} bytes is too large for a frame"),
    })?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size_prefix);
    header.encode(&mut buf, header_version).map_err(|e| fail(&e))?;
    request.encode(&mut buf, version).map_err(|e| fail(&e))?;
    Ok(RequestFrame {
        api,
        version,
        correlation_id,
        bytes: buf.freeze(),
    })
}

/// A request body already encoded (by [`encode_body`]); sending it adds only the header and size.
///
/// This lets sans-IO code build requests as bytes and the engine send them without knowing their
/// types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody(pub Bytes);

impl Encodable for EncodedBody {
    fn encode<B: kafka_protocol::protocol::buf::ByteBufMut>(
        &self,
        buf: &mut B,
        _version: i16,
    ) -> anyhow::Result<()> {
        buf.put_slice(&self.0);
        Ok(())
    }

    fn compute_size(&self, _version: i16) -> anyhow::Result<usize> {
        Ok(self.0.len())
    }
}

/// Encodes a request body (no header) of `api` at `version`.
pub fn encode_body<R: Encodable>(api: ApiKey, request: &R, version: i16) -> Result<EncodedBody, EncodeError> {
    let fail = |e: &dyn std::fmt::Display| EncodeError {
        api,
        version,
        reason: e.to_string(),
    };
    let size = request.compute_size(version).map_err(|e| fail(&e))?;
    let mut buf = BytesMut::with_capacity(size);
    request.encode(&mut buf, version).map_err(|e| fail(&e))?;
    Ok(EncodedBody(buf.freeze()))
}

/// The response header: the correlation id (and, for flexible versions, tagged fields kafkit ignores).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's correlation id.
    pub correlation_id: i32,
}

/// Reads the response header of `api` at `version` from a frame body; returns it and the rest.
pub fn read_response_header(
    api: ApiKey,
    version: i16,
    frame: Bytes,
) -> Result<(ResponseHeader, Bytes), DecodeError> {
    let mut r = Reader::new(frame);
    let correlation_id = r.field("correlation_id").i32()?;
    if api.response_header_version(version) >= 1 {
        r.skip_tagged_fields()?;
    }
    let rest = r.take(r.remaining())?;
    Ok((ResponseHeader { correlation_id }, rest))
}
