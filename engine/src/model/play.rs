//! Play inboxes: a receiver built into Herald for trying webhooks without
//! one of your own. A play inbox has a Herald URL (`/play/{id}`) that takes
//! webhooks, keeps the last [`PLAY_KEEP`] requests and checks each one's
//! Standard Webhooks signature with the secret of the endpoint it was made
//! for. Herald never sends a delivery to a play inbox over the network: an
//! endpoint URL whose path names a play inbox is delivered inside the
//! process (see `engine/src/play.rs`), so play inboxes open no way past the
//! destination guard.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PlayInboxId;

/// The path of a play inbox's URL, before its id.
pub const PLAY_PATH: &str = "/play/";
/// Requests an inbox keeps; older ones are removed as new ones come.
pub const PLAY_KEEP: u32 = 100;
/// The most of a request's body an inbox keeps (the signature is checked
/// over all of it).
pub const PLAY_MAX_BODY: usize = 64 * 1024;
/// What a play inbox answers when it keeps a request, and when there is no
/// such inbox.
pub const PLAY_RECEIVED: &str = r#"{"received":true}"#;
pub const PLAY_NOT_FOUND: &str =
    r#"{"error":{"code":"not_found","message":"there is no such play inbox"}}"#;
/// How far a request's `webhook-timestamp` may be from Herald's clock.
pub const PLAY_TOLERANCE_SECS: i64 = 300;

/// The play inbox an endpoint URL names: an http(s) URL whose path is
/// exactly `/play/{id}` (any host: wherever Herald is reached from, the
/// inbox is the same), or `None`.
pub fn play_inbox_of_url(url: &str) -> Option<PlayInboxId> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let path = &rest[rest.find('/')?..];
    path.strip_prefix(PLAY_PATH)?.parse().ok()
}

/// One request a play inbox took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayRequestOut {
    pub received_at: DateTime<Utc>,
    /// True when Herald delivered it to its own inbox without the network;
    /// false when it came over HTTP.
    pub in_process: bool,
    /// Header names in lower case; credentials (`authorization`, `cookie`,
    /// the endpoint's custom headers) redacted.
    pub headers: BTreeMap<String, String>,
    /// The body as text (invalid UTF-8 replaced), at most
    /// [`PLAY_MAX_BODY`] bytes of it.
    pub body: String,
    pub body_truncated: bool,
    /// Whether the signature checked out with the endpoint's secret.
    pub verified: bool,
    /// Why it did or did not, in words.
    pub verification: String,
}
