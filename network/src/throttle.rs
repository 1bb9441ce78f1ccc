//! Client-side quota throttling (KIP-219).
//!
//! Before KIP-219 a broker over a client's quota held the response back for
//! the throttle time. From the versions listed in [`client_throttles`] on it
//! answers at once, with `throttle_time_ms` set, and expects the client to
//! send nothing more on that connection until the time has passed (it mutes
//! the channel meanwhile, so requests sent anyway would only wait there and
//! count against their timeouts).

use std::time::Duration;

use prozess_protocol::{ApiKey, ResponseBody};

/// The `throttle_time_ms` a response carries (`None` for APIs without the
/// field: SaslHandshake, SaslAuthenticate, WriteTxnMarkers).
pub fn throttle_time_ms(body: &ResponseBody) -> Option<i32> {
    use ResponseBody as R;
    let ms = match body {
        R::Produce(r) => r.throttle_time_ms,
        R::Fetch(r) => r.throttle_time_ms,
        R::ListOffsets(r) => r.throttle_time_ms,
        R::Metadata(r) => r.throttle_time_ms,
        R::OffsetCommit(r) => r.throttle_time_ms,
        R::OffsetFetch(r) => r.throttle_time_ms,
        R::FindCoordinator(r) => r.throttle_time_ms,
        R::JoinGroup(r) => r.throttle_time_ms,
        R::Heartbeat(r) => r.throttle_time_ms,
        R::LeaveGroup(r) => r.throttle_time_ms,
        R::SyncGroup(r) => r.throttle_time_ms,
        R::DescribeGroups(r) => r.throttle_time_ms,
        R::ListGroups(r) => r.throttle_time_ms,
        R::ApiVersions(r) => r.throttle_time_ms,
        R::CreateTopics(r) => r.throttle_time_ms,
        R::DeleteTopics(r) => r.throttle_time_ms,
        R::InitProducerId(r) => r.throttle_time_ms,
        R::OffsetForLeaderEpoch(r) => r.throttle_time_ms,
        R::AddPartitionsToTxn(r) => r.throttle_time_ms,
        R::AddOffsetsToTxn(r) => r.throttle_time_ms,
        R::EndTxn(r) => r.throttle_time_ms,
        R::TxnOffsetCommit(r) => r.throttle_time_ms,
        R::DeleteRecords(r) => r.throttle_time_ms,
        R::DescribeConfigs(r) => r.throttle_time_ms,
        R::IncrementalAlterConfigs(r) => r.throttle_time_ms,
        R::CreatePartitions(r) => r.throttle_time_ms,
        R::DeleteGroups(r) => r.throttle_time_ms,
        R::ListPartitionReassignments(r) => r.throttle_time_ms,
        R::DescribeCluster(r) => r.throttle_time_ms,
        R::ConsumerGroupHeartbeat(r) => r.throttle_time_ms,
        R::ConsumerGroupDescribe(r) => r.throttle_time_ms,
        R::GetTelemetrySubscriptions(r) => r.throttle_time_ms,
        R::DescribeTopicPartitions(r) => r.throttle_time_ms,
        R::OffsetDelete(r) => r.throttle_time_ms,
        R::CreateAcls(r) => r.throttle_time_ms,
        R::DescribeAcls(r) => r.throttle_time_ms,
        R::DeleteAcls(r) => r.throttle_time_ms,
        R::DescribeLogDirs(r) => r.throttle_time_ms,
        R::ElectLeaders(r) => r.throttle_time_ms,
        R::DescribeProducers(r) => r.throttle_time_ms,
        R::ListTransactions(r) => r.throttle_time_ms,
        R::DescribeTransactions(r) => r.throttle_time_ms,
        R::SaslHandshake(_) | R::SaslAuthenticate(_) | R::WriteTxnMarkers(_) => return None,
    };
    Some(ms)
}

/// Whether a response of this API and version was sent before throttling,
/// so that the client must hold off itself (KIP-219).
///
/// The versions are those of the Kafka message definitions' "Starting in
/// version N, on quota violation, brokers send out responses before
/// throttling" notes, i.e. the Java client's `shouldClientThrottle`. APIs
/// without such a note (OffsetForLeaderEpoch, DescribeCluster,
/// ConsumerGroupHeartbeat/Describe, GetTelemetrySubscriptions) are throttled
/// by the broker delaying the response, never by the client.
pub fn client_throttles(api: ApiKey, version: i16) -> bool {
    let from = match api {
        ApiKey::Produce => 6,
        ApiKey::Fetch => 8,
        ApiKey::ListOffsets => 3,
        ApiKey::Metadata => 6,
        ApiKey::OffsetCommit => 4,
        ApiKey::OffsetFetch => 4,
        ApiKey::FindCoordinator => 2,
        ApiKey::JoinGroup => 3,
        ApiKey::Heartbeat => 2,
        ApiKey::LeaveGroup => 2,
        ApiKey::SyncGroup => 2,
        ApiKey::DescribeGroups => 2,
        ApiKey::ListGroups => 2,
        ApiKey::ApiVersions => 2,
        ApiKey::CreateTopics => 3,
        ApiKey::DeleteTopics => 2,
        ApiKey::InitProducerId => 1,
        ApiKey::AddPartitionsToTxn => 1,
        ApiKey::AddOffsetsToTxn => 1,
        ApiKey::EndTxn => 1,
        ApiKey::TxnOffsetCommit => 1,
        ApiKey::DeleteRecords => 1,
        ApiKey::DescribeConfigs => 2,
        ApiKey::IncrementalAlterConfigs => 0,
        ApiKey::CreatePartitions => 1,
        ApiKey::DeleteGroups => 1,
        ApiKey::ListPartitionReassignments => 0,
        ApiKey::DescribeTopicPartitions => 0,
        ApiKey::OffsetDelete => 0,
        ApiKey::CreateAcls => 1,
        ApiKey::DescribeAcls => 1,
        ApiKey::DeleteAcls => 1,
        ApiKey::DescribeLogDirs => 1,
        ApiKey::ElectLeaders => 0,
        _ => return false,
    };
    version >= from
}

/// How long the client must hold off after this response: the positive
/// `throttle_time_ms` of a response from a KIP-219 version, else `None`.
pub fn client_throttle_time(api: ApiKey, version: i16, body: &ResponseBody) -> Option<Duration> {
    if !client_throttles(api, version) {
        return None;
    }
    let ms = throttle_time_ms(body)?;
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prozess_protocol::messages::{
        FetchResponse, OffsetForLeaderEpochResponse, SaslHandshakeResponse,
    };

    #[test]
    fn kip_219_versions() {
        assert!(!client_throttles(ApiKey::Fetch, 7));
        assert!(client_throttles(ApiKey::Fetch, 8));
        assert!(!client_throttles(ApiKey::Produce, 5));
        assert!(client_throttles(ApiKey::Produce, 6));
        assert!(client_throttles(ApiKey::Metadata, 12));
        assert!(!client_throttles(ApiKey::JoinGroup, 2));
        assert!(client_throttles(ApiKey::JoinGroup, 3));
        assert!(!client_throttles(ApiKey::OffsetForLeaderEpoch, 4));
        assert!(!client_throttles(ApiKey::SaslAuthenticate, 2));
    }

    #[test]
    fn throttle_time_only_from_kip_219_responses() {
        let fetch = ResponseBody::Fetch(FetchResponse {
            throttle_time_ms: 250,
            ..Default::default()
        });
        assert_eq!(throttle_time_ms(&fetch), Some(250));
        assert_eq!(
            client_throttle_time(ApiKey::Fetch, 12, &fetch),
            Some(Duration::from_millis(250))
        );
        assert_eq!(client_throttle_time(ApiKey::Fetch, 7, &fetch), None);
        let zero = ResponseBody::Fetch(FetchResponse::default());
        assert_eq!(client_throttle_time(ApiKey::Fetch, 12, &zero), None);
        let negative = ResponseBody::Fetch(FetchResponse {
            throttle_time_ms: -5,
            ..Default::default()
        });
        assert_eq!(client_throttle_time(ApiKey::Fetch, 12, &negative), None);
        let olfe = ResponseBody::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse {
            throttle_time_ms: 100,
            ..Default::default()
        });
        assert_eq!(throttle_time_ms(&olfe), Some(100));
        assert_eq!(
            client_throttle_time(ApiKey::OffsetForLeaderEpoch, 4, &olfe),
            None
        );
        let sasl = ResponseBody::SaslHandshake(SaslHandshakeResponse::default());
        assert_eq!(throttle_time_ms(&sasl), None);
    }
}
