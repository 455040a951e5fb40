//! The audit log. An engine operation that changes something writes its entry
//! in the change's own transaction (`AuditBy::entry`, passed to the store):
//! the two commit together or not at all. `record` appends an entry on its
//! own, for the operations not yet moved into the engine; a failure there is
//! logged at error level with the entry, but does not undo the change.

use crate::model::{AuditAction, Permission, Role, Scope, TenantId};
use crate::store::{NewAudit, Store};

/// Who makes a change: the REST API's key, the console's user, the command
/// line or Herald itself, what they may do, and how the audit log names them.
/// Every engine operation that changes something takes one and checks it
/// against the one access matrix before anything else.
#[derive(Debug, Clone)]
pub struct AuditBy {
    /// `api key key_…`, `user ops@example.com`, `cli ops`.
    pub actor: String,
    /// The key's scope (`key:manage`), the user's role, or `local`.
    pub role: String,
    pub correlation_id: Option<String>,
    pub grants: Grants,
}

/// What an actor may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grants {
    /// An API key's scope.
    Scope(Scope),
    /// A console user's role.
    Role(Role),
    /// Everything: the command line on the host (it holds the database and
    /// the master key), and Herald itself.
    Everything,
}

impl AuditBy {
    /// An API key, by its id and scope.
    pub fn key(id: impl std::fmt::Display, scope: Scope, correlation_id: Option<String>) -> Self {
        Self {
            actor: format!("api key {id}"),
            role: format!("key:{scope}"),
            correlation_id,
            grants: Grants::Scope(scope),
        }
    }

    /// Refuses what the actor's role or scope does not allow.
    pub fn require(&self, permission: Permission) -> crate::Result<()> {
        let allowed = match self.grants {
            Grants::Scope(scope) => scope.allows(permission),
            Grants::Role(role) => role.allows(permission),
            Grants::Everything => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(crate::EngineError::Forbidden {
                who: self.role.clone(),
                permission: permission.to_string(),
            })
        }
    }

    /// The command line, as the operating-system user running it.
    pub fn cli() -> Self {
        let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            actor: format!("cli {who}"),
            role: "local".into(),
            correlation_id: None,
            grants: Grants::Everything,
        }
    }

    /// A console user.
    pub fn user(user: &crate::model::UserOut, correlation_id: Option<String>) -> Self {
        Self {
            actor: format!("user {}", user.email),
            role: user.role.to_string(),
            correlation_id,
            grants: Grants::Role(user.role),
        }
    }

    /// Herald itself, for what it does unasked (the first admin on first run).
    pub fn system() -> Self {
        Self {
            actor: "herald".into(),
            role: "system".into(),
            correlation_id: None,
            grants: Grants::Everything,
        }
    }

    /// The entry for a change to `tenant`'s `target`; URLs in the summary
    /// are masked.
    pub fn entry(
        &self,
        tenant: Option<TenantId>,
        action: AuditAction,
        target: impl std::fmt::Display,
        summary: impl Into<String>,
    ) -> NewAudit {
        NewAudit {
            tenant_id: tenant,
            actor: self.actor.clone(),
            role: self.role.clone(),
            action,
            target: target.to_string(),
            summary: mask_urls(&summary.into()),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// Logs an entry the store has written with its change.
pub fn logged(entry: &NewAudit) {
    tracing::info!(
        action = %entry.action,
        actor = %entry.actor,
        target = %entry.target,
        "audit: {}",
        entry.summary
    );
}

pub async fn record(store: &dyn Store, mut entry: NewAudit) {
    entry.summary = mask_urls(&entry.summary);
    logged(&entry);
    if let Err(e) = store.append_audit(entry.clone()).await {
        tracing::error!(error = %e, ?entry, "could not append to the audit log");
    }
}

/// Every URL in a summary with its credentials and query values masked: the
/// audit log is read by more people than may see an endpoint's secrets.
pub fn mask_urls(summary: &str) -> String {
    if !summary.contains("://") {
        return summary.to_owned();
    }
    summary
        .split(' ')
        .map(|word| {
            if word.contains("://") {
                crate::model::redact::mask_url(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "changed url, timeout_ms": the fields a patch sets, for an audit summary.
/// Names only, so a header value or secret in the patch never reaches the log.
pub fn changed_fields<T: serde::Serialize>(patch: &T) -> String {
    let fields: Vec<String> = match serde_json::to_value(patch) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    };
    if fields.is_empty() {
        "changed nothing".into()
    } else {
        format!("changed {}", fields.join(", "))
    }
}

/// A summary with the operator's reason appended, when they gave one.
pub fn with_reason(what: &str, reason: &str) -> String {
    match reason.trim() {
        "" => what.to_string(),
        reason => format!("{what}: {reason}"),
    }
}

/// The target of a change to several things: its one id, or the first five
/// and how many more.
pub fn targets<T: std::fmt::Display>(ids: &[T]) -> String {
    let shown: Vec<String> = ids.iter().take(5).map(ToString::to_string).collect();
    match ids.len() - shown.len() {
        0 => shown.join(","),
        more => format!("{} and {more} more", shown.join(",")),
    }
}
