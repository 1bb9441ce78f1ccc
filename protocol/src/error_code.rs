//! Kafka protocol error codes.
//!
//! Every error code defined by Apache Kafka 4.0 (plus the KIP-1071 Streams
//! codes 130-132), with the constant name Kafka uses, whether the Java client
//! treats it as retriable (its exception is a `RetriableException`), and a
//! short description. Codes not in the table decode to
//! [`ErrorCode::Unknown`], which keeps the raw value; like the Java client,
//! they are not retriable.

use std::fmt;

/// Defines [`ErrorCode`] and its lookup tables from one list, so that the
/// variant, code, name, retriable flag and description of an error can never
/// drift apart.
macro_rules! error_codes {
    ($( $variant:ident = $code:literal, $name:literal, $retriable:literal, $desc:literal; )*) => {
        /// A Kafka protocol error code (the `int16` `error_code` fields).
        ///
        /// [`ErrorCode::None`] (0) means success. [`ErrorCode::from_i16`] never
        /// produces `Unknown(c)` for a code `c` that has its own variant.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = $desc]
                $variant,
            )*
            /// A code that is not in Kafka 4.0's table; the raw value is kept.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every known error code (not `Unknown`), in increasing code order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The error code for a wire value; unknown values become
            /// [`ErrorCode::Unknown`].
            pub fn from_i16(code: i16) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The wire value of this error code.
            pub fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Kafka's constant name for the code (e.g. `"OFFSET_OUT_OF_RANGE"`);
            /// `"UNKNOWN_ERROR_CODE"` for [`ErrorCode::Unknown`].
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN_ERROR_CODE",
                }
            }

            /// Whether the Java client treats the error as transient, i.e. the
            /// same request may succeed if retried (usually after a metadata
            /// refresh or a backoff).
            pub fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    // The Java client maps unknown codes to the non-retriable
                    // UnknownServerException.
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// A one-sentence description of the error.
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $desc,)*
                    ErrorCode::Unknown(_) => "An error code this client does not know.",
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false, "The broker hit an unexpected error while handling the request.";
    None = 0, "NONE", false, "No error.";
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false, "The requested offset is outside the range of offsets the broker holds for the partition.";
    CorruptMessage = 2, "CORRUPT_MESSAGE", true, "A record or batch failed its CRC check, is too big, has a null key on a compacted topic, or is otherwise corrupt.";
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true, "The broker does not host this topic or partition.";
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false, "The requested fetch size is not valid.";
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true, "The partition has no leader right now, e.g. during a leader election.";
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true, "The broker is not the leader of the partition (for leader-only requests) or not a replica of it.";
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true, "The request timed out on the broker.";
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", false, "The broker is not available.";
    ReplicaNotAvailable = 9, "REPLICA_NOT_AVAILABLE", true, "The replica is not available for the partition.";
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false, "A message is larger than the largest size the broker accepts.";
    StaleControllerEpoch = 11, "STALE_CONTROLLER_EPOCH", false, "The controller has moved to another broker.";
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false, "The metadata string of an offset commit is too large.";
    NetworkException = 13, "NETWORK_EXCEPTION", true, "The broker disconnected before a response was received.";
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true, "The coordinator is still loading its state.";
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true, "The coordinator is not available.";
    NotCoordinator = 16, "NOT_COORDINATOR", true, "The broker is not the coordinator for this key.";
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false, "The request refers to a topic that is not valid (bad name, or an internal topic that may not be written).";
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false, "The request contains a batch larger than the segment size the broker allows.";
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true, "Too few in-sync replicas to accept the write.";
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true, "The write was appended, but fewer in-sync replicas than required acknowledged it.";
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false, "The requested acks value is not valid.";
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false, "The generation id given is not the group's current generation.";
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false, "The member's protocol type or protocols do not match the group's.";
    InvalidGroupId = 24, "INVALID_GROUP_ID", false, "The group id is empty or null.";
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false, "The coordinator does not know the member id.";
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false, "The session timeout is outside the range the broker allows.";
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false, "The group is rebalancing; the member must rejoin.";
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE", false, "An offset commit was rejected because its metadata exceeds the maximum size.";
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false, "Not authorized to access the topic.";
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false, "Not authorized to access the group.";
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false, "Not authorized for this cluster-level operation.";
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false, "A record timestamp is outside the range the broker accepts.";
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false, "The broker does not support the requested SASL mechanism.";
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false, "The request is not valid in the current SASL state.";
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false, "The broker does not support this API version.";
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false, "The topic already exists.";
    InvalidPartitions = 37, "INVALID_PARTITIONS", false, "The number of partitions is not valid.";
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false, "The replication factor is not valid.";
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false, "The replica assignment is not valid.";
    InvalidConfig = 40, "INVALID_CONFIG", false, "The configuration is not valid.";
    NotController = 41, "NOT_CONTROLLER", true, "The broker is not the active controller.";
    InvalidRequest = 42, "INVALID_REQUEST", false, "The request is malformed or invalid; the broker log says more.";
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false, "The message format version on the broker does not support this request.";
    PolicyViolation = 44, "POLICY_VIOLATION", false, "The request violates a broker-side policy.";
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, "The broker received a producer sequence number out of order.";
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false, "The broker received a duplicate producer sequence number.";
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false, "The producer epoch is not valid (older than the current one).";
    InvalidTxnState = 48, "INVALID_TXN_STATE", false, "The operation conflicts with the current state of the transaction.";
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false, "The producer id is not currently assigned to the transactional id.";
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false, "The transaction timeout exceeds the broker's transaction.max.timeout.ms.";
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true, "Another transaction operation for this transactional id is in progress.";
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false, "A newer transaction coordinator exists for this transactional id.";
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false, "Not authorized to use the transactional id.";
    SecurityDisabled = 54, "SECURITY_DISABLED", false, "Security features are disabled on the broker.";
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false, "The operation was not attempted because another part of the request failed.";
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true, "A storage error occurred on the broker (e.g. a log directory is offline).";
    LogDirNotFound = 57, "LOG_DIR_NOT_FOUND", false, "The requested log directory was not found.";
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false, "SASL authentication failed.";
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false, "The broker has no state for this producer id (e.g. its records were deleted).";
    ReassignmentInProgress = 60, "REASSIGNMENT_IN_PROGRESS", false, "A partition reassignment is in progress.";
    DelegationTokenAuthDisabled = 61, "DELEGATION_TOKEN_AUTH_DISABLED", false, "Delegation token features are disabled.";
    DelegationTokenNotFound = 62, "DELEGATION_TOKEN_NOT_FOUND", false, "The delegation token was not found.";
    DelegationTokenOwnerMismatch = 63, "DELEGATION_TOKEN_OWNER_MISMATCH", false, "The principal is not the owner or renewer of the delegation token.";
    DelegationTokenRequestNotAllowed = 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false, "Delegation token requests are not allowed on this connection (e.g. with token or unauthenticated channels).";
    DelegationTokenAuthorizationFailed = 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false, "Not authorized for the delegation token request.";
    DelegationTokenExpired = 66, "DELEGATION_TOKEN_EXPIRED", false, "The delegation token has expired.";
    InvalidPrincipalType = 67, "INVALID_PRINCIPAL_TYPE", false, "The principal type is not supported.";
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false, "The group is not empty.";
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false, "The group id does not exist.";
    FetchSessionIdNotFound = 70, "FETCH_SESSION_ID_NOT_FOUND", true, "The fetch session id was not found.";
    InvalidFetchSessionEpoch = 71, "INVALID_FETCH_SESSION_EPOCH", true, "The fetch session epoch is not valid.";
    ListenerNotFound = 72, "LISTENER_NOT_FOUND", true, "The leader has no endpoint for the listener the request arrived on.";
    TopicDeletionDisabled = 73, "TOPIC_DELETION_DISABLED", false, "Topic deletion is disabled.";
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true, "The leader epoch in the request is older than the broker's.";
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true, "The leader epoch in the request is newer than the broker's.";
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false, "The consumer's fetch version does not support the topic's compression type.";
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false, "The broker epoch has changed.";
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true, "The leader high watermark has not caught up after an election; retry.";
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false, "The group member needs a member id; rejoin with the one returned.";
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", true, "The preferred leader was not available.";
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED", false, "The group has reached its maximum size.";
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false, "A newer member with the same group.instance.id has fenced this one.";
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true, "No eligible replica is available to become leader.";
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", true, "A leader election is not needed for the partition.";
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS", false, "No partition reassignment is in progress.";
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC", false, "The group is subscribed to the topic, so its offsets cannot be deleted.";
    InvalidRecord = 87, "INVALID_RECORD", false, "A record failed broker-side validation.";
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true, "Pending transactional offsets exist for the partition; retry later.";
    ThrottlingQuotaExceeded = 89, "THROTTLING_QUOTA_EXCEEDED", true, "The request exceeded the partition mutation quota.";
    ProducerFenced = 90, "PRODUCER_FENCED", false, "A newer producer with the same transactional id has fenced this one.";
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false, "A resource the request refers to does not exist.";
    DuplicateResource = 92, "DUPLICATE_RESOURCE", false, "A resource the request refers to is duplicated.";
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false, "The credential does not meet the broker's requirements.";
    InconsistentVoterSet = 94, "INCONSISTENT_VOTER_SET", false, "The voter set of the request is inconsistent with the receiver's.";
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false, "The update version is not valid.";
    FeatureUpdateFailed = 96, "FEATURE_UPDATE_FAILED", false, "The feature update could not be applied.";
    PrincipalDeserializationFailure = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false, "A forwarded request's principal could not be deserialized.";
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND", false, "The requested snapshot was not found.";
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true, "The broker does not host a topic with this topic id.";
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false, "The broker id is already registered.";
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false, "The broker id is not registered.";
    InconsistentTopicId = 103, "INCONSISTENT_TOPIC_ID", true, "The topic id of the log does not match the request's.";
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID", false, "The cluster id in the request does not match the broker's.";
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false, "The transactional id was not found.";
    FetchSessionTopicIdError = 106, "FETCH_SESSION_TOPIC_ID_ERROR", true, "The fetch session used topic ids inconsistently.";
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false, "The proposed ISR contains an ineligible replica.";
    NewLeaderElected = 108, "NEW_LEADER_ELECTED", false, "The partition state was updated, but the leader has changed.";
    OffsetMovedToTieredStorage = 109, "OFFSET_MOVED_TO_TIERED_STORAGE", false, "The requested offset has moved to tiered storage.";
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false, "The member epoch is fenced; the member must give up its partitions and rejoin.";
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID", false, "The group.instance.id is still held by another member, which must leave first.";
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false, "The group does not support the assignor or its version range.";
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false, "The member epoch is stale; retry with the epoch from the latest heartbeat.";
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE", false, "The request was sent to the wrong kind of endpoint (broker vs controller).";
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE", false, "This endpoint type is not supported yet.";
    UnknownControllerId = 116, "UNKNOWN_CONTROLLER_ID", false, "The controller id is not known.";
    UnknownSubscriptionId = 117, "UNKNOWN_SUBSCRIPTION_ID", false, "The telemetry subscription id is unknown or outdated.";
    TelemetryTooLarge = 118, "TELEMETRY_TOO_LARGE", false, "The telemetry push is larger than the broker accepts.";
    InvalidRegistration = 119, "INVALID_REGISTRATION", false, "The controller considers the broker registration invalid.";
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE", false, "The transaction failed on the broker; the client can abort it and continue with the same transactional id.";
    InvalidRecordState = 121, "INVALID_RECORD_STATE", false, "The record state is not valid; the delivery acknowledgement failed.";
    ShareSessionNotFound = 122, "SHARE_SESSION_NOT_FOUND", true, "The share session was not found.";
    InvalidShareSessionEpoch = 123, "INVALID_SHARE_SESSION_EPOCH", true, "The share session epoch is not valid.";
    FencedStateEpoch = 124, "FENCED_STATE_EPOCH", false, "The share-group state epoch did not match.";
    InvalidVoterKey = 125, "INVALID_VOTER_KEY", false, "The voter key does not match the receiving replica's.";
    DuplicateVoter = 126, "DUPLICATE_VOTER", false, "The voter is already in the voter set.";
    VoterNotFound = 127, "VOTER_NOT_FOUND", false, "The voter is not in the voter set.";
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false, "The regular expression is not valid.";
    RebootstrapRequired = 129, "REBOOTSTRAP_REQUIRED", false, "The client's metadata is stale; it must re-bootstrap (KIP-1102).";
    StreamsInvalidTopology = 130, "STREAMS_INVALID_TOPOLOGY", false, "The Streams topology is not valid.";
    StreamsInvalidTopologyEpoch = 131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false, "The Streams topology epoch is not valid.";
    StreamsTopologyFenced = 132, "STREAMS_TOPOLOGY_FENCED", false, "The Streams topology epoch is outdated.";
}

impl ErrorCode {
    /// True for every code except [`ErrorCode::None`].
    pub fn is_error(self) -> bool {
        self != ErrorCode::None
    }

    /// `Ok(())` for [`ErrorCode::None`], else `Err(self)`, so that `?` can be
    /// used on error code fields.
    pub fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_error() {
            Err(self)
        } else {
            Ok(())
        }
    }
}

impl Default for ErrorCode {
    /// [`ErrorCode::None`], as in a freshly built response.
    fn default() -> Self {
        ErrorCode::None
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_i16(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(error: ErrorCode) -> Self {
        error.code()
    }
}

impl fmt::Display for ErrorCode {
    /// `NAME (code): description`, e.g.
    /// `NOT_LEADER_OR_FOLLOWER (6): The broker is not the leader ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.name(),
            self.code(),
            self.description()
        )
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_known_code_round_trips() {
        for &error in ErrorCode::ALL {
            let code = error.code();
            assert_eq!(ErrorCode::from_i16(code), error, "code {code}");
            assert_eq!(ErrorCode::from(i16::from(error)), error);
            assert!(!matches!(error, ErrorCode::Unknown(_)));
        }
    }

    #[test]
    fn table_covers_kafka_4_0_codes_without_duplicates() {
        let codes: Vec<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted, "ALL is sorted by code and has no duplicates");
        // -1 ..= 132, with 99 never assigned by Kafka.
        let expected: Vec<i16> = (-1..=132).filter(|&c| c != 99).collect();
        assert_eq!(codes, expected);
        let names: HashSet<&str> = ErrorCode::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "names are unique");
        for &error in ErrorCode::ALL {
            assert!(!error.description().is_empty(), "{}", error.name());
        }
    }

    #[test]
    fn unknown_codes_keep_their_value() {
        for code in [99, 133, 1000, -2, i16::MIN, i16::MAX] {
            let error = ErrorCode::from_i16(code);
            assert_eq!(error, ErrorCode::Unknown(code));
            assert_eq!(error.code(), code);
            assert_eq!(error.name(), "UNKNOWN_ERROR_CODE");
            assert!(!error.is_retriable());
            assert!(error.is_error());
        }
    }

    #[test]
    fn names_match_kafka_constants() {
        assert_eq!(ErrorCode::from_i16(-1).name(), "UNKNOWN_SERVER_ERROR");
        assert_eq!(ErrorCode::from_i16(0).name(), "NONE");
        assert_eq!(ErrorCode::from_i16(1).name(), "OFFSET_OUT_OF_RANGE");
        assert_eq!(ErrorCode::from_i16(6), ErrorCode::NotLeaderOrFollower);
        assert_eq!(
            ErrorCode::NotLeaderOrFollower.name(),
            "NOT_LEADER_OR_FOLLOWER"
        );
        assert_eq!(ErrorCode::from_i16(17).name(), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(ErrorCode::from_i16(35).name(), "UNSUPPORTED_VERSION");
        assert_eq!(ErrorCode::from_i16(79).name(), "MEMBER_ID_REQUIRED");
        assert_eq!(ErrorCode::from_i16(90).name(), "PRODUCER_FENCED");
        assert_eq!(ErrorCode::from_i16(100).name(), "UNKNOWN_TOPIC_ID");
        assert_eq!(
            ErrorCode::from_i16(128).name(),
            "INVALID_REGULAR_EXPRESSION"
        );
        assert_eq!(ErrorCode::from_i16(129).name(), "REBOOTSTRAP_REQUIRED");
    }

    #[test]
    fn retriable_flags_follow_the_java_client() {
        let retriable = [
            ErrorCode::CorruptMessage,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::LeaderNotAvailable,
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::RequestTimedOut,
            ErrorCode::NetworkException,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::NotCoordinator,
            ErrorCode::NotEnoughReplicas,
            ErrorCode::ConcurrentTransactions,
            ErrorCode::KafkaStorageError,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::UnknownLeaderEpoch,
            ErrorCode::UnstableOffsetCommit,
            ErrorCode::UnknownTopicId,
        ];
        for error in retriable {
            assert!(error.is_retriable(), "{} should be retriable", error.name());
        }
        let fatal = [
            ErrorCode::None,
            ErrorCode::UnknownServerError,
            ErrorCode::OffsetOutOfRange,
            ErrorCode::TopicAuthorizationFailed,
            ErrorCode::RebalanceInProgress,
            ErrorCode::UnknownMemberId,
            ErrorCode::IllegalGeneration,
            ErrorCode::OutOfOrderSequenceNumber,
            ErrorCode::ProducerFenced,
            ErrorCode::InvalidProducerEpoch,
            ErrorCode::UnknownProducerId,
            ErrorCode::TransactionAbortable,
            ErrorCode::UnsupportedVersion,
            ErrorCode::RebootstrapRequired,
        ];
        for error in fatal {
            assert!(
                !error.is_retriable(),
                "{} should not be retriable",
                error.name()
            );
        }
    }

    #[test]
    fn display_and_result_helpers() {
        let text = ErrorCode::NotLeaderOrFollower.to_string();
        assert!(text.starts_with("NOT_LEADER_OR_FOLLOWER (6): "), "{text}");
        assert_eq!(
            ErrorCode::Unknown(4242).to_string(),
            "UNKNOWN_ERROR_CODE (4242): An error code this client does not know."
        );
        assert_eq!(ErrorCode::default(), ErrorCode::None);
        assert_eq!(ErrorCode::None.into_result(), Ok(()));
        assert_eq!(
            ErrorCode::OffsetOutOfRange.into_result(),
            Err(ErrorCode::OffsetOutOfRange)
        );
        let boxed: Box<dyn std::error::Error> = Box::new(ErrorCode::RequestTimedOut);
        assert!(boxed.to_string().contains("REQUEST_TIMED_OUT (7)"));
    }
}
