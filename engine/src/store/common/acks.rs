//! What verifying a receiver's acknowledgement reads: the delivery's tenant
//! and endpoint, and the endpoint's live secrets (the writes are each
//! backend's own, `acks.rs` beside its dispatcher).

use super::This;
use crate::Result;
use crate::model::DeliveryId;
use crate::store::{AckTarget, stored_id};

impl This {
    pub(super) async fn read_ack_target(
        &self,
        delivery: DeliveryId,
        now_ms: i64,
    ) -> Result<Option<AckTarget>> {
        let found: Option<(String, String)> =
            sqlx::query_as("select tenant_id, endpoint_id from deliveries where id = $1")
                .bind(delivery.to_string())
                .fetch_optional(self.reader())
                .await?;
        let Some((tenant, endpoint)) = found else {
            return Ok(None);
        };
        let secrets: Vec<(String, Option<i64>)> = sqlx::query_as(
            r"select secret, expires_at from endpoint_secrets where endpoint_id = $1
              order by created_at desc",
        )
        .bind(&endpoint)
        .fetch_all(self.reader())
        .await?;
        Ok(Some(AckTarget {
            tenant_id: stored_id(&tenant)?,
            endpoint_id: stored_id(&endpoint)?,
            secrets: self.open_live_secrets(&secrets, now_ms)?,
        }))
    }
}
