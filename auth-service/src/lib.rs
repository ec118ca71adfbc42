//! auth-service: share tokens, viewer links and user profiles for the Orthanc authorization plugin.
pub mod api;
pub mod app_state;
pub mod basic_auth;
pub mod dev_mode;
pub mod domain;
pub mod emails;
pub mod error;
pub mod jsonc;
pub mod keycloak;
pub mod roles;
pub mod routes;
pub mod settings;
pub mod share_token;
pub mod startup;
pub mod telemetry;
pub mod user_profiles;
pub mod viewer_links;
