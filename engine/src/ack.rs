//! Receiver acknowledgements (`POST /api/v1/acks`): a receiver of an
//! effectively-once endpoint confirms it processed a delivery, proving it
//! holds the endpoint's secret in one of two ways:
//!
//! * a Standard Webhooks signature of its acknowledgement request: headers
//!   `webhook-id` (the delivery's), `webhook-timestamp` (unix seconds, within
//!   five minutes of Herald's clock) and `webhook-signature` (`v1,…` over
//!   `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's secret),
//!   so any Standard Webhooks library's `sign` makes it; or
//! * the delivery's acknowledgement token, sent with every attempt as the
//!   `herald-ack-token` header, returned in the same header.

use chrono::{DateTime, Utc};

use crate::model::{DeliveryId, DeliveryState, LiveMessage};
use crate::service::Engine;
use crate::sign::{ack_token_verifies, signature_verifies};
use crate::store::{AckTarget, Acked};

/// How far a signed acknowledgement's `webhook-timestamp` may be from
/// Herald's clock, as Standard Webhooks receivers allow Herald's.
pub const ACK_TOLERANCE_SECS: i64 = 300;

/// What a receiver sent to acknowledge a delivery.
#[derive(Debug, Clone, Copy)]
pub struct AckProof<'a> {
    pub webhook_id: &'a str,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub token: Option<&'a str>,
    pub body: &'a [u8],
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckRefused {
    /// The request is malformed (400): what is missing or wrong.
    Malformed(String),
    /// Nothing proves the sender holds the endpoint's secret (401). Also the
    /// answer for an unknown `webhook-id`, so no one learns which ids exist.
    Unproven(String),
    /// Proven, but the delivery takes no acknowledgement (409).
    NotAwaiting(DeliveryState),
}

/// An acknowledgement that was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckTaken {
    pub delivery_id: DeliveryId,
    /// False when it had been acknowledged before (nothing changed).
    pub first: bool,
}

impl Engine {
    /// Verifies and records a receiver's acknowledgement.
    pub async fn acknowledge(
        &self,
        proof: AckProof<'_>,
        now: DateTime<Utc>,
    ) -> crate::Result<Result<AckTaken, AckRefused>> {
        let Ok(delivery) = proof.webhook_id.parse::<DeliveryId>() else {
            return Ok(Err(AckRefused::Malformed(format!(
                "webhook-id '{}' is not a delivery id (dlv_…): send the webhook-id header of the request being acknowledged",
                clip(proof.webhook_id, 64)
            ))));
        };
        if let Err(refused) = well_formed(&proof, now) {
            return Ok(Err(refused));
        }
        let target = self.store.ack_target(delivery, now).await?;
        let Some(target) = target.filter(|t| proven(t, &proof)) else {
            return Ok(Err(AckRefused::Unproven(
                "the acknowledgement is not signed with the secret of the endpoint this webhook-id was sent to \
                 (or no delivery has this webhook-id)"
                    .into(),
            )));
        };
        let taken = match self.store.acknowledge(delivery, now).await? {
            Acked::Acked => true,
            Acked::AlreadyAcked => false,
            Acked::NotAwaiting(state) => return Ok(Err(AckRefused::NotAwaiting(state))),
            Acked::Unknown => {
                return Ok(Err(AckRefused::Unproven(
                    "no delivery has this webhook-id".into(),
                )));
            }
        };
        if taken {
            self.metrics.acked();
            self.live.publish(
                target.tenant_id,
                LiveMessage::DeliveryAcked {
                    delivery_id: delivery,
                    endpoint_id: target.endpoint_id,
                    at: now,
                },
            );
        }
        Ok(Ok(AckTaken {
            delivery_id: delivery,
            first: taken,
        }))
    }
}

/// The proof's own checks, before anything is read: one way of proving, and
/// a signature's timestamp within the tolerance.
fn well_formed(proof: &AckProof<'_>, now: DateTime<Utc>) -> Result<(), AckRefused> {
    match (proof.signature, proof.token) {
        (None, None) => Err(AckRefused::Unproven(
            "send a webhook-signature (with webhook-timestamp) made with the endpoint's secret, \
             or the herald-ack-token the delivery came with"
                .into(),
        )),
        // A token proves it whatever else came with it.
        (_, Some(_)) => Ok(()),
        (Some(_), None) => {
            let Some(stamp) = proof.timestamp else {
                return Err(AckRefused::Malformed(
                    "a signed acknowledgement needs the webhook-timestamp header it was signed with".into(),
                ));
            };
            let Ok(secs) = stamp.parse::<i64>() else {
                return Err(AckRefused::Malformed(format!(
                    "webhook-timestamp '{}' is not unix seconds",
                    clip(stamp, 32)
                )));
            };
            if (now.timestamp() - secs).abs() > ACK_TOLERANCE_SECS {
                return Err(AckRefused::Unproven(format!(
                    "webhook-timestamp {secs} is more than {ACK_TOLERANCE_SECS} s from Herald's clock ({})",
                    now.timestamp()
                )));
            }
            Ok(())
        }
    }
}

/// Whether the proof holds for the delivery's endpoint.
fn proven(target: &AckTarget, proof: &AckProof<'_>) -> bool {
    let by_signature = proof
        .signature
        .zip(proof.timestamp)
        .is_some_and(|(sig, stamp)| {
            signature_verifies(&target.secrets, proof.webhook_id, stamp, proof.body, sig)
        });
    by_signature
        || proof
            .token
            .is_some_and(|token| ack_token_verifies(&target.secrets, proof.webhook_id, token))
}

/// At most `n` characters of what a caller sent, for a message.
fn clip(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}
