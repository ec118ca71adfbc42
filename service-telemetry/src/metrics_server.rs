//! `METRICS_BIND_ADDRESS`: `GET /metrics` alone on an address of its own (a private network),
//! without credentials, for a service whose main address is public or behind Basic auth.
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

/// Listens on `address` and serves what `routes` configures (the service's `/metrics`) on one
/// worker. No signals of its own: it follows the main server and stops when that one stops.
/// Answers the port bound (the address may say port 0) and the server to run.
pub fn metrics_server<F>(address: &str, routes: F) -> std::io::Result<(u16, Server)>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let failed = |what: &str, e: std::io::Error| {
        std::io::Error::new(
            e.kind(),
            format!("{what} METRICS_BIND_ADDRESS {address}: {e}"),
        )
    };
    let listener = TcpListener::bind(address).map_err(|e| failed("cannot listen on", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| failed("cannot read the address of", e))?
        .port();
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .map_err(|e| failed("cannot serve on", e))?
        .run();
    Ok((port, server))
}
