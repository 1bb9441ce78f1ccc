//! `ConsumerRebalanceListener`: user code run when the group moves partitions.
//!
//! The callbacks run inside [`KafkaConsumer::poll`] (and `unsubscribe`/`close`),
//! on the polling thread, with the consumer itself: a listener may commit,
//! seek, look up positions or committed offsets, pause or resume. It must not
//! call `poll` (that fails with `IllegalState`).

use prozess_network::{KafkaClient, NetworkClient, TopicPartition};

use crate::consumer::KafkaConsumer;
use crate::error::Result;

/// Java's `ConsumerRebalanceListener`. An error returned by a callback is
/// returned by the `poll` that ran it (after the rebalance step is applied).
pub trait ConsumerRebalanceListener<K, V, C: KafkaClient = NetworkClient>: Send {
    /// These partitions are about to be given up (the generation is still
    /// valid: committing their offsets here is safe). With auto-commit, the
    /// consumed offsets were committed just before.
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut KafkaConsumer<K, V, C>,
        partitions: &[TopicPartition],
    ) -> Result<()>;

    /// These partitions were added to the assignment (empty after a
    /// rebalance that added nothing, as in Java).
    fn on_partitions_assigned(
        &mut self,
        consumer: &mut KafkaConsumer<K, V, C>,
        partitions: &[TopicPartition],
    ) -> Result<()>;

    /// These partitions were lost: the member was fenced or expired and
    /// they may already belong to another member, so do not commit them.
    /// Java's default runs `on_partitions_revoked`; so does this one.
    fn on_partitions_lost(
        &mut self,
        consumer: &mut KafkaConsumer<K, V, C>,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        self.on_partitions_revoked(consumer, partitions)
    }
}

/// A listener that does nothing (`subscribe` without a listener).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOpRebalanceListener;

impl<K, V, C: KafkaClient> ConsumerRebalanceListener<K, V, C> for NoOpRebalanceListener {
    fn on_partitions_revoked(
        &mut self,
        _consumer: &mut KafkaConsumer<K, V, C>,
        _partitions: &[TopicPartition],
    ) -> Result<()> {
        Ok(())
    }

    fn on_partitions_assigned(
        &mut self,
        _consumer: &mut KafkaConsumer<K, V, C>,
        _partitions: &[TopicPartition],
    ) -> Result<()> {
        Ok(())
    }

    fn on_partitions_lost(
        &mut self,
        _consumer: &mut KafkaConsumer<K, V, C>,
        _partitions: &[TopicPartition],
    ) -> Result<()> {
        Ok(())
    }
}
