//! Consumer group operations: list, describe, delete (and the coordinator
//! look-up the last two need).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use prozess_consumer::group::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use prozess_network::{ClientResponse, KafkaClient, NodeId};
use prozess_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, ListGroupsRequest,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::{unexpected, Call, Target, Topics};
use super::{
    AdminClient, AdminError, DeleteGroupResult, GroupDescription, GroupListing, MemberAssignment,
    MemberDescription, MemberSubscription,
};

pub(crate) fn group_resource(id: &str) -> String {
    format!("group '{id}'")
}

/// What a coordinator answered for one group.
pub(crate) enum GroupAnswer<T> {
    Done(Result<T, AdminError>),
    /// Coordinator moved, loading or unavailable: look it up again.
    Retry,
}

fn answer_for<T>(
    id: &str,
    code: ErrorCode,
    message: Option<String>,
    ok: impl FnOnce() -> T,
) -> GroupAnswer<T> {
    if !code.is_error() {
        GroupAnswer::Done(Ok(ok()))
    } else if code.is_retriable() {
        tracing::debug!(group = id, error = %code, "admin: retriable group error; retrying");
        GroupAnswer::Retry
    } else {
        GroupAnswer::Done(Err(AdminError::kafka(code, message, group_resource(id))))
    }
}

/// Filters and timeout of [`AdminClient::list_groups_with`] (Java's
/// `ListGroupsOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsOptions {
    /// Only groups in these states ("Stable", "Empty", ...; case as the
    /// broker names them); empty: any state.
    pub states: Vec<String>,
    /// Only groups of these types ("classic", "consumer", "share"); empty:
    /// any type.
    pub types: Vec<String>,
    /// The call's timeout; `None`: `default.api.timeout`.
    pub timeout: Option<Duration>,
}

impl ListGroupsOptions {
    /// Consumer groups of both protocols (types "classic" and "consumer"),
    /// as Java's `ListGroupsOptions.forConsumerGroups()`.
    pub fn for_consumer_groups() -> Self {
        ListGroupsOptions {
            types: vec!["classic".to_string(), "consumer".to_string()],
            ..Default::default()
        }
    }

    /// Only groups in these states.
    pub fn in_states<S: Into<String>>(mut self, states: impl IntoIterator<Item = S>) -> Self {
        self.states = states.into_iter().map(Into::into).collect();
        self
    }

    /// Only groups of these types.
    pub fn with_types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.types = types.into_iter().map(Into::into).collect();
        self
    }

    /// The call's timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Builds a request for these groups (one group unless batched) and version.
pub(crate) type BuildGroups<'f> = &'f dyn Fn(&[String], i16) -> RequestBody;
/// Reads each group's answer out of a response to a request for these groups.
pub(crate) type ParseGroups<'f, T> =
    &'f dyn Fn(&ClientResponse, &[String]) -> Result<Vec<(String, GroupAnswer<T>)>, AdminError>;

/// Which coordinator [`AdminClient::group_operation`] looks up for its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoordinatorType {
    /// A consumer group's (FindCoordinator key type 0).
    Group,
    /// A transactional id's (key type 1).
    Transaction,
}

impl CoordinatorType {
    fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
}

/// How [`AdminClient::group_operation`] groups its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batching {
    /// One request per coordinator, naming all its groups.
    PerCoordinator,
    /// One request per group (APIs that name a single group).
    PerGroup,
}

impl<C: KafkaClient> AdminClient<C> {
    /// The consumer groups of the cluster (every broker lists the groups it
    /// coordinates), sorted by id. Uses `default.api.timeout`.
    pub fn list_groups(&mut self) -> Result<Vec<GroupListing>, AdminError> {
        let options = ListGroupsOptions::default();
        self.list_groups_with(&options)
    }

    /// The groups of the cluster that match `options`' state and type
    /// filters (ListGroups v4+ for states, v5+ for types: an older broker
    /// fails the call with UnsupportedVersion rather than ignoring a filter),
    /// sorted by id, within `options.timeout` (default
    /// `default.api.timeout`).
    pub fn list_groups_with(
        &mut self,
        options: &ListGroupsOptions,
    ) -> Result<Vec<GroupListing>, AdminError> {
        const OP: &str = "list_groups";
        let timeout = options.timeout.unwrap_or(self.config.default_api_timeout);
        let deadline = Instant::now() + timeout;
        let snapshot = self.fetch_metadata_retrying(OP, Topics::None, deadline, timeout)?;
        let mut pending: BTreeSet<NodeId> = snapshot.brokers.iter().map(|b| b.id).collect();
        let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
        while !pending.is_empty() {
            let nodes: Vec<NodeId> = pending.iter().copied().collect();
            let calls = nodes
                .iter()
                .map(|&n| {
                    Call::new(Target::Node(n), ApiKey::ListGroups, |_| {
                        RequestBody::ListGroups(ListGroupsRequest {
                            states_filter: options.states.clone(),
                            types_filter: options.types.clone(),
                            ..Default::default()
                        })
                    })
                })
                .collect();
            let results = self.execute(OP, calls, deadline, timeout);
            for (node, result) in nodes.into_iter().zip(results) {
                match result {
                    Ok(response) => {
                        let ResponseBody::ListGroups(body) = &response.body else {
                            return Err(unexpected(&response, "ListGroups"));
                        };
                        let code = ErrorCode::from_i16(body.error_code);
                        if code.is_error() {
                            if code.is_retriable() {
                                continue;
                            }
                            return Err(AdminError::kafka(
                                code,
                                None,
                                format!("ListGroups on node {node}"),
                            ));
                        }
                        let v = response.api_version;
                        if (!options.states.is_empty() && v < 4)
                            || (!options.types.is_empty() && v < 5)
                        {
                            return Err(AdminError::unsupported(
                                "ListGroups with state (v4+) or type (v5+) filters",
                                node,
                            ));
                        }
                        for g in &body.groups {
                            groups.insert(
                                g.group_id.clone(),
                                GroupListing {
                                    group_id: g.group_id.clone(),
                                    protocol_type: g.protocol_type.clone(),
                                    state: (v >= 4).then(|| g.group_state.clone()),
                                    group_type: (v >= 5).then(|| g.group_type.clone()),
                                    coordinator: node,
                                },
                            );
                        }
                        pending.remove(&node);
                    }
                    Err(e) if e.is_retriable() && !e.is_timeout() => {
                        tracing::debug!(node, error = %e, "admin: ListGroups failed; retrying");
                    }
                    Err(e) => return Err(e),
                }
            }
            if !pending.is_empty() {
                if Instant::now() >= deadline {
                    return Err(AdminError::Timeout {
                        operation: OP,
                        timeout,
                        waiting_for: format!("ListGroups answers from nodes {pending:?}"),
                    });
                }
                self.backoff(deadline);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Describes groups: state, protocol and members (with their decoded
    /// subscriptions and assignments for consumer groups). Fails on the
    /// first group that cannot be described. Uses `default.api.timeout`.
    ///
    /// A group that does not exist is described with state "Dead" by
    /// DescribeGroups v0-5 and fails with GROUP_ID_NOT_FOUND from v6 on.
    pub fn describe_groups<S: AsRef<str>>(
        &mut self,
        group_ids: &[S],
    ) -> Result<Vec<GroupDescription>, AdminError> {
        let ids = group_id_list(group_ids)?;
        let timeout = self.config.default_api_timeout;
        let build = |groups: &[String], _version: i16| {
            RequestBody::DescribeGroups(DescribeGroupsRequest {
                groups: groups.to_vec(),
                include_authorized_operations: false,
                ..Default::default()
            })
        };
        let parse = |response: &ClientResponse, _: &[String]| {
            let ResponseBody::DescribeGroups(body) = &response.body else {
                return Err(unexpected(response, "DescribeGroups"));
            };
            Ok(body
                .groups
                .iter()
                .map(|g| {
                    let code = ErrorCode::from_i16(g.error_code);
                    let answer = answer_for(&g.group_id, code, g.error_message.clone(), || {
                        describe(g, response.node)
                    });
                    (g.group_id.clone(), answer)
                })
                .collect())
        };
        self.group_operation(
            "describe_groups",
            &ids,
            timeout,
            ApiKey::DescribeGroups,
            Batching::PerCoordinator,
            CoordinatorType::Group,
            &build,
            &parse,
        )
        .into_iter()
        .collect()
    }

    /// Deletes consumer groups (they must have no members). One result per
    /// group, in input order. Uses `default.api.timeout`.
    pub fn delete_groups<S: AsRef<str>>(
        &mut self,
        group_ids: &[S],
    ) -> Result<Vec<DeleteGroupResult>, AdminError> {
        let ids = group_id_list(group_ids)?;
        let timeout = self.config.default_api_timeout;
        let build = |groups: &[String], _version: i16| {
            RequestBody::DeleteGroups(DeleteGroupsRequest {
                groups_names: groups.to_vec(),
                ..Default::default()
            })
        };
        let parse = |response: &ClientResponse, _: &[String]| {
            let ResponseBody::DeleteGroups(body) = &response.body else {
                return Err(unexpected(response, "DeleteGroups"));
            };
            Ok(body
                .results
                .iter()
                .map(|r| {
                    let code = ErrorCode::from_i16(r.error_code);
                    (
                        r.group_id.clone(),
                        answer_for(&r.group_id, code, None, || ()),
                    )
                })
                .collect())
        };
        let results = self.group_operation(
            "delete_groups",
            &ids,
            timeout,
            ApiKey::DeleteGroups,
            Batching::PerCoordinator,
            CoordinatorType::Group,
            &build,
            &parse,
        );
        Ok(ids
            .into_iter()
            .zip(results)
            .map(|(group_id, result)| DeleteGroupResult { group_id, result })
            .collect())
    }

    /// Runs a per-group request at each group's coordinator until every
    /// group has an answer (or the timeout), looking coordinators up again
    /// after coordinator errors. Results in the order of `ids`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn group_operation<T>(
        &mut self,
        operation: &'static str,
        ids: &[String],
        timeout: Duration,
        api: ApiKey,
        batching: Batching,
        coordinator: CoordinatorType,
        build: BuildGroups<'_>,
        parse: ParseGroups<'_, T>,
    ) -> Vec<Result<T, AdminError>> {
        let deadline = Instant::now() + timeout;
        let mut results: HashMap<String, Result<T, AdminError>> = HashMap::new();
        let mut pending: Vec<String> = ids.to_vec();
        while !pending.is_empty() {
            let lookups =
                self.find_coordinators(operation, coordinator, &pending, deadline, timeout);
            let mut retry = Vec::new();
            let mut by_node: BTreeMap<NodeId, Vec<String>> = BTreeMap::new();
            for (id, lookup) in pending.drain(..).zip(lookups) {
                match lookup {
                    GroupAnswer::Done(Ok(node)) => by_node.entry(node).or_default().push(id),
                    GroupAnswer::Done(Err(e)) => {
                        results.insert(id, Err(e));
                    }
                    GroupAnswer::Retry => retry.push(id),
                }
            }
            let batches: Vec<(NodeId, Vec<String>)> = match batching {
                Batching::PerCoordinator => by_node.into_iter().collect(),
                Batching::PerGroup => by_node
                    .into_iter()
                    .flat_map(|(node, groups)| groups.into_iter().map(move |g| (node, vec![g])))
                    .collect(),
            };
            let calls = batches
                .iter()
                .map(|(node, groups)| {
                    Call::new(Target::Node(*node), api, move |v| build(groups, v))
                })
                .collect();
            let responses = self.execute(operation, calls, deadline, timeout);
            for ((node, groups), response) in batches.into_iter().zip(responses) {
                match response.and_then(|r| parse(&r, &groups)) {
                    Ok(answers) => {
                        let mut answers: HashMap<String, GroupAnswer<T>> =
                            answers.into_iter().collect();
                        for id in groups {
                            match answers.remove(&id) {
                                Some(GroupAnswer::Done(r)) => {
                                    results.insert(id, r);
                                }
                                Some(GroupAnswer::Retry) => retry.push(id),
                                None => {
                                    let e = AdminError::Protocol(format!(
                                        "node {node} did not answer for group '{id}'"
                                    ));
                                    results.insert(id, Err(e));
                                }
                            }
                        }
                    }
                    Err(e) if e.is_retriable() && !e.is_timeout() => {
                        tracing::debug!(node, error = %e, "admin: group request failed; retrying");
                        retry.extend(groups);
                    }
                    Err(e) => {
                        for id in groups {
                            results.insert(id, Err(e.clone()));
                        }
                    }
                }
            }
            pending = retry;
            self.expire_or_back_off(
                operation,
                timeout,
                deadline,
                &mut pending,
                &mut results,
                |id| {
                    let waiting_for = format!("the coordinator of group '{id}' to answer");
                    (id, waiting_for)
                },
            );
        }
        ids.iter()
            .map(|id| {
                results
                    .remove(id)
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())))
            })
            .collect()
    }

    /// One FindCoordinator round for each group (sent to any broker, all at
    /// once). Coordinator errors that may pass come back as `Retry`.
    fn find_coordinators(
        &mut self,
        operation: &'static str,
        coordinator: CoordinatorType,
        ids: &[String],
        deadline: Instant,
        timeout: Duration,
    ) -> Vec<GroupAnswer<NodeId>> {
        let calls = ids
            .iter()
            .map(|id| {
                Call::new(Target::Any, ApiKey::FindCoordinator, move |version| {
                    let mut req = FindCoordinatorRequest {
                        key_type: coordinator.key_type(),
                        ..Default::default()
                    };
                    if version >= 4 {
                        req.coordinator_keys = vec![id.clone()];
                    } else {
                        req.key = id.clone();
                    }
                    RequestBody::FindCoordinator(req)
                })
            })
            .collect();
        let responses = self.execute(operation, calls, deadline, timeout);
        ids.iter()
            .zip(responses)
            .map(|(id, response)| match response {
                Ok(r) => coordinator_of(id, &r),
                Err(e) if e.is_retriable() && !e.is_timeout() => GroupAnswer::Retry,
                Err(e) => GroupAnswer::Done(Err(e)),
            })
            .collect()
    }
}

/// The coordinator a FindCoordinator response names for group `id`.
fn coordinator_of(id: &str, response: &ClientResponse) -> GroupAnswer<NodeId> {
    let ResponseBody::FindCoordinator(body) = &response.body else {
        return GroupAnswer::Done(Err(unexpected(response, "FindCoordinator")));
    };
    if response.api_version >= 4 {
        match body.coordinators.iter().find(|c| c.key == id) {
            Some(c) => answer_for(
                id,
                ErrorCode::from_i16(c.error_code),
                c.error_message.clone(),
                || c.node_id,
            ),
            None => GroupAnswer::Done(Err(AdminError::Protocol(format!(
                "the FindCoordinator response does not mention group '{id}'"
            )))),
        }
    } else {
        answer_for(
            id,
            ErrorCode::from_i16(body.error_code),
            body.error_message.clone(),
            || body.node_id,
        )
    }
}

/// A [`GroupDescription`] from DescribeGroups, decoding the members'
/// subscriptions and assignments for consumer groups.
pub(super) fn describe(
    g: &prozess_protocol::messages::describe_groups::response::DescribedGroup,
    coordinator: NodeId,
) -> GroupDescription {
    let consumer = g.protocol_type == CONSUMER_PROTOCOL_TYPE;
    let members = g
        .members
        .iter()
        .map(|m| {
            let (subscription, assignment) = if consumer {
                (
                    decode_embedded(&g.group_id, &m.member_id, "metadata", || {
                        (!m.member_metadata.is_empty()).then(|| {
                            MemberSubscription::decode(m.member_metadata.clone()).map(|s| {
                                MemberSubscription {
                                    group_instance_id: m.group_instance_id.clone(),
                                    ..s
                                }
                            })
                        })
                    }),
                    decode_embedded(&g.group_id, &m.member_id, "assignment", || {
                        (!m.member_assignment.is_empty())
                            .then(|| MemberAssignment::decode(m.member_assignment.clone()))
                    }),
                )
            } else {
                (None, None)
            };
            MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                host: m.client_host.clone(),
                metadata: m.member_metadata.clone(),
                assignment_bytes: m.member_assignment.clone(),
                subscription,
                assignment,
            }
        })
        .collect();
    GroupDescription {
        group_id: g.group_id.clone(),
        state: g.group_state.clone(),
        protocol_type: g.protocol_type.clone(),
        protocol: g.protocol_data.clone(),
        members,
        coordinator,
    }
}

/// Decodes an embedded structure; a broken one is logged and left out (the
/// raw bytes stay in the description) rather than failing the whole call.
fn decode_embedded<T>(
    group: &str,
    member: &str,
    what: &str,
    decode: impl FnOnce() -> Option<Result<T, prozess_protocol::DecodeError>>,
) -> Option<T> {
    match decode()? {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(group, member, error = %e, "admin: member {what} does not decode as the consumer protocol");
            None
        }
    }
}

pub(crate) fn group_id_list<S: AsRef<str>>(ids: &[S]) -> Result<Vec<String>, AdminError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in ids {
        let id = id.as_ref();
        if id.is_empty() {
            return Err(AdminError::Config("a group id is empty".to_string()));
        }
        if seen.insert(id.to_string()) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}
