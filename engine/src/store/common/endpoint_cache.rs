//! SQLite: what a claim reads about its deliveries' endpoints, opened
//! (secrets and header values decrypted, the retry policy parsed) once per
//! version of each endpoint rather than once per delivery.

use super::This;
use super::endpoints::id_list;
use crate::Result;
use crate::store::convert::from_json;

/// One endpoint's delivery settings, opened: header values and secrets
/// decrypted, the retry policy parsed.
pub(super) struct Opened {
    /// The endpoint's `updated_at` and its secrets' times: any change to the
    /// endpoint or its secrets gives a new version.
    version: String,
    headers_sealed: String,
    policy_text: String,
    pub(super) headers: std::collections::BTreeMap<String, String>,
    pub(super) retry_policy: crate::retry::RetryPolicy,
    /// Newest first, each with when it expires (ms).
    secrets: Vec<(crate::sign::Secret, Option<i64>)>,
}

impl Opened {
    /// The secrets to sign with at `now_ms`: a rotated-out one only until
    /// its grace period ends.
    pub(super) fn live_secrets(&self, now_ms: i64) -> Vec<crate::sign::Secret> {
        self.secrets
            .iter()
            .filter(|(_, expires)| expires.is_none_or(|at| at > now_ms))
            .map(|(secret, _)| secret.clone())
            .collect()
    }
}

/// Opened endpoint settings by endpoint id, replaced whenever the stored
/// version, headers or policy differ from what was opened.
#[derive(Default)]
pub(super) struct EndpointCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Opened>>>,
}

/// Endpoints kept at most; past it the cache starts over.
const ENDPOINT_CACHE_MAX: usize = 10_000;

impl EndpointCache {
    fn get(
        &self,
        endpoint: &str,
        version: &str,
        headers: &str,
        policy: &str,
    ) -> Option<std::sync::Arc<Opened>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(endpoint)
            .filter(|o| {
                o.version == version && o.headers_sealed == headers && o.policy_text == policy
            })
            .cloned()
    }

    fn put(&self, endpoint: &str, opened: std::sync::Arc<Opened>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= ENDPOINT_CACHE_MAX {
            entries.clear();
        }
        entries.insert(endpoint.to_owned(), opened);
    }
}

/// A claimed delivery as the claim's follow-up read returns it (on
/// PostgreSQL, by column name).
#[derive(sqlx::FromRow)]
pub(super) struct ClaimedRow {
    pub(super) id: String,
    pub(super) tenant_id: String,
    pub(super) event_id: String,
    pub(super) endpoint_id: String,
    pub(super) attempts: i64,
    pub(super) chain_attempts: i64,
    pub(super) first_attempt_at: Option<i64>,
    pub(super) chain_trigger: String,
    pub(super) chain_reason: Option<String>,
    pub(super) event_type: String,
    pub(super) payload: String,
    pub(super) correlation_id: Option<String>,
    pub(super) test: bool,
    pub(super) claim_token: i64,
    pub(super) ack_timed_out: bool,
    /// The one-off transform of the replay job that armed it, if any.
    pub(super) replay_transform: Option<String>,
}

/// The settings of an endpoint a claim took deliveries for, as stored: read
/// once per endpoint per claim, not once per delivery.
#[derive(sqlx::FromRow)]
pub(super) struct ClaimedEndpoint {
    pub(super) endpoint_id: String,
    pub(super) url: String,
    pub(super) headers: String,
    pub(super) semantics: String,
    pub(super) ack_timeout_secs: i64,
    pub(super) breaker_open: bool,
    pub(super) retry_policy: String,
    pub(super) timeout_ms: i64,
    pub(super) active: bool,
    pub(super) max_in_flight: Option<i64>,
    pub(super) version: String,
    pub(super) transform: Option<String>,
}

impl This {
    /// The settings of a claim's endpoints, each as stored and opened: from
    /// the cache when the
    /// stored version matches, else decrypted and parsed once per version of
    /// each endpoint (not once per delivery).
    pub(super) async fn opened_endpoints<'r>(
        &self,
        rows: &'r [ClaimedEndpoint],
    ) -> Result<std::collections::HashMap<&'r str, (&'r ClaimedEndpoint, std::sync::Arc<Opened>)>>
    {
        let mut opened: std::collections::HashMap<
            &str,
            (&ClaimedEndpoint, std::sync::Arc<Opened>),
        > = std::collections::HashMap::new();
        let mut missing: Vec<&ClaimedEndpoint> = Vec::new();
        for r in rows {
            match self
                .endpoints
                .get(&r.endpoint_id, &r.version, &r.headers, &r.retry_policy)
            {
                Some(hit) => {
                    opened.insert(&r.endpoint_id, (r, hit));
                }
                None => missing.push(r),
            }
        }
        if !missing.is_empty() {
            let wanted = id_list(
                &missing
                    .iter()
                    .map(|r| r.endpoint_id.clone())
                    .collect::<Vec<_>>(),
            );
            let sql = format!(
                r"select s.endpoint_id, s.secret, s.expires_at from endpoint_secrets s
                  where s.endpoint_id in ({})
                  order by s.endpoint_id, s.created_at desc",
                super::IDS_OF_JSON_1
            );
            let secrets: Vec<(String, String, Option<i64>)> = sqlx::query_as(&sql)
                .bind(&wanted)
                .fetch_all(self.reader())
                .await?;
            for r in missing {
                let entry = std::sync::Arc::new(Opened {
                    version: r.version.clone(),
                    headers_sealed: r.headers.clone(),
                    policy_text: r.retry_policy.clone(),
                    headers: self.open_headers(&r.headers)?,
                    retry_policy: from_json(&r.retry_policy, "retry policy")?,
                    secrets: secrets
                        .iter()
                        .filter(|(ep, _, _)| *ep == r.endpoint_id)
                        .map(|(_, s, expires)| Ok((self.open_secret(s)?, *expires)))
                        .collect::<Result<Vec<_>>>()?,
                });
                self.endpoints.put(&r.endpoint_id, entry.clone());
                opened.insert(&r.endpoint_id, (r, entry));
            }
        }

        Ok(opened)
    }

    /// What the dispatcher gets for a claim: each claimed delivery with its
    /// endpoint's settings opened.
    pub(super) async fn claimed(
        &self,
        rows: &[ClaimedRow],
        endpoints: &[ClaimedEndpoint],
        now_ms: i64,
    ) -> Result<Vec<crate::store::Claimed>> {
        use crate::store::convert::semantics_of;
        use crate::store::{ClaimToken, Claimed, from_millis, stored_id};
        let opened = self.opened_endpoints(endpoints).await?;
        rows.iter()
            .map(|r| {
                let (stored, endpoint) = &opened[r.endpoint_id.as_str()];
                Ok(Claimed {
                    id: stored_id(&r.id)?,
                    tenant_id: stored_id(&r.tenant_id)?,
                    event_id: stored_id(&r.event_id)?,
                    event_type: r.event_type.clone(),
                    payload: r.payload.clone(),
                    correlation_id: r.correlation_id.clone(),
                    test: r.test,
                    endpoint_id: stored_id(&r.endpoint_id)?,
                    url: stored.url.clone(),
                    headers: endpoint.headers.clone(),
                    semantics: semantics_of(&stored.semantics),
                    ack_timeout_secs: u32::try_from(stored.ack_timeout_secs).unwrap_or(u32::MAX),
                    retry_policy: endpoint.retry_policy.clone(),
                    timeout_ms: u32::try_from(stored.timeout_ms).unwrap_or(u32::MAX),
                    max_in_flight: stored.max_in_flight.and_then(|n| u32::try_from(n).ok()),
                    secrets: endpoint.live_secrets(now_ms),
                    endpoint_active: stored.active,
                    attempts: u32::try_from(r.attempts).unwrap_or(0),
                    chain_attempts: u32::try_from(r.chain_attempts).unwrap_or(0),
                    first_attempt_at: r.first_attempt_at.map(from_millis),
                    trigger: stored_id(&r.chain_trigger)?,
                    reason: r.chain_reason.clone(),
                    ack_timed_out: r.ack_timed_out,
                    breaker_probe: stored.breaker_open,
                    claim: ClaimToken(r.claim_token),
                    transform: r
                        .replay_transform
                        .clone()
                        .or_else(|| stored.transform.clone()),
                })
            })
            .collect()
    }
}
