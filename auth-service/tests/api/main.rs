//! The one integration-test binary of auth-service: the real app on port 0, spoken to over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// First: its macros (`realm_or_skip!`, `test_name!`) serve the modules below.
#[macro_use]
mod tools;

mod command_line;
mod conformance;
mod creation_checks;
mod doctor;
mod emails;
mod gate;
mod gate_attacks;
mod gate_stack;
mod health;
mod healthcheck;
mod helpers;
mod keycloak_container;
mod keycloak_double;
mod keycloak_tokens;
mod logs;
mod meddream;
mod metrics;
mod no_500;
mod openapi;
mod plugin_replay;
mod postgres_server;
mod properties;
mod protected_links;
mod realm;
mod replicas;
mod roles;
mod settings;
mod shares;
mod shutdown;
mod stand_ins;
mod throttle;
mod tokens;
mod user;
mod users;
