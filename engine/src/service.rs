//! The operations the REST API and the console's server functions share. Each
//! is written once here: checks, the store call, and waking the dispatcher when
//! new work was committed. Callers have already checked the caller's permission.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{self, AuditBy};
use crate::dispatch::Dispatcher;
use crate::ingest::IngestWriter;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::model::{
    AuditAction, EndpointId, EndpointIn, EndpointOut, EndpointPatch, EventId, EventIn, Permission,
    RetryPolicyId, RetryPolicyIn, RetryPolicyOut, RetryPolicyPatch, TenantId, TenantPatch,
};
use crate::replay::ReplayRunner;
use crate::sign::Secret;
use crate::store::{IngestAudit, Ingested, NewEvent, Publish, Store};
use crate::{EngineError, Result, validate};

/// How long a rotated-out secret keeps signing by default: 24 hours.
pub const DEFAULT_GRACE_SECS: u64 = 24 * 3_600;
/// The longest grace period a rotation may ask for: 30 days.
pub const MAX_GRACE_SECS: u64 = 30 * 24 * 3_600;
/// The event type of test events unless the caller names another.
pub const TEST_EVENT_TYPE: &str = "herald.test";

/// The store, the workers to wake, the live feed and the counters, and the
/// limits input is held to.
#[derive(Clone)]
pub struct Engine {
    pub store: Arc<dyn Store>,
    pub dispatcher: Arc<Dispatcher>,
    pub replays: Arc<ReplayRunner>,
    /// What happens as it happens, per tenant: attempt outcomes from the
    /// dispatcher, progress from the replay runner.
    pub live: Arc<LiveHub>,
    /// Counters for `/metrics`: attempts from the dispatcher, ingest from here.
    pub metrics: Arc<Metrics>,
    /// Publish requests go through it, for group commit.
    pub ingest: IngestWriter,
    /// Each tenant's catalog as ingest checks events against it.
    pub schemas: Arc<crate::catalog::SchemaGate>,
    /// Where transforms are checked and tried (the dispatcher runs them).
    pub transforms: Arc<crate::transform::TransformPool>,
    pub max_payload_bytes: usize,
}

/// A new signing secret, shown once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rotated {
    pub secret: String,
    pub previous_secret_valid_until: DateTime<Utc>,
}

impl Engine {
    /// Builds the engine and its workers over `store`; the caller starts the
    /// workers (`dispatcher.run`, `replays.run`).
    pub fn new(
        store: Arc<dyn Store>,
        dispatch: crate::dispatch::DispatcherConfig,
        max_payload_bytes: usize,
    ) -> Self {
        let live = Arc::new(LiveHub::default());
        let metrics = Arc::new(Metrics::default());
        let transforms = dispatch.transforms.clone();
        let (ops, notices) = crate::ops::Notices::channel();
        let dispatcher =
            Dispatcher::new(store.clone(), dispatch, live.clone(), metrics.clone(), ops);
        // Work committed by other nodes wakes this one's dispatcher at once.
        let woken = std::sync::Arc::downgrade(&dispatcher);
        store.on_new_work(std::sync::Arc::new(move || {
            if let Some(dispatcher) = woken.upgrade() {
                dispatcher.wake();
            }
        }));
        let replays = ReplayRunner::new(store.clone(), dispatcher.clone(), live.clone());
        let ingest = IngestWriter::spawn(store.clone());
        crate::ops::spawn(
            store.clone(),
            ingest.clone(),
            Arc::downgrade(&dispatcher),
            notices,
        );
        Self {
            ingest,
            schemas: Arc::default(),
            transforms,
            store,
            dispatcher,
            replays,
            live,
            metrics,
            max_payload_bytes,
        }
    }

    /// Checks events against the tenant's catalog and commits them; wakes
    /// the dispatcher when deliveries were made. `batch`: the events came as
    /// a batch (problems name their index).
    pub async fn publish(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
        batch: bool,
    ) -> Result<Vec<Ingested>> {
        // The commit refuses events checked against a catalog that changed
        // since; each round reads the new one. Changes are rare, so a few
        // rounds always suffice.
        const ROUNDS: usize = 5;
        for round in 1..=ROUNDS {
            let catalog = self.schemas.catalog(&*self.store, tenant).await?;
            let mut checked = events.clone();
            let warned = match catalog.check(&mut checked, batch) {
                Ok(warned) => warned,
                Err(e) => {
                    if let EngineError::SchemaViolation {
                        events: refused,
                        problems,
                        ..
                    } = &e
                    {
                        self.metrics
                            .schema_violations(0, u64::try_from(*refused).unwrap_or(0));
                        self.schemas
                            .record_refusal(tenant, &events, problems, Utc::now());
                    }
                    return Err(e);
                }
            };
            let publish = Publish {
                tenant,
                events: checked,
                now: Utc::now(),
                audit: None,
                catalog_revision: Some(catalog.revision),
            };
            match self.ingest.submit(publish).await {
                Err(EngineError::CatalogChanged) if round < ROUNDS => {
                    self.schemas.forget(tenant, Some(catalog.revision));
                }
                Err(e) => return Err(e),
                Ok(ingested) => {
                    self.metrics.schema_violations(warned, 0);
                    self.published(&ingested);
                    return Ok(ingested);
                }
            }
        }
        Err(EngineError::Internal(
            "the event catalog kept changing while the events were checked".into(),
        ))
    }

    /// Counts what an ingest created and wakes the dispatcher for its deliveries.
    fn published(&self, ingested: &[Ingested]) {
        let created = ingested
            .iter()
            .filter(|i| matches!(i, Ingested::Created { .. }))
            .count();
        self.metrics
            .events_ingested(u64::try_from(created).unwrap_or(0));
        if ingested
            .iter()
            .any(|i| matches!(i, Ingested::Created { deliveries, .. } if *deliveries > 0))
        {
            self.dispatcher.wake();
        }
    }

    async fn endpoint(&self, tenant: TenantId, id: EndpointId) -> Result<EndpointOut> {
        self.store
            .get_endpoint(tenant, id)
            .await?
            .ok_or_else(|| EngineError::not_found("endpoint", id))
    }

    /// Creates an endpoint; the secret (generated unless given) is returned this once.
    pub async fn create_endpoint(
        &self,
        tenant: TenantId,
        input: EndpointIn,
        by: &AuditBy,
    ) -> Result<(EndpointOut, String)> {
        by.require(Permission::ManageEndpoints)?;
        let endpoint = validate::endpoint(input)?;
        if let Some(program) = &endpoint.transform {
            self.check_transform("transform", program).await?;
        }
        let secret = endpoint.secret.expose();
        let audit = by.entry(
            Some(tenant),
            AuditAction::EndpointCreate,
            endpoint.id,
            match endpoint.kind {
                crate::model::EndpointKind::Webhook => {
                    format!("created endpoint {} for {}", endpoint.id, endpoint.url)
                }
                crate::model::EndpointKind::Inbox => format!("created inbox {}", endpoint.id),
            },
        );
        let mut endpoint = self.store.create_endpoint(tenant, endpoint, &audit).await?;
        audit::logged(&audit);
        if endpoint.kind == crate::model::EndpointKind::Webhook {
            endpoint.warnings = self.destination_warnings(&endpoint.url).await;
        }
        tracing::info!(endpoint = %endpoint.id, "endpoint created");
        Ok((endpoint, secret))
    }

    pub async fn update_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        patch: EndpointPatch,
        by: &AuditBy,
    ) -> Result<EndpointOut> {
        by.require(Permission::ManageEndpoints)?;
        let patch = validate::endpoint_patch(patch)?;
        if self.endpoint(tenant, id).await?.kind == crate::model::EndpointKind::Inbox {
            validate::inbox_patch(&patch)?;
        }
        if let Some(Some(program)) = &patch.transform {
            self.check_transform("transform", program).await?;
        }
        let url_changed = patch.url.is_some();
        let on_dead_changed = patch.on_dead.is_some();
        let audit = by.entry(
            Some(tenant),
            AuditAction::EndpointUpdate,
            id,
            audit::changed_fields(&patch),
        );
        let mut endpoint = self
            .store
            .update_endpoint(tenant, id, patch, &audit)
            .await?
            .ok_or_else(|| EngineError::not_found("endpoint", id))?;
        audit::logged(&audit);
        if url_changed {
            endpoint.warnings = self.destination_warnings(&endpoint.url).await;
        }
        if on_dead_changed {
            // Streams a DLQ entry held go on once the endpoint skips dead
            // deliveries (the write is done: a failure here is caught up by
            // the dispatcher's sweep).
            if let Err(e) = self
                .store
                .advance_stalled_streams(Some(id), Utc::now())
                .await
            {
                tracing::warn!(endpoint = %id, error = %e, "ordered streams not advanced after the change; the sweep will");
            }
        }
        tracing::info!(endpoint = %id, "endpoint updated");
        Ok(endpoint)
    }

    /// Deletes an endpoint: nothing more is delivered to it; its receipts stay.
    pub async fn delete_endpoint(
        &self,
        tenant: TenantId,
        id: EndpointId,
        by: &AuditBy,
    ) -> Result<()> {
        by.require(Permission::ManageEndpoints)?;
        let audit = by.entry(
            Some(tenant),
            AuditAction::EndpointDelete,
            id,
            "deleted the endpoint",
        );
        if !self.store.delete_endpoint(tenant, id, &audit).await? {
            return Err(EngineError::not_found("endpoint", id));
        }
        audit::logged(&audit);
        tracing::info!(endpoint = %id, "endpoint deleted");
        Ok(())
    }

    /// Resolves the URL's host now and says which of its addresses the
    /// destination guard would refuse. Saving goes ahead either way: DNS can
    /// change before the first delivery, and every delivery is vetted again.
    pub async fn destination_warnings(&self, url: &str) -> Vec<String> {
        // A play inbox's deliveries stay in the process: no guard to pass.
        if crate::model::play_inbox_of_url(url).is_some() {
            return Vec::new();
        }
        let Some((host, port)) = url::Url::parse(url).ok().and_then(|u| {
            let port = u.port_or_known_default()?;
            Some((u.host_str()?.trim_matches(['[', ']']).to_string(), port))
        }) else {
            return Vec::new();
        };
        let lookup = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await;
        let addrs: Vec<std::net::IpAddr> = match lookup {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            _ => return Vec::new(),
        };
        let guard = self.dispatcher.guard();
        let literal = host.parse::<std::net::IpAddr>().is_ok();
        let mut warnings: Vec<String> = addrs
            .into_iter()
            .filter_map(|ip| guard.check(ip).err())
            .map(|b| {
                if literal {
                    format!(
                        "{} is a {} address: deliveries will fail with blocked_destination \
                         unless HERALD_OUTBOUND_ALLOW_CIDRS allows it",
                        b.addr, b.range
                    )
                } else {
                    // Which internal address a name leads to is the network's
                    // business, not the caller's: the warning does not say.
                    format!(
                        "'{host}' resolves to an address Herald does not deliver to (internal \
                         or reserved): deliveries will fail with blocked_destination unless \
                         HERALD_OUTBOUND_ALLOW_CIDRS allows it"
                    )
                }
            })
            .collect();
        warnings.dedup();
        warnings
    }

    /// Turns an endpoint off with a reason (default: "disabled by an operator") or back on.
    pub async fn set_endpoint_enabled(
        &self,
        tenant: TenantId,
        id: EndpointId,
        enabled: bool,
        reason: Option<String>,
        by: &AuditBy,
    ) -> Result<EndpointOut> {
        by.require(Permission::ManageEndpoints)?;
        let endpoint = self.endpoint(tenant, id).await?;
        let reason = if enabled {
            None
        } else {
            let reason = reason
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "disabled by an operator".into());
            if reason.chars().count() > 200 {
                return Err(EngineError::invalid("reason", "at most 200 characters"));
            }
            Some(reason)
        };
        let audit = match &reason {
            None => by.entry(Some(tenant), AuditAction::EndpointEnable, id, "enabled"),
            Some(reason) => by.entry(
                Some(tenant),
                AuditAction::EndpointDisable,
                id,
                format!("disabled: {reason}"),
            ),
        };
        if !self
            .store
            .set_endpoint_enabled(
                tenant,
                endpoint.id,
                enabled,
                reason.as_deref(),
                Some(&audit),
            )
            .await?
        {
            return Err(EngineError::not_found("endpoint", id));
        }
        audit::logged(&audit);
        tracing::info!(endpoint = %id, enabled, "endpoint switched");
        self.endpoint(tenant, id).await
    }

    /// Drops a disabled endpoint's backlog: every delivery waiting for it
    /// ends dead without a DLQ entry (audited with how many). Refused while
    /// the endpoint is enabled: its deliveries are on their way.
    pub async fn discard_backlog(
        &self,
        tenant: TenantId,
        id: EndpointId,
        by: &AuditBy,
    ) -> Result<u64> {
        by.require(Permission::ManageEndpoints)?;
        let endpoint = self.endpoint(tenant, id).await?;
        if endpoint.enabled {
            return Err(EngineError::Conflict {
                message: format!("endpoint '{id}' is enabled: disable it to discard its backlog"),
            });
        }
        let entry = |n: &u64| {
            by.entry(
                Some(tenant),
                AuditAction::EndpointDiscardBacklog,
                id,
                format!("discarded the backlog: {n} deliveries"),
            )
        };
        let ended = self
            .store
            .discard_backlog(tenant, id, &|n| Some(entry(n)))
            .await?;
        audit::logged(&entry(&ended));
        tracing::warn!(endpoint = %id, discarded = ended, "endpoint backlog discarded");
        Ok(ended)
    }

    /// Switches to a new secret (generated unless given); the old ones keep
    /// signing alongside it for the grace period.
    pub async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: EndpointId,
        grace_period_secs: Option<u64>,
        secret: Option<String>,
        by: &AuditBy,
    ) -> Result<Rotated> {
        by.require(Permission::ManageEndpoints)?;
        let grace = grace_period_secs.unwrap_or(DEFAULT_GRACE_SECS);
        if grace > MAX_GRACE_SECS {
            return Err(EngineError::invalid(
                "grace_period_secs",
                format!("at most {MAX_GRACE_SECS} (30 days)"),
            ));
        }
        let secret = match secret {
            Some(text) => {
                Secret::parse(&text).map_err(|e| EngineError::invalid("secret", e.to_string()))?
            }
            None => Secret::generate(),
        };
        let shown = secret.expose();
        let until =
            Utc::now() + chrono::Duration::seconds(i64::try_from(grace).unwrap_or(i64::MAX));
        let audit = by.entry(
            Some(tenant),
            AuditAction::EndpointRotateSecret,
            id,
            format!(
                "rotated the signing secret; the previous one signs until {}",
                until.to_rfc3339()
            ),
        );
        if !self
            .store
            .rotate_secret(tenant, id, secret, until, &audit)
            .await?
        {
            return Err(EngineError::not_found("endpoint", id));
        }
        audit::logged(&audit);
        tracing::info!(endpoint = %id, grace_secs = grace, "endpoint secret rotated");
        Ok(Rotated {
            secret: shown,
            previous_secret_valid_until: until,
        })
    }

    /// Makes play inbox `inbox` for the tenant's endpoint `id` (whose
    /// secret verifies what the inbox receives).
    pub async fn create_play_inbox(
        &self,
        tenant: TenantId,
        inbox: crate::model::PlayInboxId,
        id: EndpointId,
        by: &AuditBy,
    ) -> Result<()> {
        by.require(Permission::ManageEndpoints)?;
        self.endpoint(tenant, id).await?;
        self.store
            .create_play_inbox(tenant, inbox, id, chrono::Utc::now())
            .await
    }

    /// Sends an event to this endpoint alone, whatever its patterns, so a team
    /// can check its receiver; the event's page shows what happened.
    pub async fn send_test_event(
        &self,
        tenant: TenantId,
        id: EndpointId,
        event_type: Option<String>,
        payload: Option<Value>,
        by: &AuditBy,
    ) -> Result<EventId> {
        by.require(Permission::SendTestEvent)?;
        let endpoint = self.endpoint(tenant, id).await?;
        if !endpoint.enabled {
            return Err(EngineError::Conflict {
                message: format!("endpoint '{id}' is disabled; enable it to send a test event"),
            });
        }
        let test = EventIn {
            event_type: event_type.unwrap_or_else(|| TEST_EVENT_TYPE.into()),
            payload: payload
                .unwrap_or_else(|| {
                    json!({"test": true, "message": "A test event sent from Herald", "endpoint_id": endpoint.id})
                })
                .into(),
            idempotency_key: None,
            correlation_id: None,
            entity_id: None,
            ordering_key: None,
            metadata: Some(json!({"herald_test_event": true})),
            source: None,
        };
        let mut event = validate::event(test, None, None, self.max_payload_bytes)?;
        event.only_endpoint = Some(endpoint.id);
        let by = by.clone();
        let entry = move |event: EventId| {
            by.entry(
                Some(tenant),
                AuditAction::EndpointTestEvent,
                id,
                format!("sent test event {event}"),
            )
        };
        let for_store = entry.clone();
        let audit: IngestAudit =
            Box::new(move |ingested: &Vec<Ingested>| Some(for_store(ingested.first()?.event().id)));
        let ingested = self
            .ingest
            .submit(Publish {
                tenant,
                events: vec![event],
                now: Utc::now(),
                audit: Some(audit),
                // A test event is Herald's own: not checked against the catalog.
                catalog_revision: None,
            })
            .await?;
        self.published(&ingested);
        let event = ingested
            .first()
            .map(|i| i.event().id)
            .ok_or_else(|| EngineError::Internal("ingest returned nothing".into()))?;
        audit::logged(&entry(event));
        Ok(event)
    }

    pub async fn update_tenant(
        &self,
        tenant: TenantId,
        patch: TenantPatch,
        by: &AuditBy,
    ) -> Result<()> {
        by.require(Permission::ManageEndpoints)?;
        validate::tenant_patch(&patch)?;
        let audit = by.entry(
            Some(tenant),
            AuditAction::TenantUpdate,
            tenant,
            crate::audit::changed_fields(&patch),
        );
        self.store.update_tenant(tenant, patch, &audit).await?;
        // Its schema settings may have changed: read them afresh.
        self.schemas.forget(tenant, None);
        crate::audit::logged(&audit);
        Ok(())
    }

    pub async fn create_retry_policy(
        &self,
        tenant: TenantId,
        input: RetryPolicyIn,
        by: &AuditBy,
    ) -> Result<RetryPolicyOut> {
        by.require(Permission::ManageEndpoints)?;
        validate::retry_policy_in(&input)?;
        let id = RetryPolicyId::new();
        let audit = by.entry(
            Some(tenant),
            AuditAction::RetryPolicyCreate,
            id,
            format!("created retry policy '{}'", input.name),
        );
        let policy = self
            .store
            .create_retry_policy(tenant, id, input, &audit)
            .await?;
        audit::logged(&audit);
        tracing::info!(retry_policy = %policy.id, "retry policy created");
        Ok(policy)
    }

    pub async fn update_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        patch: RetryPolicyPatch,
        by: &AuditBy,
    ) -> Result<RetryPolicyOut> {
        by.require(Permission::ManageEndpoints)?;
        validate::retry_policy_patch(&patch)?;
        let audit = by.entry(
            Some(tenant),
            AuditAction::RetryPolicyUpdate,
            id,
            audit::changed_fields(&patch),
        );
        let policy = self
            .store
            .update_retry_policy(tenant, id, patch, &audit)
            .await?
            .ok_or_else(|| EngineError::not_found("retry policy", id))?;
        audit::logged(&audit);
        tracing::info!(retry_policy = %id, "retry policy updated");
        Ok(policy)
    }

    pub async fn delete_retry_policy(
        &self,
        tenant: TenantId,
        id: RetryPolicyId,
        by: &AuditBy,
    ) -> Result<()> {
        by.require(Permission::ManageEndpoints)?;
        let audit = by.entry(
            Some(tenant),
            AuditAction::RetryPolicyDelete,
            id,
            "deleted the retry policy",
        );
        if !self.store.delete_retry_policy(tenant, id, &audit).await? {
            return Err(EngineError::not_found("retry policy", id));
        }
        audit::logged(&audit);
        tracing::info!(retry_policy = %id, "retry policy deleted");
        Ok(())
    }
}
