//! Where code may touch the store. The REST handlers (`server/src/api/`) and
//! the console (`app/src/`) read through it, but every change goes through an
//! engine operation, which checks, writes the audit entry in the change's
//! transaction and wakes whoever must know. This test reads their sources and
//! fails on any store call that is not one of the reads below.

use std::path::{Path, PathBuf};

/// Store methods the API and the console may call directly: reads only, and
/// `as_ref`/`clone` to hand the store to an engine operation.
const ALLOWED: &[&str] = &[
    "as_ref",
    "blocked_streams",
    "clone",
    "dlq_count",
    "dlq_entry",
    "endpoint_backlog",
    "event_detail",
    "event_type",
    "event_types",
    "get_endpoint",
    "get_retry_policy",
    "get_user",
    "list_api_keys",
    "list_audit",
    "list_checkpoints",
    "list_dlq",
    "list_endpoints",
    "list_events",
    "list_replays",
    "list_retry_policies",
    "list_tenants",
    "list_users",
    "page_checkpoints",
    "play_requests",
    "recent_deliveries",
    "stats",
    "tenant_by_slug",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `store.method(`, `store().method(` or `.store` + newline + `.method(`
/// in `text`, as (line, method).
fn store_calls(text: &str) -> Vec<(usize, String)> {
    let mut calls = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("store") {
        let start = from + at;
        from = start + "store".len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let mut rest = &text[from..];
        rest = rest.strip_prefix("()").unwrap_or(rest);
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with('(') {
            let line = text[..start].matches('\n').count() + 1;
            calls.push((line, name));
        }
    }
    calls
}

#[test]
fn the_api_and_the_console_change_nothing_but_through_the_engine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    rust_files(&root.join("server/src/api"), &mut files);
    rust_files(&root.join("app/src"), &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut seen = 0;
    let mut offending = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, method) in store_calls(&text) {
            seen += 1;
            if !ALLOWED.contains(&method.as_str()) {
                offending.push(format!(
                    "{}:{line}: store.{method}",
                    file.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        seen > 20,
        "the scan found only {seen} store calls: is it still reading the sources?"
    );
    assert!(
        offending.is_empty(),
        "store calls that are not plain reads; make them engine operations:\n{}",
        offending.join("\n")
    );
}

#[test]
fn the_scan_finds_a_write_however_it_is_spelled() {
    let text = "let a = state.store.create_user(x);\n\
                let b = state\n    .store\n    .delete_endpoint(t, id);\n\
                let c = restore.x(); let d = store().revoke_api_key(k);";
    let calls: Vec<String> = store_calls(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(calls, ["create_user", "delete_endpoint", "revoke_api_key"]);
}
