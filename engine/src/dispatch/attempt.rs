//! One attempt: the request built, signed and sent, and the pure decision of
//! what comes after it (succeeded, again later on the retry policy, or dead).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Dispatcher, http};
use crate::model::{Semantics, Trigger};
use crate::retry::{GiveUp, Next};
use crate::sign::signature_header;
use crate::store::{AfterAttempt, Claimed};

impl Dispatcher {
    /// Builds, signs and sends one request: what came back, and the request
    /// headers as the receipt shows them (custom values redacted).
    pub(super) async fn attempt(
        &self,
        claimed: &Claimed,
        started_at: DateTime<Utc>,
    ) -> (http::Exchange, BTreeMap<String, String>) {
        #[cfg(test)]
        if claimed.url.contains("fault.invalid") {
            panic!("a fault injected by a test");
        }
        let timestamp = started_at.timestamp();
        let webhook_id = claimed.id.to_string();
        let body = match &claimed.transform {
            None => claimed.payload.clone().into_bytes(),
            Some(program) => {
                let began = std::time::Instant::now();
                match self.config.transforms.run(program, &claimed.payload).await {
                    Ok(output) => output.to_string().into_bytes(),
                    // Nothing was sent: the receipt shows no request headers.
                    Err(e) => {
                        let failed = http::Exchange::failed(
                            crate::model::ErrorClass::Transform,
                            e.to_string(),
                            began.elapsed(),
                        );
                        return (failed, BTreeMap::new());
                    }
                }
            }
        };

        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), webhook_id.clone()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            (
                "webhook-signature".into(),
                signature_header(&claimed.secrets, &webhook_id, timestamp, &body),
            ),
            ("herald-event-type".into(), claimed.event_type.clone()),
            ("herald-attempt".into(), (claimed.attempts + 1).to_string()),
        ];
        if claimed.trigger == Trigger::Replay {
            let reason = claimed.reason.as_deref().unwrap_or_default();
            headers.push(("herald-replay".into(), header_text(reason, "replay")));
        }
        if claimed.test {
            headers.push(("herald-test".into(), "true".into()));
        }
        if claimed.semantics == Semantics::EffectivelyOnce
            && let Some(current) = claimed.secrets.first()
        {
            headers.push(("herald-ack-token".into(), current.ack_token(&webhook_id)));
        }
        // Validated at ingest; an event stored before that rule whose id cannot
        // be a header value is delivered without it rather than never.
        if let Some(correlation) = &claimed.correlation_id
            && crate::validate::is_header_safe(correlation)
        {
            headers.push(("x-correlation-id".into(), correlation.clone()));
        }
        let mut receipt_headers: BTreeMap<String, String> = headers.iter().cloned().collect();
        // Whoever reads receipts must not be able to acknowledge for the receiver.
        if let Some(token) = receipt_headers.get_mut("herald-ack-token") {
            *token = "[redacted]".into();
        }
        for (name, value) in &claimed.headers {
            headers.push((name.clone(), value.clone()));
            // Custom header values can be credentials: receipts never show them.
            receipt_headers.insert(name.to_ascii_lowercase(), "[redacted]".into());
        }

        // A play inbox is Herald's own: its deliveries never touch the
        // network (nor the destination guard), whatever host the URL names.
        if let Some(inbox) = crate::model::play_inbox_of_url(&claimed.url) {
            let exchange = self
                .to_play_inbox(claimed, inbox, &receipt_headers, &body)
                .await;
            return (exchange, receipt_headers);
        }
        let timeout = Duration::from_millis(u64::from(claimed.timeout_ms));
        let exchange = http::send(
            &self.client,
            &self.config.guard,
            &claimed.url,
            &headers,
            body,
            timeout,
        )
        .await;
        (exchange, receipt_headers)
    }
}

impl Dispatcher {
    /// Hands a request to one of the tenant's play inboxes in the process,
    /// answered as `POST /play/{id}` answers it over HTTP: 200 when kept,
    /// 404 when the tenant has no such inbox.
    async fn to_play_inbox(
        &self,
        claimed: &Claimed,
        inbox: crate::model::PlayInboxId,
        headers: &BTreeMap<String, String>,
        body: &[u8],
    ) -> http::Exchange {
        let began = std::time::Instant::now();
        let kept = crate::play::receive(
            &*self.store,
            inbox,
            Some(claimed.tenant_id),
            headers,
            body,
            Utc::now(),
        )
        .await;
        let answered = |status: u16, excerpt: &str| http::Exchange {
            latency: began.elapsed(),
            status: Some(status),
            response_headers: BTreeMap::from([(
                "content-type".to_string(),
                "application/json".to_string(),
            )]),
            excerpt: excerpt.to_string(),
            error: None,
            retry_after_ms: None,
        };
        match kept {
            Ok(true) => answered(200, crate::model::PLAY_RECEIVED),
            Ok(false) => answered(404, crate::model::PLAY_NOT_FOUND),
            Err(e) => http::Exchange::failed(
                crate::model::ErrorClass::Internal,
                format!("the play inbox could not keep the request: {e}"),
                began.elapsed(),
            ),
        }
    }

    /// Ends, in the DLQ, a delivery sent again for want of an
    /// acknowledgement when its policy allows no more attempts; true if it
    /// did (nothing is sent).
    pub(super) async fn ended_unacknowledged(&self, claimed: &Claimed) -> bool {
        let Some(reason) = unacknowledged_and_exhausted(claimed, Utc::now()) else {
            return false;
        };
        match self.store.abandon(claimed.id, claimed.claim, &reason).await {
            Ok(added) => self.metrics.dlq_added(u64::from(added)),
            Err(e) => tracing::error!(
                error = %e,
                delivery = %claimed.id,
                "cannot end an unacknowledged delivery"
            ),
        }
        true
    }
}

/// What comes after an attempt: done, again later on the policy, or dead.
///
/// Pure: the clock (`now`) and the jitter draw (`draw`, in [0, 1)) are given.
pub(super) fn after_attempt(
    claimed: &Claimed,
    exchange: &http::Exchange,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
    draw: f64,
) -> AfterAttempt {
    // The retry policy counts within the chain: a reprocess or replay gets
    // the whole schedule again.
    let attempts_made = claimed.chain_attempts + 1;
    if exchange.succeeded() && claimed.semantics == Semantics::EffectivelyOnce {
        AfterAttempt::AwaitAck(later_by_ms(
            now,
            u64::from(claimed.ack_timeout_secs) * 1_000,
        ))
    } else if exchange.succeeded() {
        AfterAttempt::Succeeded
    } else if exchange.blocked() {
        AfterAttempt::Dead {
            reason: "the destination address is blocked; retrying cannot change that".into(),
        }
    } else if let Some((crate::model::ErrorClass::Transform, message)) = &exchange.error {
        AfterAttempt::Dead {
            reason: format!(
                "{message}; the same transform on the same payload fails again, so it is not retried"
            ),
        }
    } else if exchange.status == Some(410) {
        // The endpoint is disabled before this receipt is written: an
        // at-least-once delivery waits with the rest of its backlog until it
        // is enabled again; an at-most-once one had its one attempt.
        if claimed.semantics == Semantics::AtMostOnce {
            AfterAttempt::Dead {
                reason: "the receiver answered 410 Gone; the endpoint was disabled".into(),
            }
        } else {
            AfterAttempt::RetryAt(later_by_ms(now, GONE_HOLD_MS))
        }
    } else if let Some(status) = exchange
        .status
        .filter(|s| claimed.retry_policy.gives_up_on(*s))
    {
        AfterAttempt::Dead {
            reason: format!(
                "the receiver answered {status}, which the retry policy gives up on at once"
            ),
        }
    } else if claimed.semantics == Semantics::AtMostOnce {
        AfterAttempt::Dead {
            reason: "the attempt failed and at-most-once deliveries are not retried".into(),
        }
    } else {
        let first = claimed.first_attempt_at.unwrap_or(started_at);
        let age_ms = u64::try_from((now - first).num_milliseconds()).unwrap_or(0);
        match claimed
            .retry_policy
            .next(attempts_made, age_ms, exchange.retry_after_ms, draw)
        {
            Next::RetryInMs(ms) => AfterAttempt::RetryAt(later_by_ms(now, ms)),
            Next::GiveUp(GiveUp::MaxAttempts) => AfterAttempt::Dead {
                reason: format!("retries exhausted after {attempts_made} attempts"),
            },
            Next::GiveUp(GiveUp::MaxAge) => AfterAttempt::Dead {
                reason: "the retry policy's maximum age was reached".into(),
            },
        }
    }
}

/// Why a delivery sent again for want of an acknowledgement ends instead:
/// its retry policy allows no further attempt (the chain's attempts or its
/// age are used up). `None` for any other claim.
pub(super) fn unacknowledged_and_exhausted(
    claimed: &Claimed,
    now: DateTime<Utc>,
) -> Option<String> {
    if !claimed.ack_timed_out {
        return None;
    }
    let policy = &claimed.retry_policy;
    if claimed.chain_attempts >= policy.max_attempts {
        return Some(format!(
            "not acknowledged within {}s of attempt {}; the retry policy allows no more attempts",
            claimed.ack_timeout_secs, claimed.attempts
        ));
    }
    let first = claimed.first_attempt_at.unwrap_or(now);
    let age_secs = u64::try_from((now - first).num_seconds()).unwrap_or(0);
    match policy.max_age_secs {
        Some(max) if age_secs >= max => Some(format!(
            "not acknowledged within {}s of attempt {}; the retry policy's maximum age was reached",
            claimed.ack_timeout_secs, claimed.attempts
        )),
        _ => None,
    }
}

/// How long a delivery answered 410 waits before it is due again; its
/// endpoint is disabled by then, so it waits for the endpoint (were the
/// disabling to fail, it is tried again no sooner than this).
const GONE_HOLD_MS: u64 = 5_000;

/// `now` plus `ms`, saturating at the latest time Herald stores (a policy's
/// delays are bounded, but a stored policy or a receiver's `Retry-After` must
/// never be able to overflow the clock).
pub(crate) fn later_by_ms(now: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    let latest = DateTime::<Utc>::MAX_UTC;
    i64::try_from(ms)
        .ok()
        .and_then(chrono::TimeDelta::try_milliseconds)
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(latest)
        .min(latest)
}

/// The message a panic carried, for the log and the receipt.
pub(super) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    text.chars().take(300).collect()
}

/// Free text (a person's reason) as a header value: visible ASCII only, at most
/// 200 characters; `fallback` when nothing is left.
fn header_text(text: &str, fallback: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        fallback.to_owned()
    } else {
        clean.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};

    use super::{after_attempt, http, unacknowledged_and_exhausted};
    use crate::model::{DeliveryId, EndpointId, ErrorClass, EventId, Semantics, TenantId, Trigger};
    use crate::retry::{Backoff, RetryPolicy};
    use crate::store::{AfterAttempt, ClaimToken, Claimed};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    /// A delivery on its `chain`-th attempt under a plain schedule of 10 s
    /// delays, 3 attempts in all.
    fn claimed(semantics: Semantics, chain: u32) -> Claimed {
        Claimed {
            transform: None,
            id: DeliveryId::new(),
            claim: ClaimToken(1),
            tenant_id: TenantId::new(),
            event_id: EventId::new(),
            event_type: "order.created".into(),
            payload: "{}".into(),
            correlation_id: None,
            test: false,
            endpoint_id: EndpointId::new(),
            url: "http://127.0.0.1:9/hook".into(),
            headers: BTreeMap::new(),
            semantics,
            retry_policy: RetryPolicy {
                backoff: Backoff::Schedule {
                    delays_secs: vec![10].into(),
                },
                max_attempts: 3,
                max_age_secs: Some(3_600),
                jitter: 0.0,
                ..RetryPolicy::default()
            },
            timeout_ms: 1_000,
            max_in_flight: None,
            secrets: Vec::new(),
            endpoint_active: true,
            attempts: chain,
            chain_attempts: chain,
            first_attempt_at: Some(now()),
            trigger: Trigger::Scheduled,
            reason: None,
            ack_timeout_secs: 30,
            ack_timed_out: false,
            breaker_probe: false,
        }
    }

    fn answered(status: u16) -> http::Exchange {
        http::Exchange {
            latency: Duration::from_millis(5),
            status: Some(status),
            response_headers: BTreeMap::new(),
            excerpt: String::new(),
            error: None,
            retry_after_ms: None,
        }
    }

    fn decide(claimed: &Claimed, exchange: &http::Exchange) -> AfterAttempt {
        after_attempt(claimed, exchange, now(), now(), 0.5)
    }

    fn retry_in_10s() -> AfterAttempt {
        AfterAttempt::RetryAt(now() + chrono::Duration::seconds(10))
    }

    #[test]
    fn every_2xx_succeeds_every_other_status_is_retried_and_410_holds() {
        let first = claimed(Semantics::AtLeastOnce, 0);
        for status in 100..600u16 {
            let next = decide(&first, &answered(status));
            match status {
                200..=299 => assert!(matches!(next, AfterAttempt::Succeeded), "{status}"),
                410 => assert_eq!(
                    next,
                    AfterAttempt::RetryAt(now() + chrono::Duration::seconds(5)),
                    "410 holds the delivery for when the endpoint is enabled again"
                ),
                _ => assert_eq!(next, retry_in_10s(), "{status}"),
            }
        }
    }

    #[test]
    fn the_statuses_a_policy_gives_up_on_end_the_delivery_at_once() {
        let mut first = claimed(Semantics::AtLeastOnce, 0);
        first.retry_policy.give_up_on = vec![400, 401, 403, 404, 422].into();
        for status in [400, 401, 403, 404, 422] {
            assert!(
                matches!(&decide(&first, &answered(status)), AfterAttempt::Dead { reason }
                    if reason.contains(&status.to_string()) && reason.contains("gives up")),
                "{status}"
            );
        }
        for status in [402, 405, 429, 500, 503] {
            assert_eq!(
                decide(&first, &answered(status)),
                retry_in_10s(),
                "{status}"
            );
        }
        assert!(matches!(
            decide(&first, &answered(200)),
            AfterAttempt::Succeeded
        ));
    }

    #[test]
    fn every_error_class_is_retried_but_a_blocked_destination_and_a_transform() {
        let first = claimed(Semantics::AtLeastOnce, 0);
        for class in ErrorClass::ANY {
            let failed = http::Exchange::failed(class, "x".into(), Duration::ZERO);
            let next = decide(&first, &failed);
            if class == ErrorClass::BlockedDestination {
                assert!(
                    matches!(&next, AfterAttempt::Dead { reason } if reason.contains("blocked")),
                    "{class:?}: {next:?}"
                );
            } else if class == ErrorClass::Transform {
                assert!(
                    matches!(&next, AfterAttempt::Dead { reason } if reason.contains("not retried")),
                    "{class:?}: {next:?}"
                );
            } else {
                assert_eq!(next, retry_in_10s(), "{class:?}");
            }
        }
    }

    #[test]
    fn at_most_once_is_never_retried_but_still_succeeds() {
        let first = claimed(Semantics::AtMostOnce, 0);
        assert!(matches!(
            decide(&first, &answered(204)),
            AfterAttempt::Succeeded
        ));
        for failed in [
            answered(503),
            http::Exchange::failed(ErrorClass::Timeout, "x".into(), Duration::ZERO),
        ] {
            assert!(
                matches!(&decide(&first, &failed), AfterAttempt::Dead { reason } if reason.contains("at-most-once")),
            );
        }
    }

    #[test]
    fn exactly_once_is_read_as_effectively_once_and_never_shown() {
        let read: Semantics = serde_json::from_str("\"exactly_once\"").unwrap();
        assert_eq!(read, Semantics::EffectivelyOnce);
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            "\"effectively_once\""
        );
    }

    #[test]
    fn effectively_once_awaits_an_acknowledgement_after_a_2xx_and_fails_like_at_least_once() {
        let first = claimed(Semantics::EffectivelyOnce, 0);
        assert_eq!(
            decide(&first, &answered(200)),
            AfterAttempt::AwaitAck(now() + chrono::Duration::seconds(30))
        );
        assert_eq!(decide(&first, &answered(500)), retry_in_10s());
        // Sent again for want of an acknowledgement: an `ack_timeout` attempt
        // while the policy has attempts left, then the chain ends.
        let mut again = claimed(Semantics::EffectivelyOnce, 2);
        again.ack_timed_out = true;
        assert_eq!(again.attempt_trigger(), Trigger::AckTimeout);
        assert_eq!(unacknowledged_and_exhausted(&again, now()), None);
        let mut spent = claimed(Semantics::EffectivelyOnce, 3);
        assert_eq!(spent.attempt_trigger(), Trigger::Scheduled);
        assert_eq!(unacknowledged_and_exhausted(&spent, now()), None);
        spent.ack_timed_out = true;
        assert!(
            unacknowledged_and_exhausted(&spent, now())
                .is_some_and(|r| r.contains("not acknowledged within 30s of attempt 3"))
        );
        let late = now() + chrono::Duration::seconds(3_600);
        assert!(
            unacknowledged_and_exhausted(&again, late).is_some_and(|r| r.contains("maximum age"))
        );
    }

    #[test]
    fn the_policy_ends_the_chain_by_attempts_and_by_age() {
        // The third attempt of three fails: retries are exhausted.
        let last = claimed(Semantics::AtLeastOnce, 2);
        assert!(matches!(
            &decide(&last, &answered(500)),
            AfterAttempt::Dead { reason } if reason.contains("after 3 attempts")
        ));
        // Nearly an hour after the first attempt, a 10 s delay passes the age.
        let old = claimed(Semantics::AtLeastOnce, 0);
        let late = now() + chrono::Duration::seconds(3_595);
        assert!(matches!(
            &after_attempt(&old, &answered(500), late, late, 0.5),
            AfterAttempt::Dead { reason } if reason.contains("maximum age")
        ));
    }

    #[test]
    fn retry_after_lengthens_the_delay_within_the_cap() {
        let first = claimed(Semantics::AtLeastOnce, 0);
        let mut asked = answered(429);
        asked.retry_after_ms = Some(60_000);
        assert_eq!(
            decide(&first, &asked),
            AfterAttempt::RetryAt(now() + chrono::Duration::seconds(60))
        );
    }
}
