//! Pull inboxes: consumers lease an inbox endpoint's deliveries
//! (`GET /api/v1/inbox/{endpoint_id}`), then acknowledge them (`…/ack`) or
//! hand them back (`…/nack`); a lease that is neither runs out after its
//! visibility timeout and the message is visible again.
//!
//! A lease is an attempt: it is claimed as the dispatcher claims a delivery
//! (a new claim token, so a late settlement of an older lease is refused),
//! and its end is recorded as the dispatcher records an attempt, with a
//! receipt, the statistics, the retry policy's decision and, when that is
//! spent, a DLQ entry. One receipt per lease says when it began, who
//! settled it and how.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::{
    DEFAULT_PULL_LIMIT, DEFAULT_VISIBILITY_SECS, DeliveryId, EndpointId, EndpointKind, EndpointOut,
    ErrorClass, InboxMessage, InboxOut, InboxSettled, MAX_PULL_LIMIT, MAX_RETRY_AFTER_SECS,
    MAX_SETTLE_IDS, MAX_VISIBILITY_SECS, PullQuery, Pulled, TenantId,
};
use crate::retry::{GiveUp, Next};
use crate::service::Engine;
use crate::store::{AfterAttempt, AttemptOutcome, Claimed, NewAttempt, Recorded, Store};
use crate::{EngineError, Result};

/// How a lease ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEnd {
    /// The consumer processed the message.
    Acked,
    /// The consumer handed it back: visible again after `retry_after_secs`
    /// (default: the retry policy's next delay).
    Nacked { retry_after_secs: Option<u64> },
    /// Nobody settled it within its visibility timeout: visible again at once.
    Expired,
}

/// Expired leases settled per pass of the lease sweep.
const EXPIRED_BATCH: u32 = 1_000;

/// The longest consumer name.
const MAX_CONSUMER_CHARS: usize = 100;

fn invalid(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A pull's limit, visibility timeout and consumer name, checked, with
/// their defaults (`key` names the consumer when the query does not).
pub fn pull_settings(q: &PullQuery, key: &str) -> Result<(u32, u32, String)> {
    let limit = q.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("must be from 1 to {MAX_PULL_LIMIT}"),
        ));
    }
    let visibility = q.visibility_secs.unwrap_or(DEFAULT_VISIBILITY_SECS);
    if !(1..=MAX_VISIBILITY_SECS).contains(&visibility) {
        return Err(invalid(
            "visibility_secs",
            format!("must be from 1 to {MAX_VISIBILITY_SECS} seconds (12 hours)"),
        ));
    }
    let consumer = q.consumer.clone().unwrap_or_else(|| key.to_owned());
    if consumer.is_empty()
        || consumer.chars().count() > MAX_CONSUMER_CHARS
        || !consumer.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    {
        return Err(invalid(
            "consumer",
            format!("must be 1 to {MAX_CONSUMER_CHARS} printable ASCII characters"),
        ));
    }
    Ok((limit, visibility, consumer))
}

/// The ids an ack or nack names, checked: 1 to 1000, each once.
fn settle_ids(ids: &[DeliveryId]) -> Result<Vec<DeliveryId>> {
    if ids.is_empty() || ids.len() > MAX_SETTLE_IDS {
        return Err(invalid(
            "ids",
            format!("must name 1 to {MAX_SETTLE_IDS} messages"),
        ));
    }
    let mut unique = ids.to_vec();
    unique.sort_by_key(ToString::to_string);
    unique.dedup();
    Ok(unique)
}

/// What the end of one lease records: its receipt and where the delivery
/// goes next. Pure: the clock (`now`) and the jitter draw are given.
pub fn lease_outcome(
    claimed: &Claimed,
    leased_at: DateTime<Utc>,
    end: LeaseEnd,
    consumer: Option<&str>,
    now: DateTime<Utc>,
    draw: f64,
) -> AttemptOutcome {
    let mut request_headers = BTreeMap::new();
    if let Some(consumer) = consumer {
        request_headers.insert("herald-consumer".to_owned(), consumer.to_owned());
    }
    let (error_class, error_message, excerpt) = match end {
        LeaseEnd::Acked => (None, None, "acknowledged".to_owned()),
        LeaseEnd::Nacked { .. } => (
            Some(ErrorClass::Nacked),
            Some("the consumer handed the message back".to_owned()),
            "handed back".to_owned(),
        ),
        LeaseEnd::Expired => (
            Some(ErrorClass::Timeout),
            Some("neither acknowledged nor handed back within the visibility timeout".to_owned()),
            String::new(),
        ),
    };
    let next = match end {
        LeaseEnd::Acked => AfterAttempt::Succeeded,
        LeaseEnd::Nacked { retry_after_secs } => after_failure(
            claimed,
            leased_at,
            now,
            retry_after_secs.map(|s| s.saturating_mul(1_000)),
            draw,
        ),
        LeaseEnd::Expired => match after_failure(claimed, leased_at, now, None, draw) {
            // Visible again as soon as the lease ran out.
            AfterAttempt::RetryAt(_) => AfterAttempt::RetryAt(now),
            other => other,
        },
    };
    AttemptOutcome {
        delivery: claimed.id,
        claim: claimed.claim,
        attempt: NewAttempt {
            trigger: claimed.attempt_trigger(),
            started_at: leased_at,
            latency_ms: u64::try_from((now - leased_at).num_milliseconds()).unwrap_or(0),
            request_headers,
            response_status: None,
            response_headers: BTreeMap::new(),
            response_excerpt: excerpt,
            error_class,
            error_message,
        },
        next,
        event_type: Some(claimed.event_type.clone()),
    }
}

/// A failed lease's next step on the retry policy: again after its delay
/// (or exactly `asked_ms` when the consumer named one), or dead.
fn after_failure(
    claimed: &Claimed,
    leased_at: DateTime<Utc>,
    now: DateTime<Utc>,
    asked_ms: Option<u64>,
    draw: f64,
) -> AfterAttempt {
    let attempts_made = claimed.chain_attempts + 1;
    let first = claimed.first_attempt_at.unwrap_or(leased_at);
    let age_ms = u64::try_from((now - first).num_milliseconds()).unwrap_or(0);
    match claimed.retry_policy.next(attempts_made, age_ms, None, draw) {
        Next::RetryInMs(ms) => {
            AfterAttempt::RetryAt(crate::dispatch::later_by_ms(now, asked_ms.unwrap_or(ms)))
        }
        Next::GiveUp(GiveUp::MaxAttempts) => AfterAttempt::Dead {
            reason: format!("retries exhausted after {attempts_made} leases"),
        },
        Next::GiveUp(GiveUp::MaxAge) => AfterAttempt::Dead {
            reason: "the retry policy's maximum age was reached".into(),
        },
    }
}

/// Settles the leases whose visibility timeout ran out by `now`; returns
/// how many. Run by the lease sweep on every node: each lease is settled
/// once (its claim token fences the others).
pub async fn expire_leases(store: &dyn Store, now: DateTime<Utc>) -> Result<u64> {
    let expired = store.expired_inbox_leases(now, EXPIRED_BATCH).await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let batch: Vec<AttemptOutcome> = expired
        .iter()
        .map(|(c, leased_at)| {
            lease_outcome(c, *leased_at, LeaseEnd::Expired, None, now, rand::random())
        })
        .collect();
    let recorded = store.record_attempts(batch).await?;
    Ok(recorded
        .iter()
        .filter(|r| matches!(r, Recorded::Applied { .. }))
        .count() as u64)
}

impl Engine {
    /// The inbox `id` of `tenant`: 404 when there is none, 409 when it is a
    /// webhook endpoint.
    async fn inbox(&self, tenant: TenantId, id: EndpointId) -> Result<EndpointOut> {
        let endpoint = self
            .store
            .get_endpoint(tenant, id)
            .await?
            .ok_or_else(|| EngineError::not_found("endpoint", id))?;
        if endpoint.kind != EndpointKind::Inbox {
            return Err(EngineError::Conflict {
                message: format!(
                    "endpoint '{id}' is a webhook endpoint: Herald sends to its URL; only an inbox is pulled"
                ),
            });
        }
        Ok(endpoint)
    }

    /// Leases up to `limit` of the inbox's visible messages to `consumer`.
    pub async fn pull(
        &self,
        tenant: TenantId,
        id: EndpointId,
        query: &PullQuery,
        key: &str,
    ) -> Result<Pulled> {
        let (limit, visibility, consumer) = pull_settings(query, key)?;
        let inbox = self.inbox(tenant, id).await?;
        if !inbox.enabled {
            return Err(EngineError::Conflict {
                message: format!("inbox '{id}' is disabled; its messages wait until it is enabled"),
            });
        }
        let now = Utc::now();
        let until = crate::dispatch::later_by_ms(now, u64::from(visibility) * 1_000);
        let leased = self
            .store
            .lease_inbox(tenant, id, &consumer, now, until, limit)
            .await?;
        let messages = leased
            .into_iter()
            .map(|c| InboxMessage {
                payload: serde_json::from_str(&c.payload).unwrap_or(serde_json::Value::Null),
                id: c.id,
                event_id: c.event_id,
                event_type: c.event_type,
                attempt: c.attempts + 1,
                correlation_id: c.correlation_id,
                leased_until: until,
            })
            .collect();
        Ok(Pulled { messages })
    }

    /// Ends the leases of `ids` as `end` says; ids not leased now are
    /// named as such and left alone.
    pub async fn settle_inbox(
        &self,
        tenant: TenantId,
        id: EndpointId,
        ids: &[DeliveryId],
        end: LeaseEnd,
        consumer: &str,
    ) -> Result<InboxSettled> {
        let ids = settle_ids(ids)?;
        if let LeaseEnd::Nacked {
            retry_after_secs: Some(secs),
        } = end
            && secs > MAX_RETRY_AFTER_SECS
        {
            return Err(invalid(
                "retry_after_secs",
                format!("must be from 0 to {MAX_RETRY_AFTER_SECS} seconds (one day)"),
            ));
        }
        self.inbox(tenant, id).await?;
        let now = Utc::now();
        let leases = self.store.inbox_leases(tenant, id, &ids).await?;
        let batch: Vec<AttemptOutcome> = leases
            .iter()
            .map(|(c, leased_at)| {
                lease_outcome(c, *leased_at, end, Some(consumer), now, rand::random())
            })
            .collect();
        let recorded = if batch.is_empty() {
            Vec::new()
        } else {
            self.store.record_attempts(batch).await?
        };
        let mut answer = InboxSettled::default();
        for ((c, _), r) in leases.iter().zip(&recorded) {
            match r {
                Recorded::Applied { dead_lettered } => {
                    answer.settled.push(c.id);
                    if *dead_lettered {
                        answer.dead.push(c.id);
                        self.metrics.dlq_added(1);
                    }
                }
                Recorded::Refused => answer.not_leased.push(c.id),
            }
        }
        for id in ids {
            if !leases.iter().any(|(c, _)| c.id == id) {
                answer.not_leased.push(id);
            }
        }
        Ok(answer)
    }

    /// The inbox's depth, oldest message and consumers.
    pub async fn inbox_state(&self, tenant: TenantId, id: EndpointId) -> Result<InboxOut> {
        self.inbox(tenant, id).await?;
        self.store.inbox_state(tenant, id, Utc::now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_takes_its_defaults_and_refuses_what_is_out_of_range() {
        let q = PullQuery::default();
        assert_eq!(
            pull_settings(&q, "key_1").unwrap(),
            (
                DEFAULT_PULL_LIMIT,
                DEFAULT_VISIBILITY_SECS,
                "key_1".to_owned()
            )
        );
        for (bad, field) in [
            (
                PullQuery {
                    limit: Some(0),
                    ..q.clone()
                },
                "limit",
            ),
            (
                PullQuery {
                    limit: Some(1_001),
                    ..q.clone()
                },
                "limit",
            ),
            (
                PullQuery {
                    visibility_secs: Some(0),
                    ..q.clone()
                },
                "visibility_secs",
            ),
            (
                PullQuery {
                    visibility_secs: Some(43_201),
                    ..q.clone()
                },
                "visibility_secs",
            ),
            (
                PullQuery {
                    consumer: Some(String::new()),
                    ..q.clone()
                },
                "consumer",
            ),
            (
                PullQuery {
                    consumer: Some("a\nb".into()),
                    ..q.clone()
                },
                "consumer",
            ),
        ] {
            let e = pull_settings(&bad, "key_1").unwrap_err();
            assert!(
                matches!(&e, EngineError::Invalid { field: f, .. } if f == field),
                "{e}"
            );
        }
    }

    #[test]
    fn settling_names_one_to_a_thousand_ids_each_once() {
        assert!(settle_ids(&[]).is_err());
        let id = DeliveryId::new();
        assert_eq!(settle_ids(&[id, id]).unwrap(), vec![id]);
        let many: Vec<DeliveryId> = (0..1_001).map(|_| DeliveryId::new()).collect();
        assert!(settle_ids(&many).is_err());
    }
}
