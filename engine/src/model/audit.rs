//! The audit log: who changed what, when, and under which correlation id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuditId, Role, TenantId};

/// Every change the audit log records. The log and its filters spell each as
/// `thing.verb` (`as_str`); code names them only through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    EndpointCreate,
    EndpointUpdate,
    EndpointDelete,
    EndpointEnable,
    EndpointDisable,
    EndpointRotateSecret,
    EndpointTestEvent,
    EndpointDiscardBacklog,
    /// Its circuit breaker opened (or opened again after a failed probe).
    EndpointCircuitOpen,
    /// Its circuit breaker closed: a probe succeeded.
    EndpointCircuitClose,
    RetryPolicyCreate,
    RetryPolicyUpdate,
    RetryPolicyDelete,
    /// An event type registered in the catalog.
    EventTypeCreate,
    /// Its description or flags changed (deprecated, archived).
    EventTypeUpdate,
    /// Archived (deleted from the catalog; its versions are kept).
    EventTypeDelete,
    /// A new version of its schema registered.
    EventTypeVersion,
    DlqReprocess,
    DlqDiscard,
    EventReplay,
    /// Its payload and receipts' bodies were erased (a privacy request).
    EventExpunge,
    ReplayStart,
    ReplayPause,
    ReplayResume,
    ReplayCancel,
    CheckpointCreate,
    CheckpointRecover,
    ApiKeyCreate,
    ApiKeyRevoke,
    UserCreate,
    UserUpdate,
    UserDelete,
    UserPassword,
    TenantCreate,
    TenantUpdate,
    MasterKeyRotate,
    LoginSuccess,
    LoginFailure,
}

impl AuditAction {
    pub const ALL: [AuditAction; 38] = [
        AuditAction::EndpointCreate,
        AuditAction::EndpointUpdate,
        AuditAction::EndpointDelete,
        AuditAction::EndpointEnable,
        AuditAction::EndpointDisable,
        AuditAction::EndpointRotateSecret,
        AuditAction::EndpointTestEvent,
        AuditAction::EndpointDiscardBacklog,
        AuditAction::EndpointCircuitOpen,
        AuditAction::EndpointCircuitClose,
        AuditAction::RetryPolicyCreate,
        AuditAction::RetryPolicyUpdate,
        AuditAction::RetryPolicyDelete,
        AuditAction::EventTypeCreate,
        AuditAction::EventTypeUpdate,
        AuditAction::EventTypeDelete,
        AuditAction::EventTypeVersion,
        AuditAction::DlqReprocess,
        AuditAction::DlqDiscard,
        AuditAction::EventReplay,
        AuditAction::EventExpunge,
        AuditAction::ReplayStart,
        AuditAction::ReplayPause,
        AuditAction::ReplayResume,
        AuditAction::ReplayCancel,
        AuditAction::CheckpointCreate,
        AuditAction::CheckpointRecover,
        AuditAction::ApiKeyCreate,
        AuditAction::ApiKeyRevoke,
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::UserDelete,
        AuditAction::UserPassword,
        AuditAction::TenantCreate,
        AuditAction::TenantUpdate,
        AuditAction::MasterKeyRotate,
        AuditAction::LoginSuccess,
        AuditAction::LoginFailure,
    ];

    /// As the log stores it: `endpoint.create`, `login.failure`, …
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::EndpointCreate => "endpoint.create",
            AuditAction::EndpointUpdate => "endpoint.update",
            AuditAction::EndpointDelete => "endpoint.delete",
            AuditAction::EndpointEnable => "endpoint.enable",
            AuditAction::EndpointDisable => "endpoint.disable",
            AuditAction::EndpointRotateSecret => "endpoint.rotate_secret",
            AuditAction::EndpointTestEvent => "endpoint.test_event",
            AuditAction::EndpointDiscardBacklog => "endpoint.discard_backlog",
            AuditAction::EndpointCircuitOpen => "endpoint.circuit_opened",
            AuditAction::EndpointCircuitClose => "endpoint.circuit_closed",
            AuditAction::RetryPolicyCreate => "retry_policy.create",
            AuditAction::RetryPolicyUpdate => "retry_policy.update",
            AuditAction::RetryPolicyDelete => "retry_policy.delete",
            AuditAction::EventTypeCreate => "event_type.create",
            AuditAction::EventTypeUpdate => "event_type.update",
            AuditAction::EventTypeDelete => "event_type.delete",
            AuditAction::EventTypeVersion => "event_type.version",
            AuditAction::DlqReprocess => "dlq.reprocess",
            AuditAction::DlqDiscard => "dlq.discard",
            AuditAction::EventReplay => "event.replay",
            AuditAction::EventExpunge => "event.expunge",
            AuditAction::ReplayStart => "replay.start",
            AuditAction::ReplayPause => "replay.pause",
            AuditAction::ReplayResume => "replay.resume",
            AuditAction::ReplayCancel => "replay.cancel",
            AuditAction::CheckpointCreate => "checkpoint.create",
            AuditAction::CheckpointRecover => "checkpoint.recover",
            AuditAction::ApiKeyCreate => "api_key.create",
            AuditAction::ApiKeyRevoke => "api_key.revoke",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserUpdate => "user.update",
            AuditAction::UserDelete => "user.delete",
            AuditAction::UserPassword => "user.password",
            AuditAction::TenantCreate => "tenant.create",
            AuditAction::TenantUpdate => "tenant.update",
            AuditAction::MasterKeyRotate => "master_key.rotate",
            AuditAction::LoginSuccess => "login.success",
            AuditAction::LoginFailure => "login.failure",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audited change. Rows are appended and never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditOut {
    pub id: AuditId,
    /// `None` for console-wide changes (users, sign-ins).
    pub tenant_id: Option<TenantId>,
    pub at: DateTime<Utc>,
    /// `user ops@example.com`, `api key key_…`, or the email a failed sign-in named.
    pub actor: String,
    /// The actor's role (`admin`, …) or key scope (`key:manage`); `-` when unknown.
    pub role: String,
    /// What was done, as `thing.verb`: `endpoint.create`, `dlq.reprocess`, `login.failure`, …
    pub action: String,
    /// What it was done to: an id, an email.
    pub target: String,
    /// The change in a sentence, never a secret.
    pub summary: String,
    pub correlation_id: Option<String>,
}

/// A console user's changes: role, tenant binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub role: Option<Role>,
    /// `Some(None)` makes the user global; `Some(Some(t))` binds them to `t`.
    #[serde(default, with = "super::double_option")]
    pub tenant_id: Option<Option<TenantId>>,
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn every_action_is_thing_dot_verb_and_named_once() {
        let mut seen = std::collections::BTreeSet::new();
        for action in AuditAction::ALL {
            let text = action.as_str();
            let (thing, verb) = text.split_once('.').expect("thing.verb");
            assert!(!thing.is_empty() && !verb.is_empty(), "{text}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
        }
        // ALL must list every variant: this stops compiling when one is added.
        let _ = |a: AuditAction| match a {
            AuditAction::EndpointCreate => (),
            AuditAction::EndpointUpdate => (),
            AuditAction::EndpointDelete => (),
            AuditAction::EndpointEnable => (),
            AuditAction::EndpointDisable => (),
            AuditAction::EndpointRotateSecret => (),
            AuditAction::EndpointTestEvent => (),
            AuditAction::EndpointDiscardBacklog => (),
            AuditAction::EndpointCircuitOpen => (),
            AuditAction::EndpointCircuitClose => (),
            AuditAction::RetryPolicyCreate => (),
            AuditAction::RetryPolicyUpdate => (),
            AuditAction::RetryPolicyDelete => (),
            AuditAction::EventTypeCreate => (),
            AuditAction::EventTypeUpdate => (),
            AuditAction::EventTypeDelete => (),
            AuditAction::EventTypeVersion => (),
            AuditAction::DlqReprocess => (),
            AuditAction::DlqDiscard => (),
            AuditAction::EventReplay => (),
            AuditAction::EventExpunge => (),
            AuditAction::ReplayStart => (),
            AuditAction::ReplayPause => (),
            AuditAction::ReplayResume => (),
            AuditAction::ReplayCancel => (),
            AuditAction::CheckpointCreate => (),
            AuditAction::CheckpointRecover => (),
            AuditAction::ApiKeyCreate => (),
            AuditAction::ApiKeyRevoke => (),
            AuditAction::UserCreate => (),
            AuditAction::UserUpdate => (),
            AuditAction::UserDelete => (),
            AuditAction::UserPassword => (),
            AuditAction::TenantCreate => (),
            AuditAction::TenantUpdate => (),
            AuditAction::MasterKeyRotate => (),
            AuditAction::LoginSuccess => (),
            AuditAction::LoginFailure => (),
        };
    }
}
