//! `herald event-types` and `herald validate-schemas`: the event catalog of a
//! running Herald, from the command line. `pull` writes the catalog as a JSON
//! document that `push` reads back, so a catalog can live in a repository
//! and be applied by a deploy: `push` registers what is new, changes
//! descriptions and flags, and adds a schema version where the schema
//! differs (compared with the current one by the server, as the API does).

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Client, Remote, print_json, table, text};

#[derive(Debug, Subcommand)]
pub enum EventTypesAction {
    /// Every type registered or published, with its version and counts.
    List {
        /// Archived types too.
        #[arg(long)]
        include_archived: bool,
    },
    /// One registered type: its current schema and every version.
    Show { name: String },
    /// Applies a catalog document (what `pull` writes, or one type's
    /// `{"name","description","deprecated","schema","examples"}`).
    Push {
        /// The JSON file; `-` reads standard input.
        file: String,
        /// Register new versions even when they could refuse events the
        /// current one accepts.
        #[arg(long)]
        breaking: bool,
        /// Say what would change, and how many recent events each new schema
        /// refuses; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A registered type's recent validation failures: events refused at
    /// ingest (by the node that answers) and events accepted with problems.
    Failures { name: String },
    /// Writes the registered catalog (not archived types) as a JSON document.
    Pull {
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<String>,
    },
}

async fn registered(client: &Client) -> anyhow::Result<Vec<Value>> {
    let list = client
        .call(reqwest::Method::GET, "/event-types", &[], None)
        .await?;
    let mut types = Vec::new();
    for entry in list["items"].as_array().into_iter().flatten() {
        if entry["registered"] == true {
            let name = text(&entry["event_type"]);
            types.push(
                client
                    .call(reqwest::Method::GET, &type_path(&name), &[], None)
                    .await?,
            );
        }
    }
    Ok(types)
}

fn type_path(name: &str) -> String {
    format!("/event-types/{}", urlencoding(name))
}

/// Event type names are letters, digits, `_`, `-` and `.`: nothing to
/// escape; anything else (a malformed name in a pushed file) is escaped so
/// the server answers for it.
fn urlencoding(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The document `pull` writes: the registered types, by name.
fn document(types: &[Value]) -> Value {
    let items: Vec<Value> = types
        .iter()
        .map(|t| {
            json!({
                "name": t["name"], "description": t["description"], "deprecated": t["deprecated"],
                "schema": t["schema"], "examples": t["examples"],
            })
        })
        .collect();
    json!({ "event_types": items })
}

/// The types a pushed document names: a catalog document, or one type.
fn pushed(doc: Value) -> anyhow::Result<Vec<Value>> {
    match doc {
        Value::Object(mut map) if map.contains_key("event_types") => {
            match map.remove("event_types") {
                Some(Value::Array(items)) => Ok(items),
                _ => anyhow::bail!("event_types: must be a list of event types"),
            }
        }
        Value::Object(map) if map.contains_key("name") => Ok(vec![Value::Object(map)]),
        _ => anyhow::bail!(
            "expected {{\"event_types\": [...]}} (what `herald event-types pull` writes) or one type's {{\"name\", ...}}"
        ),
    }
}

pub async fn event_types(remote: Remote, action: EventTypesAction) -> anyhow::Result<()> {
    let client = Client::new(remote);
    match action {
        EventTypesAction::List { include_archived } => {
            let query = [("include_archived", include_archived.to_string())];
            let out = client
                .call(reqwest::Method::GET, "/event-types", &query, None)
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            let rows: Vec<Vec<String>> = out["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let mut flags = Vec::new();
                    if t["registered"] != true {
                        flags.push("unregistered");
                    }
                    if t["deprecated"] == true {
                        flags.push("deprecated");
                    }
                    if t["archived"] == true {
                        flags.push("archived");
                    }
                    vec![
                        text(&t["event_type"]),
                        text(&t["version"]),
                        text(&t["events"]),
                        text(&t["schema_warnings"]),
                        text(&t["last_seen_at"]),
                        flags.join(", "),
                    ]
                })
                .collect();
            table(
                &["TYPE", "VERSION", "EVENTS", "WARNINGS", "LAST SEEN", ""],
                &rows,
            );
            Ok(())
        }
        EventTypesAction::Show { name } => {
            let out = client
                .call(reqwest::Method::GET, &type_path(&name), &[], None)
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            println!("{}: {}", text(&out["name"]), text(&out["description"]));
            println!(
                "version {}, {} events, {} accepted with schema warnings{}{}",
                text(&out["version"]),
                text(&out["events"]),
                text(&out["schema_warnings"]),
                if out["deprecated"] == true {
                    ", deprecated"
                } else {
                    ""
                },
                if out["archived"] == true {
                    ", archived"
                } else {
                    ""
                },
            );
            let rows: Vec<Vec<String>> = out["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    vec![
                        text(&v["version"]),
                        text(&v["created_at"]),
                        text(&v["created_by"]),
                        if v["breaking"] == true {
                            "breaking"
                        } else {
                            ""
                        }
                        .to_string(),
                    ]
                })
                .collect();
            table(&["VERSION", "REGISTERED", "BY", ""], &rows);
            if !out["schema"].is_null() {
                println!("{}", serde_json::to_string_pretty(&out["schema"])?);
            }
            Ok(())
        }
        EventTypesAction::Failures { name } => {
            let out = client
                .call(
                    reqwest::Method::GET,
                    &format!("{}/failures", type_path(&name)),
                    &[],
                    None,
                )
                .await?;
            if client.remote.json {
                return print_json(&out);
            }
            table(
                &["WHEN", "", "VERSION", "FROM", "PROBLEMS"],
                &failure_rows(&out),
            );
            Ok(())
        }
        EventTypesAction::Pull { out } => {
            let doc = document(&registered(&client).await?);
            let text = serde_json::to_string_pretty(&doc)? + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .map_err(|e| anyhow::anyhow!("cannot write {path}: {e}"))?;
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        EventTypesAction::Push {
            file,
            breaking,
            dry_run,
        } => push(&client, &file, breaking, dry_run).await,
    }
}

async fn push(client: &Client, file: &str, breaking: bool, dry_run: bool) -> anyhow::Result<()> {
    let raw = if file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?
    };
    let doc: Value =
        serde_json::from_str(&raw).map_err(|e| anyhow::anyhow!("{file} is not JSON: {e}"))?;
    let wanted = pushed(doc)?;
    let current = registered(client).await?;
    let mut report = Vec::new();
    for (i, want) in wanted.iter().enumerate() {
        let Some(name) = want["name"].as_str() else {
            anyhow::bail!("event_types[{i}].name: every type needs a name");
        };
        let have = current.iter().find(|t| t["name"] == name);
        let schema = want.get("schema").filter(|s| !s.is_null());
        let examples = want.get("examples").cloned().unwrap_or(json!([]));
        let outcome = match have {
            None if dry_run => "would be registered".to_string(),
            None => {
                let mut body = json!({"name": name, "examples": examples});
                for field in ["description", "deprecated", "schema"] {
                    if let Some(v) = want.get(field).filter(|v| !v.is_null()) {
                        body[field] = v.clone();
                    }
                }
                let made = client
                    .call(reqwest::Method::POST, "/event-types", &[], Some(body))
                    .await
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                format!("registered (version {})", text(&made["version"]))
            }
            Some(have) => {
                let mut done = Vec::new();
                let mut patch = json!({});
                for field in ["description", "deprecated"] {
                    if let Some(v) = want.get(field).filter(|v| !v.is_null())
                        && have[field] != *v
                    {
                        patch[field] = v.clone();
                    }
                }
                if patch.as_object().is_some_and(|p| !p.is_empty()) {
                    if !dry_run {
                        client
                            .call(reqwest::Method::PATCH, &type_path(name), &[], Some(patch))
                            .await
                            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                    }
                    done.push(
                        if dry_run {
                            "description or flags would change"
                        } else {
                            "description or flags changed"
                        }
                        .to_string(),
                    );
                }
                if let Some(schema) = schema
                    && (have["schema"] != *schema || have["examples"] != examples)
                {
                    let body = json!({"schema": schema, "examples": examples,
                                      "breaking": breaking, "dry_run": dry_run});
                    let check = client
                        .call(
                            reqwest::Method::POST,
                            &format!("{}/versions", type_path(name)),
                            &[],
                            Some(body),
                        )
                        .await
                        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                    done.push(if dry_run {
                        let changes = check["incompatibilities"].as_array().map_or(0, Vec::len);
                        format!(
                            "a new version: {changes} incompatible change(s); refuses {} of the last {} events",
                            text(&check["events_failing"]),
                            text(&check["events_checked"])
                        )
                    } else {
                        format!("version {} registered", text(&check["registered"]["version"]))
                    });
                }
                if done.is_empty() {
                    "unchanged".to_string()
                } else {
                    done.join("; ")
                }
            }
        };
        report.push(json!({"name": name, "outcome": outcome}));
    }
    if client.remote.json {
        return print_json(&json!({ "items": report }));
    }
    let rows: Vec<Vec<String>> = report
        .iter()
        .map(|r| vec![text(&r["name"]), text(&r["outcome"])])
        .collect();
    table(&["TYPE", "OUTCOME"], &rows);
    Ok(())
}

/// `herald validate-schemas`: every stored version of every registered
/// type's schema compiles here (the validator the server uses), and with
/// `events`, the type's last N stored events pass its current schema.
/// Exit code 1 when anything fails.
pub async fn validate_schemas(remote: Remote, events: Option<u32>) -> anyhow::Result<()> {
    let client = Client::new(remote);
    let mut failed = false;
    let mut report = Vec::new();
    for t in registered(&client).await? {
        let name = text(&t["name"]);
        let mut compiles = Vec::new();
        for v in t["versions"].as_array().into_iter().flatten() {
            let problem = herald_engine::catalog::CompiledSchema::compile(&v["schema"])
                .err()
                .map(|p| p.describe());
            failed |= problem.is_some();
            compiles.push(
                json!({"version": v["version"], "compiles": problem.is_none(), "problem": problem}),
            );
        }
        let mut checked = Value::Null;
        if let (Some(n), false) = (events, t["schema"].is_null()) {
            let body = json!({"schema": t["schema"], "examples": t["examples"],
                              "dry_run": true, "dry_run_events": n});
            let out = client
                .call(
                    reqwest::Method::POST,
                    &format!("{}/versions", type_path(&name)),
                    &[],
                    Some(body),
                )
                .await?;
            failed |= out["events_failing"].as_u64().unwrap_or(0) > 0;
            checked = json!({"events_checked": out["events_checked"], "events_failing": out["events_failing"],
                             "failures": out["failures"]});
        }
        report.push(json!({"name": name, "versions": compiles, "events": checked}));
    }
    if client.remote.json {
        print_json(&json!({"ok": !failed, "items": report}))?;
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|r| {
                let versions = r["versions"].as_array().cloned().unwrap_or_default();
                let bad: Vec<String> = versions
                    .iter()
                    .filter(|v| v["compiles"] == false)
                    .map(|v| format!("v{}: {}", text(&v["version"]), text(&v["problem"])))
                    .collect();
                vec![
                    text(&r["name"]),
                    if bad.is_empty() {
                        format!("{} compile", versions.len())
                    } else {
                        bad.join("; ")
                    },
                    if r["events"].is_null() {
                        "—".to_string()
                    } else {
                        format!(
                            "{} of {} fail",
                            text(&r["events"]["events_failing"]),
                            text(&r["events"]["events_checked"])
                        )
                    },
                ]
            })
            .collect();
        table(&["TYPE", "SCHEMAS", "RECENT EVENTS"], &rows);
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

/// `herald event-types failures`' rows: refused events (with their source),
/// then flagged ones (with their id), each with its problems.
fn failure_rows(out: &Value) -> Vec<Vec<String>> {
    let problems = |f: &Value| {
        f["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let at = text(&p["pointer"]);
                let at = if at.is_empty() {
                    "(the payload)".to_string()
                } else {
                    at
                };
                format!("{at}: {}", text(&p["keyword"]))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let refused = out["refused"].as_array().into_iter().flatten().map(|f| {
        vec![
            text(&f["at"]),
            "refused".to_string(),
            text(&f["version"]),
            text(&f["source"]),
            problems(f),
        ]
    });
    let flagged = out["flagged"].as_array().into_iter().flatten().map(|f| {
        vec![
            text(&f["received_at"]),
            "flagged".to_string(),
            text(&f["version"]),
            text(&f["event_id"]),
            problems(f),
        ]
    });
    refused.chain(flagged).collect()
}
