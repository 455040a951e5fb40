//! The client's address behind reverse proxies.
//!
//! The sign-in, bad-key and acknowledgement limits count per client address.
//! Behind a reverse proxy every connection comes from the proxy, so without
//! this all clients would share one allowance (and one client's failures
//! would lock out everyone). When the connecting peer is one of
//! `trusted_proxies`, the client is the right-most `X-Forwarded-For` entry
//! that is not itself a trusted proxy: entries to its left were written by
//! whoever sent the request and prove nothing. From any other peer the header
//! is ignored, so a client cannot choose its own address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::AppState;

/// Replaces the connection's address with the client's when a trusted proxy
/// forwarded the request.
pub async fn client_address(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if !state.trusted_proxies.is_empty()
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        if let Some(client) = forwarded_client(peer.ip(), &forwarded, &state.trusted_proxies) {
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
        }
    }
    next.run(req).await
}

/// The client `peer` forwarded for, when `peer` is trusted and the header
/// names one; `None` keeps the peer's own address.
pub fn forwarded_client(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return None;
    }
    for entry in forwarded_for.rsplit(',').map(str::trim) {
        // A malformed entry ends the chain: what is left of it is unproven.
        let ip = parse_entry(entry)?;
        if !is_trusted(&ip) {
            return Some(canonical(ip));
        }
    }
    None
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:5000`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is the IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(text: &str) -> Vec<IpNet> {
        text.split(',').map(|s| s.parse().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_nobody_else_can() {
        let trusted = nets("10.0.0.0/8,::1/128");
        // The proxy appends the address it saw.
        assert_eq!(
            forwarded_client(ip("10.0.0.5"), "203.0.113.7", &trusted),
            Some(ip("203.0.113.7"))
        );
        // What the client wrote itself, left of that, is not believed.
        assert_eq!(
            forwarded_client(ip("10.0.0.5"), "1.2.3.4, 203.0.113.7", &trusted),
            Some(ip("203.0.113.7"))
        );
        // Two proxies in a row: the right-most untrusted entry.
        assert_eq!(
            forwarded_client(ip("10.0.0.5"), "198.51.100.9, 10.0.0.6", &trusted),
            Some(ip("198.51.100.9"))
        );
        // An untrusted peer's header is ignored.
        assert_eq!(
            forwarded_client(ip("203.0.113.50"), "1.2.3.4", &trusted),
            None
        );
        // Nothing usable: the peer's own address stays.
        assert_eq!(forwarded_client(ip("10.0.0.5"), "", &trusted), None);
        assert_eq!(
            forwarded_client(ip("10.0.0.5"), "1.2.3.4, not-an-address", &trusted),
            None
        );
        assert_eq!(forwarded_client(ip("10.0.0.5"), "10.0.0.7", &trusted), None);
        // Ports and IPv6, and a peer written as IPv4-mapped IPv6.
        assert_eq!(
            forwarded_client(ip("::1"), "[2001:db8::1]:443", &trusted),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            forwarded_client(ip("::ffff:10.0.0.5"), "203.0.113.7:5000", &trusted),
            Some(ip("203.0.113.7"))
        );
        // No trusted proxies at all: never.
        assert_eq!(forwarded_client(ip("10.0.0.5"), "203.0.113.7", &[]), None);
    }
}
