//! PostgreSQL: the receipts of a batch of attempts, written with one
//! statement per table (`unnest`): the deliveries' records, the queue (a
//! delivery to retry waits there again, one that ended leaves it) and the
//! attempts.

use sqlx::PgConnection;

use super::dispatch::insert_dlq_entry;
use super::stats::add_stats;
use crate::Result;
use crate::dlq::DeadLetter;
use crate::model::{AttemptId, Counts, Granularity};
use crate::store::convert::json_text;
use crate::store::{AfterAttempt, AttemptOutcome, Recorded, to_millis};

/// A delivery a receipt moves on: as it was held, and where it goes.
struct Held {
    id: String,
    attempt_no: i64,
    tenant: String,
    endpoint: String,
    event: String,
    event_type: String,
    stream: Option<String>,
    /// Its receiver acknowledged it while the attempt was in flight.
    acked: bool,
}

/// A held delivery as read: id, the attempt's number, tenant, endpoint,
/// event, event type, stream and whether it was acknowledged.
type HeldRow = (
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    bool,
);

/// The receipts of a batch: the deliveries still held under their claims are
/// read (and locked) in one statement, moved on in one and their attempts
/// stored in one; DLQ entries and statistics follow. A receipt whose claim is
/// no longer held changes nothing. Answers one [`Recorded`] per outcome, and
/// how many slots the batch freed per endpoint (its applied receipts: each
/// ended an attempt in flight).
pub(super) async fn record_set(
    conn: &mut PgConnection,
    batch: Vec<AttemptOutcome>,
    now_ms: i64,
) -> Result<(Vec<Recorded>, std::collections::BTreeMap<String, i64>)> {
    let ids: Vec<String> = batch.iter().map(|o| o.delivery.text()).collect();
    let tokens: Vec<i64> = batch.iter().map(|o| o.claim.0).collect();
    let rows: Vec<HeldRow> = sqlx::query_as(
        r"select d.id, d.attempts + 1, d.tenant_id, d.endpoint_id, d.event_id, e.event_type, q.stream,
                 d.acked_at is not null
          from delivery_queue q
          join delivery_records d on d.id = q.delivery_id
          join events e on e.id = d.event_id
          where q.state = 'in_flight'
            and (q.delivery_id, q.claim_token) in (select * from unnest($1::text[], $2::bigint[]))
          for update of q",
    )
    .bind(&ids)
    .bind(&tokens)
    .fetch_all(&mut *conn)
    .await?;
    let mut held: std::collections::HashMap<String, Held> = rows
        .into_iter()
        .map(
            |(id, attempt_no, tenant, endpoint, event, event_type, stream, acked)| {
                (
                    id.clone(),
                    Held {
                        id,
                        attempt_no,
                        tenant,
                        endpoint,
                        event,
                        event_type,
                        stream,
                        acked,
                    },
                )
            },
        )
        .collect();
    let mut moves = Moves::default();
    let mut receipts = Receipts::default();
    let mut stats: std::collections::BTreeMap<(String, String, String, i64), Counts> =
        std::collections::BTreeMap::new();
    let mut dead: Vec<(Held, String, String)> = Vec::new();
    let mut recorded = Vec::with_capacity(batch.len());
    let mut freed: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    let mut ended = std::collections::BTreeSet::new();
    for (mut outcome, delivery) in batch.into_iter().zip(ids) {
        // A delivery named twice in one batch counts once.
        let Some(h) = held.remove(&delivery) else {
            tracing::warn!(
                correlation_id = "receipts",
                delivery = %delivery,
                "receipt refused: the delivery is no longer in flight under this worker's claim"
            );
            recorded.push(Recorded::Refused);
            continue;
        };
        *freed.entry(h.endpoint.clone()).or_default() += 1;
        if h.acked {
            outcome.next = AfterAttempt::Succeeded;
        }
        let (state, next_at) = outcome.next.stored();
        let attempt = &outcome.attempt;
        let started = to_millis(attempt.started_at);
        if let (Some(stream), None) = (&h.stream, next_at) {
            ended.insert((h.endpoint.clone(), stream.clone()));
        }
        moves.id.push(h.id.clone());
        moves.attempts.push(h.attempt_no);
        moves.state.push(state.to_owned());
        moves.next.push(next_at);
        moves.started.push(started);
        let attempt_id = AttemptId::new().text();
        receipts.push(&attempt_id, &h, attempt)?;
        stats
            .entry((
                h.tenant.clone(),
                h.endpoint.clone(),
                outcome
                    .event_type
                    .clone()
                    .unwrap_or_else(|| h.event_type.clone()),
                Granularity::Minute.bucket_start(started),
            ))
            .or_default()
            .add(&Counts::of_attempt(
                attempt.error_class,
                attempt.latency_ms,
                false,
            ));
        match &outcome.next {
            AfterAttempt::Dead { reason } => {
                recorded.push(Recorded::Applied {
                    dead_lettered: false,
                });
                dead.push((h, reason.clone(), attempt_id));
                // Its answer is settled once its DLQ entry is written.
                moves.dead_at.push(recorded.len() - 1);
            }
            _ => recorded.push(Recorded::Applied {
                dead_lettered: false,
            }),
        }
    }
    if !moves.id.is_empty() {
        sqlx::query(
            r"with u as (
                  select * from unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[])
                      as u(id, attempts, state, next, started)
              ), retried as (
                  update delivery_queue q set state = u.state, next_attempt_at = u.next, lease_until = null
                  from u where q.delivery_id = u.id and u.next is not null
              ), ended as (
                  delete from delivery_queue q using u where q.delivery_id = u.id and u.next is null
              )
              update delivery_records d
              set attempts = u.attempts, state = u.state, ack_timed_out = false,
                  first_attempt_at = coalesce(d.first_attempt_at, u.started), updated_at = $6
              from u where d.id = u.id",
        )
        .bind(&moves.id)
        .bind(&moves.attempts)
        .bind(&moves.state)
        .bind(&moves.next)
        .bind(&moves.started)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        receipts.insert(conn).await?;
    }
    for ((h, reason, attempt_id), at) in dead.into_iter().zip(moves.dead_at) {
        let added = insert_dlq_entry(
            conn,
            (&h.id, &h.tenant, &h.endpoint, &h.event),
            &DeadLetter::after_attempt(&reason, &attempt_id),
            now_ms,
        )
        .await?;
        recorded[at] = Recorded::Applied {
            dead_lettered: added,
        };
    }
    for ((tenant, endpoint, event_type, minute), counts) in &stats {
        add_stats(conn, (tenant, endpoint, event_type), *minute, counts).await?;
    }
    // After the DLQ entries (a dead delivery of a blocking stream holds it)
    // and before a refill, which then finds the deliveries armed here.
    super::streams::advance(conn, &ended, now_ms).await?;
    Ok((recorded, freed))
}

/// How a batch moves its deliveries on, one array per column.
#[derive(Default)]
struct Moves {
    id: Vec<String>,
    attempts: Vec<i64>,
    state: Vec<String>,
    next: Vec<Option<i64>>,
    started: Vec<i64>,
    /// Answers (positions) of the deliveries that end dead.
    dead_at: Vec<usize>,
}

/// A batch's attempts, one array per column.
#[derive(Default)]
struct Receipts {
    id: Vec<String>,
    delivery: Vec<String>,
    attempt_no: Vec<i64>,
    trigger: Vec<String>,
    started: Vec<i64>,
    latency: Vec<i64>,
    request_headers: Vec<String>,
    status: Vec<Option<i64>>,
    response_headers: Vec<String>,
    excerpt: Vec<String>,
    class: Vec<Option<String>>,
    message: Vec<Option<String>>,
}

impl Receipts {
    fn push(&mut self, id: &str, h: &Held, a: &crate::store::NewAttempt) -> Result<()> {
        self.id.push(id.to_owned());
        self.delivery.push(h.id.clone());
        self.attempt_no.push(h.attempt_no);
        self.trigger.push(a.trigger.as_str().to_owned());
        self.started.push(to_millis(a.started_at));
        self.latency
            .push(i64::try_from(a.latency_ms).unwrap_or(i64::MAX));
        self.request_headers.push(json_text(&a.request_headers)?);
        self.status.push(a.response_status.map(i64::from));
        self.response_headers.push(json_text(&a.response_headers)?);
        self.excerpt.push(a.response_excerpt.clone());
        self.class
            .push(a.error_class.map(|c| c.as_str().to_owned()));
        self.message.push(a.error_message.clone());
        Ok(())
    }

    async fn insert(&self, conn: &mut PgConnection) -> Result<()> {
        sqlx::query(
            r"insert into attempts (id, delivery_id, attempt_no, trigger, started_at, latency_ms, request_headers,
                                   response_status, response_headers, response_excerpt, error_class, error_message)
              select * from unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[],
                                   $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[])",
        )
        .bind(&self.id)
        .bind(&self.delivery)
        .bind(&self.attempt_no)
        .bind(&self.trigger)
        .bind(&self.started)
        .bind(&self.latency)
        .bind(&self.request_headers)
        .bind(&self.status)
        .bind(&self.response_headers)
        .bind(&self.excerpt)
        .bind(&self.class)
        .bind(&self.message)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
