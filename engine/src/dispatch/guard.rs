//! The destination guard: Herald sends requests to URLs its users type in, so
//! every outbound connection is vetted against the address ranges that lead
//! into the network Herald runs in (loopback, private, link-local, metadata
//! services, CGNAT, unique-local, multicast, reserved) and the IPv6 forms that
//! embed such an IPv4 address (mapped, compatible, NAT64, 6to4).
//!
//! The guard judges the addresses a name resolved to, and the connection is
//! made to exactly those addresses: there is no second lookup that DNS
//! rebinding could answer differently. An allow-list of CIDRs lets chosen
//! ranges through (local development, tests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is refused, for the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub addr: IpAddr,
    pub range: &'static str,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "destination {} is a {} address; Herald does not deliver there (allow it with HERALD_OUTBOUND_ALLOW_CIDRS)",
            self.addr, self.range
        )
    }
}

impl std::error::Error for Blocked {}

#[derive(Debug, Clone, Default)]
pub struct DestinationGuard {
    allow: Vec<IpNet>,
}

impl DestinationGuard {
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// Parses `HERALD_OUTBOUND_ALLOW_CIDRS`: comma-separated CIDRs (a bare
    /// address means just that address). Empty means nothing is allowed.
    pub fn parse_allow_list(text: &str) -> Result<Vec<IpNet>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("'{s}' is not a CIDR such as 127.0.0.0/8 or ::1/128"))
            })
            .collect()
    }

    pub fn allow_list(&self) -> &[IpNet] {
        &self.allow
    }

    /// Whether Herald may connect to `addr`.
    pub fn check(&self, addr: IpAddr) -> Result<(), Blocked> {
        let canonical = canonical(addr);
        if self
            .allow
            .iter()
            .any(|net| net.contains(&addr) || net.contains(&canonical))
        {
            return Ok(());
        }
        match blocked_range(addr) {
            Some(range) => Err(Blocked { addr, range }),
            None => Ok(()),
        }
    }
}

/// The IPv4 address an IPv6 address stands for, where it embeds one in a way
/// that routes to it (mapped, compatible, NAT64 well-known prefix, 6to4).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped)
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // ::ffff:0:a.b.c.d (translated, SIIT; RFC 2765)
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // ::a.b.c.d (the deprecated "compatible" form); :: and ::1 are their own cases.
        [0, 0, 0, 0, 0, 0, _, _] if !(s[6] == 0 && s[7] <= 1) => Some(low),
        // 64:ff9b::a.b.c.d (NAT64, RFC 6052)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:aabb:ccdd::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The refused range an address falls in, if any.
pub fn blocked_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return blocked_v4(v4);
            }
            blocked_v6(v6)
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        (0, ..) => "\"this network\" (0.0.0.0/8)",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private (RFC 1918)",
        (169, 254, _) => "link-local (cloud metadata lives here)",
        (100, 64..=127, _) => "shared CGNAT (100.64.0.0/10)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (192, 88, 99) => "deprecated 6to4 relay anycast (192.88.99.0/24)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        // Teredo hides the IPv4 address it reaches; nothing legitimate needs it.
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        // The rest of the IETF protocol assignments: benchmarking, ORCHID,
        // anycast services; no webhook receiver lives there.
        [0x2001, second, ..] if second < 0x200 => "IETF protocol assignment (2001::/23)",
        [0x2001, 0xdb8, ..] => "documentation",
        [first, ..] if first & 0xfff0 == 0x3ff0 => "documentation (3fff::/20)",
        [0x100, 0, 0, 0, ..] => "discard (100::/64)",
        [0x100, 0, 0, 1, ..] => "dummy prefix (100:0:0:1::/64)",
        [0x5f00, ..] => "segment routing SIDs (5f00::/16)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_internal_form_is_refused() {
        let cases = [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.254", "CGNAT"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "unique-local"),
            ("fd12:3456::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:0:127.0.0.1", "loopback"),
            ("::ffff:0:10.1.2.3", "private"),
            ("::ffff:0:169.254.169.254", "link-local"),
            ("192.88.99.1", "6to4 relay"),
            ("2001:2::1", "IETF protocol assignment"),
            ("2001:10::1", "IETF protocol assignment"),
            ("3fff::1", "documentation"),
            ("100:0:0:1::1", "dummy"),
            ("5f00::1", "segment routing"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("64:ff9b:1::1", "NAT64"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:c0a8:101::1", "private"),
            ("2001:0:4136:e378::1", "Teredo"),
        ];
        let guard = DestinationGuard::default();
        for (addr, range) in cases {
            let err = guard.check(ip(addr)).expect_err(addr);
            assert!(err.range.contains(range), "{addr}: {}", err.range);
            assert!(
                err.to_string().contains("HERALD_OUTBOUND_ALLOW_CIDRS"),
                "{err}"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        let guard = DestinationGuard::default();
        for addr in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "::ffff:0:93.184.216.34",
            "2001:4860:4860::8888",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert_eq!(guard.check(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn the_allow_list_lets_chosen_ranges_through_in_every_form() {
        let allow = DestinationGuard::parse_allow_list(" 127.0.0.0/8 , ::1,10.0.0.0/8").unwrap();
        let guard = DestinationGuard::new(allow);
        for addr in [
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "::1",
            "10.9.9.9",
            "2002:7f00:1::",
        ] {
            assert_eq!(guard.check(ip(addr)), Ok(()), "{addr}");
        }
        assert!(guard.check(ip("192.168.0.1")).is_err());
        assert!(guard.check(ip("169.254.169.254")).is_err());
    }

    #[test]
    fn a_bad_allow_list_names_the_entry() {
        let err = DestinationGuard::parse_allow_list("127.0.0.0/8,localhost").unwrap_err();
        assert!(err.contains("'localhost'"), "{err}");
        assert!(DestinationGuard::parse_allow_list("").unwrap().is_empty());
    }
}
