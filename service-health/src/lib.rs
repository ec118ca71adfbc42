//! `<service> healthcheck`: the container HEALTHCHECK of auth-service and landing-page, so their
//! images need no curl or shell. It asks `GET /health` of the server the same configuration
//! would start (its `BIND_ADDRESS`), over loopback.
pub mod doctor;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Docker's default health-check timeout is 30 s; answer well within it.
const TIMEOUT: Duration = Duration::from_secs(3);
/// The status line and headers of `/health` fit easily; never read an unbounded answer.
const MAX_ANSWER_BYTES: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("BIND_ADDRESS {0:?} is not host:port")]
    BadBindAddress(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no answer from {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr} answered {status_line:?}, not 200")]
    NotOk {
        addr: SocketAddr,
        status_line: String,
    },
}

/// Where to reach a server bound to `bind_address`: a wildcard address becomes loopback.
pub fn probe_address(bind_address: &str) -> Result<SocketAddr, HealthcheckError> {
    let bad = || HealthcheckError::BadBindAddress(bind_address.to_owned());
    let mut addr = bind_address
        .to_socket_addrs()
        .map_err(|_| bad())?
        .next()
        .ok_or_else(bad)?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// One `GET /health`; Ok when the answer's status is 200.
pub fn probe(addr: SocketAddr, path: &str) -> Result<(), HealthcheckError> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|source| HealthcheckError::Connect { addr, source })?;
    let io = |source| HealthcheckError::Io { addr, source };
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut answer)
        .map_err(io)?;
    let status_line = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut parts = status_line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(()),
        _ => Err(HealthcheckError::NotOk { addr, status_line }),
    }
}

/// The subcommand: exit code 0 when healthy, 1 otherwise, with one line on stderr saying why.
pub fn run(service: &str, bind_address: &str) -> i32 {
    match probe_address(bind_address).and_then(|addr| probe(addr, "/health")) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{service} healthcheck: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn probe_address_turns_wildcards_into_loopback_and_refuses_garbage() {
        assert_eq!(
            probe_address("0.0.0.0:8000").unwrap().to_string(),
            "127.0.0.1:8000"
        );
        assert_eq!(
            probe_address("[::]:8000").unwrap().to_string(),
            "[::1]:8000"
        );
        assert_eq!(
            probe_address("127.0.0.2:9").unwrap().to_string(),
            "127.0.0.2:9"
        );
        assert!(matches!(
            probe_address("no-port"),
            Err(HealthcheckError::BadBindAddress(_))
        ));
    }

    #[test]
    fn probe_of_a_closed_port_is_a_connect_error() {
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        assert!(matches!(
            probe(addr, "/health"),
            Err(HealthcheckError::Connect { .. })
        ));
    }
}
