//! Endpoint secrets and custom header values go through the vault on their way
//! into and out of the database: sealed at rest, in clear only in memory.

use std::collections::BTreeMap;

use super::SqliteStore;
use crate::sign::Secret;
use crate::vault::Purpose;
use crate::{EngineError, Result};

impl SqliteStore {
    pub(super) fn seal_secret(&self, secret: &Secret) -> String {
        self.vault().seal(Purpose::EndpointSecret, &secret.expose())
    }

    pub(super) fn open_secret(&self, stored: &str) -> Result<Secret> {
        let text = self.vault().open(Purpose::EndpointSecret, stored)?;
        Secret::parse(&text)
            .map_err(|e| EngineError::Internal(format!("corrupt endpoint secret: {e}")))
    }

    /// Header names stay readable (the console lists them); values are sealed.
    pub(super) fn seal_headers(&self, headers: &BTreeMap<String, String>) -> Result<String> {
        let sealed: BTreeMap<&String, String> = headers
            .iter()
            .map(|(name, value)| (name, self.vault().seal(Purpose::HeaderValue, value)))
            .collect();
        serde_json::to_string(&sealed)
            .map_err(|e| EngineError::Internal(format!("cannot encode headers: {e}")))
    }

    pub(super) fn open_headers(&self, stored: &str) -> Result<BTreeMap<String, String>> {
        let sealed: BTreeMap<String, String> = serde_json::from_str(stored)
            .map_err(|e| EngineError::Internal(format!("corrupt endpoint headers: {e}")))?;
        sealed
            .into_iter()
            .map(|(name, value)| Ok((name, self.vault().open(Purpose::HeaderValue, &value)?)))
            .collect()
    }

    pub(super) async fn reseal_secrets_impl(&self) -> Result<u64> {
        let vault = self.vault();
        let mut tx = self.pool().begin().await?;
        let mut changed = 0u64;

        let secrets: Vec<(String, i64, String)> =
            sqlx::query_as("select endpoint_id, created_at, secret from endpoint_secrets")
                .fetch_all(&mut *tx)
                .await?;
        for (endpoint, created_at, stored) in secrets {
            if vault.is_current(&stored) {
                continue;
            }
            let plain = vault.open(Purpose::EndpointSecret, &stored)?;
            sqlx::query(
                "update endpoint_secrets set secret = $1 where endpoint_id = $2 and created_at = $3",
            )
            .bind(vault.seal(Purpose::EndpointSecret, &plain))
            .bind(&endpoint)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
            changed += 1;
        }

        let endpoints: Vec<(String, String)> =
            sqlx::query_as("select id, headers from endpoints where headers <> '{}'")
                .fetch_all(&mut *tx)
                .await?;
        for (id, stored) in endpoints {
            let sealed: BTreeMap<String, String> = serde_json::from_str(&stored)
                .map_err(|e| EngineError::Internal(format!("corrupt endpoint headers: {e}")))?;
            let stale = sealed.values().filter(|v| !vault.is_current(v)).count();
            if stale == 0 {
                continue;
            }
            let headers = self.open_headers(&stored)?;
            sqlx::query("update endpoints set headers = $1 where id = $2")
                .bind(self.seal_headers(&headers)?)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            changed += stale as u64;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
