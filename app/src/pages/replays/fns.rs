//! Replays from the console: preview (dry run), start, pause, resume, cancel
//! and the job history. Progress then arrives over the live websocket.

use herald_engine::model::{ReplayOut, ReplayPreview};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// Jobs the page lists (newest first).
pub const REPLAYS_SHOWN: u32 = 50;

/// The replay form as typed; empty fields mean "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// Comma-separated event types.
    #[serde(default)]
    pub event_types: String,
    #[serde(default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub correlation_id: String,
    #[serde(default)]
    pub entity_id: String,
    #[serde(default)]
    pub source: String,
    /// A one-off jq transform; empty for none.
    #[serde(default)]
    pub transform: String,
    /// "on" when the checkbox is ticked.
    #[serde(default)]
    pub only_failed: Option<String>,
    #[serde(default)]
    pub rate_per_second: String,
    #[serde(default)]
    pub max_events: String,
    #[serde(default)]
    pub reason: String,
    /// Only events after this checkpoint's position (a checkpoint id).
    #[serde(default)]
    pub after_checkpoint: String,
}

#[cfg(feature = "ssr")]
impl ReplayForm {
    /// The API's request, or the first field that is wrong.
    fn request(&self, dry_run: bool) -> Result<herald_engine::model::ReplayIn, ConsoleError> {
        use crate::ssr::fail;
        use herald_engine::model::query::{Reader, Source};
        use herald_engine::model::{ReplayFilter, ReplayIn};
        // The filter's fields are read as every list's filters are.
        let mut filter = Reader::new(
            vec![
                ("from".into(), self.from.clone()),
                ("to".into(), self.to.clone()),
                ("endpoint_id".into(), self.endpoint_id.trim().to_string()),
                (
                    "after_checkpoint".into(),
                    self.after_checkpoint.trim().to_string(),
                ),
            ],
            Source::Form,
        );
        let query_error = |e| fail(ConsoleError::from(e));
        let invalid = |field: &str, message: String| {
            fail(ConsoleError::Invalid {
                field: field.into(),
                message,
            })
        };
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let rate = match self.rate_per_second.trim() {
            "" => None,
            r => Some(r.parse::<f64>().map_err(|_| {
                invalid(
                    "rate_per_second",
                    format!("'{r}' is not a number of events per second"),
                )
            })?),
        };
        let max_events = match self.max_events.trim() {
            "" => None,
            m => Some(
                m.parse::<u64>()
                    .map_err(|_| invalid("max_events", format!("'{m}' is not a whole number")))?,
            ),
        };
        let endpoint_id = filter.id("endpoint_id").map_err(query_error)?;
        let after_checkpoint = filter.id("after_checkpoint").map_err(query_error)?;
        Ok(ReplayIn {
            filter: ReplayFilter {
                from: filter.time("from").map_err(query_error)?,
                to: filter.time("to").map_err(query_error)?,
                event_types: crate::forms::split_patterns(&self.event_types),
                endpoint_id,
                correlation_id: text(&self.correlation_id),
                entity_id: text(&self.entity_id),
                source: text(&self.source),
                only_failed: self.only_failed.is_some(),
                after_checkpoint,
            },
            rate_per_second: rate,
            max_events,
            dry_run,
            reason: self.reason.trim().to_string(),
            transform: text(&self.transform),
        })
    }
}

/// Engine errors name API fields (`filter.to`); the form's fields drop the prefix.
#[cfg(feature = "ssr")]
fn form_error(e: herald_engine::EngineError) -> ConsoleError {
    use herald_engine::EngineError;
    match e {
        EngineError::Invalid { field, message } => crate::ssr::fail(ConsoleError::Invalid {
            field: field
                .trim_start_matches("filter.")
                .split('[')
                .next()
                .unwrap_or_default()
                .to_string(),
            message,
        }),
        other => other.into(),
    }
}

#[server(prefix = "/fn", endpoint = "list_replays")]
pub async fn list_replays() -> Result<Vec<ReplayOut>, ConsoleError> {
    use crate::ssr::{console_state, console_tenant, require};
    use herald_engine::model::Permission;
    require(Permission::Read)?;
    let state = console_state()?;
    let tenant = console_tenant(&state).await?;
    Ok(state
        .store
        .list_replays(tenant, None, REPLAYS_SHOWN)
        .await?
        .items)
}

/// Starts the form's replay in the working tenant, or with `dry_run` says
/// what it would replay.
#[cfg(feature = "ssr")]
async fn replay_from(
    form: ReplayForm,
    dry_run: bool,
) -> Result<herald_engine::recovery::ReplayStarted, ConsoleError> {
    use crate::ssr::{Call, by_user, open};
    use herald_engine::model::Permission;
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageReplays).await?;
    state
        .engine
        .start_replay(tenant, form.request(dry_run)?, &by_user(&user))
        .await
        .map_err(form_error)
}

#[server(prefix = "/fn", endpoint = "preview_replay")]
pub async fn preview_replay(form: ReplayForm) -> Result<ReplayPreview, ConsoleError> {
    use herald_engine::recovery::ReplayStarted;
    match replay_from(form, true).await? {
        ReplayStarted::DryRun(preview) => Ok(preview),
        ReplayStarted::Job(_) => Err(crate::ssr::internal("a dry run started a job")),
    }
}

#[server(prefix = "/fn", endpoint = "start_replay")]
pub async fn start_replay(form: ReplayForm) -> Result<ReplayOut, ConsoleError> {
    use herald_engine::recovery::ReplayStarted;
    match replay_from(form, false).await? {
        ReplayStarted::Job(job) => Ok(*job),
        ReplayStarted::DryRun(_) => Err(crate::ssr::internal("a replay answered with a dry run")),
    }
}

/// `action` is `pause`, `resume` or `cancel`.
#[server(prefix = "/fn", endpoint = "control_replay")]
pub async fn control_replay(id: String, action: String) -> Result<ReplayOut, ConsoleError> {
    use crate::ssr::{Call, by_user, fail, open, parse_id};
    use herald_engine::model::{Permission, ReplayId, ReplayState};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageReplays).await?;
    let id: ReplayId = parse_id("replay", &id)?;
    let to = match action.as_str() {
        "pause" => ReplayState::Paused,
        "resume" => ReplayState::Running,
        "cancel" => ReplayState::Cancelled,
        other => {
            return Err(fail(ConsoleError::Invalid {
                field: "action".into(),
                message: format!("'{other}' is not pause, resume or cancel"),
            }));
        }
    };
    Ok(state
        .engine
        .control_replay(tenant, id, to, &by_user(&user))
        .await?)
}

/// The tenant's checkpoints, newest first (the first page).
#[server(prefix = "/fn", endpoint = "list_checkpoints")]
pub async fn list_checkpoints() -> Result<Vec<herald_engine::model::CheckpointOut>, ConsoleError> {
    use crate::ssr::{Call, open};
    use herald_engine::model::Permission;
    let Call { state, tenant, .. } = open(Permission::Read).await?;
    Ok(state
        .store
        .page_checkpoints(tenant, None, REPLAYS_SHOWN)
        .await?
        .items)
}

/// Marks the newest event's position with a name, to replay from later.
#[server(prefix = "/fn", endpoint = "create_checkpoint")]
pub async fn create_checkpoint(
    name: String,
) -> Result<herald_engine::model::CheckpointOut, ConsoleError> {
    use crate::ssr::{Call, by_user, open};
    use herald_engine::model::{CheckpointIn, Permission};
    let Call {
        user,
        state,
        tenant,
    } = open(Permission::ManageReplays).await?;
    state
        .engine
        .create_checkpoint(
            tenant,
            CheckpointIn {
                name,
                seq: None,
                endpoint_id: None,
            },
            &by_user(&user),
        )
        .await
        .map_err(form_error)
}
