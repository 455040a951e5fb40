//! Play inboxes at work (`model/play.rs`): a request taken, from Herald's
//! own dispatcher or over HTTP, its signature checked with the endpoint's
//! secret exactly as a receiver checks it, and kept.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::Result;
use crate::model::{PLAY_MAX_BODY, PLAY_TOLERANCE_SECS, PlayInboxId, PlayRequestOut, TenantId};
use crate::sign::{Secret, signature_verifies};
use crate::store::Store;

/// Headers whose values are credentials: kept as `[redacted]`.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "x-api-key",
];
/// The most headers a request keeps, and the most of each value.
const MAX_HEADERS: usize = 64;
const MAX_HEADER_VALUE: usize = 1_024;

/// Whether the request's Standard Webhooks signature is one of `secrets`'
/// over its `webhook-id`, `webhook-timestamp` and body, and why, in words.
pub fn verification(
    secrets: &[Secret],
    headers: &BTreeMap<String, String>,
    body: &[u8],
    now: DateTime<Utc>,
) -> (bool, String) {
    let no = |why: String| (false, why);
    let Some(signature) = headers.get("webhook-signature") else {
        return no("Not signed: the request has no webhook-signature header.".into());
    };
    let (Some(id), Some(stamp)) = (headers.get("webhook-id"), headers.get("webhook-timestamp"))
    else {
        return no("Cannot check: a signed request needs webhook-id and webhook-timestamp.".into());
    };
    let Ok(secs) = stamp.trim().parse::<i64>() else {
        return no(format!(
            "Cannot check: webhook-timestamp '{}' is not unix seconds.",
            stamp.chars().take(32).collect::<String>()
        ));
    };
    let skew = (now.timestamp() - secs).abs();
    if skew > PLAY_TOLERANCE_SECS {
        return no(format!(
            "Refused: webhook-timestamp is {skew} s from Herald's clock (at most {PLAY_TOLERANCE_SECS} s), \
             as a receiver refuses a replayed request."
        ));
    }
    if secrets.is_empty() {
        return no("Cannot check: the endpoint this inbox was made for has been deleted.".into());
    }
    if signature_verifies(secrets, id, stamp.trim(), body, signature) {
        (
            true,
            "Signature verified with the endpoint's secret.".into(),
        )
    } else {
        no("Signature does not match the endpoint's secret for this webhook-id, timestamp and body.".into())
    }
}

/// Keeps one request to `inbox` with its verification. `sender` is the
/// delivering tenant when Herald itself delivers (a tenant's deliveries
/// reach only its own inboxes) and `None` over HTTP. False when there is
/// no such inbox (for that tenant): the request is not kept.
pub async fn receive(
    store: &dyn Store,
    inbox: PlayInboxId,
    sender: Option<TenantId>,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(target) = store.play_target(inbox, now).await? else {
        return Ok(false);
    };
    if sender.is_some_and(|t| t != target.tenant_id) {
        return Ok(false);
    }
    let (verified, why) = verification(&target.secrets, headers, body, now);
    let kept: BTreeMap<String, String> = headers
        .iter()
        .take(MAX_HEADERS)
        .map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                "[redacted]".to_string()
            } else {
                value.chars().take(MAX_HEADER_VALUE).collect()
            };
            (name, value)
        })
        .collect();
    let shown = &body[..body.len().min(PLAY_MAX_BODY)];
    let request = PlayRequestOut {
        received_at: now,
        in_process: sender.is_some(),
        headers: kept,
        body: String::from_utf8_lossy(shown).into_owned(),
        body_truncated: body.len() > PLAY_MAX_BODY,
        verified,
        verification: why,
    };
    store.record_play_request(inbox, &request).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::signature_header;

    fn signed(secret: &Secret, body: &[u8], at: i64) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("webhook-id".to_string(), "msg_1".to_string()),
            ("webhook-timestamp".to_string(), at.to_string()),
            (
                "webhook-signature".to_string(),
                signature_header(std::slice::from_ref(secret), "msg_1", at, body),
            ),
        ])
    }

    #[test]
    fn a_request_signed_with_the_endpoints_secret_verifies_and_nothing_else_does() {
        let now = Utc::now();
        let secret = Secret::generate();
        let other = Secret::generate();
        let body = br#"{"order":1}"#;
        let headers = signed(&secret, body, now.timestamp());
        let mine = std::slice::from_ref(&secret);
        assert!(verification(mine, &headers, body, now).0);
        // Another secret, a changed body, an old timestamp, no signature.
        assert!(!verification(std::slice::from_ref(&other), &headers, body, now).0);
        assert!(!verification(mine, &headers, br#"{"order":2}"#, now).0);
        let old = signed(&secret, body, now.timestamp() - 3_600);
        let (ok, why) = verification(mine, &old, body, now);
        assert!(!ok && why.contains("3600 s"), "{why}");
        let mut unsigned = headers.clone();
        unsigned.remove("webhook-signature");
        let (ok, why) = verification(mine, &unsigned, body, now);
        assert!(!ok && why.starts_with("Not signed"), "{why}");
        let (ok, why) = verification(&[], &headers, body, now);
        assert!(!ok && why.contains("deleted"), "{why}");
    }

    #[test]
    fn only_a_path_of_exactly_play_and_an_inbox_id_names_an_inbox() {
        let id = PlayInboxId::new();
        for host in [
            "http://127.0.0.1:3000",
            "https://herald.example.com",
            "http://user@10.0.0.1",
        ] {
            assert_eq!(
                crate::model::play_inbox_of_url(&format!("{host}/play/{id}")),
                Some(id)
            );
        }
        for url in [
            format!("http://127.0.0.1:3000/play/{id}/x"),
            format!("http://127.0.0.1:3000/api/play/{id}"),
            format!("http://127.0.0.1:3000/play/{id}?x=1"),
            "http://127.0.0.1:3000/play/ply_nope".to_string(),
            format!("ftp://127.0.0.1/play/{id}"),
            "http://127.0.0.1:3000".to_string(),
        ] {
            assert_eq!(crate::model::play_inbox_of_url(&url), None, "{url}");
        }
    }
}
