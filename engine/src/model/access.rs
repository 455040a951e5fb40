//! Who may do what. One permission check serves the REST API (API key scopes)
//! and the console (user roles); the matrix below is the only place it is decided.

use serde::{Deserialize, Serialize};

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read a tenant's events, receipts, endpoints, DLQ, replays and stats.
    Read,
    /// Publish events through the ingest API.
    Publish,
    /// Send a test event to an endpoint.
    SendTestEvent,
    /// Create, change and delete endpoints and retry policies; rotate secrets.
    ManageEndpoints,
    /// Start, pause, resume and cancel replays; manage checkpoints.
    ManageReplays,
    /// Reprocess and discard dead-letter entries.
    ManageDlq,
    /// Read the audit log.
    ReadAudit,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Create console users and change their roles (console-wide, not per tenant).
    ManageUsers,
    /// Lease, acknowledge and hand back a pull inbox's messages.
    Consume,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::Read,
        Permission::Publish,
        Permission::SendTestEvent,
        Permission::ManageEndpoints,
        Permission::ManageReplays,
        Permission::ManageDlq,
        Permission::ReadAudit,
        Permission::ManageApiKeys,
        Permission::ManageUsers,
        Permission::Consume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Publish => "publish",
            Permission::SendTestEvent => "send_test_event",
            Permission::ManageEndpoints => "manage_endpoints",
            Permission::ManageReplays => "manage_replays",
            Permission::ManageDlq => "manage_dlq",
            Permission::ReadAudit => "read_audit",
            Permission::ManageApiKeys => "manage_api_keys",
            Permission::ManageUsers => "manage_users",
            Permission::Consume => "consume",
        }
    }
}

/// A console user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Support,
    Developer,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Operator,
        Role::Support,
        Role::Developer,
        Role::Viewer,
    ];

    /// The role matrix. Exhaustive on both sides so a new role or permission
    /// cannot be added without deciding who holds it.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(
                permission,
                P::Read | P::SendTestEvent | P::ManageReplays | P::ManageDlq | P::ReadAudit
            ),
            Role::Support => matches!(permission, P::Read | P::ManageDlq),
            Role::Developer => {
                matches!(permission, P::Read | P::SendTestEvent | P::ManageEndpoints)
            }
            Role::Viewer => matches!(permission, P::Read),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Support => "support",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }
}

/// What an API key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Publish events, nothing else: what a producing service needs.
    Ingest,
    /// Read-only access to the tenant's data.
    Read,
    /// Read and change the tenant's configuration and operations, but not publish.
    Manage,
    /// Everything a key can do within its tenant.
    All,
    /// Consume one pull inbox (the key is bound to it), nothing else: what a
    /// consuming service needs.
    Consume,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Ingest,
        Scope::Read,
        Scope::Manage,
        Scope::All,
        Scope::Consume,
    ];

    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        // Users are console-wide, never a tenant's business: no key manages them.
        if permission == P::ManageUsers {
            return false;
        }
        match self {
            Scope::Ingest => permission == P::Publish,
            Scope::Read => permission == P::Read,
            Scope::Manage => !matches!(permission, P::Publish | P::Consume),
            Scope::All => true,
            Scope::Consume => permission == P::Consume,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Manage => "manage",
            Scope::All => "all",
            Scope::Consume => "consume",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a {what}; expected one of: {expected}")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}

str_enum!(Role, "role");
str_enum!(Scope, "scope");
str_enum!(Permission, "permission");

/// The permission matrix as a Markdown table, roles then key scopes as columns.
/// The README carries this exact table; a test keeps the two in step.
pub fn permission_matrix_markdown() -> String {
    let mut out = String::from("| permission |");
    for role in Role::ALL {
        out.push_str(&format!(" {role} |"));
    }
    for scope in Scope::ALL {
        out.push_str(&format!(" key:{scope} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Role::ALL.len() + Scope::ALL.len()));
    for permission in Permission::ALL {
        out.push_str(&format!("\n| {permission} |"));
        let cells = Role::ALL
            .map(|r| r.allows(permission))
            .into_iter()
            .chain(Scope::ALL.map(|s| s.allows(permission)));
        for allowed in cells {
            out.push_str(if allowed { " yes |" } else { " — |" });
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_holds_every_permission_and_viewer_only_reads() {
        for p in Permission::ALL {
            assert!(Role::Admin.allows(p), "{p}");
            assert_eq!(Role::Viewer.allows(p), p == Permission::Read, "{p}");
        }
    }

    #[test]
    fn scopes_nest_as_documented() {
        for p in Permission::ALL {
            if Scope::Read.allows(p) {
                assert!(Scope::Manage.allows(p), "manage must include read: {p}");
            }
            if Scope::Manage.allows(p) || Scope::Ingest.allows(p) {
                assert!(Scope::All.allows(p), "all must include {p}");
            }
        }
        assert!(!Scope::Ingest.allows(Permission::Read));
        assert!(!Scope::Read.allows(Permission::Publish));
        assert!(!Scope::All.allows(Permission::ManageUsers));
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        let err = "superuser".parse::<Role>().unwrap_err().to_string();
        assert!(
            err.contains("admin, operator, support, developer, viewer"),
            "{err}"
        );
    }

    #[test]
    fn readme_documents_the_current_matrix() {
        let readme = include_str!("../../../README.md");
        let table = permission_matrix_markdown();
        assert!(
            readme.contains(&table),
            "README.md's permission matrix is out of date; replace it with:\n{table}"
        );
    }
}
