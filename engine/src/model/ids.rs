//! Typed identifiers: a readable prefix and a ULID, so ids sort by creation time
//! and a stray id in a log says what it names (`ten_01J…`, `usr_01J…`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{value}' is not a valid {kind} id (expected '{prefix}' followed by 26 base32 characters)"
)]
pub struct IdParseError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

/// ULIDs from one process-wide generator: within the same millisecond it
/// increments the random part instead of drawing a new one, so ids sort in the
/// order they were made (keyset pagination and "newest first" rely on it).
#[cfg(feature = "server")]
fn monotonic_ulid() -> ulid::Ulid {
    use std::sync::Mutex;
    static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow needs 2^80 ids in one millisecond; a fresh random id is then fine.
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
}

macro_rules! typed_id {
    ($name:ident, $prefix:literal, $kind:literal) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ulid::Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// The all-zero id: a placeholder that names nothing.
            pub fn nil() -> Self {
                Self(ulid::Ulid::nil())
            }

            /// The id as text, as `Display` writes it, without the
            /// formatter (ids are written for every row ingest, a claim or a
            /// receipt binds).
            pub fn text(&self) -> String {
                let mut buffer = [0u8; ulid::ULID_LEN];
                let mut text = String::with_capacity($prefix.len() + ulid::ULID_LEN);
                text.push_str($prefix);
                text.push_str(self.0.array_to_str(&mut buffer));
                text
            }

            /// A new id, ordered after every id this process made before it.
            #[cfg(feature = "server")]
            pub fn new() -> Self {
                Self(monotonic_ulid())
            }
        }

        #[cfg(feature = "server")]
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        // Written as two plain strings: ids are formatted for every row a
        // claim, a receipt or an insert binds, and `write!` with nested
        // `Display`s went through the formatter's padding logic for each part.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buffer = [0u8; ulid::ULID_LEN];
                let text = self.0.array_to_str(&mut buffer);
                if f.width().is_none() && f.precision().is_none() {
                    f.write_str($prefix)?;
                    f.write_str(text)
                } else {
                    f.pad(&format!("{}{text}", $prefix))
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.strip_prefix($prefix)
                    .and_then(|rest| ulid::Ulid::from_string(rest).ok())
                    .map(Self)
                    .ok_or_else(|| IdParseError {
                        kind: $kind,
                        prefix: $prefix,
                        value: s.chars().take(64).collect(),
                    })
            }
        }

        // One plain string: `collect_str` would escape the text piece by
        // piece through the formatter.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.text())
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-7][0-9A-HJKMNP-TV-Z]{25}$")))
                    .description(Some(concat!(
                        "A ",
                        $kind,
                        " id: '",
                        $prefix,
                        "' and a ULID (sortable by creation time)."
                    )))
                    .examples([concat!($prefix, "01JD5Q8X3V4N2M7K9P6R0S1T2W")])
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(TenantId, "ten_", "tenant");
typed_id!(UserId, "usr_", "user");
typed_id!(ApiKeyId, "key_", "API key");
typed_id!(SessionId, "ses_", "session");
typed_id!(EndpointId, "ep_", "endpoint");
typed_id!(EventId, "evt_", "event");
// A delivery's id is the `webhook-id` receivers see, stable across retries.
typed_id!(DeliveryId, "msg_", "delivery");
typed_id!(AttemptId, "att_", "attempt");
typed_id!(DlqEntryId, "dlq_", "DLQ entry");
typed_id!(RetryPolicyId, "rp_", "retry policy");
typed_id!(ReplayId, "rpl_", "replay");
typed_id!(CheckpointId, "chk_", "checkpoint");
typed_id!(ActionId, "act_", "delivery action");
typed_id!(AuditId, "aud_", "audit entry");
typed_id!(PlayInboxId, "ply_", "play inbox");

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = UserId::new();
        let text = id.to_string();
        assert!(text.starts_with("usr_"));
        assert_eq!(text.len(), 4 + 26);
        assert_eq!(text.parse::<UserId>().unwrap(), id);
        // Widths and alignment still apply.
        assert_eq!(format!("{id:>32}"), format!("  {text}"));
        assert_eq!(format!("{id:?}"), text);
        assert_eq!(id.text(), text);
        let short = EndpointId::new();
        assert_eq!(short.text(), short.to_string(), "a three-letter prefix");
    }

    #[test]
    fn wrong_prefix_is_rejected_with_a_clear_message() {
        let id = TenantId::new().to_string();
        let err = id.parse::<UserId>().unwrap_err();
        assert_eq!(err.kind, "user");
        assert!(err.to_string().contains("usr_"), "{err}");
    }

    #[test]
    fn ids_sort_by_creation_even_within_one_millisecond() {
        let ids: Vec<ApiKeyId> = (0..1000).map(|_| ApiKeyId::new()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_string() < pair[1].to_string());
        }
    }

    #[test]
    fn serde_uses_the_prefixed_string() {
        let id = SessionId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let short = EndpointId::new();
        assert_eq!(
            serde_json::to_string(&short).unwrap(),
            format!("\"{short}\"")
        );
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SessionId>("\"ses_nope\"").is_err());
    }
}
