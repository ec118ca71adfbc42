//! landing-page: the server-rendered page behind every publication link. It asks auth-service
//! what a link opens, then redirects to the viewer or tells the person plainly what is wrong.
pub mod doctor;
pub mod forms;
pub mod i18n;
pub mod link_claims;
pub mod metrics;
pub mod open_limits;
pub mod outcome;
pub mod pages;
pub mod redirects;
pub mod routes;
pub mod security_headers;
pub mod settings;
pub mod startup;

pub use service_telemetry as telemetry;
