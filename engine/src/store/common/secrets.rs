//! Endpoint secrets and custom header values go through the vault on their way
//! into and out of the database: sealed at rest, in clear only in memory.

use std::collections::BTreeMap;

use super::This;
use crate::sign::Secret;
use crate::vault::Purpose;
use crate::{EngineError, Result};

impl This {
    pub(super) fn seal_secret(&self, secret: &Secret) -> String {
        self.vault().seal(Purpose::EndpointSecret, &secret.expose())
    }

    /// The secrets among `stored` (sealed, with when each expires) still
    /// live at `now_ms`, opened, in the order given.
    pub(super) fn open_live_secrets(
        &self,
        stored: &[(String, Option<i64>)],
        now_ms: i64,
    ) -> Result<Vec<Secret>> {
        stored
            .iter()
            .filter(|(_, expires)| expires.is_none_or(|at| at > now_ms))
            .map(|(sealed, _)| self.open_secret(sealed))
            .collect()
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
}
