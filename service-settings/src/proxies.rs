//! `TRUSTED_PROXIES`: the peers whose `X-Forwarded-For` names the client, and the client
//! address a request is counted against (login throttling, open limits).
use std::net::IpAddr;

use ipnet::IpNet;

use crate::{invalid, SettingsError};

/// Addresses and networks of the proxies in front of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses or networks separated by commas or spaces (`172.18.0.0/16, 10.0.0.5`); none
    /// when unset.
    pub fn parse(name: &'static str, text: Option<&str>) -> Result<TrustedProxies, SettingsError> {
        let Some(text) = text else {
            return Ok(TrustedProxies::default());
        };
        text.split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        invalid(
                            name,
                            "must be IP addresses or networks (10.0.0.0/8), separated by commas",
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Loopback and the private networks (RFC 1918, RFC 4193): where a reverse proxy in the
    /// same Docker network or host sits.
    pub fn private_networks() -> TrustedProxies {
        let nets = [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "::1/128",
            "fc00::/7",
        ];
        TrustedProxies(nets.iter().filter_map(|n| n.parse().ok()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The address a request counts against. A peer that is a trusted proxy passes the client
    /// on in `X-Forwarded-For` (each header value given, in order): the right-most address
    /// there that is not itself a trusted proxy (the ones to its left were written by the
    /// client and prove nothing). Anyone else is its own address, whatever headers it sends.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        hops.reverse();
        let mut client = peer;
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        break;
                    }
                }
                // Garbage in the chain: keep the last address we could trust.
                Err(_) => break,
            }
        }
        client
    }
}

/// `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) matches `10.0.0.0/8`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let t = TrustedProxies::parse("T", Some("10.0.0.0/8")).unwrap();
        let spoofed = ["203.0.113.9"];
        assert_eq!(t.client(ip("198.51.100.7"), spoofed), ip("198.51.100.7"));
        assert_eq!(t.client(ip("10.0.0.2"), spoofed), ip("203.0.113.9"));
        // The client wrote the left part; nginx appended the address it saw.
        let chain = ["1.1.1.1, 203.0.113.9", "10.0.0.3"];
        assert_eq!(t.client(ip("10.0.0.2"), chain), ip("203.0.113.9"));
        assert_eq!(t.client(ip("10.0.0.2"), ["junk"]), ip("10.0.0.2"));
        assert_eq!(t.client(ip("10.0.0.2"), []), ip("10.0.0.2"));
        assert_eq!(
            t.client(ip("::ffff:10.0.0.2"), spoofed),
            ip("203.0.113.9"),
            "an IPv4-mapped peer is the same proxy"
        );
    }

    #[test]
    fn settings_name_their_variable_and_private_networks_cover_docker() {
        let t = TrustedProxies::parse("T", Some("172.18.0.0/16, 10.0.0.5")).unwrap();
        assert!(t.contains(ip("10.0.0.5")) && t.contains(ip("172.18.3.4")));
        assert!(!t.contains(ip("10.0.0.6")));
        assert_eq!(
            TrustedProxies::parse("T", Some("nginx")).unwrap_err().name,
            "T"
        );
        assert!(TrustedProxies::parse("T", None).unwrap().is_empty());
        let private = TrustedProxies::private_networks();
        for inside in [
            "127.0.0.1",
            "172.18.0.3",
            "192.168.1.1",
            "10.1.2.3",
            "::1",
            "fd00::1",
        ] {
            assert!(private.contains(ip(inside)), "{inside}");
        }
        assert!(!private.contains(ip("203.0.113.9")));
    }
}
