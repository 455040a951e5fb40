//! Endpoint URLs can carry credentials (`https://user:password@host/`,
//! `?token=…`). Callers who may manage endpoints see them whole; everyone
//! else, and every audit summary, sees them masked.

/// What stands in for a hidden part of a URL.
pub const MASK: &str = "***";

/// `url` with its userinfo and every query value replaced by `***`: scheme,
/// host, port, path and query names stay, so the URL is still recognisable.
pub fn mask_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len());
    match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            out.push_str("://");
            match authority.rsplit_once('@') {
                Some((_, host)) => {
                    out.push_str(MASK);
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}={MASK}"),
                None if pair.is_empty() => String::new(),
                // A bare value (`?s3cret`) is a value too.
                None => MASK.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if fragment.is_some() {
        out.push('#');
        out.push_str(MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_query_values_are_masked() {
        let cases = [
            ("https://example.com/hook", "https://example.com/hook"),
            (
                "http://user:s3cr3t@127.0.0.1:9002/?token=abc",
                "http://***@127.0.0.1:9002/?token=***",
            ),
            (
                "https://hooks.example/in?key=1&sig=2&flag",
                "https://hooks.example/in?key=***&sig=***&***",
            ),
            ("https://u@h.example", "https://***@h.example"),
            ("https://h.example/p#frag", "https://h.example/p#***"),
            ("https://a@b@h.example/x", "https://***@h.example/x"),
        ];
        for (url, masked) in cases {
            assert_eq!(mask_url(url), masked, "{url}");
        }
    }
}
