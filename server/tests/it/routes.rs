//! The `(METHOD, path)` pairs Herald's routers register. The `/api/v1`
//! routes are the API router's own list: each is registered together with
//! its documentation (`routes!`), and no API source may register one any
//! other way. The top-level routes (`/healthz`, `/metrics`, …) are read from
//! their `.route("…", get(…))` calls in `lib.rs`. Tests compare them with the
//! permission table and the served OpenAPI document, so a route added without
//! a row there (or documentation) fails a test.

use std::collections::BTreeSet;
use std::path::Path;

pub type Routes = BTreeSet<(String, String)>;

/// An API route registered with a plain `.route(…)` would be served without
/// being documented (or in the list above): none may be.
#[test]
fn every_api_route_is_registered_with_its_documentation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/v1");
    let mut plain = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let mut found = Routes::new();
        routes_in(&path, "", &mut found);
        if !found.is_empty() {
            plain.push(format!("{}: {found:?}", path.display()));
        }
        assert!(
            source.contains("routes!(") || path.ends_with("mod.rs"),
            "{} registers no documented route",
            path.display()
        );
    }
    assert!(
        plain.is_empty(),
        "register these with routes!(…): {plain:?}"
    );
    assert!(
        api_v1().len() > 40,
        "the API router lists only {:?}",
        api_v1()
    );
}

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

/// The `/api/v1` routes, as the API router registers them (without the prefix).
pub fn api_v1() -> Routes {
    let doc = herald_server::api::v1::api(1024 * 1024).into_openapi();
    let mut found = Routes::new();
    for (path, item) in &doc.paths.paths {
        let path = path
            .strip_prefix("/api/v1")
            .unwrap_or_else(|| panic!("an API route outside /api/v1: {path}"));
        let item = serde_json::to_value(item).unwrap();
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.to_string()));
            }
        }
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

/// A path under `/api/v1` that no route serves is a JSON 404 naming it, not
/// the console's page.
#[tokio::test]
async fn an_unknown_api_path_is_a_404_naming_it() {
    let server = crate::harness::TestServer::start().await;
    let api = crate::client::Api::new(&server).await;
    let res = api
        .send(reqwest::Method::GET, "/api/v1/no-such-thing/here", None)
        .await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("/api/v1/no-such-thing/here"), "{message}");
}
