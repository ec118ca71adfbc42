//! auth-service: share tokens, viewer links and user profiles for the Orthanc authorization plugin.
pub mod access;
pub mod api;
pub mod app_state;
pub mod basic_auth;
pub mod dev_mode;
pub mod doctor;
pub mod domain;
pub mod emails;
pub mod error;
pub mod gate;
pub mod jsonc;
pub mod keycloak;
pub mod metrics;
pub mod readiness;
pub mod roles;
pub mod routes;
pub mod settings;
pub mod share_token;
pub mod shares;
pub mod shutdown;
pub mod startup;
pub mod throttle;
pub mod url_text;
pub mod user_profiles;
pub mod users;
pub mod viewer_links;

pub use service_telemetry as telemetry;
