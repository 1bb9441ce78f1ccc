//! ACLs: create_acls, describe_acls, delete_acls (the broker needs an
//! authorizer; without one they fail with SECURITY_DISABLED).
//!
//! The requests go to any broker (KRaft brokers forward creations and
//! deletions to the controller), as in the Java admin client. Each binding
//! (creations) or filter (deletions) has its own result.

use std::time::{Duration, Instant};

use prozess_network::KafkaClient;
use prozess_protocol::messages::create_acls::request::AclCreation;
use prozess_protocol::messages::delete_acls::request::DeleteAclsFilter;
use prozess_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::{unexpected, Call, Target};
use super::{AdminClient, AdminError};

/// Declares a Kafka enum with its wire codes; codes this client does not
/// know decode as `Unknown`.
macro_rules! acl_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A code this client does not know.
            Unknown(i8),
        }

        impl $name {
            /// The wire code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unknown(c) => c,
                }
            }

            /// From the wire code.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    c => $name::Unknown(c),
                }
            }
        }
    };
}

acl_enum! {
    /// What kind of resource an ACL is about (Java's `ResourceType`).
    ResourceType {
        /// Filters only: any type.
        Any = 1,
        /// A topic.
        Topic = 2,
        /// A consumer group.
        Group = 3,
        /// The cluster.
        Cluster = 4,
        /// A transactional id.
        TransactionalId = 5,
        /// A delegation token.
        DelegationToken = 6,
        /// A user (quotas, tokens).
        User = 7,
    }
}

acl_enum! {
    /// How a resource name matches (Java's `PatternType`).
    PatternType {
        /// Filters only: any pattern type.
        Any = 1,
        /// Filters only: every binding that applies to the name (literal,
        /// wildcard and matching prefixes).
        Match = 2,
        /// The exact name, or `*` for all.
        Literal = 3,
        /// Names that start with it.
        Prefixed = 4,
    }
}

acl_enum! {
    /// An operation (Java's `AclOperation`).
    AclOperation {
        /// Filters only: any operation.
        Any = 1,
        /// Every operation.
        All = 2,
        /// Read.
        Read = 3,
        /// Write.
        Write = 4,
        /// Create.
        Create = 5,
        /// Delete.
        Delete = 6,
        /// Alter.
        Alter = 7,
        /// Describe.
        Describe = 8,
        /// Cluster actions (broker to broker).
        ClusterAction = 9,
        /// Describe configs.
        DescribeConfigs = 10,
        /// Alter configs.
        AlterConfigs = 11,
        /// Idempotent produce.
        IdempotentWrite = 12,
        /// Create delegation tokens.
        CreateTokens = 13,
        /// Describe delegation tokens.
        DescribeTokens = 14,
    }
}

acl_enum! {
    /// Allow or deny (Java's `AclPermissionType`).
    AclPermissionType {
        /// Filters only: either.
        Any = 1,
        /// Deny.
        Deny = 2,
        /// Allow.
        Allow = 3,
    }
}

/// A resource, or a pattern of resource names (Java's `ResourcePattern`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePattern {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The name (`*` with a literal pattern: every resource of the type;
    /// "kafka-cluster" for the cluster).
    pub name: String,
    /// How `name` matches.
    pub pattern_type: PatternType,
}

impl ResourcePattern {
    /// A pattern.
    pub fn new(
        resource_type: ResourceType,
        name: impl Into<String>,
        pattern_type: PatternType,
    ) -> Self {
        ResourcePattern {
            resource_type,
            name: name.into(),
            pattern_type,
        }
    }
}

/// Who may or may not do what from where (Java's `AccessControlEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessControlEntry {
    /// `User:name` (or another principal type).
    pub principal: String,
    /// The client host, `*` for any.
    pub host: String,
    /// The operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission_type: AclPermissionType,
}

impl AccessControlEntry {
    /// An entry.
    pub fn new(
        principal: impl Into<String>,
        host: impl Into<String>,
        operation: AclOperation,
        permission_type: AclPermissionType,
    ) -> Self {
        AccessControlEntry {
            principal: principal.into(),
            host: host.into(),
            operation,
            permission_type,
        }
    }
}

/// An ACL: a pattern and an entry (Java's `AclBinding`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// The resources.
    pub pattern: ResourcePattern,
    /// The entry.
    pub entry: AccessControlEntry,
}

impl AclBinding {
    /// A binding.
    pub fn new(pattern: ResourcePattern, entry: AccessControlEntry) -> Self {
        AclBinding { pattern, entry }
    }
}

/// Which ACLs a describe or delete matches (Java's `AclBindingFilter`):
/// `None` strings and the `Any` variants match everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBindingFilter {
    /// The resource type (`Any`: all).
    pub resource_type: ResourceType,
    /// The resource name (`None`: all).
    pub name: Option<String>,
    /// The pattern type (`Any`: all; `Match`: what applies to `name`).
    pub pattern_type: PatternType,
    /// The principal (`None`: all).
    pub principal: Option<String>,
    /// The host (`None`: all).
    pub host: Option<String>,
    /// The operation (`Any`: all).
    pub operation: AclOperation,
    /// The permission (`Any`: both).
    pub permission_type: AclPermissionType,
}

impl AclBindingFilter {
    /// Matches every ACL (Java's `AclBindingFilter.ANY`).
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission_type: AclPermissionType::Any,
        }
    }

    /// Matches exactly this binding.
    pub fn exactly(binding: &AclBinding) -> Self {
        AclBindingFilter {
            resource_type: binding.pattern.resource_type,
            name: Some(binding.pattern.name.clone()),
            pattern_type: binding.pattern.pattern_type,
            principal: Some(binding.entry.principal.clone()),
            host: Some(binding.entry.host.clone()),
            operation: binding.entry.operation,
            permission_type: binding.entry.permission_type,
        }
    }
}

/// One binding's outcome of [`AdminClient::create_acls`].
#[derive(Debug, Clone)]
pub struct CreateAclResult {
    /// The binding.
    pub binding: AclBinding,
    /// Created, or why not.
    pub result: Result<(), AdminError>,
}

/// The bindings a deletion filter matched, each deleted or not.
pub type DeletedAcls = Vec<(AclBinding, Result<(), AdminError>)>;

/// One filter's outcome of [`AdminClient::delete_acls`].
#[derive(Debug, Clone)]
pub struct DeleteAclsResult {
    /// The filter.
    pub filter: AclBindingFilter,
    /// The bindings it matched, each deleted or not, or the filter's error.
    pub result: Result<DeletedAcls, AdminError>,
}

fn binding_resource(b: &AclBinding) -> String {
    format!(
        "ACL {:?} {:?} for {} from {:?} on {:?} '{}' ({:?})",
        b.entry.permission_type,
        b.entry.operation,
        b.entry.principal,
        b.entry.host,
        b.pattern.resource_type,
        b.pattern.name,
        b.pattern.pattern_type
    )
}

fn filter_resource(f: &AclBindingFilter) -> String {
    format!("ACL filter {f:?}")
}

impl<C: KafkaClient> AdminClient<C> {
    /// Sends a request to any broker until it is answered or the deadline
    /// passes, retrying retriable network failures on another broker.
    fn any_broker(
        &mut self,
        operation: &'static str,
        api: ApiKey,
        build: &dyn Fn(i16) -> RequestBody,
        timeout: Duration,
    ) -> Result<prozess_network::ClientResponse, AdminError> {
        let deadline = Instant::now() + timeout;
        loop {
            let call = Call::new(Target::Any, api, build);
            match self.execute_one(operation, call, deadline, timeout) {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retriable() && !e.is_timeout() && Instant::now() < deadline => {
                    tracing::warn!(error = %e, "admin: {operation} failed; retrying");
                    self.backoff(deadline);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates ACL bindings. One result per binding, in input order; the
    /// outer `Err` when the request got no answer (timeout, no broker).
    pub fn create_acls(
        &mut self,
        bindings: &[AclBinding],
        timeout: Duration,
    ) -> Result<Vec<CreateAclResult>, AdminError> {
        if bindings.is_empty() {
            return Ok(Vec::new());
        }
        let build = |_version: i16| {
            RequestBody::CreateAcls(CreateAclsRequest {
                creations: bindings
                    .iter()
                    .map(|b| AclCreation {
                        resource_type: b.pattern.resource_type.code(),
                        resource_name: b.pattern.name.clone(),
                        resource_pattern_type: b.pattern.pattern_type.code(),
                        principal: b.entry.principal.clone(),
                        host: b.entry.host.clone(),
                        operation: b.entry.operation.code(),
                        permission_type: b.entry.permission_type.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        };
        let response = self.any_broker("create_acls", ApiKey::CreateAcls, &build, timeout)?;
        let ResponseBody::CreateAcls(body) = &response.body else {
            return Err(unexpected(&response, "CreateAcls"));
        };
        Ok(bindings
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let result = match body.results.get(i) {
                    None => Err(AdminError::Protocol(format!(
                        "node {} answered {} of {} ACL creations",
                        response.node,
                        body.results.len(),
                        bindings.len()
                    ))),
                    Some(r) => {
                        let code = ErrorCode::from_i16(r.error_code);
                        if code.is_error() {
                            Err(AdminError::kafka(
                                code,
                                r.error_message.clone(),
                                binding_resource(b),
                            ))
                        } else {
                            Ok(())
                        }
                    }
                };
                CreateAclResult {
                    binding: b.clone(),
                    result,
                }
            })
            .collect())
    }

    /// The ACL bindings that match `filter`, sorted.
    pub fn describe_acls(
        &mut self,
        filter: &AclBindingFilter,
        timeout: Duration,
    ) -> Result<Vec<AclBinding>, AdminError> {
        let build = |_version: i16| {
            RequestBody::DescribeAcls(DescribeAclsRequest {
                resource_type_filter: filter.resource_type.code(),
                resource_name_filter: filter.name.clone(),
                pattern_type_filter: filter.pattern_type.code(),
                principal_filter: filter.principal.clone(),
                host_filter: filter.host.clone(),
                operation: filter.operation.code(),
                permission_type: filter.permission_type.code(),
                ..Default::default()
            })
        };
        let response = self.any_broker("describe_acls", ApiKey::DescribeAcls, &build, timeout)?;
        let ResponseBody::DescribeAcls(body) = &response.body else {
            return Err(unexpected(&response, "DescribeAcls"));
        };
        let code = ErrorCode::from_i16(body.error_code);
        if code.is_error() {
            return Err(AdminError::kafka(
                code,
                body.error_message.clone(),
                filter_resource(filter),
            ));
        }
        let mut out: Vec<AclBinding> = body
            .resources
            .iter()
            .flat_map(|r| {
                r.acls.iter().map(move |a| AclBinding {
                    pattern: ResourcePattern::new(
                        ResourceType::from_code(r.resource_type),
                        r.resource_name.clone(),
                        PatternType::from_code(r.pattern_type),
                    ),
                    entry: AccessControlEntry::new(
                        a.principal.clone(),
                        a.host.clone(),
                        AclOperation::from_code(a.operation),
                        AclPermissionType::from_code(a.permission_type),
                    ),
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes the ACL bindings that match each filter. One result per
    /// filter, in input order, listing the bindings it matched.
    pub fn delete_acls(
        &mut self,
        filters: &[AclBindingFilter],
        timeout: Duration,
    ) -> Result<Vec<DeleteAclsResult>, AdminError> {
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        let build = |_version: i16| {
            RequestBody::DeleteAcls(DeleteAclsRequest {
                filters: filters
                    .iter()
                    .map(|f| DeleteAclsFilter {
                        resource_type_filter: f.resource_type.code(),
                        resource_name_filter: f.name.clone(),
                        pattern_type_filter: f.pattern_type.code(),
                        principal_filter: f.principal.clone(),
                        host_filter: f.host.clone(),
                        operation: f.operation.code(),
                        permission_type: f.permission_type.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        };
        let response = self.any_broker("delete_acls", ApiKey::DeleteAcls, &build, timeout)?;
        let ResponseBody::DeleteAcls(body) = &response.body else {
            return Err(unexpected(&response, "DeleteAcls"));
        };
        Ok(filters
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let result = match body.filter_results.get(i) {
                    None => Err(AdminError::Protocol(format!(
                        "node {} answered {} of {} ACL deletion filters",
                        response.node,
                        body.filter_results.len(),
                        filters.len()
                    ))),
                    Some(r) if ErrorCode::from_i16(r.error_code).is_error() => {
                        Err(AdminError::kafka(
                            ErrorCode::from_i16(r.error_code),
                            r.error_message.clone(),
                            filter_resource(f),
                        ))
                    }
                    Some(r) => Ok(r
                        .matching_acls
                        .iter()
                        .map(|m| {
                            let binding = AclBinding {
                                pattern: ResourcePattern::new(
                                    ResourceType::from_code(m.resource_type),
                                    m.resource_name.clone(),
                                    PatternType::from_code(m.pattern_type),
                                ),
                                entry: AccessControlEntry::new(
                                    m.principal.clone(),
                                    m.host.clone(),
                                    AclOperation::from_code(m.operation),
                                    AclPermissionType::from_code(m.permission_type),
                                ),
                            };
                            let code = ErrorCode::from_i16(m.error_code);
                            let outcome = if code.is_error() {
                                Err(AdminError::kafka(
                                    code,
                                    m.error_message.clone(),
                                    binding_resource(&binding),
                                ))
                            } else {
                                Ok(())
                            };
                            (binding, outcome)
                        })
                        .collect()),
                };
                DeleteAclsResult {
                    filter: f.clone(),
                    result,
                }
            })
            .collect())
    }
}
