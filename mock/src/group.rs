//! Classic consumer groups on the coordinator side (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup), after Apache Kafka's `GroupCoordinator`: the join
//! phase waits for every known member up to the rebalance timeout (and, for
//! a group starting from empty, `group.initial.rebalance.delay.ms`); members
//! are expired by their session timeout on the cluster's clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess_protocol::messages::join_group::response::JoinGroupResponseMember;
use prozess_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use prozess_protocol::ErrorCode;

use crate::state::RequestId;

/// The state of a classic group, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's SyncGroup.
    CompletingRebalance,
    /// Assignments handed out.
    Stable,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub instance_id: Option<String>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: Instant,
    /// A JoinGroup held until the join phase ends: (request, version).
    pub awaiting_join: Option<(RequestId, i16)>,
    pub awaiting_sync: Option<RequestId>,
}

/// A classic group: members, generation, committed offsets.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    pub rebalance_deadline: Option<Instant>,
    /// Committed offsets: (topic, partition) -> (offset, leader epoch, metadata).
    pub offsets: BTreeMap<(String, i32), (i64, i32, Option<String>)>,
    next_member: u64,
}

/// Answers the group produced: responses to requests held earlier.
pub(crate) type Completions = Vec<(RequestId, prozess_protocol::ResponseBody)>;

impl Group {
    pub fn new() -> Self {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            rebalance_deadline: None,
            offsets: BTreeMap::new(),
            next_member: 0,
        }
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        format!("{client_id}-{:08x}", self.next_member)
    }

    /// JoinGroup: `Some(response)` to answer now, `None` when held until the
    /// join phase ends.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &mut self,
        id: RequestId,
        version: i16,
        req: &JoinGroupRequest,
        client_id: &str,
        now: Instant,
        initial_delay: Duration,
        out: &mut Completions,
    ) -> Option<JoinGroupResponse> {
        let fail = |code: ErrorCode, member: &str| {
            Some(JoinGroupResponse {
                error_code: code.code(),
                generation_id: -1,
                member_id: member.to_string(),
                ..Default::default()
            })
        };
        if req.session_timeout_ms < 6000 || req.session_timeout_ms > 1_800_000 {
            // group.min/max.session.timeout.ms defaults.
            return fail(ErrorCode::InvalidSessionTimeout, &req.member_id);
        }
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect();
        if protocols.is_empty()
            || self
                .protocol_type
                .as_ref()
                .is_some_and(|t| !self.members.is_empty() && *t != req.protocol_type)
            || (!self.members.is_empty()
                && !protocols.iter().any(|(n, _)| {
                    self.members
                        .values()
                        .all(|m| m.protocols.iter().any(|(o, _)| o == n))
                }))
        {
            return fail(ErrorCode::InconsistentGroupProtocol, &req.member_id);
        }
        let mut member_id = req.member_id.clone();
        if member_id.is_empty() {
            // Static members keep their member across restarts.
            let by_instance = req.group_instance_id.as_ref().and_then(|inst| {
                self.members
                    .iter()
                    .find(|(_, m)| m.instance_id.as_ref() == Some(inst))
                    .map(|(k, _)| k.clone())
            });
            match by_instance {
                Some(existing) => member_id = existing,
                None => {
                    member_id = self.new_member_id(client_id);
                    if version >= 4 && req.group_instance_id.is_none() {
                        // KIP-394: the member learns its id and joins again.
                        return fail(ErrorCode::MemberIdRequired, &member_id);
                    }
                }
            }
        } else if !self.members.contains_key(&member_id) {
            // A member id minted for a MEMBER_ID_REQUIRED answer is accepted
            // on the second join; any other unknown id is not.
            let minted = member_id
                .rsplit('-')
                .next()
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .is_some_and(|n| n <= self.next_member && member_id.starts_with(client_id));
            if !minted {
                return fail(ErrorCode::UnknownMemberId, &member_id);
            }
        }
        let member = self.members.entry(member_id.clone()).or_insert(Member {
            instance_id: req.group_instance_id.clone(),
            session_timeout: Duration::ZERO,
            rebalance_timeout: Duration::ZERO,
            protocol_type: req.protocol_type.clone(),
            protocols: Vec::new(),
            assignment: Bytes::new(),
            last_heartbeat: now,
            awaiting_join: None,
            awaiting_sync: None,
        });
        member.session_timeout = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
        member.rebalance_timeout = Duration::from_millis(
            // JoinGroup v0 had no rebalance timeout (-1 when absent): the
            // session timeout stood in for it.
            if version == 0 || req.rebalance_timeout_ms < 0 {
                req.session_timeout_ms
            } else {
                req.rebalance_timeout_ms
            }
            .max(0) as u64,
        );
        member.protocols = protocols;
        member.last_heartbeat = now;
        member.protocol_type = req.protocol_type.clone();
        if let Some((old, _)) = member.awaiting_join.replace((id, version)) {
            // Kafka answers a superseded join with the member's own id.
            out.push((
                old,
                JoinGroupResponse {
                    error_code: ErrorCode::UnknownMemberId.code(),
                    member_id: member_id.clone(),
                    ..Default::default()
                }
                .into(),
            ));
        }
        self.protocol_type = Some(req.protocol_type.clone());
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, initial_delay, out);
        }
        self.try_complete_join(now, false, out);
        None
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration, out: &mut Completions) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting in SyncGroup learn that it starts over.
            for m in self.members.values_mut() {
                if let Some(s) = m.awaiting_sync.take() {
                    out.push((
                        s,
                        SyncGroupResponse {
                            error_code: ErrorCode::RebalanceInProgress.code(),
                            ..Default::default()
                        }
                        .into(),
                    ));
                }
            }
        }
        let timeout = self.max_rebalance_timeout();
        let wait = if self.state == GroupState::Empty {
            initial_delay.min(timeout)
        } else {
            timeout
        };
        tracing::info!(
            generation = self.generation,
            "mock group: preparing rebalance"
        );
        self.state = GroupState::PreparingRebalance;
        self.rebalance_deadline = Some(now + wait);
    }

    /// Ends the join phase if every member has joined (and the initial delay
    /// is over), or if the deadline passed (then members that did not join
    /// are removed).
    fn try_complete_join(&mut self, now: Instant, deadline_passed: bool, out: &mut Completions) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join.is_some());
        let initial_wait = self.generation == 0 || self.leader.is_none();
        if !deadline_passed
            && (!all_joined || initial_wait && self.rebalance_deadline.is_some_and(|d| now < d))
        {
            return;
        }
        self.members.retain(|id, m| {
            let keep = m.awaiting_join.is_some();
            if !keep {
                tracing::info!(member = %id, "mock group: member removed, it did not rejoin in time");
            }
            keep
        });
        self.rebalance_deadline = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol_name = None;
            return;
        }
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap_or_default();
        // The leader's first protocol that every member supports.
        let chosen = self.members[&leader]
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .find(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(o, _)| o == n))
            });
        self.protocol_name = chosen.clone();
        self.state = GroupState::CompletingRebalance;
        tracing::info!(
            generation = self.generation,
            members = self.members.len(),
            "mock group: join phase complete"
        );
        let name = chosen.unwrap_or_default();
        let all: Vec<JoinGroupResponseMember> = self
            .members
            .iter()
            .map(|(id, m)| JoinGroupResponseMember {
                member_id: id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, md)| md.clone())
                    .unwrap_or_default(),
                ..Default::default()
            })
            .collect();
        for (id, m) in self.members.iter_mut() {
            m.last_heartbeat = now;
            if let Some((req, _)) = m.awaiting_join.take() {
                out.push((
                    req,
                    JoinGroupResponse {
                        generation_id: self.generation,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: Some(name.clone()),
                        leader: leader.clone(),
                        member_id: id.clone(),
                        members: if *id == leader {
                            all.clone()
                        } else {
                            Vec::new()
                        },
                        ..Default::default()
                    }
                    .into(),
                ));
            }
        }
    }

    fn check_member(&self, member: &str, generation: i32, instance: Option<&String>) -> ErrorCode {
        match self.members.get(member) {
            None => ErrorCode::UnknownMemberId,
            Some(m) if instance.is_some() && m.instance_id.as_ref() != instance => {
                ErrorCode::FencedInstanceId
            }
            Some(_) if generation != self.generation => ErrorCode::IllegalGeneration,
            Some(_) => ErrorCode::None,
        }
    }

    /// SyncGroup: `Some` to answer now, `None` when held for the leader.
    pub fn sync(
        &mut self,
        id: RequestId,
        req: &SyncGroupRequest,
        now: Instant,
        out: &mut Completions,
    ) -> Option<SyncGroupResponse> {
        let reply = |code: ErrorCode, assignment: Bytes, g: &Group| {
            Some(SyncGroupResponse {
                error_code: code.code(),
                protocol_type: g.protocol_type.clone(),
                protocol_name: g.protocol_name.clone(),
                assignment,
                ..Default::default()
            })
        };
        let code = self.check_member(
            &req.member_id,
            req.generation_id,
            req.group_instance_id.as_ref(),
        );
        if code.is_error() {
            return reply(code, Bytes::new(), self);
        }
        match self.state {
            GroupState::Empty | GroupState::PreparingRebalance => {
                reply(ErrorCode::RebalanceInProgress, Bytes::new(), self)
            }
            GroupState::Stable => {
                let a = self.members[&req.member_id].assignment.clone();
                reply(ErrorCode::None, a, self)
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.awaiting_sync = Some(id);
                    m.last_heartbeat = now;
                }
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    for a in &req.assignments {
                        if let Some(m) = self.members.get_mut(&a.member_id) {
                            m.assignment = a.assignment.clone();
                        }
                    }
                    self.state = GroupState::Stable;
                    tracing::info!(generation = self.generation, "mock group: stable");
                    let (pt, pn) = (self.protocol_type.clone(), self.protocol_name.clone());
                    for m in self.members.values_mut() {
                        if let Some(s) = m.awaiting_sync.take() {
                            out.push((
                                s,
                                SyncGroupResponse {
                                    protocol_type: pt.clone(),
                                    protocol_name: pn.clone(),
                                    assignment: m.assignment.clone(),
                                    ..Default::default()
                                }
                                .into(),
                            ));
                        }
                    }
                }
                None
            }
        }
    }

    pub fn heartbeat(&mut self, req: &HeartbeatRequest, now: Instant) -> HeartbeatResponse {
        let mut code = self.check_member(
            &req.member_id,
            req.generation_id,
            req.group_instance_id.as_ref(),
        );
        if let Some(m) = self.members.get_mut(&req.member_id) {
            if code != ErrorCode::UnknownMemberId && code != ErrorCode::FencedInstanceId {
                m.last_heartbeat = now;
            }
        }
        if !code.is_error() && self.state == GroupState::PreparingRebalance {
            code = ErrorCode::RebalanceInProgress;
        }
        if code == ErrorCode::IllegalGeneration && self.state == GroupState::PreparingRebalance {
            // Kafka reports the rebalance first to members of an old generation.
            code = ErrorCode::RebalanceInProgress;
        }
        HeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        }
    }

    /// Removes members (LeaveGroup, session expiry); a rebalance follows.
    pub fn remove_member(&mut self, member: &str, now: Instant, out: &mut Completions) -> bool {
        let Some(m) = self.members.remove(member) else {
            return false;
        };
        tracing::info!(member, "mock group: member left");
        if let Some((req, _)) = m.awaiting_join {
            out.push((
                req,
                JoinGroupResponse {
                    error_code: ErrorCode::UnknownMemberId.code(),
                    ..Default::default()
                }
                .into(),
            ));
        }
        if let Some(req) = m.awaiting_sync {
            out.push((
                req,
                SyncGroupResponse {
                    error_code: ErrorCode::UnknownMemberId.code(),
                    ..Default::default()
                }
                .into(),
            ));
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.state = GroupState::Empty;
                    self.leader = None;
                    self.generation += 1;
                } else {
                    self.prepare_rebalance(now, Duration::ZERO, out);
                }
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, false, out),
            GroupState::Empty => {}
        }
        true
    }

    /// Expires members past their session timeout and ends join phases past
    /// their deadline.
    pub fn tick(&mut self, now: Instant, out: &mut Completions) {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.awaiting_join.is_none() && now >= m.last_heartbeat + m.session_timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            tracing::info!(member = %id, "mock group: session expired");
            self.remove_member(&id, now, out);
        }
        if self.rebalance_deadline.is_some_and(|d| now >= d) {
            self.try_complete_join(now, true, out);
        }
    }

    /// The next instant at which `tick` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.last_heartbeat + m.session_timeout);
        sessions.chain(self.rebalance_deadline).min()
    }

    /// Whether an offset commit from this member/generation is accepted.
    pub fn validate_commit(
        &self,
        member: &str,
        generation: i32,
        instance: Option<&String>,
    ) -> ErrorCode {
        if generation < 0 && member.is_empty() {
            // A simple (non-member) commit: only while nobody is in the group.
            return if self.members.is_empty() {
                ErrorCode::None
            } else {
                ErrorCode::UnknownMemberId
            };
        }
        let code = self.check_member(member, generation, instance);
        if code.is_error() {
            return code;
        }
        if self.state == GroupState::PreparingRebalance {
            return ErrorCode::RebalanceInProgress;
        }
        ErrorCode::None
    }
}
