//! Publish latency while retention prunes: SQLite lets one writer in at a
//! time, so every pruning batch is time an ingest may wait. The same steady
//! load runs before pruning, while it prunes `expired` old events (each with
//! a delivery and a receipt, written straight into the database), and after.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::herald::{Herald, Launch};
use crate::receiver::{Receiver, histogram};
use crate::workload::{event, open_loop, percentiles, post};

/// The old events, their deliveries and receipts, in one transaction:
/// ids below any real ULID (so older than any cutoff) and negative sequence
/// numbers (so they never meet the ones the server hands out).
fn seed_sql(tenant: &str, endpoint: &str, n: u64) -> String {
    let rows =
        format!("with recursive n(i) as (select 1 union all select i + 1 from n where i < {n})");
    format!(
        r#"pragma busy_timeout = 60000;
begin immediate;
{rows}
insert into events (id, tenant_id, seq, event_type, payload, payload_sha256, received_at)
select 'evt_0' || printf('%025d', i), '{tenant}', -i, 'load.old',
       '{{"order_id":1,"customer":"c_123","total":"19.99","items":[{{"sku":"A1","qty":2}}]}}', '', i from n;
{rows}
insert into deliveries (id, tenant_id, event_id, endpoint_id, state, attempts, created_at, updated_at)
select 'msg_0' || printf('%025d', i), '{tenant}', 'evt_0' || printf('%025d', i), '{endpoint}',
       'succeeded', 1, i, i from n;
{rows}
insert into attempts (id, delivery_id, attempt_no, trigger, started_at, latency_ms, request_headers,
                      response_status, response_headers, response_excerpt)
select 'att_0' || printf('%025d', i), 'msg_0' || printf('%025d', i), 1, 'scheduled', i, 5, '{{}}',
       200, '{{}}', 'ok' from n;
commit;
"#
    )
}

pub(crate) async fn sqlite(db: &std::path::Path, sql: &str) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("sqlite3")
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running sqlite3 (Debian's sqlite3 package)")?;
    let mut stdin = child.stdin.take().context("sqlite3 stdin")?;
    stdin.write_all(sql.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!("sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `herald_retention_removed_total{what="events"}` as `/metrics` says now.
async fn removed(h: &Herald) -> anyhow::Result<u64> {
    h.metrics()
        .await?
        .lines()
        .find_map(|l| l.strip_prefix("herald_retention_removed_total{what=\"events\"} "))
        .context("no retention counter in /metrics")?
        .trim()
        .parse()
        .context("retention counter")
}

async fn patch_tenant(h: &Herald, body: serde_json::Value) -> anyhow::Result<()> {
    crate::soak::send(h, reqwest::Method::PATCH, "/tenant", Some(body)).await?;
    Ok(())
}

/// Publishes at `rate` for `secs`; the publish requests' latency.
async fn steady(h: &Arc<Herald>, rate: u32, secs: u32) -> anyhow::Result<(Histogram<u64>, usize)> {
    let took = Arc::new(Mutex::new(histogram()));
    let (hh, t) = (h.clone(), took.clone());
    let (_, failed) = open_loop(rate, secs, move |n| {
        let (h, took) = (hh.clone(), t.clone());
        async move {
            let started = Instant::now();
            post(&h, "/events", &event("load.retention", n, false)).await?;
            took.lock()
                .expect("histogram")
                .record(started.elapsed().as_micros().max(1) as u64)?;
            Ok(())
        }
    })
    .await?;
    let h = took.lock().expect("histogram").clone();
    Ok((h, failed))
}

pub async fn retention(launch: &Launch, expired: u64, rate: u32, secs: u32) -> anyhow::Result<()> {
    if launch.postgres.is_some() {
        bail!("retention: measures SQLite's one writer; run it without --postgres");
    }
    let mut launch = launch.clone();
    launch
        .env
        .push(("HERALD_RETENTION_INTERVAL_SECS".into(), "1".into()));
    let h = Arc::new(launch.start().await?);
    let rx = Receiver::start().await?;
    let endpoint = h.endpoint(&rx.url, &["load.*"]).await?;
    // Nothing is pruned while the old events are written and the baseline runs.
    patch_tenant(&h, json!({"event_retention_days": null})).await?;
    let db = h.data_dir().join("herald.db");
    let tenant = sqlite(&db, "select id from tenants where slug = 'default';").await?;
    let seeding = Instant::now();
    sqlite(&db, &seed_sql(&tenant, &endpoint, expired)).await?;
    println!(
        "herald-load retention (SQLite): {} (separate processes); {expired} expired events, each with a delivery and a receipt, written in {:.0?}; publishing {rate} events/s for {secs} s per phase",
        h.base,
        seeding.elapsed()
    );

    let (before, failed_before) = steady(&h, rate, secs).await?;
    patch_tenant(&h, json!({"event_retention_days": 30})).await?;
    let started = Instant::now();
    while removed(&h).await? == 0 {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("pruning did not start within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_start = removed(&h).await?;
    let (during, failed_during) = steady(&h, rate, secs).await?;
    let at_end = removed(&h).await?;
    if at_end >= expired {
        println!("note: pruning finished within the measured window; use more --expired");
    }
    while removed(&h).await? < expired {
        if started.elapsed() > Duration::from_secs(3_600) {
            bail!("pruning did not finish within an hour");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pruning_took = started.elapsed();
    let (after, failed_after) = steady(&h, rate, secs).await?;
    let left = sqlite(&db, "select count(*) from events where seq < 0;").await?;

    println!(
        "before pruning: publish request {} ({failed_before} failed)",
        percentiles(&before)
    );
    println!(
        "while pruning:  publish request {} ({failed_during} failed); {} events pruned in the window ({:.0}/s)",
        percentiles(&during),
        at_end - at_start,
        (at_end - at_start) as f64 / f64::from(secs)
    );
    println!(
        "after pruning:  publish request {} ({failed_after} failed)",
        percentiles(&after)
    );
    let p99 = |h: &Histogram<u64>| h.value_at_quantile(0.99) as f64 / 1000.0;
    println!(
        "p99 while pruning − before: {:+.2} ms; pruned {expired} events in {:.0?} ({:.0}/s); {left} old events left",
        p99(&during) - p99(&before),
        pruning_took,
        expired as f64 / pruning_took.as_secs_f64()
    );
    Arc::into_inner(h)
        .context("server still shared")?
        .stop()
        .await?;
    Ok(())
}
