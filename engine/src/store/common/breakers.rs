//! Circuit breakers in SQL both backends share: an endpoint's breaker state
//! lives on its row (what the claims read), its window is the statistics'
//! minute rows, and every change is a conditional update (the state and the
//! trips it was read with), so of two nodes that observe the same endpoint
//! at once one changes it and the other's change is dropped.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::This;
use super::audit::insert_audit;
use super::stats::add_stats;
use crate::Result;
use crate::model::{AuditAction, BreakerChange, Counts, EndpointId, Granularity};
use crate::store::rows::breaker_settings_of;
use crate::store::{
    BreakerObservation, BreakerTransition, NewAudit, from_millis, stored_id, to_millis,
};

/// An endpoint's breaker as read: tenant, settings, state, trips, failing
/// since, and whether the endpoint is disabled or deleted.
type BreakerRow = (String, Option<String>, String, i64, Option<i64>, bool);

/// A breaker as read: its tenant and endpoint, whether open, its trips in
/// a row and since when it has been failing.
struct Read<'a> {
    tenant: &'a str,
    endpoint: EndpointId,
    open: bool,
    trips: i64,
    failing_since: Option<i64>,
}

/// What a change writes: what changed and why, the probe time (none:
/// closed), trips and failing since.
struct Next {
    change: BreakerChange,
    reason: String,
    until: Option<i64>,
    trips: i64,
    failing_since: Option<i64>,
}

#[async_trait]
impl crate::store::BreakerStore for This {
    async fn observe_breakers(
        &self,
        seen: &[BreakerObservation],
        now: DateTime<Utc>,
    ) -> Result<Vec<BreakerTransition>> {
        let mut by_endpoint: BTreeMap<EndpointId, Vec<&BreakerObservation>> = BTreeMap::new();
        for o in seen {
            by_endpoint.entry(o.endpoint_id).or_default().push(o);
        }
        let now_ms = to_millis(now);
        let mut changed = Vec::new();
        for (endpoint, seen) in by_endpoint {
            if let Some(t) = self.observe_one(endpoint, &seen, now_ms).await? {
                changed.push(t);
            }
        }
        Ok(changed)
    }
}

impl This {
    async fn observe_one(
        &self,
        endpoint: EndpointId,
        seen: &[&BreakerObservation],
        now_ms: i64,
    ) -> Result<Option<BreakerTransition>> {
        let row: Option<BreakerRow> = sqlx::query_as(
            r"select tenant_id, breaker_settings, breaker_state, breaker_trips,
                     breaker_failing_since, (disabled_at is not null or deleted_at is not null)
              from endpoints where id = $1",
        )
        .bind(endpoint.to_string())
        .fetch_optional(self.reader())
        .await?;
        let Some((tenant, settings, state, trips, failing_since, off)) = row else {
            return Ok(None);
        };
        if off {
            return Ok(None);
        }
        let settings = breaker_settings_of(settings.as_deref())?;
        let read = Read {
            tenant: &tenant,
            endpoint,
            open: state == "open",
            trips,
            failing_since,
        };
        let Some(next) = self.next_of(&read, &settings, seen, now_ms).await? else {
            return Ok(None);
        };
        let tenant_id = stored_id(&tenant)?;
        let mut tx = self.pool().begin().await?;
        let disabled = next.change == BreakerChange::Disabled;
        let done = sqlx::query(
            r"update endpoints
              set breaker_state = $1, breaker_until = $2, breaker_trips = $3, breaker_failing_since = $4,
                  breaker_opened_at = case when $1 = 'open' then $5 else breaker_opened_at end,
                  disabled_at = case when $6 then $5 else disabled_at end,
                  disabled_reason = case when $6 then $7 else disabled_reason end,
                  updated_at = case when $6 then $5 else updated_at end
              where id = $8 and breaker_state = $9 and breaker_trips = $10
                and disabled_at is null and deleted_at is null",
        )
        .bind(if next.until.is_some() { "open" } else { "closed" })
        .bind(next.until)
        .bind(next.trips)
        .bind(next.failing_since)
        .bind(now_ms)
        .bind(disabled)
        .bind(format!("circuit breaker: {}", next.reason))
        .bind(endpoint.to_string())
        .bind(&state)
        .bind(trips)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if state == "open" {
            // The deliveries it held back, due now: each would have been
            // attempted at least once while it was open.
            let held: Vec<(String, String, i64)> = sqlx::query_as(super::DUE_OF_ENDPOINT)
                .bind(endpoint.to_string())
                .bind(now_ms)
                .fetch_all(&mut *tx)
                .await?;
            for (tenant, event_type, n) in held {
                let counts = Counts {
                    breaker_held: u64::try_from(n).unwrap_or(0),
                    ..Counts::default()
                };
                add_stats(
                    &mut tx,
                    (&tenant, &endpoint.to_string(), &event_type),
                    now_ms,
                    &counts,
                )
                .await?;
            }
        }
        let action = match next.change {
            BreakerChange::Opened => AuditAction::EndpointCircuitOpen,
            BreakerChange::Closed => AuditAction::EndpointCircuitClose,
            BreakerChange::Disabled => AuditAction::EndpointDisable,
        };
        insert_audit(
            &mut tx,
            &NewAudit {
                tenant_id: Some(tenant_id),
                actor: "herald".into(),
                role: "system".into(),
                action,
                target: endpoint.to_string(),
                summary: format!("circuit breaker {}: {}", next.change.as_str(), next.reason),
                correlation_id: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(BreakerTransition {
            tenant_id,
            endpoint_id: endpoint,
            change: next.change,
            reason: next.reason,
            probe_at: next.until.map(from_millis),
            at: from_millis(now_ms),
        }))
    }

    /// Where the breaker goes from what was read and seen, if anywhere: a
    /// closed one opens when its window's failures pass the threshold; an
    /// open one's probe closes it, opens it again for longer, or disables
    /// its endpoint.
    async fn next_of(
        &self,
        read: &Read<'_>,
        settings: &crate::model::BreakerSettings,
        seen: &[&BreakerObservation],
        now_ms: i64,
    ) -> Result<Option<Next>> {
        let next = if read.open {
            // Its probe (attempts in flight when it opened say nothing new).
            let probes: Vec<_> = seen.iter().filter(|o| o.probe).collect();
            if probes.is_empty() {
                return Ok(None);
            }
            let trip = read.trips + 1;
            let since = read.failing_since.unwrap_or(now_ms);
            if probes.iter().any(|o| !o.failed) {
                Next {
                    change: BreakerChange::Closed,
                    reason: "a probe succeeded".into(),
                    until: None,
                    trips: 0,
                    failing_since: None,
                }
            } else if let Some(why) =
                settings.disables(since, u32::try_from(trip).unwrap_or(u32::MAX), now_ms)
            {
                Next {
                    change: BreakerChange::Disabled,
                    reason: why,
                    until: None,
                    trips: 0,
                    failing_since: None,
                }
            } else {
                let cooldown = settings.cooldown_ms(u32::try_from(trip).unwrap_or(u32::MAX));
                Next {
                    change: BreakerChange::Opened,
                    reason: format!(
                        "the probe failed; trip {trip} in a row, next probe in {}",
                        crate::model::format_secs(u64::try_from(cooldown / 1_000).unwrap_or(0))
                    ),
                    until: Some(now_ms.saturating_add(cooldown)),
                    trips: trip,
                    failing_since: Some(since),
                }
            }
        } else {
            if !settings.enabled || !seen.iter().any(|o| o.failed) {
                return Ok(None);
            }
            let window_ms = i64::from(settings.window_secs) * 1_000;
            let from = Granularity::Minute.bucket_start(now_ms - window_ms);
            let (attempts, failed): (i64, i64) = sqlx::query_as(
                r"select cast(coalesce(sum(attempts), 0) as bigint), cast(coalesce(sum(failed), 0) as bigint)
                  from delivery_stats
                  where tenant_id = $1 and granularity = 'minute' and bucket_start >= $2 and endpoint_id = $3",
            )
            .bind(read.tenant)
            .bind(from)
            .bind(read.endpoint.to_string())
            .fetch_one(self.reader())
            .await?;
            let (attempts, failed) = (
                u64::try_from(attempts).unwrap_or(0),
                u64::try_from(failed).unwrap_or(0),
            );
            if !settings.trips(attempts, failed) {
                return Ok(None);
            }
            let cooldown = settings.cooldown_ms(1);
            Next {
                change: BreakerChange::Opened,
                reason: format!(
                    "{failed} of {attempts} attempts failed in the last {}; first probe in {}",
                    crate::model::format_secs(u64::from(settings.window_secs)),
                    crate::model::format_secs(u64::try_from(cooldown / 1_000).unwrap_or(0))
                ),
                until: Some(now_ms.saturating_add(cooldown)),
                trips: 1,
                failing_since: Some(now_ms),
            }
        };
        Ok(Some(next))
    }
}
