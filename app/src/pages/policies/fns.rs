//! Named retry policies: list, create or change, delete.

use herald_engine::model::RetryPolicyOut;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

#[server(prefix = "/fn", endpoint = "list_retry_policies")]
pub async fn list_retry_policies() -> Result<Vec<RetryPolicyOut>, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, internal, require};
    use herald_engine::model::Permission;
    require(Permission::Read)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.list_retry_policies(tenant, after, 200).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => after = Some(c.parse().map_err(internal)?),
            None => return Ok(all),
        }
    }
}

/// The retry-policy form: its name and description, and the policy fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyForm {
    /// Empty to create a new policy; an `rp_…` id to change that one.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: String,
    #[serde(default)]
    pub delays: String,
    #[serde(default)]
    pub base: String,
    #[serde(default)]
    pub factor: String,
    #[serde(default)]
    pub cap: String,
    pub max_attempts: String,
    #[serde(default)]
    pub max_age: String,
    #[serde(default)]
    pub jitter_percent: String,
    #[serde(default)]
    pub give_up_on: String,
}

impl PolicyForm {
    pub fn fields(&self) -> crate::forms::PolicyFields {
        crate::forms::PolicyFields {
            kind: self.kind.clone(),
            delays: self.delays.clone(),
            base: self.base.clone(),
            factor: self.factor.clone(),
            cap: self.cap.clone(),
            max_attempts: self.max_attempts.clone(),
            max_age: self.max_age.clone(),
            jitter_percent: self.jitter_percent.clone(),
            give_up_on: self.give_up_on.clone(),
        }
    }
}

#[server(prefix = "/fn", endpoint = "save_retry_policy")]
pub async fn save_retry_policy(form: PolicyForm) -> Result<RetryPolicyOut, ConsoleError> {
    use crate::ssr::{Call, by_user, invalid_field, open, parse_id};
    use herald_engine::model::{Permission, RetryPolicyIn, RetryPolicyPatch};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    let policy = form.fields().to_policy().map_err(invalid_field)?;
    let name = form.name.trim().to_string();
    let description = form.description.trim().to_string();
    let by = by_user(&user);
    let saved = if form.id.is_empty() {
        state
            .engine
            .create_retry_policy(
                tenant,
                RetryPolicyIn {
                    name,
                    description,
                    policy,
                },
                &by,
            )
            .await?
    } else {
        state
            .engine
            .update_retry_policy(
                tenant,
                parse_id("retry policy", &form.id)?,
                RetryPolicyPatch {
                    name: Some(name),
                    description: Some(description),
                    policy: Some(policy),
                },
                &by,
            )
            .await?
    };
    Ok(saved)
}

#[server(prefix = "/fn", endpoint = "delete_retry_policy")]
pub async fn delete_retry_policy(id: String) -> Result<(), ConsoleError> {
    use crate::ssr::{Call, by_user, open, parse_id};
    use herald_engine::model::Permission;
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageEndpoints).await?;
    state
        .engine
        .delete_retry_policy(tenant, parse_id("retry policy", &id)?, &by_user(&user))
        .await?;
    Ok(())
}
