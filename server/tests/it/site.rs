//! The console's files as a release site serves them: pages name the
//! content-hashed files its `hash.txt` lists, browsers get the brotli or gzip
//! copy they accept, and hashed files may be kept for a year.

use herald_server::Config;

use crate::harness::TestServer;

const JS: &str = "0123456789abcdef";
const WASM: &str = "fedcba9876543210";
const CSS: &str = "00112233aabbccdd";

/// A site laid out as `scripts/build-site.sh release` lays it out, with
/// stand-in contents (each precompressed copy says which it is).
fn release_site(dir: &std::path::Path) {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        dir.join("hash.txt"),
        format!("js: {JS}\nwasm: {WASM}\ncss: {CSS}\n"),
    )
    .unwrap();
    for (hash, ext) in [(JS, "js"), (WASM, "wasm"), (CSS, "css")] {
        let name = pkg.join(format!("herald.{hash}.{ext}"));
        std::fs::write(&name, format!("plain {ext}")).unwrap();
        std::fs::write(format!("{}.br", name.display()), format!("brotli {ext}")).unwrap();
        std::fs::write(format!("{}.gz", name.display()), format!("gzip {ext}")).unwrap();
    }
    std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
}

#[tokio::test]
async fn a_release_site_is_served_under_hashed_names_precompressed_and_cached_for_a_year() {
    let site = tempfile::tempdir().unwrap();
    release_site(site.path());
    let dir = site.path().to_owned();
    let server = TestServer::start_with(move |config: &mut Config| config.site_dir = dir).await;

    let page = server
        .http
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        format!("/pkg/herald.{JS}.js"),
        format!("/pkg/herald.{WASM}.wasm"),
        format!("/pkg/herald.{CSS}.css"),
    ] {
        assert!(page.contains(&name), "the page names {name}: {page}");
    }

    let wasm = server.url(&format!("/pkg/herald.{WASM}.wasm"));
    for (accept, encoding, body) in [
        ("br, gzip", Some("br"), "brotli wasm"),
        ("gzip", Some("gzip"), "gzip wasm"),
        ("identity", None, "plain wasm"),
    ] {
        let res = server
            .http
            .get(&wasm)
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{accept}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(header("content-encoding").as_deref(), encoding, "{accept}");
        assert_eq!(
            header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{accept}"
        );
        assert_eq!(res.bytes().await.unwrap(), body.as_bytes(), "{accept}");
    }

    // Unhashed files are revalidated; pages get no file cache policy.
    let icon = server
        .http
        .get(server.url("/favicon.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.headers()["cache-control"], "no-cache");
    let login = server.http.get(server.url("/login")).send().await.unwrap();
    assert!(login.headers().get("cache-control").is_none());
}

#[tokio::test]
async fn a_debug_site_without_hashes_is_served_under_plain_names() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/herald.css"), "body{}").unwrap();
    let dir = site.path().to_owned();
    let server = TestServer::start_with(move |config: &mut Config| config.site_dir = dir).await;
    let page = server
        .http
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/pkg/herald.css"), "{page}");
    assert!(page.contains("/pkg/herald.js"), "{page}");
    let css = server
        .http
        .get(server.url("/pkg/herald.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["cache-control"], "no-cache");
}
