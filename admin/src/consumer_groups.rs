//! KIP-848 consumer groups (`group.protocol=consumer`): ConsumerGroupDescribe.
//!
//! Classic groups keep [`AdminClient::describe_groups`]; a classic group
//! (or none) given here fails with GROUP_ID_NOT_FOUND, as the broker says.

use std::time::Duration;

use prozess_network::{ClientResponse, KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::consumer_group_describe::response::{
    Assignment, DescribedGroup, Member,
};
use prozess_protocol::messages::ConsumerGroupDescribeRequest;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::unexpected;
use super::groups::{group_id_list, group_resource, Batching, CoordinatorType, GroupAnswer};
use super::{AdminClient, AdminError};

/// A member of a KIP-848 consumer group (Java's `MemberDescription` for the
/// consumer protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMemberDescription {
    /// The member id (chosen by the client under KIP-848).
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// `client.rack`.
    pub rack_id: Option<String>,
    /// The member's epoch.
    pub member_epoch: i32,
    /// `client.id`.
    pub client_id: String,
    /// The member's host as the broker sees it.
    pub host: String,
    /// The topics it subscribes to by name.
    pub subscribed_topic_names: Vec<String>,
    /// Its regular expression subscription, if any.
    pub subscribed_topic_regex: Option<String>,
    /// The partitions it owns now.
    pub assignment: Vec<TopicPartition>,
    /// The partitions the coordinator wants it to own (equal to
    /// `assignment` once reconciled).
    pub target_assignment: Vec<TopicPartition>,
    /// 0: a classic-protocol member in a consumer group, 1: a consumer
    /// protocol member, -1: not told (ConsumerGroupDescribe v0).
    pub member_type: i8,
}

/// A KIP-848 consumer group (Java's `ConsumerGroupDescription` for groups
/// of type "consumer").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    /// The group id.
    pub group_id: String,
    /// "Empty", "Assigning", "Reconciling", "Stable", "Dead", ...
    pub state: String,
    /// The group epoch.
    pub group_epoch: i32,
    /// The epoch of the target assignment.
    pub assignment_epoch: i32,
    /// The server-side assignor ("uniform", "range").
    pub assignor: String,
    /// The members.
    pub members: Vec<ConsumerGroupMemberDescription>,
    /// The node that coordinates the group.
    pub coordinator: NodeId,
}

/// One group's outcome of [`AdminClient::describe_consumer_groups`].
#[derive(Debug, Clone)]
pub struct DescribeConsumerGroupResult {
    /// The group.
    pub group_id: String,
    /// Its description or error (GROUP_ID_NOT_FOUND for a classic group or
    /// no group).
    pub result: Result<ConsumerGroupDescription, AdminError>,
}

fn partitions(a: &Assignment) -> Vec<TopicPartition> {
    let mut out: Vec<TopicPartition> = a
        .topic_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|&p| TopicPartition::new(t.topic_name.clone(), p))
        })
        .collect();
    out.sort();
    out
}

fn member(m: &Member, version: i16) -> ConsumerGroupMemberDescription {
    ConsumerGroupMemberDescription {
        member_id: m.member_id.clone(),
        group_instance_id: m.instance_id.clone(),
        rack_id: m.rack_id.clone(),
        member_epoch: m.member_epoch,
        client_id: m.client_id.clone(),
        host: m.client_host.clone(),
        subscribed_topic_names: m.subscribed_topic_names.clone(),
        subscribed_topic_regex: m.subscribed_topic_regex.clone(),
        assignment: partitions(&m.assignment),
        target_assignment: partitions(&m.target_assignment),
        member_type: if version >= 1 { m.member_type } else { -1 },
    }
}

fn describe(g: &DescribedGroup, version: i16, coordinator: NodeId) -> ConsumerGroupDescription {
    ConsumerGroupDescription {
        group_id: g.group_id.clone(),
        state: g.group_state.clone(),
        group_epoch: g.group_epoch,
        assignment_epoch: g.assignment_epoch,
        assignor: g.assignor_name.clone(),
        members: g.members.iter().map(|m| member(m, version)).collect(),
        coordinator,
    }
}

impl<C: KafkaClient> AdminClient<C> {
    /// Describes KIP-848 consumer groups (ConsumerGroupDescribe to each
    /// group's coordinator): state, epochs, assignor, and each member's
    /// subscription, current and target assignment. One result per distinct
    /// group, in input order; coordinator moves and loading are retried
    /// within `timeout`. The outer `Err` only for an empty group id.
    pub fn describe_consumer_groups<S: AsRef<str>>(
        &mut self,
        group_ids: &[S],
        timeout: Duration,
    ) -> Result<Vec<DescribeConsumerGroupResult>, AdminError> {
        let ids = group_id_list(group_ids)?;
        let build = |groups: &[String], _version: i16| {
            RequestBody::ConsumerGroupDescribe(ConsumerGroupDescribeRequest {
                group_ids: groups.to_vec(),
                include_authorized_operations: false,
                ..Default::default()
            })
        };
        let parse = |response: &ClientResponse, _: &[String]| {
            let ResponseBody::ConsumerGroupDescribe(body) = &response.body else {
                return Err(unexpected(response, "ConsumerGroupDescribe"));
            };
            Ok(body
                .groups
                .iter()
                .map(|g| {
                    let code = ErrorCode::from_i16(g.error_code);
                    let answer = if !code.is_error() {
                        GroupAnswer::Done(Ok(describe(g, response.api_version, response.node)))
                    } else if code.is_retriable() {
                        tracing::warn!(group = g.group_id.as_str(), error = %code, "admin: retriable group error; retrying");
                        GroupAnswer::Retry
                    } else {
                        GroupAnswer::Done(Err(AdminError::kafka(
                            code,
                            g.error_message.clone(),
                            group_resource(&g.group_id),
                        )))
                    };
                    (g.group_id.clone(), answer)
                })
                .collect())
        };
        let results = self.group_operation(
            "describe_consumer_groups",
            &ids,
            timeout,
            ApiKey::ConsumerGroupDescribe,
            Batching::PerCoordinator,
            CoordinatorType::Group,
            &build,
            &parse,
        );
        Ok(ids
            .into_iter()
            .zip(results)
            .map(|(group_id, result)| DescribeConsumerGroupResult { group_id, result })
            .collect())
    }
}
