//! `herald backup` and `herald restore`: a consistent copy of a running
//! SQLite Herald, and putting one back into an empty data directory (see
//! `herald_engine::store::backup`).

use std::path::Path;
use std::time::Instant;

use herald_engine::store::backup::{self, Snapshot};
use herald_engine::vault::KEY_FILE;

use crate::config::Config;

pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let snapshot = backup::backup(&config.database_url, to).await?;
    println!(
        "Backed up {} to {} in {:.1} s: {}.",
        herald_engine::store::redact_url(&config.database_url),
        to.display(),
        started.elapsed().as_secs_f64(),
        contents(&snapshot)
    );
    if !snapshot.key_ids.is_empty() {
        println!(
            "Its endpoint secrets are sealed with master key {}: a backup never holds the \
             key. Keep a copy of {} (or of HERALD_MASTER_KEY) apart from the backup; without \
             it a restored Herald cannot sign a single delivery.",
            snapshot.key_ids.join(", "),
            config.data_dir.join(KEY_FILE).display()
        );
    }
    Ok(())
}

pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    // Nothing may run on the data directory being filled.
    let _lock = crate::lock::lock_data_dir(&config.data_dir)?;
    let key = configured_key(config)?;
    let accept = |snapshot: &Snapshot| -> herald_engine::Result<()> {
        match &key {
            Some((id, source))
                if !snapshot.key_ids.is_empty() && !snapshot.key_ids.contains(id) =>
            {
                Err(herald_engine::EngineError::invalid(
                    "master_key",
                    format!(
                        "the backup's endpoint secrets are sealed with master key {}, but {source} \
                         holds key {id}: give this Herald the backup's key before restoring",
                        snapshot.key_ids.join(", ")
                    ),
                ))
            }
            _ => Ok(()),
        }
    };
    let started = Instant::now();
    let snapshot = backup::restore(from, &config.database_url, &accept).await?;
    println!(
        "Restored {} into {} in {:.1} s: {}.",
        from.display(),
        herald_engine::store::redact_url(&config.database_url),
        started.elapsed().as_secs_f64(),
        contents(&snapshot)
    );
    if key.is_none() && !snapshot.key_ids.is_empty() {
        println!(
            "Before starting Herald, put the master key {} of the Herald this backup came from \
             in {} or HERALD_MASTER_KEY: a new key would be generated, and the endpoint \
             secrets could not be opened with it.",
            snapshot.key_ids.join(", "),
            config.data_dir.join(KEY_FILE).display()
        );
    }
    Ok(())
}

/// The master key this Herald would start with, and where it comes from,
/// without generating one when there is none yet.
fn configured_key(config: &Config) -> anyhow::Result<Option<(String, String)>> {
    let file = config.data_dir.join(KEY_FILE);
    let source = if config.master_key.is_some() {
        "HERALD_MASTER_KEY".to_owned()
    } else if file.exists() {
        file.display().to_string()
    } else {
        return Ok(None);
    };
    let vault = crate::state::open_vault(config)?;
    Ok(Some((vault.current_key_id().to_owned(), source)))
}

fn contents(s: &Snapshot) -> String {
    format!(
        "{:.1} MB, schema {}; tenants {}, endpoints {}, events {}, receipts {}, DLQ entries {}",
        s.bytes as f64 / 1e6,
        s.schema_version,
        s.tenants,
        s.endpoints,
        s.events,
        s.attempts,
        s.dlq_entries
    )
}
