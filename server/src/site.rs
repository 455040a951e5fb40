//! The console's files: which names the pages ask for, and how long browsers
//! may keep them.
//!
//! A release site (`scripts/build-site.sh release`) has content-hashed names
//! listed in its `hash.txt` and each file precompressed beside it (`.br`,
//! `.gz`, which the file handler sends to browsers that accept them). A hashed
//! file never changes under its name, so browsers keep it for a year without
//! asking again; anything else is revalidated on each use.

use std::path::Path;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use leptos::config::LeptosOptions;

/// Where a release site lists its hashed names (`js: …`, `wasm: …`, `css: …`).
pub const HASH_FILE: &str = "hash.txt";

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// The console's options for the site in `site_dir`: hashed names when the
/// site has a hash file (the path is absolute, so the binary may live anywhere).
pub fn leptos_options(site_dir: &Path, listen: std::net::SocketAddr) -> LeptosOptions {
    let hash_file = site_dir.join(HASH_FILE);
    let hashed = hash_file.is_file();
    let absolute = std::path::absolute(&hash_file).unwrap_or(hash_file);
    LeptosOptions::builder()
        .output_name("herald")
        .site_root(site_dir.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(listen)
        .hash_files(hashed)
        .hash_file(std::sync::Arc::<str>::from(absolute.display().to_string()))
        .build()
}

/// Sets `Cache-Control` on the site's files: a year for content-hashed ones,
/// revalidation for the rest. Pages and server functions are left as they are.
pub async fn cache_control(request: Request, next: Next) -> Response {
    let policy = policy_for(request.uri().path());
    let mut response = next.run(request).await;
    let served = matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED);
    if let Some(value) = policy.filter(|_| served)
        && !response.headers().contains_key(header::CACHE_CONTROL)
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

fn policy_for(path: &str) -> Option<HeaderValue> {
    let name = path.strip_prefix("/pkg/").or_else(|| {
        let file = path.strip_prefix('/')?;
        (!file.contains('/') && file.contains('.')).then_some(file)
    })?;
    Some(if path.starts_with("/pkg/") && is_hashed(name) {
        IMMUTABLE
    } else {
        REVALIDATE
    })
}

/// `herald.0123456789abcdef.wasm`: a name with a 16-hex-digit middle part.
fn is_hashed(name: &str) -> bool {
    let mut parts = name.split('.');
    let (Some(_), Some(hash), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_files_are_kept_for_a_year_and_others_revalidated() {
        assert_eq!(
            policy_for("/pkg/herald.0123456789abcdef.wasm"),
            Some(IMMUTABLE)
        );
        assert_eq!(
            policy_for("/pkg/herald.0123456789abcdef.css"),
            Some(IMMUTABLE)
        );
        assert_eq!(policy_for("/pkg/herald_bg.wasm"), Some(REVALIDATE));
        assert_eq!(policy_for("/pkg/herald.css"), Some(REVALIDATE));
        assert_eq!(policy_for("/favicon.svg"), Some(REVALIDATE));
        // Hex of the wrong length, or a hash-like part outside /pkg/.
        assert_eq!(
            policy_for("/pkg/herald.0123456789abcde.js"),
            Some(REVALIDATE)
        );
        assert_eq!(policy_for("/herald.0123456789abcdef.js"), Some(REVALIDATE));
        // Pages and server functions are not files.
        assert_eq!(policy_for("/events"), None);
        assert_eq!(policy_for("/api/v1/events"), None);
        assert_eq!(policy_for("/"), None);
    }
}
