//! `describe_cluster`: the brokers, the controller and the cluster id.

use std::time::Instant;

use prozess_network::KafkaClient;

use super::driver::Topics;
use super::{AdminClient, AdminError, ClusterDescription};

impl<C: KafkaClient> AdminClient<C> {
    /// The brokers of the cluster (as they advertise themselves), its
    /// controller and id, from one broker's Metadata. Uses
    /// `default.api.timeout`.
    pub fn describe_cluster(&mut self) -> Result<ClusterDescription, AdminError> {
        let timeout = self.config.default_api_timeout;
        let deadline = Instant::now() + timeout;
        let snapshot =
            self.fetch_metadata_retrying("describe_cluster", Topics::None, deadline, timeout)?;
        let mut nodes = snapshot.brokers;
        nodes.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: snapshot.cluster_id,
            controller: snapshot.controller_id,
            nodes,
        })
    }
}
