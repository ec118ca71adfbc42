//! The one integration-test binary of auth-service: the real app on port 0, spoken to over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// First: its macros (`realm_or_skip!`, `test_name!`) serve the modules below.
#[macro_use]
mod tools;

mod emails;
mod healthcheck;
mod helpers;
mod keycloak_container;
mod keycloak_double;
mod meddream;
mod no_500;
mod plugin_replay;
mod properties;
mod realm;
mod roles;
mod settings;
mod tokens;
mod user;
