//! The console's event list with 1,000,000 stored events: `make bench`.
//!
//! Seeds a million events through the store (ten event types, a correlation id
//! on every hundredth), then times full server-side renders of `/events` pages
//! (session check, the list query, HTML) over loopback: the first page, a
//! filtered page, and a page half a million events deep reached by its keyset
//! cursor. Prints p50/p95/max per view; asserts nothing about speed.

use std::time::Instant;

use chrono::Utc;
use herald_engine::model::EventIn;
use herald_engine::model::EventQuery;
use serde_json::json;

mod common;

const EVENTS: usize = 1_000_000;
const BATCH: usize = 1_000;
const SAMPLES: usize = 40;

#[tokio::main]
async fn main() {
    let started = common::start().await;
    let (store, tenant, base) = started.parts();

    let seeding = Instant::now();
    for batch in 0..EVENTS / BATCH {
        let events = (0..BATCH)
            .map(|i| {
                let n = batch * BATCH + i;
                herald_engine::validate::event(
                    EventIn {
                        event_type: format!("type{}.happened", n % 10),
                        payload: json!({"n": n, "customer": "c_123", "total": "19.99"}).into(),
                        idempotency_key: None,
                        correlation_id: n
                            .is_multiple_of(100)
                            .then(|| format!("corr-{}", n % 5_000)),
                        entity_id: None,
                        ordering_key: None,
                        metadata: None,
                        source: None,
                    },
                    None,
                    None,
                    1 << 20,
                )
                .unwrap()
            })
            .collect();
        store.ingest(tenant, events, Utc::now()).await.unwrap();
    }
    println!(
        "seeded {EVENTS} events in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    // A page half-way down, reached the way the console does: by cursor.
    let mut filter = EventQuery::default();
    let mut middle = None;
    for _ in 0..(EVENTS / 2 / 200) {
        let page = store.list_events(tenant, &filter, 200).await.unwrap();
        middle = page.next_cursor.clone();
        filter.cursor = page.next_cursor.map(|c| c.parse().unwrap());
    }
    let middle = middle.expect("a cursor half-way down");

    let token = common::viewer_session(store.as_ref()).await;
    let http = reqwest::Client::new();

    let views = [
        ("first page", "/events".to_string()),
        (
            "type filter",
            "/events?event_type=type3.happened".to_string(),
        ),
        (
            "correlation id",
            "/events?correlation_id=corr-700".to_string(),
        ),
        ("page 500,000 deep", format!("/events?before={middle}")),
    ];
    println!("\n/events server render with {EVENTS} events ({SAMPLES} requests each):");
    for (name, path) in views {
        common::time_page(&http, (&base, &token), (name, &path), "evt_", SAMPLES).await;
    }
    started.running.shutdown().await.unwrap();
}
