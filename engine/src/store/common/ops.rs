//! Operational webhooks' reads in SQL both backends share.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::This;
use crate::Result;
use crate::model::{EndpointId, TenantId};
use crate::store::{DlqAlert, stored_id, to_millis};

#[async_trait]
impl crate::store::OpsStore for This {
    async fn operations_endpoint(&self, tenant: TenantId) -> Result<Option<EndpointId>> {
        let id: Option<String> = sqlx::query_scalar(
            "select t.ops_endpoint_id from tenants t
             join endpoints e on e.id = t.ops_endpoint_id and e.tenant_id = t.id
             where t.id = $1 and e.deleted_at is null",
        )
        .bind(tenant.to_string())
        .fetch_optional(self.reader())
        .await?;
        id.as_deref().map(stored_id).transpose()
    }

    async fn dlq_alerts(&self, now: DateTime<Utc>) -> Result<Vec<DlqAlert>> {
        let watched: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "select id, dlq_alert_threshold, dlq_alerted_at from tenants
             where dlq_alert_threshold is not null",
        )
        .fetch_all(self.reader())
        .await?;
        let mut alerts = Vec::new();
        for (tenant, threshold, alerted) in watched {
            // Counting stops one past the threshold: that answers the question.
            let over: i64 = sqlx::query_scalar(
                "select count(*) from
                 (select 1 from dlq_entries where tenant_id = $1 limit $2) as counted",
            )
            .bind(&tenant)
            .bind(threshold.saturating_add(1))
            .fetch_one(self.reader())
            .await?;
            if over > threshold && alerted.is_none() {
                let told = sqlx::query(
                    "update tenants set dlq_alerted_at = $1
                     where id = $2 and dlq_alerted_at is null",
                )
                .bind(to_millis(now))
                .bind(&tenant)
                .execute(self.pool())
                .await?;
                if told.rows_affected() == 0 {
                    continue;
                }
                let entries: i64 =
                    sqlx::query_scalar("select count(*) from dlq_entries where tenant_id = $1")
                        .bind(&tenant)
                        .fetch_one(self.reader())
                        .await?;
                alerts.push(DlqAlert {
                    tenant_id: stored_id(&tenant)?,
                    entries: u64::try_from(entries).unwrap_or(0),
                    threshold: u64::try_from(threshold).unwrap_or(0),
                });
            } else if over <= threshold && alerted.is_some() {
                sqlx::query("update tenants set dlq_alerted_at = null where id = $1")
                    .bind(&tenant)
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(alerts)
    }
}
