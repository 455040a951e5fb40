//! Ordered delivery: which of an endpoint's deliveries form a stream, and
//! what a dead delivery does to the rest of its stream.
//!
//! Within a stream a delivery is sent only once the one before it (by the
//! event's sequence number) succeeded or ended; streams are independent.

use serde::{Deserialize, Serialize};

/// How an endpoint's deliveries are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderingMode {
    /// No order: deliveries go out as soon as a slot is free.
    #[default]
    None,
    /// One stream: every delivery waits for the one before it.
    Endpoint,
    /// One stream per ordering key (the event's `ordering_key`, else its
    /// `entity_id`); an event with neither is not ordered.
    Key,
}

impl OrderingMode {
    pub const ALL: [OrderingMode; 3] = [
        OrderingMode::None,
        OrderingMode::Endpoint,
        OrderingMode::Key,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderingMode::None => "none",
            OrderingMode::Endpoint => "endpoint",
            OrderingMode::Key => "key",
        }
    }

    /// The stream an event's delivery joins at an endpoint with this
    /// ordering: `None` for an unordered delivery. The whole endpoint's
    /// stream is named `""`; a key's stream is the key.
    pub fn stream_of(self, ordering_key: Option<&str>, entity_id: Option<&str>) -> Option<String> {
        match self {
            OrderingMode::None => None,
            OrderingMode::Endpoint => Some(String::new()),
            OrderingMode::Key => ordering_key.or(entity_id).map(str::to_owned),
        }
    }
}

str_enum!(OrderingMode, "ordering");

/// What a dead delivery of an ordered endpoint does to its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnDead {
    /// The stream waits until its DLQ entry is reprocessed or discarded.
    #[default]
    Block,
    /// The stream goes on with the next delivery; the dead one stays in the DLQ.
    Skip,
}

impl OnDead {
    pub const ALL: [OnDead; 2] = [OnDead::Block, OnDead::Skip];

    pub fn as_str(self) -> &'static str {
        match self {
            OnDead::Block => "block",
            OnDead::Skip => "skip",
        }
    }
}

str_enum!(OnDead, "on_dead");

/// A stream held up by a delivery in the dead-letter queue (an endpoint
/// with `on_dead: "block"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedStream {
    /// The ordering key (`""`: the endpoint's one stream).
    pub stream: String,
    /// The DLQ entry to reprocess or discard to let the stream go on.
    pub dlq_entry_id: super::DlqEntryId,
    pub delivery_id: super::DeliveryId,
    pub event_id: super::EventId,
    /// Deliveries waiting behind it.
    pub waiting: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_the_key_the_entity_or_the_whole_endpoint() {
        assert_eq!(OrderingMode::None.stream_of(Some("k"), Some("e")), None);
        assert_eq!(
            OrderingMode::Endpoint.stream_of(None, None).as_deref(),
            Some("")
        );
        assert_eq!(
            OrderingMode::Key.stream_of(Some("k"), Some("e")).as_deref(),
            Some("k")
        );
        assert_eq!(
            OrderingMode::Key.stream_of(None, Some("e")).as_deref(),
            Some("e")
        );
        assert_eq!(OrderingMode::Key.stream_of(None, None), None);
    }

    #[test]
    fn names_round_trip() {
        for m in OrderingMode::ALL {
            assert_eq!(m.as_str().parse::<OrderingMode>().unwrap(), m);
        }
        for d in OnDead::ALL {
            assert_eq!(d.as_str().parse::<OnDead>().unwrap(), d);
        }
        assert!("sometimes".parse::<OrderingMode>().is_err());
    }
}
