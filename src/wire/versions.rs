//! API version negotiation.

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;

use super::ApiVersionsResponse;

/// The APIs kafkit speaks and the versions its decoders handle: `(api, min, max)`.
///
/// The minimums keep the Kafka 2.1 protocol baseline (KIP-896) reachable.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::Metadata, 4, 12),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 7),
    // v9 carries the member id and epoch of a consumer-protocol (KIP-848) member.
    (ApiKey::OffsetFetch, 1, 9),
    // v9 is the first that consumer-protocol (KIP-848) members may use; the same as v8.
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::FindCoordinator, 1, 4),
    (ApiKey::JoinGroup, 2, 9),
    (ApiKey::Heartbeat, 1, 4),
    (ApiKey::LeaveGroup, 1, 5),
    (ApiKey::SyncGroup, 1, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
];

/// The version range kafkit supports for `api`, if it uses that API.
pub fn supported_range(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(a, _, _)| *a == api)
        .map(|&(_, min, max)| (min, max))
}

/// No version of an API is both supported by kafkit and offered by the broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The broker does not offer the API at all.
    #[error(
        "the broker does not support the {api:?} API, which kafkit needs (kafkit speaks versions {kafkit_min}..={kafkit_max}); the broker is too old or not Kafka-compatible"
    )]
    NotOffered {
        /// The API.
        api: ApiKey,
        /// kafkit's lowest version.
        kafkit_min: i16,
        /// kafkit's highest version.
        kafkit_max: i16,
    },
    /// The broker's and kafkit's version ranges do not overlap.
    #[error(
        "no common version of the {api:?} API: the broker offers {broker_min}..={broker_max}, kafkit speaks {kafkit_min}..={kafkit_max}; kafkit needs a broker at least as new as the Kafka 2.1 protocol"
    )]
    NoOverlap {
        /// The API.
        api: ApiKey,
        /// The broker's lowest version.
        broker_min: i16,
        /// The broker's highest version.
        broker_max: i16,
        /// kafkit's lowest version.
        kafkit_min: i16,
        /// kafkit's highest version.
        kafkit_max: i16,
    },
    /// kafkit has no decoder for this API.
    #[error("kafkit does not implement the {api:?} API")]
    NotImplemented {
        /// The API.
        api: ApiKey,
    },
}

/// The highest version in both `kafkit` and `broker` ranges.
pub fn negotiate_version(
    api: ApiKey,
    kafkit: (i16, i16),
    broker: Option<(i16, i16)>,
) -> Result<i16, VersionError> {
    let (kafkit_min, kafkit_max) = kafkit;
    let Some((broker_min, broker_max)) = broker else {
        return Err(VersionError::NotOffered {
            api,
            kafkit_min,
            kafkit_max,
        });
    };
    let min = kafkit_min.max(broker_min);
    let max = kafkit_max.min(broker_max);
    if min > max {
        return Err(VersionError::NoOverlap {
            api,
            broker_min,
            broker_max,
            kafkit_min,
            kafkit_max,
        });
    }
    Ok(max)
}

/// The versions one broker offers, as learned from its ApiVersions response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersions {
    ranges: HashMap<i16, (i16, i16)>,
}

impl ApiVersions {
    /// From a decoded ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let ranges = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        ApiVersions { ranges }
    }

    /// The broker's range for `api`, if it offers it.
    pub fn broker_range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.ranges.get(&(api as i16)).copied()
    }

    /// The version to use for `api`: the highest both sides support.
    pub fn version_for(&self, api: ApiKey) -> Result<i16, VersionError> {
        let kafkit = supported_range(api).ok_or(VersionError::NotImplemented { api })?;
        negotiate_version(api, kafkit, self.broker_range(api))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ApiVersionRange;

    fn broker(ranges: &[(ApiKey, i16, i16)]) -> ApiVersions {
        ApiVersions::from_response(&ApiVersionsResponse {
            error_code: 0,
            api_keys: ranges
                .iter()
                .map(|&(api, min, max)| ApiVersionRange {
                    api_key: api as i16,
                    min_version: min,
                    max_version: max,
                })
                .collect(),
            throttle_time_ms: 0,
        })
    }

    #[test]
    fn picks_highest_common_version() {
        let b = broker(&[(ApiKey::Metadata, 0, 7), (ApiKey::ApiVersions, 0, 2)]);
        assert_eq!(b.version_for(ApiKey::Metadata), Ok(7));
        assert_eq!(b.version_for(ApiKey::ApiVersions), Ok(2));
        let b = broker(&[(ApiKey::Metadata, 0, 13)]);
        assert_eq!(b.version_for(ApiKey::Metadata), Ok(12));
    }

    #[test]
    fn no_common_version_names_the_api() {
        let b = broker(&[(ApiKey::Metadata, 0, 2)]);
        let err = b.version_for(ApiKey::Metadata).unwrap_err();
        assert!(matches!(
            err,
            VersionError::NoOverlap {
                api: ApiKey::Metadata,
                ..
            }
        ));
        assert!(err.to_string().contains("Metadata"), "{err}");
        let err = broker(&[]).version_for(ApiKey::Metadata).unwrap_err();
        assert!(err.to_string().contains("Metadata"), "{err}");
        assert!(matches!(
            broker(&[]).version_for(ApiKey::Produce),
            Err(VersionError::NotImplemented { api: ApiKey::Produce })
        ));
    }
}
