//! `herald health`: asks a running Herald's `/readyz` and prints each
//! dependency with its latency. Exit code 0 when it serves (`ready`, or
//! `degraded`: Redis down, delivery goes on), 1 when it does not answer or
//! its database does not: usable as a container health check.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Remote;

pub async fn health(remote: &Remote) -> anyhow::Result<()> {
    let url = format!("{}/readyz", remote.url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let started = Instant::now();
    let res = match client.get(&url).send().await {
        Ok(res) => res,
        Err(e) => {
            println!("herald at {}: not answering ({e})", remote.url);
            std::process::exit(1);
        }
    };
    let took = started.elapsed();
    let code = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    let status = body["status"].as_str().unwrap_or("unknown").to_owned();
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!(
            "herald at {}: {status} (HTTP {}, {:.1} ms)",
            remote.url,
            code.as_u16(),
            took.as_secs_f64() * 1000.0
        );
        if let Some(checks) = body["checks"].as_object() {
            for (name, check) in checks {
                let mut line = format!(
                    "  {name:<9} {:<5} {:>8.1} ms",
                    check["status"].as_str().unwrap_or("?"),
                    check["latency_ms"].as_f64().unwrap_or(0.0)
                );
                for extra in ["backend", "node"] {
                    if let Some(v) = check[extra].as_str() {
                        line.push_str(&format!("  {v}"));
                    }
                }
                println!("{line}");
            }
        }
    }
    if !code.is_success() || !matches!(status.as_str(), "ready" | "degraded") {
        std::process::exit(1);
    }
    Ok(())
}
