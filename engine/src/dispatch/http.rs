//! One outbound webhook request: send it, read a bounded answer, and classify
//! what went wrong in terms an operator can act on.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

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
#[derive(Clone)]
struct Resolver {
    guard: Arc<DestinationGuard>,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> BoxError { Box::new(DnsFailure(format!("{host}: {e}"))) })?
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
                    Some(blocked) => Box::new(blocked) as BoxError,
                    None => Box::new(DnsFailure(format!("{host}: no addresses"))),
                });
            }
            Ok(vetted.into_iter())
        })
    }
}

/// The client deliveries go out on: hyper's keep-alive pool over plain TCP or
/// TLS (rustls, the Mozilla roots), every destination vetted by the guard's
/// resolver, no redirects (a 3xx is the receiver's answer), no proxy from the
/// environment. `idle_per_host` connections to one receiver stay open between
/// requests: as many as one endpoint may have in flight, so a busy endpoint
/// never reconnects.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<HttpConnector<Resolver>>,
        Full<Bytes>,
    >,
}

const AGENT: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"), " (webhooks)");

pub fn client(guard: Arc<DestinationGuard>, idle_per_host: usize) -> Client {
    let mut tcp = HttpConnector::new_with_resolver(Resolver { guard });
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(Duration::from_secs(10)));
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client {
        inner: hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(idle_per_host)
            .build(connector),
    }
}

/// Why a URL is not sent to.
enum Refused {
    Blocked(Blocked),
    Invalid,
}

/// The request target of `url`, its address judged by the guard when it is
/// written into the URL (the connector never looks those up, so the
/// resolver never sees them). Endpoint URLs are checked when they are saved,
/// so the plain form is the rule and parses directly; one that does not is
/// read as a browser would (WHATWG) first. A host that is not an address is
/// a name, whatever it looks like, and goes to the guard's resolver.
fn target(url: &str, guard: &DestinationGuard) -> Result<http::Uri, Refused> {
    let uri = match url.parse::<http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) => uri,
        _ => {
            let parsed = url::Url::parse(url).map_err(|_| Refused::Invalid)?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Refused::Invalid);
            }
            parsed
                .as_str()
                .parse::<http::Uri>()
                .map_err(|_| Refused::Invalid)?
        }
    };
    let host = uri.host().ok_or(Refused::Invalid)?;
    // As the connector reads it: one pair of brackets off, then an address
    // (connected to as it is) or a name (looked up by the guard's resolver).
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<std::net::IpAddr>();
    if let Ok(ip) = literal {
        guard.check(ip).map_err(Refused::Blocked)?;
    }
    Ok(uri)
}

/// Why an exchange failed before its answer was complete.
enum Failure {
    /// The whole exchange ran past its timeout.
    Timeout,
    /// Sending or connecting failed.
    Request(hyper_util::client::legacy::Error),
    /// The answer's body broke off.
    Body(hyper::Error),
}

pub async fn send(
    client: &Client,
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
    let broke_off = |failure: Failure| {
        let (class, message) = failure.judged();
        Exchange::failed(class, message, started.elapsed())
    };
    // Headers are built here, so a value that cannot be a header is told
    // apart from a bad URL.
    let mut header_map = HeaderMap::with_capacity(headers.len() + 2);
    header_map.insert(USER_AGENT, HeaderValue::from_static(AGENT));
    header_map.insert(ACCEPT, HeaderValue::from_static("*/*"));
    for (name, value) in headers {
        let name_ok = HeaderName::from_bytes(name.as_bytes());
        let value_ok = HeaderValue::from_str(value);
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
    let uri = match target(url, guard) {
        Ok(uri) => uri,
        Err(Refused::Blocked(blocked)) => {
            return failed(ErrorClass::BlockedDestination, blocked.to_string(), started);
        }
        Err(Refused::Invalid) => {
            return failed(
                ErrorClass::InvalidUrl,
                "the endpoint's URL is not an http or https URL Herald can send to".into(),
                started,
            );
        }
    };
    let mut request = http::Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = header_map;

    let deadline = tokio::time::Instant::now() + timeout;
    let response = match tokio::time::timeout_at(deadline, client.inner.request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return broke_off(Failure::Request(e)),
        Err(_) => return broke_off(Failure::Timeout),
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
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());

    let mut kept = Vec::new();
    let mut read = 0usize;
    let too_large = || {
        Some((
            ErrorClass::ResponseTooLarge,
            format!("the answer's body is larger than {MAX_RESPONSE_BYTES} bytes"),
        ))
    };
    let mut body_error = match declared {
        Some(len) if len > MAX_RESPONSE_BYTES as u64 => too_large(),
        _ => None,
    };
    let mut incoming = response.into_body();
    while body_error.is_none() {
        match tokio::time::timeout_at(deadline, incoming.frame()).await {
            Ok(Some(Ok(frame))) => {
                let Ok(chunk) = frame.into_data() else {
                    continue;
                };
                read += chunk.len();
                let room = EXCERPT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if read > MAX_RESPONSE_BYTES {
                    body_error = too_large();
                }
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => body_error = Some(Failure::Body(e).judged()),
            Err(_) => body_error = Some(Failure::Timeout.judged()),
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

impl Failure {
    /// Its error class and the line the receipt shows.
    fn judged(&self) -> (ErrorClass, String) {
        (classify(self), describe(self))
    }

    fn error(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Failure::Timeout => None,
            Failure::Request(e) => Some(e),
            Failure::Body(e) => Some(e),
        }
    }

    /// The error's causes, itself left out (its own text is the summary
    /// `describe` starts with).
    fn sources(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        std::iter::successors(self.error().and_then(StdError::source), |s| (*s).source())
    }

    fn is_connect(&self) -> bool {
        matches!(self, Failure::Request(e) if e.is_connect())
    }
}

fn classify(e: &Failure) -> ErrorClass {
    if matches!(e, Failure::Timeout) {
        return ErrorClass::Timeout;
    }
    if e.sources().any(|s| s.downcast_ref::<Blocked>().is_some()) {
        return ErrorClass::BlockedDestination;
    }
    if e.is_connect() {
        if e.sources()
            .any(|s| s.downcast_ref::<DnsFailure>().is_some())
        {
            return ErrorClass::Dns;
        }
        // TLS failures surface from the TLS stream as io errors of kind
        // InvalidData, which the connector may wrap in another io error (whose
        // `source()` skips it): look inside each io error too.
        let tls = e.sources().any(|s| {
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
fn describe(e: &Failure) -> String {
    let mut text = String::from(match e {
        Failure::Timeout => "no complete answer within the timeout",
        Failure::Request(_) if e.is_connect() => "cannot connect",
        Failure::Request(_) => "the request failed",
        Failure::Body(_) => "the response body broke off",
    });
    let own = e.error().map(ToString::to_string);
    for s in own.into_iter().chain(e.sources().map(ToString::to_string)) {
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

    fn judged(url: &str) -> Result<String, &'static str> {
        match target(url, &DestinationGuard::default()) {
            Ok(uri) => Ok(uri.to_string()),
            Err(Refused::Blocked(_)) => Err("blocked"),
            Err(Refused::Invalid) => Err("invalid"),
        }
    }

    #[test]
    fn a_target_is_read_as_the_connector_will_connect_to_it() {
        assert_eq!(
            judged("https://hooks.example.com:8443/in?x=1"),
            Ok("https://hooks.example.com:8443/in?x=1".into())
        );
        // What only a browser would read is read as a browser would.
        assert_eq!(
            judged("http://hooks.example.com/a b"),
            Ok("http://hooks.example.com/a%20b".into())
        );
        // Addresses the connector would dial without a lookup are judged here
        // (names, whatever they look like, by the resolver).
        assert_eq!(judged("http://127.0.0.1:9/hook"), Err("blocked"));
        assert_eq!(judged("http://[::1]/hook"), Err("blocked"));
        assert_eq!(judged("http://169.254.169.254/latest"), Err("blocked"));
        assert_eq!(judged("http://127.0.0.1/a b"), Err("blocked"));
        assert_eq!(judged("ftp://example.com/file"), Err("invalid"));
        assert_eq!(judged("not a url"), Err("invalid"));
    }

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
