//! `herald inbox`: lease a pull inbox's messages, acknowledge them, hand
//! them back, and show the inbox's depth and consumers.

use clap::Subcommand;
use serde_json::json;

use super::{Client, Remote, print_json, print_rows, table, text};

#[derive(Debug, Subcommand)]
pub enum InboxAction {
    /// Lease up to --limit visible messages for --visibility seconds; with
    /// --json each message's payload is printed too.
    Pull {
        /// The inbox endpoint's id.
        id: String,
        #[arg(long, default_value_t = 10)]
        limit: u32,
        #[arg(long = "visibility", default_value_t = 30)]
        visibility_secs: u32,
        /// The consumer's name (default: the API key's id).
        #[arg(long)]
        consumer: Option<String>,
    },
    /// Acknowledge leased messages: they are done.
    Ack {
        id: String,
        /// The messages' ids (`webhook-id`s).
        #[arg(required = true)]
        messages: Vec<String>,
    },
    /// Hand leased messages back: visible again after --retry-after seconds
    /// (default: the retry policy's next delay).
    Nack {
        id: String,
        #[arg(required = true)]
        messages: Vec<String>,
        #[arg(long = "retry-after")]
        retry_after_secs: Option<u64>,
    },
    /// How many messages are ready, delayed and leased, the oldest, and the
    /// consumers.
    State { id: String },
}

pub async fn inbox(remote: Remote, action: InboxAction) -> anyhow::Result<()> {
    let client = Client::new(remote);
    match action {
        InboxAction::Pull {
            id,
            limit,
            visibility_secs,
            consumer,
        } => {
            let mut query = vec![
                ("limit", limit.to_string()),
                ("visibility_secs", visibility_secs.to_string()),
            ];
            if let Some(consumer) = consumer {
                query.push(("consumer", consumer));
            }
            let out = client
                .call(reqwest::Method::GET, &format!("/inbox/{id}"), &query, None)
                .await?;
            if !client.remote.json && out["messages"].as_array().is_some_and(Vec::is_empty) {
                println!("Nothing is visible in inbox {id} now.");
                return Ok(());
            }
            print_rows(
                &client,
                &out,
                "messages",
                &[
                    ("ID", "id"),
                    ("EVENT TYPE", "event_type"),
                    ("ATTEMPT", "attempt"),
                    ("LEASED UNTIL", "leased_until"),
                ],
            )
        }
        InboxAction::Ack { id, messages } => {
            settle(&client, &id, "ack", json!({"ids": messages})).await
        }
        InboxAction::Nack {
            id,
            messages,
            retry_after_secs,
        } => {
            settle(
                &client,
                &id,
                "nack",
                json!({"ids": messages, "retry_after_secs": retry_after_secs}),
            )
            .await
        }
        InboxAction::State { id } => {
            let out = client
                .call(
                    reqwest::Method::GET,
                    &format!("/inbox/{id}/state"),
                    &[],
                    None,
                )
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            println!(
                "Inbox {id}: {} ready, {} delayed, {} leased; oldest message made {}",
                text(&out["ready"]),
                text(&out["delayed"]),
                text(&out["leased"]),
                text(&out["oldest_at"])
            );
            let rows: Vec<Vec<String>> = out["consumers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    vec![
                        text(&c["name"]),
                        text(&c["last_pull_at"]),
                        text(&c["pulls"]),
                        text(&c["leased"]),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                table(&["CONSUMER", "LAST PULL", "PULLS", "LEASED"], &rows);
            }
            Ok(())
        }
    }
}

async fn settle(
    client: &Client,
    id: &str,
    how: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let out = client
        .call(
            reqwest::Method::POST,
            &format!("/inbox/{id}/{how}"),
            &[],
            Some(body),
        )
        .await?;
    if client.remote.json {
        return print_json(&out);
    }
    let count = |key: &str| out[key].as_array().map_or(0, Vec::len);
    let done = if how == "ack" {
        "acknowledged"
    } else {
        "handed back"
    };
    println!("{} {done}", count("settled"));
    if count("dead") > 0 {
        println!(
            "{} moved to the dead-letter queue (retry policy spent)",
            count("dead")
        );
    }
    for missing in out["not_leased"].as_array().into_iter().flatten() {
        println!("{}: not leased now; nothing done", text(missing));
    }
    Ok(())
}
