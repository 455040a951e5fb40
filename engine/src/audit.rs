//! Appending to the audit log. Entries are written after the change they
//! describe has committed; a failure to write one is logged at error level
//! with the entry, so it is never silently lost, but does not undo the change.

use crate::store::{NewAudit, Store};

pub async fn record(store: &dyn Store, mut entry: NewAudit) {
    entry.summary = mask_urls(&entry.summary);
    tracing::info!(
        action = %entry.action,
        actor = %entry.actor,
        target = %entry.target,
        "audit: {}",
        entry.summary
    );
    if let Err(e) = store.append_audit(entry.clone()).await {
        tracing::error!(error = %e, ?entry, "could not append to the audit log");
    }
}

/// Every URL in a summary with its credentials and query values masked: the
/// audit log is read by more people than may see an endpoint's secrets.
pub fn mask_urls(summary: &str) -> String {
    if !summary.contains("://") {
        return summary.to_owned();
    }
    summary
        .split(' ')
        .map(|word| {
            if word.contains("://") {
                crate::model::redact::mask_url(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "changed url, timeout_ms": the fields a patch sets, for an audit summary.
/// Names only, so a header value or secret in the patch never reaches the log.
pub fn changed_fields<T: serde::Serialize>(patch: &T) -> String {
    let fields: Vec<String> = match serde_json::to_value(patch) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    };
    if fields.is_empty() {
        "changed nothing".into()
    } else {
        format!("changed {}", fields.join(", "))
    }
}

/// A summary with the operator's reason appended, when they gave one.
pub fn with_reason(what: &str, reason: &str) -> String {
    match reason.trim() {
        "" => what.to_string(),
        reason => format!("{what}: {reason}"),
    }
}

/// The target of a change to several things: its one id, or the first five
/// and how many more.
pub fn targets<T: std::fmt::Display>(ids: &[T]) -> String {
    let shown: Vec<String> = ids.iter().take(5).map(ToString::to_string).collect();
    match ids.len() - shown.len() {
        0 => shown.join(","),
        more => format!("{} and {more} more", shown.join(",")),
    }
}
