//! Kafka error codes, with names for the ones a consumer meets.

/// A Kafka protocol error code as a broker sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KafkaCode(pub i16);

impl KafkaCode {
    /// No error.
    pub const NONE: KafkaCode = KafkaCode(0);
    /// The requested offset is outside the log.
    pub const OFFSET_OUT_OF_RANGE: KafkaCode = KafkaCode(1);
    /// The topic or partition does not exist on this broker.
    pub const UNKNOWN_TOPIC_OR_PARTITION: KafkaCode = KafkaCode(3);
    /// The partition has no leader right now.
    pub const LEADER_NOT_AVAILABLE: KafkaCode = KafkaCode(5);
    /// This broker is not the leader (or a follower) of the partition.
    pub const NOT_LEADER_OR_FOLLOWER: KafkaCode = KafkaCode(6);
    /// The request timed out on the broker.
    pub const REQUEST_TIMED_OUT: KafkaCode = KafkaCode(7);
    /// A replica the request needs is not available.
    pub const REPLICA_NOT_AVAILABLE: KafkaCode = KafkaCode(9);
    /// The coordinator is loading the group.
    pub const COORDINATOR_LOAD_IN_PROGRESS: KafkaCode = KafkaCode(14);
    /// The coordinator is not available.
    pub const COORDINATOR_NOT_AVAILABLE: KafkaCode = KafkaCode(15);
    /// This broker is not the group coordinator.
    pub const NOT_COORDINATOR: KafkaCode = KafkaCode(16);
    /// The generation is not the group's current one.
    pub const ILLEGAL_GENERATION: KafkaCode = KafkaCode(22);
    /// The member's protocol type or protocols do not match the group's.
    pub const INCONSISTENT_GROUP_PROTOCOL: KafkaCode = KafkaCode(23);
    /// The group id is empty or invalid.
    pub const INVALID_GROUP_ID: KafkaCode = KafkaCode(24);
    /// The member id is not known to the coordinator.
    pub const UNKNOWN_MEMBER_ID: KafkaCode = KafkaCode(25);
    /// The session timeout is outside the broker's allowed range.
    pub const INVALID_SESSION_TIMEOUT: KafkaCode = KafkaCode(26);
    /// The group is rebalancing.
    pub const REBALANCE_IN_PROGRESS: KafkaCode = KafkaCode(27);
    /// Not authorized for the topic.
    pub const TOPIC_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(29);
    /// Not authorized for the group.
    pub const GROUP_AUTHORIZATION_FAILED: KafkaCode = KafkaCode(30);
    /// Network error (the broker closed the connection).
    pub const NETWORK_EXCEPTION: KafkaCode = KafkaCode(13);
    /// The broker does not support this API version.
    pub const UNSUPPORTED_VERSION: KafkaCode = KafkaCode(35);
    /// The request is malformed or inconsistent (the broker's message says how).
    pub const INVALID_REQUEST: KafkaCode = KafkaCode(42);
    /// The broker's log directory for the partition is offline.
    pub const KAFKA_STORAGE_ERROR: KafkaCode = KafkaCode(56);
    /// The fetch session (KIP-227) is not known to the broker.
    pub const FETCH_SESSION_ID_NOT_FOUND: KafkaCode = KafkaCode(70);
    /// The fetch session epoch (KIP-227) is not the one the broker expects.
    pub const INVALID_FETCH_SESSION_EPOCH: KafkaCode = KafkaCode(71);
    /// The leader epoch in the request is older than the broker's.
    pub const FENCED_LEADER_EPOCH: KafkaCode = KafkaCode(74);
    /// The leader epoch in the request is newer than the broker's.
    pub const UNKNOWN_LEADER_EPOCH: KafkaCode = KafkaCode(75);
    /// The group does not exist (DescribeGroups v6+, and the admin APIs).
    pub const GROUP_ID_NOT_FOUND: KafkaCode = KafkaCode(69);
    /// The leader has no offset for the request yet (it is catching up after an election).
    pub const OFFSET_NOT_AVAILABLE: KafkaCode = KafkaCode(78);
    /// The join needs the member id the coordinator just assigned (KIP-394).
    pub const MEMBER_ID_REQUIRED: KafkaCode = KafkaCode(79);
    /// The group already has the maximum number of members.
    pub const GROUP_MAX_SIZE_REACHED: KafkaCode = KafkaCode(81);
    /// Another instance with the same `group.instance.id` took over (KIP-345).
    pub const FENCED_INSTANCE_ID: KafkaCode = KafkaCode(82);
    /// The topic id is not known to the broker.
    pub const UNKNOWN_TOPIC_ID: KafkaCode = KafkaCode(100);
    /// The topic id does not match the topic's current id (it was deleted and created again).
    pub const INCONSISTENT_TOPIC_ID: KafkaCode = KafkaCode(103);
    /// The fetch session's topic ids do not match the request's (KIP-516, Fetch v13+).
    pub const FETCH_SESSION_TOPIC_ID_ERROR: KafkaCode = KafkaCode(106);
    /// The member epoch is fenced (KIP-848): give up every partition and rejoin at epoch 0.
    pub const FENCED_MEMBER_EPOCH: KafkaCode = KafkaCode(110);
    /// Another member still holds this `group.instance.id` in a consumer-protocol group.
    pub const UNRELEASED_INSTANCE_ID: KafkaCode = KafkaCode(111);
    /// The group does not support the requested server-side assignor.
    pub const UNSUPPORTED_ASSIGNOR: KafkaCode = KafkaCode(112);
    /// The member epoch is stale (an OffsetCommit raced a new epoch); retry with the new one.
    pub const STALE_MEMBER_EPOCH: KafkaCode = KafkaCode(113);
    /// The subscription's regular expression is invalid.
    pub const INVALID_REGULAR_EXPRESSION: KafkaCode = KafkaCode(128);

    /// Whether this is an error at all.
    pub fn is_error(self) -> bool {
        self.0 != 0
    }

    /// The protocol's name for this code, if kafkit knows it.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            -1 => "UNKNOWN_SERVER_ERROR",
            0 => "NONE",
            1 => "OFFSET_OUT_OF_RANGE",
            2 => "CORRUPT_MESSAGE",
            3 => "UNKNOWN_TOPIC_OR_PARTITION",
            4 => "INVALID_FETCH_SIZE",
            5 => "LEADER_NOT_AVAILABLE",
            6 => "NOT_LEADER_OR_FOLLOWER",
            7 => "REQUEST_TIMED_OUT",
            8 => "BROKER_NOT_AVAILABLE",
            9 => "REPLICA_NOT_AVAILABLE",
            10 => "MESSAGE_TOO_LARGE",
            12 => "OFFSET_METADATA_TOO_LARGE",
            13 => "NETWORK_EXCEPTION",
            14 => "COORDINATOR_LOAD_IN_PROGRESS",
            15 => "COORDINATOR_NOT_AVAILABLE",
            16 => "NOT_COORDINATOR",
            17 => "INVALID_TOPIC_EXCEPTION",
            22 => "ILLEGAL_GENERATION",
            23 => "INCONSISTENT_GROUP_PROTOCOL",
            24 => "INVALID_GROUP_ID",
            25 => "UNKNOWN_MEMBER_ID",
            26 => "INVALID_SESSION_TIMEOUT",
            27 => "REBALANCE_IN_PROGRESS",
            28 => "INVALID_COMMIT_OFFSET_SIZE",
            29 => "TOPIC_AUTHORIZATION_FAILED",
            30 => "GROUP_AUTHORIZATION_FAILED",
            31 => "CLUSTER_AUTHORIZATION_FAILED",
            35 => "UNSUPPORTED_VERSION",
            41 => "NOT_CONTROLLER",
            42 => "INVALID_REQUEST",
            56 => "KAFKA_STORAGE_ERROR",
            58 => "SASL_AUTHENTICATION_FAILED",
            69 => "GROUP_ID_NOT_FOUND",
            70 => "FETCH_SESSION_ID_NOT_FOUND",
            71 => "INVALID_FETCH_SESSION_EPOCH",
            74 => "FENCED_LEADER_EPOCH",
            75 => "UNKNOWN_LEADER_EPOCH",
            76 => "UNSUPPORTED_COMPRESSION_TYPE",
            78 => "OFFSET_NOT_AVAILABLE",
            79 => "MEMBER_ID_REQUIRED",
            81 => "GROUP_MAX_SIZE_REACHED",
            82 => "FENCED_INSTANCE_ID",
            100 => "UNKNOWN_TOPIC_ID",
            103 => "INCONSISTENT_TOPIC_ID",
            106 => "FETCH_SESSION_TOPIC_ID_ERROR",
            110 => "FENCED_MEMBER_EPOCH",
            111 => "UNRELEASED_INSTANCE_ID",
            112 => "UNSUPPORTED_ASSIGNOR",
            113 => "STALE_MEMBER_EPOCH",
            128 => "INVALID_REGULAR_EXPRESSION",
            _ => return None,
        })
    }
}

impl std::fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "Kafka error code {}", self.0),
        }
    }
}
