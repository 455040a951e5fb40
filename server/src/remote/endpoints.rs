//! `herald endpoints`: list endpoints, pause and resume them, name the
//! ordered streams a dead delivery holds up, and show a circuit breaker.

use clap::Subcommand;
use serde_json::json;

use super::{Client, Remote, print_json, print_rows, table, text};

#[derive(Debug, Subcommand)]
pub enum EndpointsAction {
    /// List endpoints, oldest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Pause deliveries to an endpoint (disable it): they wait, those of
    /// events published meanwhile too, until it is resumed.
    Pause {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        /// Drop what waits instead of holding it (each delivery ends dead,
        /// without a DLQ entry; the audit log says how many).
        #[arg(long)]
        discard_backlog: bool,
    },
    /// Resume a paused endpoint (enable it): what waited goes out, in order
    /// for ordered endpoints.
    Resume { id: String },
    /// The endpoint's ordered streams held up by a DLQ entry.
    Blocked { id: String },
    /// The endpoint's circuit breaker: where it stands, what opens it, and
    /// its latest transitions (from the audit log).
    Breaker { id: String },
}

pub async fn endpoints(remote: Remote, action: EndpointsAction) -> anyhow::Result<()> {
    let client = Client::new(remote);
    match action {
        EndpointsAction::List { limit } => {
            let out = client
                .call(
                    reqwest::Method::GET,
                    "/endpoints",
                    &[("limit", limit.to_string())],
                    None,
                )
                .await?;
            print_rows(
                &client,
                &out,
                "items",
                &[
                    ("ID", "id"),
                    ("URL", "url"),
                    ("ENABLED", "enabled"),
                    ("ORDERING", "ordering"),
                    ("WHY DISABLED", "disabled_reason"),
                ],
            )
        }
        EndpointsAction::Pause {
            id,
            reason,
            discard_backlog,
        } => {
            let out = client
                .call(
                    reqwest::Method::POST,
                    &format!("/endpoints/{id}/disable"),
                    &[],
                    Some(json!({"reason": reason, "discard_backlog": discard_backlog})),
                )
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            let what = if discard_backlog {
                "its waiting deliveries were discarded"
            } else {
                "its deliveries wait until it is resumed"
            };
            println!("Paused {id}: {what}.");
            Ok(())
        }
        EndpointsAction::Resume { id } => {
            let out = client
                .call(
                    reqwest::Method::POST,
                    &format!("/endpoints/{id}/enable"),
                    &[],
                    None,
                )
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            println!("Resumed {id}: what waited is on its way.");
            Ok(())
        }
        EndpointsAction::Breaker { id } => breaker(&client, &id).await,
        EndpointsAction::Blocked { id } => {
            let out = client
                .call(
                    reqwest::Method::GET,
                    &format!("/endpoints/{id}/blocked-streams"),
                    &[],
                    None,
                )
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            let rows: Vec<Vec<String>> = out
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    vec![
                        text(&s["stream"]),
                        text(&s["dlq_entry_id"]),
                        text(&s["waiting"]),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("No stream of {id} is blocked.");
                return Ok(());
            }
            table(&["STREAM", "BLOCKED BY (DLQ ENTRY)", "WAITING"], &rows);
            Ok(())
        }
    }
}

async fn breaker(client: &Client, id: &str) -> anyhow::Result<()> {
    let endpoint = client
        .call(reqwest::Method::GET, &format!("/endpoints/{id}"), &[], None)
        .await?;
    let history = client
        .call(
            reqwest::Method::GET,
            "/audit",
            &[
                ("target", id.to_owned()),
                ("action", "endpoint.".to_owned()),
                ("limit", "20".to_owned()),
            ],
            None,
        )
        .await?;
    let transitions: Vec<&serde_json::Value> = history["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["action"]
                .as_str()
                .is_some_and(|x| x.starts_with("endpoint.circuit") || x == "endpoint.disable")
        })
        .collect();
    if client.remote.json {
        return print_json(&json!({
            "breaker": endpoint["breaker"],
            "circuit_breaker": endpoint["circuit_breaker"],
            "history": transitions,
        }));
    }
    let b = &endpoint["breaker"];
    let s = &endpoint["circuit_breaker"];
    println!("Circuit breaker of {id}: {}", text(&b["state"]));
    if b["state"] != "closed" {
        println!(
            "  opened at {}, trip {} in a row, failing since {}; next probe at {}",
            text(&b["opened_at"]),
            text(&b["trips"]),
            text(&b["failing_since"]),
            text(&b["probe_at"])
        );
    }
    if s["enabled"] == false {
        println!("  off: failures never open it");
    } else {
        println!(
            "  opens when {} % of at least {} attempts fail within {} s; cool-down {} s, doubled per failed probe up to {} s",
            text(&s["failure_percent"]),
            text(&s["min_attempts"]),
            text(&s["window_secs"]),
            text(&s["cooldown_secs"]),
            text(&s["max_cooldown_secs"])
        );
    }
    let rows: Vec<Vec<String>> = transitions
        .iter()
        .map(|a| vec![text(&a["at"]), text(&a["action"]), text(&a["summary"])])
        .collect();
    if rows.is_empty() {
        println!("No transitions recorded.");
    } else {
        table(&["AT", "ACTION", "WHAT"], &rows);
    }
    Ok(())
}
