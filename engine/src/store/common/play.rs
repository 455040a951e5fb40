//! Play inboxes and the requests they keep (`model/play.rs`), the same SQL
//! on both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::This;
use crate::Result;
use crate::model::{EndpointId, PLAY_KEEP, PlayInboxId, PlayRequestOut, TenantId};
use crate::store::convert::from_json;
use crate::store::{PlayTarget, from_millis, stored_id, to_millis};

#[async_trait]
impl crate::store::PlayStore for This {
    async fn create_play_inbox(
        &self,
        tenant: TenantId,
        inbox: PlayInboxId,
        endpoint: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "insert into play_inboxes (id, tenant_id, endpoint_id, created_at) values ($1, $2, $3, $4)",
        )
        .bind(inbox.text())
        .bind(tenant.text())
        .bind(endpoint.text())
        .bind(to_millis(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn play_target(
        &self,
        inbox: PlayInboxId,
        now: DateTime<Utc>,
    ) -> Result<Option<PlayTarget>> {
        let found: Option<(String, String)> =
            sqlx::query_as("select tenant_id, endpoint_id from play_inboxes where id = $1")
                .bind(inbox.text())
                .fetch_optional(self.reader())
                .await?;
        let Some((tenant, endpoint)) = found else {
            return Ok(None);
        };
        // A deleted endpoint's secrets verify nothing any more.
        let secrets: Vec<(String, Option<i64>)> = sqlx::query_as(
            r"select s.secret, s.expires_at from endpoint_secrets s
              join endpoints p on p.id = s.endpoint_id
              where s.endpoint_id = $1 and p.deleted_at is null
              order by s.created_at desc",
        )
        .bind(&endpoint)
        .fetch_all(self.reader())
        .await?;
        let now_ms = to_millis(now);
        Ok(Some(PlayTarget {
            tenant_id: stored_id(&tenant)?,
            endpoint_id: stored_id(&endpoint)?,
            secrets: self.open_live_secrets(&secrets, now_ms)?,
        }))
    }

    async fn record_play_request(
        &self,
        inbox: PlayInboxId,
        request: &PlayRequestOut,
    ) -> Result<()> {
        let inbox = inbox.text();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            r"insert into play_requests (inbox_id, delivery_id, received_at, in_process, headers, body,
                                         body_truncated, verified, verification)
              values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&inbox)
        .bind(
            request
                .headers
                .get("webhook-id")
                .filter(|id| id.parse::<crate::model::DeliveryId>().is_ok()),
        )
        .bind(to_millis(request.received_at))
        .bind(request.in_process)
        .bind(
            serde_json::to_string(&request.headers).map_err(|e| {
                crate::EngineError::Internal(format!("cannot encode headers: {e}"))
            })?,
        )
        .bind(&request.body)
        .bind(request.body_truncated)
        .bind(request.verified)
        .bind(&request.verification)
        .execute(&mut *tx)
        .await?;
        // Only the newest are kept: the oldest past the limit go.
        sqlx::query(
            r"delete from play_requests where inbox_id = $1 and id <= (
                select id from play_requests where inbox_id = $1 order by id desc limit 1 offset $2)",
        )
        .bind(&inbox)
        .bind(i64::from(PLAY_KEEP))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn play_requests(
        &self,
        tenant: TenantId,
        inbox: PlayInboxId,
        limit: u32,
    ) -> Result<Vec<PlayRequestOut>> {
        type Row = (i64, bool, String, String, bool, bool, String);
        let rows: Vec<Row> = sqlx::query_as(
            r"select r.received_at, r.in_process, r.headers, r.body, r.body_truncated, r.verified, r.verification
              from play_requests r join play_inboxes i on i.id = r.inbox_id
              where r.inbox_id = $1 and i.tenant_id = $2
              order by r.id desc limit $3",
        )
        .bind(inbox.text())
        .bind(tenant.text())
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(
                |(at, in_process, headers, body, body_truncated, verified, verification)| {
                    Ok(PlayRequestOut {
                        received_at: from_millis(at),
                        in_process,
                        headers: from_json(&headers, "play request headers")?,
                        body,
                        body_truncated,
                        verified,
                        verification,
                    })
                },
            )
            .collect()
    }
}
