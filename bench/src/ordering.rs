//! `herald-load ordering`: delivery throughput to one endpoint with no
//! order, ordered by key and ordered by endpoint, and to an effectively-once
//! endpoint whose receiver acknowledges every delivery, on one server.

use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::herald::Launch;
use crate::receiver::Receiver;

pub struct OrderingRun {
    /// Deliveries for the unordered and the key-ordered endpoint.
    pub deliveries: usize,
    /// Deliveries for the endpoint ordered as one stream (one at a time).
    pub endpoint_deliveries: usize,
    /// Ordering keys the events spread over.
    pub keys: usize,
}

pub async fn ordering(launch: &Launch, run: OrderingRun) -> anyhow::Result<()> {
    let h = launch.start().await?;
    let rx = Receiver::start().await?;
    println!(
        "herald-load ordering ({}): {} (separate processes), one local receiver, events published in batches of 1,000 \
         spread over {} ordering keys, endpoint max_in_flight {}",
        launch.label(),
        h.base,
        run.keys,
        h.endpoint_limit()
    );
    let mut expected = 0u64;
    for (mode, n) in [
        ("none", run.deliveries),
        ("key", run.deliveries),
        ("endpoint", run.endpoint_deliveries),
    ] {
        let event_type = format!("ordered{mode}.happened");
        h.endpoint_with(
            &rx.url,
            &[&format!("ordered{mode}.*")],
            json!({"ordering": mode}),
        )
        .await?;
        let started = Instant::now();
        publish(&h, &event_type, n, run.keys).await?;
        expected += n as u64;
        if !rx
            .wait_for(expected, std::time::Duration::from_secs(900))
            .await
        {
            bail!(
                "deliveries stalled: {} of {expected} arrived",
                rx.received()
            );
        }
        let label = match mode {
            "none" => "no order".to_owned(),
            "key" => format!("ordered by key ({} keys)", run.keys),
            _ => "ordered by endpoint (one stream)".to_owned(),
        };
        println!(
            "  {label}: {n} deliveries, first publish to last arrival: {:.0} deliveries/s",
            n as f64 / started.elapsed().as_secs_f64()
        );
    }

    // Effectively once: each delivery is done only when its receiver's
    // acknowledgement (with the token it came with) is taken.
    let acking = Receiver::acking(&h.base).await?;
    h.endpoint_with(
        &acking.url,
        &["acked.*"],
        json!({"semantics": "effectively_once"}),
    )
    .await?;
    let n = run.deliveries;
    let started = Instant::now();
    publish(&h, "acked.happened", n, run.keys).await?;
    if !acking
        .wait_for_acks(n as u64, std::time::Duration::from_secs(900))
        .await
    {
        bail!(
            "acknowledgements stalled: {} of {n} taken ({} arrived)",
            acking.acked(),
            acking.received()
        );
    }
    println!(
        "  no order, effectively once (each acknowledged by its receiver): {n} deliveries, first publish to last \
         acknowledgement taken: {:.0} deliveries/s",
        n as f64 / started.elapsed().as_secs_f64()
    );
    h.stop().await.context("stopping the server")?;
    Ok(())
}

/// Publishes `n` events of `event_type` in batches of 1,000, spread over
/// `keys` ordering keys.
async fn publish(
    h: &crate::herald::Herald,
    event_type: &str,
    n: usize,
    keys: usize,
) -> anyhow::Result<()> {
    for start in (0..n).step_by(1_000) {
        let events: Vec<Value> = (start..n.min(start + 1_000))
            .map(|i| {
                json!({"event_type": event_type, "ordering_key": format!("k{}", i % keys),
                       "payload": {"n": i, "customer": "c_123", "total": "19.99"}})
            })
            .collect();
        let res = h
            .http
            .post(h.url("/events/batch"))
            .bearer_auth(&h.key)
            .json(&json!({ "events": events }))
            .send()
            .await?;
        if res.status() != 202 {
            bail!("publishing: {} {}", res.status(), res.text().await?);
        }
    }
    Ok(())
}
