//! The `(METHOD, path)` pairs Herald's routers register, read from their
//! source: every `.route("…", get(…).post(…))` call. Tests compare them with
//! the permission table and the OpenAPI document, so a route added to a
//! router without a row there (or documentation) fails a test.

use std::collections::BTreeSet;
use std::path::Path;

pub type Routes = BTreeSet<(String, String)>;

/// The routes registered in one source file, with `prefix` before each path.
fn routes_in(file: &Path, prefix: &str, found: &mut Routes) {
    let source = std::fs::read_to_string(file).unwrap();
    let mut rest = source.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let open = rest.find('"').unwrap();
        assert!(
            rest[..open].trim().is_empty(),
            "{}: a route's path must be a string literal, to be found here",
            file.display()
        );
        let close = open + 1 + rest[open + 1..].find('"').unwrap();
        let path = format!("{prefix}{}", &rest[open + 1..close]);
        // The handlers: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap();
        let handlers = &rest[close..end];
        for method in ["get", "post", "patch", "put", "delete"] {
            let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && handlers.as_bytes()[i - 1] != b'_'
            });
            if called {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
        rest = &rest[end..];
    }
}

/// The `/api/v1` routers' routes, as registered (without the prefix).
pub fn api_v1() -> Routes {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/v1");
    let mut found = Routes::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        routes_in(&entry.unwrap().path(), "", &mut found);
    }
    found
}

/// Every route the server serves outside the console's pages and server
/// functions: `/api/v1/…` and the top-level ones (`/healthz`, `/metrics`, …).
pub fn served() -> Routes {
    let mut found: Routes = api_v1()
        .into_iter()
        .map(|(method, path)| (method, format!("/api/v1{path}")))
        .collect();
    routes_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"),
        "",
        &mut found,
    );
    found
}
