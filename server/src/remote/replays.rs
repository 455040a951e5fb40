//! The replay commands: starting a replay (or one event's) and following it
//! with a progress bar, and listing and steering replay jobs.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Client, Remote, ReplayArgs, ReplaysAction, print_json, print_rows, table, text};

fn print_preview(preview: &Value) {
    println!("{} events match.", text(&preview["total"]));
    let rows: Vec<Vec<String>> = preview["sample"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                text(&e["seq"]),
                text(&e["event_type"]),
                text(&e["received_at"]),
                text(&e["id"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(&["SEQ", "TYPE", "RECEIVED", "EVENT"], &rows);
    }
}

fn progress_line(job: &Value) -> String {
    const WIDTH: u64 = 30;
    let total = job["total"].as_u64().unwrap_or(0);
    let done = job["dispatched"].as_u64().unwrap_or(0);
    let filled = (done * WIDTH)
        .checked_div(total)
        .map_or(WIDTH, |f| f.min(WIDTH));
    format!(
        "[{}{}] {done}/{total} events · {} delivered · {} failed · {}",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize),
        text(&job["succeeded"]),
        text(&job["failed"]),
        text(&job["state"]),
    )
}

/// Starts (or previews) a replay and, unless detached, follows it to the end
/// with a progress bar on stderr.
pub(super) async fn run_replay(
    client: &Client,
    path: &str,
    body: Value,
    detach: bool,
) -> anyhow::Result<()> {
    let dry_run = body["dry_run"].as_bool().unwrap_or(false);
    let started = client
        .call(reqwest::Method::POST, path, &[], Some(body))
        .await?;
    if dry_run {
        return if client.remote.json {
            print_json(&started)
        } else {
            print_preview(&started);
            Ok(())
        };
    }
    let id = text(&started["id"]);
    if detach {
        return if client.remote.json {
            print_json(&started)
        } else {
            println!("Started replay {id} ({} events).", text(&started["total"]));
            Ok(())
        };
    }
    if !client.remote.json {
        eprintln!("Replay {id}: {} events", text(&started["total"]));
    }
    let tty = std::io::stderr().is_terminal();
    let job = loop {
        let job = client
            .call(reqwest::Method::GET, &format!("/replays/{id}"), &[], None)
            .await?;
        if !client.remote.json {
            let line = progress_line(&job);
            if tty {
                eprint!("\r{line}");
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{line}");
            }
        }
        if matches!(
            job["state"].as_str(),
            Some("completed" | "cancelled" | "failed")
        ) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if client.remote.json {
        print_json(&job)?;
    } else {
        if tty {
            eprintln!();
        }
        println!("Replay {id} {}.", text(&job["state"]));
    }
    if job["state"] == "failed" {
        anyhow::bail!("the replay failed: {}", text(&job["error"]));
    }
    Ok(())
}

pub async fn replay(remote: Remote, args: ReplayArgs) -> anyhow::Result<()> {
    let client = Client::new(remote);
    let mut body =
        json!({"filter": args.filter.to_json(), "dry_run": args.dry_run, "reason": args.reason});
    if let Some(rate) = args.rate {
        body["rate_per_second"] = json!(rate);
    }
    if let Some(max) = args.max {
        body["max_events"] = json!(max);
    }
    if let Some(program) = args.transform {
        body["transform"] = json!(program);
    }
    run_replay(&client, "/replays", body, args.detach).await
}

pub async fn replay_event(
    remote: Remote,
    id: String,
    endpoints: Vec<String>,
    reason: String,
) -> anyhow::Result<()> {
    let client = Client::new(remote);
    let mut body = json!({"reason": reason});
    if !endpoints.is_empty() {
        body["endpoint_ids"] = json!(endpoints);
    }
    let out = client
        .call(
            reqwest::Method::POST,
            &format!("/events/{id}/replay"),
            &[],
            Some(body),
        )
        .await?;
    print_rows(
        &client,
        &out,
        "deliveries",
        &[
            ("WEBHOOK-ID", "delivery_id"),
            ("ENDPOINT", "endpoint_id"),
            ("STATUS", "status"),
            ("WHY", "why"),
        ],
    )
}

fn replay_row(job: &Value) -> Vec<String> {
    vec![
        text(&job["id"]),
        text(&job["state"]),
        format!("{}/{}", text(&job["dispatched"]), text(&job["total"])),
        text(&job["rate_per_second"]),
        text(&job["created_at"]),
        text(&job["reason"]),
    ]
}

const REPLAY_HEADER: [&str; 6] = ["ID", "STATE", "EVENTS", "RATE/S", "CREATED", "REASON"];

pub async fn replays(remote: Remote, action: ReplaysAction) -> anyhow::Result<()> {
    let client = Client::new(remote);
    let (path, verb) = match &action {
        ReplaysAction::List { limit } => {
            let out = client
                .call(
                    reqwest::Method::GET,
                    "/replays",
                    &[("limit", limit.to_string())],
                    None,
                )
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            let rows: Vec<Vec<String>> = out["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(replay_row)
                .collect();
            table(&REPLAY_HEADER, &rows);
            return Ok(());
        }
        ReplaysAction::Show { id } => {
            let job = client
                .call(reqwest::Method::GET, &format!("/replays/{id}"), &[], None)
                .await?;
            if client.remote.json {
                return print_json(&job);
            }
            table(&REPLAY_HEADER, &[replay_row(&job)]);
            println!("{}", progress_line(&job));
            println!("filter: {}", job["filter"]);
            return Ok(());
        }
        ReplaysAction::Pause { id } => (format!("/replays/{id}/pause"), "paused"),
        ReplaysAction::Resume { id } => (format!("/replays/{id}/resume"), "resumed"),
        ReplaysAction::Cancel { id } => (format!("/replays/{id}/cancel"), "cancelled"),
    };
    let job = client.call(reqwest::Method::POST, &path, &[], None).await?;
    if client.remote.json {
        return print_json(&job);
    }
    println!(
        "Replay {} {verb}: {}",
        text(&job["id"]),
        progress_line(&job)
    );
    Ok(())
}

pub async fn expunge(remote: Remote, id: &str, reason: String) -> anyhow::Result<()> {
    let client = Client::new(remote);
    let out = client
        .call(
            reqwest::Method::POST,
            &format!("/events/{id}/expunge"),
            &[],
            Some(json!({"reason": reason})),
        )
        .await?;
    if client.remote.json {
        return print_json(&out);
    }
    println!(
        "expunged {} at {}: {} receipts erased, {} waiting deliveries ended, {} DLQ entries removed",
        text(&out["event_id"]),
        text(&out["expunged_at"]),
        text(&out["receipts_erased"]),
        text(&out["deliveries_ended"]),
        text(&out["dlq_entries_removed"]),
    );
    Ok(())
}
