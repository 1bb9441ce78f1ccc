//! Consumer groups: the classic group protocol (JoinGroup/SyncGroup/Heartbeat,
//! Java's AbstractCoordinator as the sans-IO [`membership::GroupMembership`]),
//! the KIP-848 consumer protocol ([`consumer_group_heartbeat`]), the
//! ConsumerProtocol subscription/assignment bytes and the partition assignors.

pub mod assignor;
pub mod consumer_group_heartbeat;
pub mod consumer_protocol;
pub mod coordinator_lookup;
pub mod member;
pub mod membership;
#[cfg(test)]
pub(crate) mod test_client;
