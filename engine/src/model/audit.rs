//! The audit log: who changed what, when, and under which correlation id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuditId, Role, TenantId};

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

/// `GET /api/v1/audit` filters; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// An exact action (`endpoint.update`) or a prefix ending in `.` (`endpoint.`).
    #[serde(default)]
    pub action: Option<String>,
    /// Part of the actor (`ops@`, `key_01J…`).
    #[serde(default)]
    pub actor: Option<String>,
    /// An exact target id or email.
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
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
