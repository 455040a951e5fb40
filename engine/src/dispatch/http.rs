//! One outbound webhook request: send it, read a bounded answer, and classify
//! what went wrong in terms an operator can act on.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::guard::{Blocked, DestinationGuard};
use crate::model::ErrorClass;

/// How much of a response body a receipt keeps.
pub const EXCERPT_BYTES: usize = 4 * 1024;
/// The largest answer Herald reads. A receiver should answer briefly; one that
/// sends more (a URL serving a file, a misrouted proxy) fails the attempt with
/// `response_too_large`, and the connection is dropped rather than drained.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The outcome of one request, whatever happened.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub latency: Duration,
    pub status: Option<u16>,
    pub response_headers: BTreeMap<String, String>,
    pub excerpt: String,
    pub error: Option<(ErrorClass, String)>,
    /// `Retry-After` in milliseconds, when the receiver sent one.
    pub retry_after_ms: Option<u64>,
}

impl Exchange {
    /// An attempt that failed before (or without) an answer.
    pub fn failed(class: ErrorClass, message: String, latency: Duration) -> Self {
        Exchange {
            latency,
            status: None,
            response_headers: BTreeMap::new(),
            excerpt: String::new(),
            error: Some((class, message)),
            retry_after_ms: None,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The destination guard refused the address: nothing was sent.
    pub fn blocked(&self) -> bool {
        matches!(self.error, Some((ErrorClass::BlockedDestination, _)))
    }
}

/// Host name resolution failed. A type of its own so the failure can be told
/// apart from a refused connection by type, not by message text.
#[derive(Debug)]
struct DnsFailure(String);

impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot resolve host: {}", self.0)
    }
}

impl StdError for DnsFailure {}

/// Resolves with the system resolver (through tokio), reports failures as
/// `DnsFailure`, and hands on only the addresses the guard accepts: the
/// connection goes to one of those, with no second lookup.
struct Resolver {
    guard: Arc<DestinationGuard>,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn StdError + Send + Sync> {
                    Box::new(DnsFailure(format!("{host}: {e}")))
                })?
                .collect();
            let mut refused = None;
            let vetted: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match guard.check(a.ip()) {
                    Ok(()) => true,
                    Err(blocked) => {
                        refused.get_or_insert(blocked);
                        false
                    }
                })
                .collect();
            if vetted.is_empty() {
                return Err(match refused {
                    Some(blocked) => Box::new(blocked) as Box<dyn StdError + Send + Sync>,
                    None => Box::new(DnsFailure(format!("{host}: no addresses"))),
                });
            }
            Ok(Box::new(vetted.into_iter()) as Addrs)
        })
    }
}

/// The shared keep-alive client: no redirects (a 3xx is the receiver's answer),
/// no proxy from the environment, Herald's user agent, every destination vetted
/// by `guard`.
/// The client deliveries go out on. `idle_per_host` connections to one
/// receiver are kept open between requests: as many as one endpoint may have
/// in flight, so a busy endpoint never reconnects.
pub fn client(guard: Arc<DestinationGuard>, idle_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(Resolver { guard }))
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(idle_per_host)
        .tcp_nodelay(true)
        .build()
        .expect("a client without custom TLS roots always builds")
}

/// An address written into the URL is never looked up, so the resolver never
/// sees it: the guard judges it here.
fn literal_address(url: &url::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    }
}

pub async fn send(
    client: &reqwest::Client,
    guard: &DestinationGuard,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Exchange {
    let started = Instant::now();
    let failed = |class: ErrorClass, message: String, started: Instant| {
        Exchange::failed(class, message, started.elapsed())
    };
    // Headers are built here, not by the request builder, so a value that cannot
    // be a header is told apart from a bad URL (both would be "builder" errors).
    let mut header_map = reqwest::header::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name_ok = reqwest::header::HeaderName::from_bytes(name.as_bytes());
        let value_ok = reqwest::header::HeaderValue::from_str(value);
        let (Ok(name_ok), Ok(value_ok)) = (name_ok, value_ok) else {
            let shown: String = name.escape_debug().take(100).collect();
            return failed(
                ErrorClass::Internal,
                format!("cannot build the request: header '{shown}' is not a valid header"),
                started,
            );
        };
        header_map.append(name_ok, value_ok);
    }
    // Parsed once for the request and the guard; a URL that does not parse
    // goes to reqwest as text, which reports it as it always has.
    let parsed = url::Url::parse(url);
    let request = match &parsed {
        Ok(parsed) => client.post(parsed.clone()),
        Err(_) => client.post(url),
    };
    let request = request.timeout(timeout).headers(header_map).body(body);
    if let Some(Err(blocked)) = parsed
        .as_ref()
        .ok()
        .and_then(literal_address)
        .map(|ip| guard.check(ip))
    {
        return failed(ErrorClass::BlockedDestination, blocked.to_string(), started);
    }
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => return failed(classify(&e), describe(&e), started),
    };

    let status = response.status().as_u16();
    let mut response_headers = BTreeMap::new();
    for (name, value) in response.headers() {
        if let Ok(v) = value.to_str() {
            response_headers
                .entry(name.as_str().to_string())
                .or_insert_with(|| v.to_string());
        }
    }
    let retry_after_ms = match status {
        429 | 503 => response_headers
            .get("retry-after")
            .and_then(|v| parse_retry_after(v)),
        _ => None,
    };

    let mut kept = Vec::new();
    let mut read = 0usize;
    let too_large = || {
        Some((
            ErrorClass::ResponseTooLarge,
            format!("the answer's body is larger than {MAX_RESPONSE_BYTES} bytes"),
        ))
    };
    let mut body_error = match response.content_length() {
        Some(len) if len > MAX_RESPONSE_BYTES as u64 => too_large(),
        _ => None,
    };
    while body_error.is_none() {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                read += chunk.len();
                let room = EXCERPT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if read > MAX_RESPONSE_BYTES {
                    body_error = too_large();
                }
            }
            Ok(None) => break,
            Err(e) => {
                body_error = Some((classify(&e), describe(&e)));
                break;
            }
        }
    }
    let error = if let Some(e) = body_error {
        Some(e)
    } else if (200..300).contains(&status) {
        None
    } else if (300..400).contains(&status) {
        Some((
            ErrorClass::HttpStatus,
            format!("the receiver answered {status}; redirects are not followed"),
        ))
    } else {
        Some((
            ErrorClass::HttpStatus,
            format!("the receiver answered {status}"),
        ))
    };
    Exchange {
        latency: started.elapsed(),
        status: Some(status),
        response_headers,
        excerpt: String::from_utf8_lossy(&kept).into_owned(),
        error,
        retry_after_ms,
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, in milliseconds from now.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1_000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ms = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    Some(u64::try_from(ms).unwrap_or(0))
}

fn sources(e: &reqwest::Error) -> impl Iterator<Item = &(dyn StdError + 'static)> {
    std::iter::successors(e.source(), |s| (*s).source())
}

fn classify(e: &reqwest::Error) -> ErrorClass {
    if e.is_timeout() {
        return ErrorClass::Timeout;
    }
    if e.is_builder() {
        return ErrorClass::InvalidUrl;
    }
    if sources(e).any(|s| s.downcast_ref::<Blocked>().is_some()) {
        return ErrorClass::BlockedDestination;
    }
    if e.is_connect() {
        if sources(e).any(|s| s.downcast_ref::<DnsFailure>().is_some()) {
            return ErrorClass::Dns;
        }
        // TLS failures surface from the TLS stream as io errors of kind
        // InvalidData, which the connector may wrap in another io error (whose
        // `source()` skips it): look inside each io error too.
        let tls = sources(e).any(|s| {
            let mut io = s.downcast_ref::<std::io::Error>();
            while let Some(err) = io {
                if err.kind() == std::io::ErrorKind::InvalidData {
                    return true;
                }
                io = err
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<std::io::Error>());
            }
            false
        });
        return if tls {
            ErrorClass::Tls
        } else {
            ErrorClass::Connect
        };
    }
    ErrorClass::Connection
}

/// The error and its causes on one line, for the receipt. The URL is left out:
/// it can carry credentials in its query.
fn describe(e: &reqwest::Error) -> String {
    let mut text = String::from(if e.is_timeout() {
        "no complete answer within the timeout"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() {
        "the response body broke off"
    } else {
        "the request failed"
    });
    for s in sources(e) {
        let s = s.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(120_000));
        assert_eq!(parse_retry_after(" 0 "), Some(0));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let ms = parse_retry_after(&soon).unwrap();
        assert!((28_000..=30_000).contains(&ms), "{ms}");
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(0),
            "a past date means now"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
