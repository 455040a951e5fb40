//! The dispatcher's side: claims, leases and receipts.

use super::*;

#[async_trait]
pub trait DispatchStore: Send + Sync {
    /// Claims up to `limit` due deliveries with a lease until `lease_until`, in one
    /// transaction, never more for one endpoint than brings its in-flight count to
    /// `ahead` times its concurrency (its own `max_in_flight`, else
    /// `per_endpoint`): the dispatcher holds the ones beyond its slots until a
    /// slot frees. Nothing stays locked while they are sent.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        per_endpoint: u32,
        ahead: u32,
    ) -> Result<Vec<Claimed>>;
    /// Settles in-flight deliveries whose lease ends before
    /// `leases_ending_before`: at-least-once ones are due again at `now`;
    /// at-most-once ones may have been sent, so they end dead in the DLQ with
    /// class `outcome_unknown`.
    async fn reclaim_expired(
        &self,
        leases_ending_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Settled>;
    /// Settles, as [`Store::reclaim_expired`] does, every delivery this node
    /// (as the store names it) left in flight in an earlier run, whatever its
    /// lease: called once at start, before this run claims anything.
    async fn reclaim_own(&self, now: DateTime<Utc>) -> Result<Settled>;
    /// Settles claims whose requests may have gone out but whose outcome is
    /// unknown (a shutdown stopped them), as [`Store::reclaim_expired`] does.
    /// A claim no longer held (its lease expired and it was settled) is left alone.
    async fn hand_back(
        &self,
        claims: &[(DeliveryId, ClaimToken)],
        now: DateTime<Utc>,
    ) -> Result<Settled>;
    /// Gives claims back unattempted (nothing was sent), due again at `at`.
    async fn release(&self, claims: &[(DeliveryId, ClaimToken)], at: DateTime<Utc>) -> Result<()>;
    /// Ends a claimed delivery without an attempt (its endpoint is gone or
    /// disabled): dead, with a DLQ entry saying why. False when the claim is
    /// no longer held (nothing changes).
    async fn abandon(&self, delivery: DeliveryId, claim: ClaimToken, reason: &str) -> Result<bool>;
    /// Appends each receipt and moves its delivery on, all in one transaction
    /// (the dispatcher group-commits the attempts that finish together). A
    /// receipt whose claim is no longer held (the delivery was settled or
    /// claimed again since, or no longer exists) is refused and changes
    /// nothing. One answer per outcome, in order.
    async fn record_attempts(&self, batch: Vec<AttemptOutcome>) -> Result<Vec<Recorded>>;
    /// Whether [`Store::record_and_refill`] refills slots here.
    fn refills(&self) -> bool {
        false
    }
    /// Records `batch` as [`Store::record_attempts`] does and, in the same
    /// transaction, refills the endpoint slots its receipts free: for each
    /// endpoint, up to as many deliveries due by `now` as the batch ended
    /// attempts of, never past its limit (its own `max_in_flight`, else
    /// `per_endpoint`), leased until `lease_until` like a claim's. Each
    /// refill takes at most the slots its own receipts freed, so it needs no
    /// turn with other claims to keep a limit that holds across nodes.
    ///
    /// A backend whose claims run ahead of the slots (one node on SQLite)
    /// refills nothing: the work it claimed ahead fills them.
    async fn record_and_refill(
        &self,
        batch: Vec<AttemptOutcome>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        per_endpoint: u32,
    ) -> Result<(Vec<Recorded>, Vec<Claimed>)> {
        let _ = (now, lease_until, per_endpoint);
        Ok((self.record_attempts(batch).await?, Vec::new()))
    }
    /// Arms the next waiting delivery of every ordered stream (of one
    /// endpoint, or all) that has nothing armed or in flight and no DLQ entry
    /// blocking it; how many were armed. The writes that end or add a
    /// stream's deliveries arm it themselves: this is for what they cannot
    /// see (a change of the endpoint's `on_dead`) and the safety net should
    /// one have been missed.
    async fn advance_stalled_streams(
        &self,
        endpoint: Option<EndpointId>,
        now: DateTime<Utc>,
    ) -> Result<u64>;
    /// The earliest time a pending delivery is due, if any.
    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>>;
}
