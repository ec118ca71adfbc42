//! `GET /metrics` on the main address, behind basic auth (unless METRICS_BIND_ADDRESS moves it).
use actix_web::{web, HttpResponse};

use crate::basic_auth::Caller;
use crate::error::{Error, ErrorBody, PythonError, Result};
use crate::metrics::Metrics;

/// Where the scrape is answered: on the main address (behind basic auth) or not.
#[derive(Clone, Copy, Debug)]
pub struct MetricsOnMainAddress(pub bool);

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 404, description = "Metrics are off (ENABLE_METRICS=false), or served on METRICS_BIND_ADDRESS instead", body = PythonError),
        (status = 500, description = "The metrics could not be written (see the log)", body = ErrorBody)))]
pub async fn scrape_behind_auth(
    _caller: Caller,
    metrics: web::Data<Metrics>,
    here: web::Data<MetricsOnMainAddress>,
) -> Result<HttpResponse> {
    if !here.0 || !metrics.enabled {
        return Err(Error::RouteNotFound);
    }
    scrape(metrics).await
}

/// The exposition, for the separate metrics address (no credentials there).
pub async fn scrape(metrics: web::Data<Metrics>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render()?))
}
