//! Prometheus metrics: counters and a latency histogram kept in memory as
//! events are ingested and attempts finish, and gauges read from the store
//! when `/metrics` is scraped. Rendered in the Prometheus text format.
//!
//! Labels stay bounded: outcome and error class, never a tenant, endpoint or
//! event id (cardinality would grow with the data). Counters are per process,
//! as Prometheus expects (`rate()` handles restarts).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::model::ErrorClass;

/// Upper bounds (seconds) of the attempt latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is above every bound.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum_secs: f64,
    count: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    events_ingested: AtomicU64,
    dlq_added: AtomicU64,
    acks: AtomicU64,
    ack_timeouts: AtomicU64,
    /// Breaker transitions: opened, closed, disabled (in that order).
    breakers: [AtomicU64; 3],
    /// In-flight deliveries taken back from a lease that ran out, and from
    /// this node's previous run at start.
    leases_expired: AtomicU64,
    leases_restart: AtomicU64,
    /// Removed by retention: events (with their deliveries and receipts),
    /// statistics rows.
    pruned_events: AtomicU64,
    pruned_stats: AtomicU64,
    /// Events their schemas refused at ingest: accepted with a warning
    /// (`schema_mode: warn`), refused (`enforce`).
    schema_warned: AtomicU64,
    schema_refused: AtomicU64,
    /// `(outcome, error class)` → attempts.
    attempts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latency: Mutex<Histogram>,
}

/// Values read from the store at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Pending deliveries whose next attempt is due now.
    pub due: u64,
    /// Pending deliveries waiting for a later attempt.
    pub scheduled: u64,
    pub in_flight: u64,
    /// Pending deliveries waiting for the one before them in their ordered
    /// stream (not yet due).
    pub waiting: u64,
    /// Answered 2xx at an effectively-once endpoint, waiting for the
    /// receiver's acknowledgement.
    pub awaiting_ack: u64,
    pub dlq_depth: u64,
    pub endpoints_enabled: u64,
    pub endpoints_disabled: u64,
    /// Running or paused replay jobs: `(id, state, dispatched, total)`.
    pub replays: Vec<(String, String, u64, u64)>,
    /// The node answering the scrape.
    pub node: String,
    /// Every node the heartbeat table remembers.
    pub nodes: Vec<crate::model::NodeOut>,
}

impl Metrics {
    pub fn events_ingested(&self, n: u64) {
        self.events_ingested.fetch_add(n, Ordering::Relaxed);
    }

    /// One finished attempt: how it ended and how long it took.
    pub fn attempt(&self, error: Option<ErrorClass>, latency: Duration) {
        let key = match error {
            None => ("succeeded", "none"),
            Some(class) => ("failed", class.as_str()),
        };
        *lock(&self.attempts).entry(key).or_default() += 1;
        let secs = latency.as_secs_f64();
        let mut h = lock(&self.latency);
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        h.counts[slot] += 1;
        h.sum_secs += secs;
        h.count += 1;
    }

    /// DLQ entries added, whatever the path (the store says how many it wrote).
    pub fn dlq_added(&self, n: u64) {
        self.dlq_added.fetch_add(n, Ordering::Relaxed);
    }

    /// A receiver acknowledged a delivery.
    pub fn acked(&self) {
        self.acks.fetch_add(1, Ordering::Relaxed);
    }

    /// Deliveries whose acknowledgement did not come in time (sent again,
    /// or ended when their policy allowed no more).
    pub fn ack_timeouts(&self, n: u64) {
        self.ack_timeouts.fetch_add(n, Ordering::Relaxed);
    }

    /// A circuit breaker changed state.
    pub fn breaker(&self, change: crate::model::BreakerChange) {
        let slot = match change {
            crate::model::BreakerChange::Opened => 0,
            crate::model::BreakerChange::Closed => 1,
            crate::model::BreakerChange::Disabled => 2,
        };
        self.breakers[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// In-flight deliveries taken back: from leases that ran out (`expired`,
    /// a node that stopped or stalled), or at start from this node's previous
    /// run.
    pub fn leases_taken_back(&self, n: u64, expired: bool) {
        let counter = if expired {
            &self.leases_expired
        } else {
            &self.leases_restart
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// What a retention pass removed.
    pub fn pruned(&self, events: u64, stats: u64) {
        self.pruned_events.fetch_add(events, Ordering::Relaxed);
        self.pruned_stats.fetch_add(stats, Ordering::Relaxed);
    }

    /// Events their schemas refused: `warned` were accepted anyway, `refused` were not.
    pub fn schema_violations(&self, warned: u64, refused: u64) {
        self.schema_warned.fetch_add(warned, Ordering::Relaxed);
        self.schema_refused.fetch_add(refused, Ordering::Relaxed);
    }

    fn render_schemas(&self, o: &mut String) {
        let n = family(
            o,
            "herald_schema_violations_total",
            "counter",
            "Published events their type's schema refused, by outcome: warned (schema_mode warn: accepted and flagged) or refused (enforce: answered 422).",
        );
        line(
            o,
            n,
            "{outcome=\"warned\"}",
            self.schema_warned.load(Ordering::Relaxed),
        );
        line(
            o,
            n,
            "{outcome=\"refused\"}",
            self.schema_refused.load(Ordering::Relaxed),
        );
    }

    fn render_retention(&self, o: &mut String) {
        let n = family(
            o,
            "herald_retention_removed_total",
            "counter",
            "Removed by retention, by what: events (each with its deliveries and receipts) or stats (statistics rows).",
        );
        line(
            o,
            n,
            "{what=\"events\"}",
            self.pruned_events.load(Ordering::Relaxed),
        );
        line(
            o,
            n,
            "{what=\"stats\"}",
            self.pruned_stats.load(Ordering::Relaxed),
        );
    }

    /// Breaker transitions and leases taken back: what an operator alerts on.
    fn render_recovery(&self, o: &mut String) {
        let n = family(
            o,
            "herald_breaker_transitions_total",
            "counter",
            "Circuit breaker transitions by change: opened, closed, disabled (the endpoint was disabled).",
        );
        for (change, count) in ["opened", "closed", "disabled"].iter().zip(&self.breakers) {
            line(
                o,
                n,
                &format!("{{change=\"{change}\"}}"),
                count.load(Ordering::Relaxed),
            );
        }
        let n = family(
            o,
            "herald_delivery_leases_taken_back_total",
            "counter",
            "In-flight deliveries taken back, by why: expired (a lease ran out: its node stopped or stalled) or restart (left by this node's previous run).",
        );
        line(
            o,
            n,
            "{why=\"expired\"}",
            self.leases_expired.load(Ordering::Relaxed),
        );
        line(
            o,
            n,
            "{why=\"restart\"}",
            self.leases_restart.load(Ordering::Relaxed),
        );
    }

    /// The acknowledgement counters.
    fn render_acks(&self, o: &mut String) {
        let n = family(
            o,
            "herald_acks_total",
            "counter",
            "Deliveries their receivers acknowledged (effectively-once endpoints).",
        );
        line(o, n, "", self.acks.load(Ordering::Relaxed));

        let n = family(
            o,
            "herald_ack_timeouts_total",
            "counter",
            "Deliveries whose acknowledgement did not come within their endpoint's ack timeout.",
        );
        line(o, n, "", self.ack_timeouts.load(Ordering::Relaxed));
    }

    /// The Prometheus text exposition of these counters and `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let o = &mut out;

        let n = family(
            o,
            "herald_events_ingested_total",
            "counter",
            "Events accepted by the ingest API (duplicates not counted).",
        );
        line(o, n, "", self.events_ingested.load(Ordering::Relaxed));

        let n = family(
            o,
            "herald_delivery_attempts_total",
            "counter",
            "Delivery attempts by outcome and error class.",
        );
        for ((outcome, class), count) in lock(&self.attempts).iter() {
            let labels = format!("{{outcome=\"{outcome}\",error_class=\"{class}\"}}");
            line(o, n, &labels, count);
        }

        let n = family(
            o,
            "herald_delivery_attempt_duration_seconds",
            "histogram",
            "Time from sending a delivery request to having its answer.",
        );
        {
            let h = lock(&self.latency);
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS.iter().zip(h.counts.iter()) {
                cumulative += count;
                line(
                    o,
                    &format!("{n}_bucket"),
                    &format!("{{le=\"{bound}\"}}"),
                    cumulative,
                );
            }
            line(o, &format!("{n}_bucket"), "{le=\"+Inf\"}", h.count);
            line(o, &format!("{n}_sum"), "", h.sum_secs);
            line(o, &format!("{n}_count"), "", h.count);
        }

        let n = family(
            o,
            "herald_dlq_entries_added_total",
            "counter",
            "Deliveries that ended dead and entered the dead-letter queue.",
        );
        line(o, n, "", self.dlq_added.load(Ordering::Relaxed));

        self.render_acks(o);
        self.render_recovery(o);
        self.render_retention(o);
        self.render_schemas(o);

        let n = family(
            o,
            "herald_deliveries",
            "gauge",
            "Unfinished deliveries by queue state: due (ready now), scheduled (a later retry), in_flight, waiting (behind an earlier delivery of their ordered stream), awaiting_ack (answered, not yet acknowledged).",
        );
        line(o, n, "{state=\"due\"}", gauges.due);
        line(o, n, "{state=\"scheduled\"}", gauges.scheduled);
        line(o, n, "{state=\"in_flight\"}", gauges.in_flight);
        line(o, n, "{state=\"waiting\"}", gauges.waiting);
        line(o, n, "{state=\"awaiting_ack\"}", gauges.awaiting_ack);

        let n = family(
            o,
            "herald_dlq_depth",
            "gauge",
            "Entries in the dead-letter queue now.",
        );
        line(o, n, "", gauges.dlq_depth);

        let n = family(o, "herald_endpoints", "gauge", "Endpoints by state.");
        line(o, n, "{state=\"enabled\"}", gauges.endpoints_enabled);
        line(o, n, "{state=\"disabled\"}", gauges.endpoints_disabled);

        let n = family(
            o,
            "herald_replay_events",
            "gauge",
            "Events a running or paused replay job will take in all.",
        );
        for (id, state, _, planned) in &gauges.replays {
            line(
                o,
                n,
                &format!("{{replay=\"{id}\",state=\"{state}\"}}"),
                planned,
            );
        }
        let n = family(
            o,
            "herald_replay_events_dispatched",
            "gauge",
            "Events a running or paused replay job has taken so far.",
        );
        for (id, state, dispatched, _) in &gauges.replays {
            line(
                o,
                n,
                &format!("{{replay=\"{id}\",state=\"{state}\"}}"),
                dispatched,
            );
        }

        let n = family(
            o,
            "herald_node_info",
            "gauge",
            "The node that answered this scrape (each node counts its own events and attempts above).",
        );
        let version = env!("CARGO_PKG_VERSION");
        line(
            o,
            n,
            &format!("{{node=\"{}\",version=\"{version}\"}}", gauges.node),
            1,
        );
        let n = family(
            o,
            "herald_node_alive",
            "gauge",
            "Nodes sharing the database: 1 when heard from lately, 0 when gone.",
        );
        for node in &gauges.nodes {
            line(
                o,
                n,
                &format!("{{node=\"{}\"}}", node.name),
                u8::from(node.alive),
            );
        }
        let n = family(
            o,
            "herald_node_leases",
            "gauge",
            "Leases each live node holds: deliveries in flight (at its last heartbeat) and replay jobs.",
        );
        for node in gauges.nodes.iter().filter(|n| n.alive) {
            line(
                o,
                n,
                &format!("{{node=\"{}\",kind=\"delivery\"}}", node.name),
                node.in_flight,
            );
            line(
                o,
                n,
                &format!("{{node=\"{}\",kind=\"replay\"}}", node.name),
                node.replays,
            );
        }
        out
    }
}

/// Writes a metric family's `# HELP` and `# TYPE` lines; returns its name.
fn family<'a>(out: &mut String, name: &'a str, kind: &str, help: &str) -> &'a str {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name
}

fn line(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_fall_into_the_right_buckets_and_counters() {
        let m = Metrics::default();
        m.events_ingested(3);
        m.attempt(None, Duration::from_millis(3));
        m.attempt(None, Duration::from_millis(40));
        m.attempt(Some(ErrorClass::Timeout), Duration::from_secs(60));
        m.dlq_added(1);
        let text = m.render(&Gauges::default());
        assert!(text.contains("herald_events_ingested_total 3\n"), "{text}");
        assert!(text.contains(
            "herald_delivery_attempts_total{outcome=\"succeeded\",error_class=\"none\"} 2\n"
        ));
        assert!(text.contains(
            "herald_delivery_attempts_total{outcome=\"failed\",error_class=\"timeout\"} 1\n"
        ));
        assert!(text.contains("herald_delivery_attempt_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("herald_delivery_attempt_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("herald_delivery_attempt_duration_seconds_bucket{le=\"30\"} 2\n"));
        assert!(text.contains("herald_delivery_attempt_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("herald_delivery_attempt_duration_seconds_count 3\n"));
        assert!(text.contains("herald_dlq_entries_added_total 1\n"));
    }

    #[test]
    fn breaker_transitions_and_leases_taken_back_are_counted_apart() {
        let m = Metrics::default();
        let text = m.render(&Gauges::default());
        assert!(text.contains("herald_breaker_transitions_total{change=\"opened\"} 0\n"));
        m.breaker(crate::model::BreakerChange::Opened);
        m.breaker(crate::model::BreakerChange::Opened);
        m.breaker(crate::model::BreakerChange::Disabled);
        m.leases_taken_back(5, true);
        m.leases_taken_back(2, false);
        let text = m.render(&Gauges::default());
        for expected in [
            "herald_breaker_transitions_total{change=\"opened\"} 2\n",
            "herald_breaker_transitions_total{change=\"closed\"} 0\n",
            "herald_breaker_transitions_total{change=\"disabled\"} 1\n",
            "herald_delivery_leases_taken_back_total{why=\"expired\"} 5\n",
            "herald_delivery_leases_taken_back_total{why=\"restart\"} 2\n",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
    }

    #[test]
    fn nodes_are_labelled_by_name_with_their_leases() {
        let node = |name: &str, alive, in_flight, replays| crate::model::NodeOut {
            name: name.into(),
            version: "0".into(),
            started_at: chrono::DateTime::default(),
            heartbeat_at: chrono::DateTime::default(),
            alive,
            in_flight,
            replays,
        };
        let gauges = Gauges {
            node: "node_a".into(),
            nodes: vec![node("node_a", true, 12, 1), node("node_b", false, 3, 0)],
            ..Gauges::default()
        };
        let text = Metrics::default().render(&gauges);
        assert!(
            text.contains("herald_node_info{node=\"node_a\",version=\""),
            "{text}"
        );
        assert!(
            text.contains("herald_node_alive{node=\"node_a\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_node_alive{node=\"node_b\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_node_leases{node=\"node_a\",kind=\"delivery\"} 12\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_node_leases{node=\"node_a\",kind=\"replay\"} 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("herald_node_leases{node=\"node_b\""),
            "a gone node holds nothing: {text}"
        );
    }
}
