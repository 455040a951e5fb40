//! Pull inboxes: what an inbox holds and who pulls from it, in SQL both
//! backends share.

use chrono::{DateTime, Utc};

use super::This;
use crate::Result;
use crate::model::{EndpointId, InboxConsumer, InboxOut, TenantId};
use crate::store::{from_millis, stored_id, to_millis};

/// Consumers an inbox's state lists, most recent first.
const CONSUMERS_SHOWN: i64 = 20;

impl This {
    pub(super) async fn read_inbox_state(
        &self,
        tenant: TenantId,
        endpoint: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<InboxOut> {
        let (ready, delayed, leased): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
            &format!(
                r"select sum(case when state = 'pending' and next_attempt_at <= $2 then 1 else 0 end),
                         sum(case when state = 'pending' and next_attempt_at > $2 then 1 else 0 end),
                         sum(case when state = 'in_flight' then 1 else 0 end)
                  from {} where endpoint_id = $1 and state in ('pending', 'in_flight')",
                super::DELIVERY_QUEUE
            ),
        )
        .bind(endpoint.to_string())
        .bind(to_millis(now))
        .fetch_one(self.reader())
        .await?;
        let oldest: Option<i64> = sqlx::query_scalar(&format!(
            r"select min(d.created_at) from {}
              where d.endpoint_id = $1 and d.tenant_id = $2 and d.live_state in ('pending', 'in_flight')",
            super::LIVE_DELIVERIES
        ))
        .bind(endpoint.to_string())
        .bind(tenant.to_string())
        .fetch_one(self.reader())
        .await?;
        let consumers: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            r"select consumer, first_pull_at, last_pull_at, pulls, leased from inbox_consumers
              where endpoint_id = $1 and tenant_id = $2
              order by last_pull_at desc, consumer limit $3",
        )
        .bind(endpoint.to_string())
        .bind(tenant.to_string())
        .bind(CONSUMERS_SHOWN)
        .fetch_all(self.reader())
        .await?;
        let count = |n: Option<i64>| u64::try_from(n.unwrap_or(0)).unwrap_or(0);
        Ok(InboxOut {
            endpoint_id: stored_id(&endpoint.to_string())?,
            ready: count(ready),
            delayed: count(delayed),
            leased: count(leased),
            oldest_at: oldest.map(from_millis),
            consumers: consumers
                .into_iter()
                .map(|(name, first, last, pulls, leased)| InboxConsumer {
                    name,
                    first_pull_at: from_millis(first),
                    last_pull_at: from_millis(last),
                    pulls: count(Some(pulls)),
                    leased: count(Some(leased)),
                })
                .collect(),
        })
    }
}
