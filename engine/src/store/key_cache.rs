//! API keys as requests present them, kept for a short while: without it
//! every API request would read the key (and its tenant) from the database.
//! A store that holds one forgets a key the moment it revokes it; a key
//! revoked elsewhere (another process on the same database) is forgotten when
//! its entry expires, [`KEY_CACHE_TTL`] at most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::model::ApiKeyId;
use crate::store::ApiKeyAuth;

/// How long a key read from the database is trusted.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Keys kept at most; past it the cache starts over.
const KEY_CACHE_MAX: usize = 10_000;

#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<String, (ApiKeyAuth, Instant)>>,
}

impl KeyCache {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ApiKeyAuth, Instant)>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live key with this digest, if read within the TTL.
    pub fn get(&self, digest: &str) -> Option<ApiKeyAuth> {
        let keys = self.keys();
        let (auth, read) = keys.get(digest)?;
        (read.elapsed() < KEY_CACHE_TTL).then(|| auth.clone())
    }

    /// Remembers a live key just read from the database.
    pub fn put(&self, digest: &str, auth: &ApiKeyAuth) {
        let mut keys = self.keys();
        if keys.len() >= KEY_CACHE_MAX {
            keys.retain(|_, (_, read)| read.elapsed() < KEY_CACHE_TTL);
            if keys.len() >= KEY_CACHE_MAX {
                keys.clear();
            }
        }
        keys.insert(digest.to_owned(), (auth.clone(), Instant::now()));
    }

    /// A key was revoked: it is not live from now on.
    pub fn forget(&self, id: ApiKeyId) {
        self.keys().retain(|_, (auth, _)| auth.id != id);
    }

    /// A key's use was recorded at `at`.
    pub fn touched(&self, id: ApiKeyId, at: DateTime<Utc>) {
        for (auth, _) in self.keys().values_mut() {
            if auth.id == id {
                auth.last_used_at = Some(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Scope, TenantId};

    fn key() -> ApiKeyAuth {
        ApiKeyAuth {
            id: ApiKeyId::new(),
            tenant_id: TenantId::new(),
            tenant_slug: "acme".into(),
            scope: Scope::All,
            endpoint_id: None,
            last_used_at: None,
            default_source: None,
        }
    }

    #[test]
    fn a_revoked_key_is_forgotten_at_once_and_others_stay() {
        let cache = KeyCache::default();
        let (a, b) = (key(), key());
        cache.put("da", &a);
        cache.put("db", &b);
        assert_eq!(cache.get("da"), Some(a.clone()));
        cache.forget(a.id);
        assert_eq!(cache.get("da"), None);
        assert_eq!(cache.get("db"), Some(b));
    }

    #[test]
    fn recording_a_use_updates_the_kept_key() {
        let cache = KeyCache::default();
        let a = key();
        cache.put("da", &a);
        let now = Utc::now();
        cache.touched(a.id, now);
        assert_eq!(cache.get("da").unwrap().last_used_at, Some(now));
    }
}
