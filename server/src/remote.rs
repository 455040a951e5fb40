//! CLI commands that talk to a running Herald over its REST API: replays,
//! checkpoints, the dead-letter queue, events and the event catalog. Tables for people, `--json`
//! for scripts; an API error is printed with its message and exits non-zero.

mod catalog;
mod endpoints;
mod health;
mod inbox;
mod replays;

use clap::{Args, Subcommand};
use herald_engine::model::{
    DeliveryState, DlqQuery, EndpointId, ErrorClass, EventQuery, ListQuery,
};
use serde_json::{Value, json};

/// Where the server is and who is asking (accepted before or after the subcommand).
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        env = "HERALD_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub url: String,
    /// An API key (`hk_…`).
    #[arg(long, global = true, env = "HERALD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Which events a replay takes; every flag narrows it.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Events received at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Events received before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// An event type (repeat for several).
    #[arg(long = "event-type")]
    pub event_types: Vec<String>,
    /// Deliver only to this endpoint.
    #[arg(long = "endpoint")]
    pub endpoint_id: Option<String>,
    #[arg(long)]
    pub correlation_id: Option<String>,
    #[arg(long)]
    pub entity_id: Option<String>,
    /// Only events published by this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only events with a dead delivery.
    #[arg(long)]
    pub only_failed: bool,
    /// Only events after this checkpoint.
    #[arg(long)]
    pub after_checkpoint: Option<String>,
}

impl FilterArgs {
    fn to_json(&self) -> Value {
        let mut filter = serde_json::Map::new();
        let mut put = |k: &str, v: Option<&String>| {
            if let Some(v) = v {
                filter.insert(k.into(), json!(v));
            }
        };
        put("from", self.from.as_ref());
        put("to", self.to.as_ref());
        put("endpoint_id", self.endpoint_id.as_ref());
        put("correlation_id", self.correlation_id.as_ref());
        put("entity_id", self.entity_id.as_ref());
        put("source", self.source.as_ref());
        put("after_checkpoint", self.after_checkpoint.as_ref());
        if !self.event_types.is_empty() {
            filter.insert("event_types".into(), json!(self.event_types));
        }
        if self.only_failed {
            filter.insert("only_failed".into(), json!(true));
        }
        Value::Object(filter)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Events per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// At most this many events.
    #[arg(long)]
    pub max: Option<u64>,
    /// Count the matching events and show a sample; deliver nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, default_value = "")]
    pub reason: String,
    /// A jq program the replayed payloads go through instead of their
    /// endpoints' transforms.
    #[arg(long)]
    pub transform: Option<String>,
    /// Start the job and return without watching it.
    #[arg(long)]
    pub detach: bool,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointAction {
    /// Name the current (or a given) position in the event sequence.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        seq: Option<i64>,
        #[arg(long = "endpoint")]
        endpoint_id: Option<String>,
    },
    /// List checkpoints, newest position first.
    List,
    /// Replay everything after a checkpoint.
    Recover {
        id: String,
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        detach: bool,
    },
}

#[derive(Debug, Clone, Default, Args)]
pub struct DlqFilterArgs {
    #[arg(long = "endpoint")]
    pub endpoint_id: Option<EndpointId>,
    #[arg(long)]
    pub event_type: Option<String>,
    /// dns, connect, tls, timeout, http_status, … (as the API names them).
    #[arg(long)]
    pub error_class: Option<ErrorClass>,
}

impl DlqFilterArgs {
    fn query(&self) -> DlqQuery {
        DlqQuery {
            endpoint_id: self.endpoint_id,
            event_type: self.event_type.clone(),
            error_class: self.error_class,
            ..DlqQuery::default()
        }
    }
}

/// A list query's parameters as the API reads them, with the page size.
fn list_params(query: &impl ListQuery, limit: u32) -> Vec<(&'static str, String)> {
    let mut pairs = query.to_writer().pairs().to_vec();
    pairs.push(("limit", limit.to_string()));
    pairs
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// List dead deliveries, newest first.
    List {
        #[command(flatten)]
        filter: DlqFilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send entries again (same webhook-id): the given ids, or --all matching.
    Reprocess {
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: DlqFilterArgs,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove an entry from the queue (the delivery stays dead).
    Discard {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReplaysAction {
    /// List replay jobs, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job: its filter, state and progress.
    Show { id: String },
    /// Pause a running job; it keeps its place.
    Pause { id: String },
    /// Resume a paused job from where it stopped.
    Resume { id: String },
    /// Cancel a job; what it already sent stays sent.
    Cancel { id: String },
}

#[derive(Debug, Subcommand)]
pub enum EventsAction {
    /// List events, newest first.
    List {
        #[arg(long)]
        event_type: Option<String>,
        /// pending, in_flight, succeeded or dead.
        #[arg(long)]
        state: Option<DeliveryState>,
        #[arg(long = "endpoint")]
        endpoint_id: Option<EndpointId>,
        #[arg(long)]
        correlation_id: Option<String>,
        /// Only events published by this source.
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

struct Client {
    http: reqwest::Client,
    remote: Remote,
}

impl Client {
    fn new(remote: Remote) -> Self {
        Self {
            http: reqwest::Client::new(),
            remote,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.remote.url.trim_end_matches('/'));
        let key =
            self.remote.api_key.as_deref().ok_or_else(|| {
                anyhow::anyhow!("no API key: pass --api-key or set HERALD_API_KEY")
            })?;
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(key)
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let res = request.send().await.map_err(|e| {
            anyhow::anyhow!("cannot reach Herald at {} (--url): {e}", self.remote.url)
        })?;
        let status = res.status();
        let text = res.text().await?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let message = body["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string());
            anyhow::bail!(
                "{} {}: {message}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
        }
        Ok(body)
    }
}

/// Prints rows as aligned columns under a header.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(header.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        println!("{}", line(row.clone()));
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints `out[key]`: as JSON with `--json`, otherwise as a table of the
/// named fields (header, field), one row per item.
fn print_rows(
    client: &Client,
    out: &Value,
    key: &str,
    columns: &[(&str, &str)],
) -> anyhow::Result<()> {
    if client.remote.json {
        return print_json(out);
    }
    let rows: Vec<Vec<String>> = out[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            columns
                .iter()
                .map(|(_, field)| text(&item[*field]))
                .collect()
        })
        .collect();
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    table(&header, &rows);
    Ok(())
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub use catalog::{EventTypesAction, event_types, validate_schemas};
pub use endpoints::{EndpointsAction, endpoints};
pub use health::health;
pub use inbox::{InboxAction, inbox};
use replays::run_replay;
pub use replays::{expunge, replay, replay_event, replays};

pub async fn checkpoint(remote: Remote, action: CheckpointAction) -> anyhow::Result<()> {
    let client = Client::new(remote);
    match action {
        CheckpointAction::Create {
            name,
            seq,
            endpoint_id,
        } => {
            let out = client
                .call(
                    reqwest::Method::POST,
                    "/checkpoints",
                    &[],
                    Some(json!({"name": name, "seq": seq, "endpoint_id": endpoint_id})),
                )
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            println!(
                "Checkpoint '{}' ({}) at sequence {}.",
                text(&out["name"]),
                text(&out["id"]),
                text(&out["seq"])
            );
            Ok(())
        }
        CheckpointAction::List => {
            let out = client
                .call(reqwest::Method::GET, "/checkpoints", &[], None)
                .await?;
            print_rows(
                &client,
                &out,
                "items",
                &[
                    ("ID", "id"),
                    ("NAME", "name"),
                    ("SEQ", "seq"),
                    ("ENDPOINT", "endpoint_id"),
                    ("CREATED", "created_at"),
                ],
            )
        }
        CheckpointAction::Recover {
            id,
            rate,
            dry_run,
            detach,
        } => {
            let mut body = json!({"dry_run": dry_run});
            if let Some(rate) = rate {
                body["rate_per_second"] = json!(rate);
            }
            run_replay(&client, &format!("/checkpoints/{id}/recover"), body, detach).await
        }
    }
}

pub async fn dlq(remote: Remote, action: DlqAction) -> anyhow::Result<()> {
    let client = Client::new(remote);
    match action {
        DlqAction::List { filter, limit } => {
            let out = client
                .call(
                    reqwest::Method::GET,
                    "/dlq",
                    &list_params(&filter.query(), limit),
                    None,
                )
                .await?;
            print_rows(
                &client,
                &out,
                "items",
                &[
                    ("ID", "id"),
                    ("DIED", "created_at"),
                    ("TYPE", "event_type"),
                    ("ENDPOINT", "endpoint_url"),
                    ("ERROR", "error_class"),
                    ("REASON", "reason"),
                ],
            )
        }
        DlqAction::Reprocess {
            ids,
            all,
            filter,
            reason,
        } => {
            let body = match (ids.is_empty(), all) {
                (false, false) => json!({"ids": ids, "reason": reason}),
                (true, true) => {
                    let pairs: serde_json::Map<String, Value> = filter
                        .query()
                        .to_writer()
                        .pairs()
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), json!(v)))
                        .collect();
                    json!({"filter": pairs, "reason": reason})
                }
                _ => {
                    anyhow::bail!("give DLQ entry ids, or --all (with optional filters), not both")
                }
            };
            let out = client
                .call(reqwest::Method::POST, "/dlq/reprocess", &[], Some(body))
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            let done = out["reprocessed"].as_array().map_or(0, Vec::len);
            println!("{done} reprocessed.");
            for s in out["skipped"].as_array().into_iter().flatten() {
                println!(
                    "left in the queue: {} ({})",
                    text(&s["id"]),
                    text(&s["reason"])
                );
            }
            Ok(())
        }
        DlqAction::Discard { id, reason } => {
            client
                .call(
                    reqwest::Method::DELETE,
                    &format!("/dlq/{id}"),
                    &[],
                    Some(json!({"reason": reason})),
                )
                .await?;
            if client.remote.json {
                return print_json(&json!({"discarded": id}));
            }
            println!("Discarded {id}.");
            Ok(())
        }
    }
}

pub async fn events(remote: Remote, action: EventsAction) -> anyhow::Result<()> {
    let client = Client::new(remote);
    let EventsAction::List {
        event_type,
        state,
        endpoint_id,
        correlation_id,
        source,
        limit,
    } = action;
    let query = EventQuery {
        event_type,
        state,
        endpoint_id,
        correlation_id,
        source,
        ..EventQuery::default()
    };
    let out = client
        .call(
            reqwest::Method::GET,
            "/events",
            &list_params(&query, limit),
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
        .map(|e| {
            vec![
                text(&e["id"]),
                text(&e["seq"]),
                text(&e["event_type"]),
                text(&e["source"]),
                text(&e["received_at"]),
                format!(
                    "{}/{} ok, {} dead",
                    text(&e["succeeded"]),
                    text(&e["deliveries"]),
                    text(&e["dead"])
                ),
            ]
        })
        .collect();
    table(
        &["ID", "SEQ", "TYPE", "SOURCE", "RECEIVED", "DELIVERIES"],
        &rows,
    );
    Ok(())
}
