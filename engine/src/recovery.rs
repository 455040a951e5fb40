//! Recovery operations on [`Engine`]: the dead-letter queue, replays and
//! checkpoints, shared by the REST API and the console. Input is checked here
//! (a clear `Invalid` naming the field), then the store does the work and the
//! dispatcher or the replay runner is woken.

use chrono::Utc;

use crate::audit::AuditBy;
use crate::model::DlqQuery;
use crate::model::event_type::validate_event_type;
use crate::model::{
    AuditAction, CheckpointId, CheckpointIn, CheckpointOut, DlqEntryId, EventId, EventReplayIn,
    Permission, ReplayFilter, ReplayId, ReplayIn, ReplayOut, ReplayPreview, ReplayState,
    ReplayedDelivery, ReprocessOut, TenantId,
};
use crate::service::Engine;
use crate::store::{Actor, NewReplay, REPROCESS_BATCH};
use crate::{EngineError, Result};

/// Events per second a replay runs at unless told otherwise.
pub const DEFAULT_REPLAY_RATE: f64 = 100.0;
/// The fastest a replay may be asked to run: a rate the runner keeps while
/// what it arms is being delivered. Its own ceiling is 25,000 events/s (a
/// full step every tick, `replay::MAX_RATE`), but each step shares SQLite's
/// one writer with the receipts: asked for 25,000/s with every event arming a
/// delivery, it took 9,448 events/s (`make bench`). Half of that leaves room
/// for endpoints that arm more than one delivery per event.
pub const MAX_REPLAY_RATE: f64 = 5_000.0;
const _: () = assert!(MAX_REPLAY_RATE <= crate::replay::MAX_RATE);
/// Longest reason a person may give.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest checkpoint name.
pub const MAX_CHECKPOINT_NAME: usize = 100;

/// A replay request's outcome: a preview (dry run) or the job started.
#[derive(Debug, Clone)]
pub enum ReplayStarted {
    DryRun(ReplayPreview),
    Job(Box<ReplayOut>),
}

/// A reason as recorded: trimmed; a required one must have a character
/// other than white space (the document's pattern `\S`).
pub(crate) fn reason(text: &str, required: bool) -> Result<String> {
    let text = text.trim_matches(crate::validate::pattern_space);
    if required && text.is_empty() {
        return Err(EngineError::invalid("reason", "say why (it is recorded)"));
    }
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(EngineError::invalid(
            "reason",
            format!("at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(text.to_owned())
}

impl Engine {
    /// Reprocesses the given entries (any number, in batches).
    pub async fn reprocess_dlq(
        &self,
        tenant: TenantId,
        ids: &[DlqEntryId],
        by: &AuditBy,
        why: &str,
    ) -> Result<ReprocessOut> {
        by.require(Permission::ManageDlq)?;
        let why = reason(why, false)?;
        let actor = Actor(by.actor.clone());
        // One entry per batch, written with it.
        let audit = |done: &ReprocessOut| {
            let summary = match (done.reprocessed.len(), done.skipped.len()) {
                (0, _) => return None,
                (1, 0) => "reprocessed the entry".to_owned(),
                (n, skipped) => format!("reprocessed {n} entries ({skipped} skipped)"),
            };
            Some(by.entry(
                Some(tenant),
                AuditAction::DlqReprocess,
                crate::audit::targets(&done.reprocessed),
                crate::audit::with_reason(&summary, &why),
            ))
        };
        let mut out = ReprocessOut::default();
        for chunk in ids.chunks(REPROCESS_BATCH) {
            let done = self
                .store
                .reprocess_dlq(tenant, chunk, &actor, &why, Utc::now(), &audit)
                .await?;
            if let Some(entry) = audit(&done) {
                crate::audit::logged(&entry);
            }
            out.reprocessed.extend(done.reprocessed);
            out.skipped.extend(done.skipped);
        }
        if !out.reprocessed.is_empty() {
            tracing::info!(entries = out.reprocessed.len(), actor = %by.actor, "DLQ entries reprocessed");
            self.dispatcher.wake();
        }
        Ok(out)
    }

    /// Reprocesses every entry matching `filter`, newest first.
    pub async fn reprocess_dlq_matching(
        &self,
        tenant: TenantId,
        mut filter: DlqQuery,
        by: &AuditBy,
        why: &str,
    ) -> Result<ReprocessOut> {
        by.require(Permission::ManageDlq)?;
        let mut out = ReprocessOut::default();
        loop {
            let ids = self
                .store
                .dlq_ids(tenant, &filter, REPROCESS_BATCH as u32)
                .await?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            let done = self.reprocess_dlq(tenant, &ids, by, why).await?;
            out.reprocessed.extend(done.reprocessed);
            out.skipped.extend(done.skipped);
            // Skipped entries stay in the queue: go on past them.
            filter.cursor = Some(last);
        }
        Ok(out)
    }

    pub async fn discard_dlq(
        &self,
        tenant: TenantId,
        id: DlqEntryId,
        by: &AuditBy,
        why: &str,
    ) -> Result<()> {
        by.require(Permission::ManageDlq)?;
        let why = reason(why, true)?;
        let actor = Actor(by.actor.clone());
        let audit = by.entry(
            Some(tenant),
            AuditAction::DlqDiscard,
            id,
            crate::audit::with_reason("discarded the entry", &why),
        );
        if !self
            .store
            .discard_dlq(tenant, id, &actor, &why, Utc::now(), &audit)
            .await?
        {
            return Err(EngineError::not_found("DLQ entry", id));
        }
        crate::audit::logged(&audit);
        tracing::info!(entry = %id, actor = %actor.0, "DLQ entry discarded");
        Ok(())
    }

    /// Re-sends one stored event now, to the endpoints it matches or the chosen ones.
    pub async fn replay_event(
        &self,
        tenant: TenantId,
        event: EventId,
        input: EventReplayIn,
        by: &AuditBy,
    ) -> Result<Vec<ReplayedDelivery>> {
        by.require(Permission::ManageReplays)?;
        let why = reason(&input.reason, false)?;
        if input.endpoint_ids.as_ref().is_some_and(Vec::is_empty) {
            return Err(EngineError::invalid(
                "endpoint_ids",
                "name at least one endpoint, or leave it out to replay to every matching endpoint",
            ));
        }
        let audit = |out: &Vec<ReplayedDelivery>| {
            Some(by.entry(
                Some(tenant),
                AuditAction::EventReplay,
                event,
                format!("replayed the event to {} deliveries", out.len()),
            ))
        };
        let out = self
            .store
            .replay_event(
                tenant,
                event,
                input.endpoint_ids.as_deref(),
                &Actor(by.actor.clone()),
                &why,
                Utc::now(),
                &audit,
            )
            .await?
            .ok_or_else(|| EngineError::not_found("event", event))?;
        if let Some(entry) = audit(&out) {
            crate::audit::logged(&entry);
        }
        if out.iter().any(|d| d.status == "queued") {
            self.dispatcher.wake();
        }
        Ok(out)
    }

    async fn check_filter(&self, tenant: TenantId, filter: &ReplayFilter) -> Result<()> {
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && to <= from
        {
            return Err(EngineError::invalid(
                "filter.to",
                format!("must be after filter.from ({from}); got {to}"),
            ));
        }
        if !filter.event_types.is_empty() {
            let known = self.store.event_types(tenant).await?;
            for (i, t) in filter.event_types.iter().enumerate() {
                validate_event_type(t)
                    .map_err(|m| EngineError::invalid(format!("filter.event_types[{i}]"), m))?;
                if !known.iter().any(|k| k.event_type == *t) {
                    return Err(EngineError::not_found("event type", t));
                }
            }
        }
        if let Some(ep) = filter.endpoint_id
            && self.store.get_endpoint(tenant, ep).await?.is_none()
        {
            return Err(EngineError::not_found("endpoint", ep));
        }
        for (field, value) in [
            ("filter.correlation_id", &filter.correlation_id),
            ("filter.entity_id", &filter.entity_id),
        ] {
            // Characters, as the OpenAPI document's maxLength counts them.
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.chars().count() > 200)
            {
                return Err(EngineError::invalid(field, "1 to 200 characters"));
            }
        }
        if let Some(source) = &filter.source {
            crate::validate::source_name(source)
                .map_err(|m| EngineError::invalid("filter.source", m))?;
        }
        if let Some(cp) = filter.after_checkpoint
            && self
                .store
                .list_checkpoints(tenant, Some(cp))
                .await?
                .is_empty()
        {
            return Err(EngineError::not_found("checkpoint", cp));
        }
        Ok(())
    }

    /// Starts a replay job, or with `dry_run` says what it would replay.
    pub async fn start_replay(
        &self,
        tenant: TenantId,
        input: ReplayIn,
        by: &AuditBy,
    ) -> Result<ReplayStarted> {
        self.start_replay_as(tenant, input, by, AuditAction::ReplayStart)
            .await
    }

    async fn start_replay_as(
        &self,
        tenant: TenantId,
        input: ReplayIn,
        by: &AuditBy,
        action: AuditAction,
    ) -> Result<ReplayStarted> {
        by.require(Permission::ManageReplays)?;
        let rate = input.rate_per_second.unwrap_or(DEFAULT_REPLAY_RATE);
        if !rate.is_finite() || rate <= 0.0 || rate > MAX_REPLAY_RATE {
            return Err(EngineError::invalid(
                "rate_per_second",
                format!(
                    "must be more than 0 and at most {MAX_REPLAY_RATE} events per second; got {rate}"
                ),
            ));
        }
        if input
            .max_events
            .is_some_and(|n| n == 0 || n > crate::model::MAX_REPLAY_EVENTS)
        {
            return Err(EngineError::invalid(
                "max_events",
                format!(
                    "must be from 1 to {} (leave it out for no limit)",
                    crate::model::MAX_REPLAY_EVENTS
                ),
            ));
        }
        let why = reason(&input.reason, false)?;
        self.check_filter(tenant, &input.filter).await?;
        if let Some(program) = &input.transform {
            self.check_transform("transform", program).await?;
        }
        if input.dry_run {
            let preview = self
                .store
                .replay_preview(tenant, &input.filter, input.max_events)
                .await?;
            return Ok(ReplayStarted::DryRun(preview));
        }
        let id = ReplayId::new();
        let audit = |planned: &ReplayPreview| {
            Some(by.entry(
                Some(tenant),
                action,
                id,
                format!("started replay {id} ({} events planned)", planned.total),
            ))
        };
        let job = self
            .store
            .create_replay(
                tenant,
                NewReplay {
                    id,
                    filter: input.filter,
                    rate_per_second: rate,
                    max_events: input.max_events,
                    reason: why,
                    actor: Actor(by.actor.clone()),
                    transform: input.transform,
                },
                Utc::now(),
                &audit,
            )
            .await?;
        tracing::info!(replay = %job.id, total = job.total, actor = %by.actor, "replay created");
        self.replays.wake();
        Ok(ReplayStarted::Job(Box::new(job)))
    }

    pub async fn replay(&self, tenant: TenantId, id: ReplayId) -> Result<ReplayOut> {
        self.store
            .get_replay(Some(tenant), id)
            .await?
            .ok_or_else(|| EngineError::not_found("replay", id))
    }

    /// Pauses, resumes or cancels a job; a 409 names the state that forbids it.
    pub async fn control_replay(
        &self,
        tenant: TenantId,
        id: ReplayId,
        to: ReplayState,
        by: &AuditBy,
    ) -> Result<ReplayOut> {
        by.require(Permission::ManageReplays)?;
        let (from, verb): (&[ReplayState], &str) = match to {
            ReplayState::Paused => (&[ReplayState::Pending, ReplayState::Running], "paused"),
            ReplayState::Running => (&[ReplayState::Paused], "resumed"),
            ReplayState::Cancelled => (
                &[
                    ReplayState::Pending,
                    ReplayState::Running,
                    ReplayState::Paused,
                ],
                "cancelled",
            ),
            other => {
                return Err(EngineError::Internal(format!(
                    "a replay cannot be set to {}",
                    other.as_str()
                )));
            }
        };
        let current = self.replay(tenant, id).await?;
        let action = match to {
            ReplayState::Paused => AuditAction::ReplayPause,
            ReplayState::Cancelled => AuditAction::ReplayCancel,
            _ => AuditAction::ReplayResume,
        };
        let audit = by.entry(
            Some(tenant),
            action,
            id,
            format!("replay is now {}", to.as_str()),
        );
        if !self
            .store
            .set_replay_state(Some(tenant), id, from, to, None, Utc::now(), Some(&audit))
            .await?
        {
            return Err(EngineError::Conflict {
                message: format!(
                    "replay {id} is {}: only a {} replay can be {verb}",
                    current.state.as_str(),
                    from.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            });
        }
        crate::audit::logged(&audit);
        tracing::info!(replay = %id, state = to.as_str(), "replay {verb}");
        self.replays.report(id).await;
        if to == ReplayState::Running {
            self.replays.wake();
        }
        self.replay(tenant, id).await
    }

    pub async fn create_checkpoint(
        &self,
        tenant: TenantId,
        mut input: CheckpointIn,
        by: &AuditBy,
    ) -> Result<CheckpointOut> {
        by.require(Permission::ManageReplays)?;
        input.name = input.name.trim().to_owned();
        let chars = input.name.chars().count();
        if chars == 0 || chars > MAX_CHECKPOINT_NAME {
            return Err(EngineError::invalid(
                "name",
                format!("1 to {MAX_CHECKPOINT_NAME} characters"),
            ));
        }
        if input.name.chars().any(char::is_control) {
            return Err(EngineError::invalid("name", "no control characters"));
        }
        let audit = |checkpoint: &CheckpointOut| {
            Some(by.entry(
                Some(tenant),
                AuditAction::CheckpointCreate,
                checkpoint.id,
                format!(
                    "checkpoint '{}' at sequence {}",
                    checkpoint.name, checkpoint.seq
                ),
            ))
        };
        let checkpoint = self
            .store
            .create_checkpoint(tenant, &input, &Actor(by.actor.clone()), Utc::now(), &audit)
            .await?;
        if let Some(entry) = audit(&checkpoint) {
            crate::audit::logged(&entry);
        }
        Ok(checkpoint)
    }

    /// Replays everything after a checkpoint (to its endpoint, if it has one).
    pub async fn recover_from_checkpoint(
        &self,
        tenant: TenantId,
        id: CheckpointId,
        mut input: ReplayIn,
        by: &AuditBy,
    ) -> Result<ReplayStarted> {
        by.require(Permission::ManageReplays)?;
        let checkpoint = self
            .store
            .list_checkpoints(tenant, Some(id))
            .await?
            .pop()
            .ok_or_else(|| EngineError::not_found("checkpoint", id))?;
        input.filter.after_checkpoint = Some(checkpoint.id);
        if input.filter.endpoint_id.is_none() {
            input.filter.endpoint_id = checkpoint.endpoint_id;
        }
        if input
            .reason
            .trim_matches(crate::validate::pattern_space)
            .is_empty()
        {
            input.reason = format!("recover from checkpoint '{}'", checkpoint.name);
        }
        self.start_replay_as(tenant, input, by, AuditAction::CheckpointRecover)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::reason;

    /// A required reason is refused exactly when the document's pattern
    /// (`\S`, ECMAScript's white space) refuses it.
    #[test]
    fn a_required_reason_is_blank_as_the_documents_pattern_says() {
        for blank in ["", " \t\n", "\u{feff}", "\u{3000}\u{a0}\u{2028}"] {
            assert!(reason(blank, true).is_err(), "{blank:?} is blank");
        }
        for given in ["\u{85}", "x", " why "] {
            assert!(reason(given, true).is_ok(), "{given:?} says something");
        }
        assert_eq!(reason("\u{feff} why \u{3000}", true).unwrap(), "why");
    }
}
