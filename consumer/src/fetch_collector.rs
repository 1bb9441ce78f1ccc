//! `FetchCollector`: drains the `FetchBuffer` into `ConsumerRecords`.
//!
//! This is the one place where positions move forward, and only for records
//! actually handed to the caller. A completed fetch is checked when it is
//! taken up: its fetch offset must still equal the partition's position
//! (otherwise it is stale after a seek, reset or reassignment and dropped), and
//! partition errors are turned into metadata refreshes, offset resets or
//! errors for the caller. Data of paused partitions stays in the buffer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prozess_protocol::ErrorCode;

use crate::completed_fetches::{CompletedFetch, FetchBuffer};
use crate::config::OffsetResetStrategy;
use crate::deserializer::Deserializer;
use crate::error::Error;
use crate::record::{ConsumerRecord, ConsumerRecords};
use crate::subscription_state::{FetchPosition, SubscriptionState};

/// What collecting asks of the rest of the consumer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CollectOutcome {
    /// A partition error said the metadata is stale (leader moved, ...).
    pub metadata_update_needed: bool,
}

/// Turns buffered fetches into records (Java's `FetchCollector`).
#[derive(Debug, Clone)]
pub struct FetchCollector {
    max_poll_records: usize,
    /// How long a preferred read replica is used before re-asking the leader.
    metadata_max_age: Duration,
}

impl FetchCollector {
    /// A collector returning at most `max_poll_records` per call.
    pub fn new(max_poll_records: usize, metadata_max_age: Duration) -> Self {
        FetchCollector {
            max_poll_records,
            metadata_max_age,
        }
    }

    /// Checks a completed fetch against the subscription state and applies
    /// its partition-level outcome. `Ok(true)`: its records may be handed out.
    fn initialize(
        &self,
        fetch: &mut CompletedFetch,
        subs: &mut SubscriptionState,
        outcome: &mut CollectOutcome,
        now: Instant,
    ) -> Result<bool, Error> {
        let tp = fetch.tp.clone();
        let position = match subs.position(&tp) {
            Some(p) => p,
            None => {
                tracing::debug!(%tp, "dropping fetched data: partition has no valid position (unassigned or resetting)");
                return Ok(false);
            }
        };
        let p = &fetch.partition;
        match p.error {
            ErrorCode::None => {
                if position.offset != fetch.fetch_offset {
                    tracing::debug!(%tp, fetch_offset = fetch.fetch_offset, position = position.offset, "dropping stale fetch: position moved");
                    return Ok(false);
                }
                if let Some(epoch_end) = p.diverging_epoch {
                    // The leader's log diverged from what the request said we
                    // had read (truncation after a leader change). Handled as
                    // a validation answer: the position moves once to where
                    // the logs agree, or LogTruncation with reset=none.
                    let request_position = (fetch.fetch_offset, fetch.request_epoch());
                    if let Some(t) = subs.handle_diverging_epoch(&tp, request_position, epoch_end) {
                        return Err(Error::LogTruncation {
                            truncations: vec![t],
                        });
                    }
                    return Ok(false);
                }
                subs.update_offsets(
                    &tp,
                    p.high_watermark,
                    p.log_start_offset,
                    p.last_stable_offset,
                );
                if p.preferred_read_replica >= 0 {
                    subs.set_preferred_read_replica(
                        &tp,
                        p.preferred_read_replica,
                        now + self.metadata_max_age,
                    );
                } else {
                    subs.clear_preferred_read_replica(&tp);
                }
                fetch.set_initialized();
                Ok(true)
            }
            ErrorCode::NotLeaderOrFollower
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::OffsetNotAvailable
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId => {
                tracing::debug!(%tp, error = %p.error, "fetch partition error: refreshing metadata and retrying");
                subs.clear_preferred_read_replica(&tp);
                outcome.metadata_update_needed = true;
                Ok(false)
            }
            ErrorCode::UnknownLeaderEpoch => {
                tracing::debug!(%tp, "broker has not seen our leader epoch yet: retrying");
                Ok(false)
            }
            ErrorCode::OffsetOutOfRange => {
                if position.offset != fetch.fetch_offset {
                    tracing::debug!(%tp, "ignoring OFFSET_OUT_OF_RANGE for a stale fetch offset");
                    return Ok(false);
                }
                subs.clear_preferred_read_replica(&tp);
                let strategy = subs.default_reset_strategy();
                if strategy == OffsetResetStrategy::None {
                    return Err(Error::OffsetOutOfRange {
                        offsets: vec![(tp, fetch.fetch_offset)],
                    });
                }
                tracing::info!(%tp, offset = fetch.fetch_offset, strategy = strategy.as_str(), "fetch offset out of range: resetting");
                subs.request_offset_reset(&tp, strategy);
                Ok(false)
            }
            ErrorCode::CorruptMessage => Err(Error::CorruptRecord {
                tp,
                offset: fetch.fetch_offset,
                message: "the broker reported CORRUPT_MESSAGE".into(),
            }),
            ErrorCode::UnknownServerError => {
                tracing::warn!(%tp, "UNKNOWN_SERVER_ERROR in fetch: retrying");
                Ok(false)
            }
            code => Err(Error::PartitionError { tp, code }),
        }
    }

    /// Hands out up to `max.poll.records` records. Records collected before an
    /// error are returned; the error comes again on the next call (the data
    /// that caused it stays buffered and the position stays before it).
    pub fn collect_fetch<K, V>(
        &self,
        buffer: &mut FetchBuffer,
        subs: &mut SubscriptionState,
        key_de: &dyn Deserializer<K>,
        value_de: &dyn Deserializer<V>,
        now: Instant,
    ) -> (Result<ConsumerRecords<K, V>, Error>, CollectOutcome) {
        let mut out = ConsumerRecords::empty();
        let mut outcome = CollectOutcome::default();
        let mut remaining = self.max_poll_records;
        let mut paused: Vec<CompletedFetch> = Vec::new();
        let mut error = None;
        while remaining > 0 {
            let need_next = buffer
                .next_in_line_mut()
                .as_ref()
                .map(|f| f.is_consumed())
                .unwrap_or(true);
            if need_next {
                let Some(front) = buffer.peek_mut() else {
                    break;
                };
                if !front.is_initialized() {
                    match self.initialize(front, subs, &mut outcome, now) {
                        Ok(true) => {}
                        Ok(false) => {
                            buffer.pop();
                            continue;
                        }
                        Err(e) => {
                            // Leave it queued if records are being returned,
                            // so the error is raised on the next call.
                            if out.is_empty() {
                                buffer.pop();
                            }
                            error = Some(e);
                            break;
                        }
                    }
                }
                let fetch = buffer.pop();
                *buffer.next_in_line_mut() = fetch;
                continue;
            }
            let fetch = buffer
                .next_in_line_mut()
                .as_mut()
                .expect("checked above: a fetch is in line");
            let tp = fetch.tp.clone();
            if subs.is_paused(&tp) {
                tracing::trace!(%tp, "partition paused: keeping its fetched data buffered");
                if let Some(f) = buffer.next_in_line_mut().take() {
                    paused.push(f);
                }
                // Data fetched ahead for it stays behind it, in order.
                paused.extend(buffer.take_partition(&tp));
                continue;
            }
            match self.fetch_records(fetch, subs, key_de, value_de, remaining) {
                Ok(records) => {
                    remaining -= records.len();
                    out.append(&tp, records);
                }
                Err((records, e)) => {
                    out.append(&tp, records);
                    error = Some(e);
                    break;
                }
            }
        }
        for f in paused {
            buffer.add(f);
        }
        match error {
            Some(e) if out.is_empty() => (Err(e), outcome),
            _ => (Ok(out), outcome),
        }
    }

    #[allow(clippy::type_complexity)]
    fn fetch_records<K, V>(
        &self,
        fetch: &mut CompletedFetch,
        subs: &mut SubscriptionState,
        key_de: &dyn Deserializer<K>,
        value_de: &dyn Deserializer<V>,
        max: usize,
    ) -> Result<Vec<ConsumerRecord<K, V>>, (Vec<ConsumerRecord<K, V>>, Error)> {
        let tp = fetch.tp.clone();
        let position = match subs.position(&tp) {
            Some(p) if subs.is_fetchable(&tp) => p,
            _ => {
                tracing::debug!(%tp, "dropping fetched data of a partition that is no longer fetchable");
                fetch.drain();
                return Ok(Vec::new());
            }
        };
        if fetch.next_fetch_offset() != position.offset {
            tracing::debug!(%tp, next = fetch.next_fetch_offset(), position = position.offset, "dropping fetched data: position moved (seek)");
            fetch.drain();
            return Ok(Vec::new());
        }
        let topic: Arc<str> = Arc::from(tp.topic.as_str());
        let mut records = Vec::with_capacity(max.min(1024));
        let mut err = None;
        while records.len() < max {
            let prev_offset = fetch.next_fetch_offset();
            let prev_epoch = fetch.last_epoch();
            let rec = match fetch.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            };
            match build_record(&topic, &tp, rec, key_de, value_de) {
                Ok(r) => records.push(r),
                Err((e, rec)) => {
                    fetch.push_back(rec, prev_offset, prev_epoch);
                    err = Some(e);
                    break;
                }
            }
        }
        let next = fetch.next_fetch_offset();
        if next > position.offset {
            subs.advance(
                &tp,
                FetchPosition {
                    offset: next,
                    offset_epoch: fetch.last_epoch().or(position.offset_epoch),
                    current_leader_epoch: position.current_leader_epoch,
                },
            );
        }
        match err {
            Some(e) => Err((records, e)),
            None => Ok(records),
        }
    }
}

/// Deserializes a record. On failure the record is handed back untouched so
/// it can be put back in line. Headers and bytes are moved, not copied.
#[allow(clippy::result_large_err)]
fn build_record<K, V>(
    topic: &Arc<str>,
    tp: &prozess_network::TopicPartition,
    rec: crate::completed_fetches::FetchedRecord,
    key_de: &dyn Deserializer<K>,
    value_de: &dyn Deserializer<V>,
) -> Result<ConsumerRecord<K, V>, (Error, crate::completed_fetches::FetchedRecord)> {
    let r = &rec.record;
    let de_err =
        |is_key: bool, e: crate::deserializer::DeserializationError| Error::Deserialization {
            tp: tp.clone(),
            offset: r.offset,
            is_key,
            message: e.0,
        };
    let key = match &r.key {
        Some(k) => match key_de.deserialize(topic, &r.headers, k.clone()) {
            Ok(k) => Some(k),
            Err(e) => {
                let e = de_err(true, e);
                return Err((e, rec));
            }
        },
        None => None,
    };
    let value = match &r.value {
        Some(v) => match value_de.deserialize(topic, &r.headers, v.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                let e = de_err(false, e);
                return Err((e, rec));
            }
        },
        None => None,
    };
    let serialized_key_size = r.key.as_ref().map(|k| k.len() as i32).unwrap_or(-1);
    let serialized_value_size = r.value.as_ref().map(|v| v.len() as i32).unwrap_or(-1);
    let crate::completed_fetches::FetchedRecord {
        record,
        timestamp_type,
        leader_epoch,
    } = rec;
    Ok(ConsumerRecord {
        topic: topic.clone(),
        partition: tp.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        timestamp_type,
        serialized_key_size,
        serialized_value_size,
        headers: record.headers,
        key,
        value,
        leader_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completed_fetches::tests::{batch, concat};
    use crate::completed_fetches::FetchedPartition;
    use crate::deserializer::{BytesDeserializer, StringDeserializer};
    use prozess_network::TopicPartition;
    use prozess_protocol::records::Compression;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn cf(p: i32, fetch_offset: i64, data: bytes::Bytes) -> CompletedFetch {
        CompletedFetch::new(
            tp(p),
            fetch_offset,
            FetchedPartition {
                high_watermark: 1000,
                records: Some(data),
                ..FetchedPartition::empty()
            },
            false,
            true,
        )
    }

    fn err_fetch(p: i32, fetch_offset: i64, error: ErrorCode) -> CompletedFetch {
        CompletedFetch::new(
            tp(p),
            fetch_offset,
            FetchedPartition {
                error,
                ..FetchedPartition::empty()
            },
            false,
            true,
        )
    }

    fn setup(parts: &[(i32, i64)], reset: OffsetResetStrategy) -> SubscriptionState {
        let mut s = SubscriptionState::new(reset);
        s.assign_from_user(parts.iter().map(|(p, _)| tp(*p)));
        for (p, o) in parts {
            s.seek(&tp(*p), FetchPosition::at(*o));
        }
        s
    }

    fn collect(
        c: &FetchCollector,
        buf: &mut FetchBuffer,
        s: &mut SubscriptionState,
    ) -> (
        Result<ConsumerRecords<bytes::Bytes, String>, Error>,
        CollectOutcome,
    ) {
        c.collect_fetch(
            buf,
            s,
            &BytesDeserializer,
            &StringDeserializer,
            Instant::now(),
        )
    }

    fn offsets(r: &ConsumerRecords<bytes::Bytes, String>) -> Vec<(i32, i64)> {
        r.iter().map(|r| (r.partition, r.offset)).collect()
    }

    #[test]
    fn position_moves_only_with_returned_records_and_max_poll_records() {
        // Invariant: a partition's position moves only when its records are handed out.
        let c = FetchCollector::new(3, Duration::from_secs(300));
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, batch(0, 5, Compression::None)));
        assert_eq!(
            s.position(&tp(0)).unwrap().offset,
            0,
            "buffering does not move it"
        );
        let (r, _) = collect(&c, &mut buf, &mut s);
        let r = r.unwrap();
        assert_eq!(offsets(&r), vec![(0, 0), (0, 1), (0, 2)]);
        assert_eq!(s.position(&tp(0)).unwrap().offset, 3);
        let first = r.iter().next().unwrap();
        assert_eq!(first.value.as_deref(), Some("v0"));
        assert_eq!(first.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(first.serialized_key_size, 1);
        assert_eq!(first.headers.len(), 1);
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 3), (0, 4)]);
        assert_eq!(s.position(&tp(0)).unwrap().offset, 5);
        assert!(buf.is_empty());
    }

    #[test]
    fn paused_partition_data_stays_buffered_and_returns_after_resume() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 0), (1, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, batch(0, 2, Compression::None)));
        buf.add(cf(1, 0, batch(0, 2, Compression::None)));
        s.pause(&tp(0));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(1, 0), (1, 1)]);
        assert_eq!(s.position(&tp(0)).unwrap().offset, 0);
        assert!(buf.buffered_partitions().contains(&tp(0)), "not dropped");
        // Still paused: nothing, still buffered.
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert!(r.unwrap().is_empty());
        assert!(buf.buffered_partitions().contains(&tp(0)));
        s.resume(&tp(0));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 0), (0, 1)]);
    }

    #[test]
    fn paused_partition_keeps_its_fetched_ahead_data_in_order() {
        let c1 = FetchCollector::new(1, Duration::from_secs(300));
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 0), (1, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, batch(0, 2, Compression::None)));
        buf.add(cf(1, 0, batch(0, 1, Compression::None)));
        buf.add(cf(0, 2, batch(2, 2, Compression::None)));
        assert_eq!(
            buf.fetch_ahead_position(&tp(0)),
            Err(()),
            "two buffered: no more"
        );
        assert_eq!(buf.fetch_ahead_position(&tp(1)), Ok(Some((1, None))));
        let (r, _) = collect(&c1, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 0)]);
        s.pause(&tp(0));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(1, 0)]);
        s.resume(&tp(0));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 1), (0, 2), (0, 3)]);
        assert!(buf.is_empty());
    }

    #[test]
    fn pause_while_partially_drained_keeps_rest() {
        let c = FetchCollector::new(1, Duration::from_secs(300));
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, batch(0, 3, Compression::None)));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 0)]);
        s.pause(&tp(0));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert!(r.unwrap().is_empty());
        s.resume(&tp(0));
        let c = FetchCollector::new(10, Duration::from_secs(300));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 1), (0, 2)]);
    }

    #[test]
    fn stale_fetch_after_seek_is_discarded() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, batch(0, 3, Compression::None)));
        s.seek(&tp(0), FetchPosition::at(10));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert!(r.unwrap().is_empty());
        assert!(buf.is_empty(), "discarded, not kept");
        assert_eq!(s.position(&tp(0)).unwrap().offset, 10);
        // Seek while a fetch is partly drained: the rest is discarded too.
        let c1 = FetchCollector::new(1, Duration::from_secs(300));
        buf.add(cf(0, 10, batch(10, 3, Compression::None)));
        let (r, _) = collect(&c1, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 10)]);
        s.seek(&tp(0), FetchPosition::at(0));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert!(r.unwrap().is_empty());
        assert_eq!(s.position(&tp(0)).unwrap().offset, 0);
        // Reassignment: data of unassigned partitions is dropped.
        buf.add(cf(0, 0, batch(0, 1, Compression::None)));
        s.assign_from_user([tp(1)]);
        s.seek(&tp(1), FetchPosition::at(0));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert!(r.unwrap().is_empty());
        assert!(buf.is_empty());
    }

    #[test]
    fn offset_out_of_range_resets_or_errors() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 50)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(err_fetch(0, 50, ErrorCode::OffsetOutOfRange));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert!(r.unwrap().is_empty());
        assert!(!s.has_valid_position(&tp(0)));
        assert_eq!(
            s.partitions_needing_reset(Instant::now()),
            vec![(tp(0), OffsetResetStrategy::Earliest)]
        );
        // With auto.offset.reset=none: a clear error naming the partition and offset.
        let mut s = setup(&[(0, 50)], OffsetResetStrategy::None);
        buf.add(err_fetch(0, 50, ErrorCode::OffsetOutOfRange));
        match collect(&c, &mut buf, &mut s).0 {
            Err(Error::OffsetOutOfRange { offsets }) => assert_eq!(offsets, vec![(tp(0), 50)]),
            other => panic!("expected OffsetOutOfRange, got {other:?}"),
        }
        // Stale OFFSET_OUT_OF_RANGE (position moved since) is ignored.
        buf.add(err_fetch(0, 7, ErrorCode::OffsetOutOfRange));
        assert!(collect(&c, &mut buf, &mut s).0.unwrap().is_empty());
        assert!(s.has_valid_position(&tp(0)));
    }

    #[test]
    fn diverging_epoch_moves_position_back_to_the_common_log() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 80)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(CompletedFetch::new(
            tp(0),
            80,
            FetchedPartition {
                diverging_epoch: Some((3, 60)),
                ..FetchedPartition::empty()
            },
            false,
            true,
        ));
        assert_eq!(
            buf.fetch_ahead_position(&tp(0)),
            Err(()),
            "no fetch ahead of a diverging answer"
        );
        assert!(collect(&c, &mut buf, &mut s).0.unwrap().is_empty());
        let pos = s.position(&tp(0)).unwrap();
        assert_eq!((pos.offset, pos.offset_epoch), (60, Some(3)));
    }

    #[test]
    fn diverging_epoch_for_a_stale_epoch_does_not_move_the_position() {
        // A fetch sent with an older last_fetched_epoch than the position has
        // now (data of the new epoch was consumed since): its answer is about
        // a position we no longer have, and must not send us back.
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        s.seek(
            &tp(0),
            FetchPosition {
                offset: 80,
                offset_epoch: Some(6),
                current_leader_epoch: Some(6),
            },
        );
        let mut buf = FetchBuffer::new();
        buf.add(
            CompletedFetch::new(
                tp(0),
                80,
                FetchedPartition {
                    diverging_epoch: Some((5, 60)),
                    ..FetchedPartition::empty()
                },
                false,
                true,
            )
            .with_request_epoch(Some(5)),
        );
        assert!(collect(&c, &mut buf, &mut s).0.unwrap().is_empty());
        let pos = s.position(&tp(0)).unwrap();
        assert_eq!((pos.offset, pos.offset_epoch), (80, Some(6)));
    }

    #[test]
    fn leader_errors_ask_for_metadata() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        for code in [
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::FencedLeaderEpoch,
        ] {
            let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
            let mut buf = FetchBuffer::new();
            buf.add(err_fetch(0, 0, code));
            let (r, outcome) = collect(&c, &mut buf, &mut s);
            assert!(r.unwrap().is_empty());
            assert!(outcome.metadata_update_needed, "{code}");
            assert!(s.has_valid_position(&tp(0)), "position kept for the retry");
            assert!(buf.is_empty());
        }
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(err_fetch(0, 0, ErrorCode::TopicAuthorizationFailed));
        match collect(&c, &mut buf, &mut s).0 {
            Err(Error::PartitionError { code, .. }) => {
                assert_eq!(code, ErrorCode::TopicAuthorizationFailed)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corrupt_record_stops_at_its_offset_after_returning_earlier_records() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut bad = batch(2, 2, Compression::None).to_vec();
        let n = bad.len();
        bad[n - 1] ^= 0x55;
        let mut buf = FetchBuffer::new();
        buf.add(cf(
            0,
            0,
            concat(&[batch(0, 2, Compression::None), bytes::Bytes::from(bad)]),
        ));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 0), (0, 1)]);
        for _ in 0..2 {
            match collect(&c, &mut buf, &mut s).0 {
                Err(Error::CorruptRecord { tp: t, offset, .. }) => {
                    assert_eq!((t, offset), (tp(0), 2))
                }
                other => panic!("expected corrupt record, got {other:?}"),
            }
            assert_eq!(
                s.position(&tp(0)).unwrap().offset,
                2,
                "never skipped silently"
            );
        }
        // The caller may seek past it; the stale data is then dropped.
        s.seek(&tp(0), FetchPosition::at(4));
        assert!(collect(&c, &mut buf, &mut s).0.unwrap().is_empty());
        assert!(buf.is_empty());
    }

    #[test]
    fn batch_inflating_past_the_limit_names_partition_offset_and_setting() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let zeros = vec![0u8; 2 << 20];
        let mut b = prozess_protocol::records::MemoryRecordsBuilder::new(2, Compression::Zstd);
        b.append(1, None, Some(&zeros), &[]).unwrap();
        let data = concat(&[batch(0, 2, Compression::None), b.build().unwrap()]);
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, data.clone()).max_decompressed_size(1 << 20));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 0), (0, 1)]);
        for _ in 0..2 {
            match collect(&c, &mut buf, &mut s).0 {
                Err(e @ Error::DecompressedBatchTooLarge { .. }) => {
                    let Error::DecompressedBatchTooLarge {
                        tp: t,
                        offset,
                        limit,
                    } = &e
                    else {
                        unreachable!()
                    };
                    assert_eq!((t, *offset, *limit), (&tp(0), 2, 1 << 20));
                    let msg = e.to_string();
                    assert!(
                        msg.contains("t-0 offset 2") && msg.contains("raise fetch.max.bytes"),
                        "{msg}"
                    );
                }
                other => panic!("expected DecompressedBatchTooLarge, got {other:?}"),
            }
            assert_eq!(s.position(&tp(0)).unwrap().offset, 2, "never skipped");
        }
        // Under a larger bound the same batch reads.
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, data).max_decompressed_size(4 << 20));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn deserialization_error_names_offset_and_keeps_position() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut b = prozess_protocol::records::MemoryRecordsBuilder::new(0, Compression::None);
        b.append(1, None, Some(b"ok"), &[]).unwrap();
        b.append(1, None, Some(&[0xff, 0xfe]), &[]).unwrap();
        b.append(1, None, Some(b"after"), &[]).unwrap();
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, b.build().unwrap()));
        let (r, _) = collect(&c, &mut buf, &mut s);
        assert_eq!(offsets(&r.unwrap()), vec![(0, 0)]);
        match collect(&c, &mut buf, &mut s).0 {
            Err(Error::Deserialization { offset, is_key, .. }) => {
                assert_eq!(offset, 1);
                assert!(!is_key);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.position(&tp(0)).unwrap().offset, 1);
        s.seek(&tp(0), FetchPosition::at(2));
        assert!(collect(&c, &mut buf, &mut s).0.unwrap().is_empty());
    }

    #[test]
    fn records_carry_leader_epoch_and_position_epoch() {
        let c = FetchCollector::new(500, Duration::from_secs(300));
        let mut s = setup(&[(0, 0)], OffsetResetStrategy::Earliest);
        let mut b = prozess_protocol::records::MemoryRecordsBuilder::new(0, Compression::None)
            .partition_leader_epoch(7);
        b.append(5, None, None, &[]).unwrap();
        let mut buf = FetchBuffer::new();
        buf.add(cf(0, 0, b.build().unwrap()));
        let r = collect(&c, &mut buf, &mut s).0.unwrap();
        let rec = r.iter().next().unwrap();
        assert_eq!(rec.leader_epoch, Some(7));
        assert_eq!(rec.key, None);
        assert_eq!(rec.value, None);
        assert_eq!(rec.serialized_value_size, -1);
        assert_eq!(s.position(&tp(0)).unwrap().offset_epoch, Some(7));
        assert_eq!(s.partition_lag(&tp(0), false), Some(999));
    }
}
