//! The one integration-test binary of landing-page: the real landing page on port 0, in front
//! of the real auth-service Application (in-process), spoken to over HTTP and through Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod confirm;
mod doctor;
mod flood;
mod helpers;
mod limits;
mod logs;
mod outcomes;
mod pages;
mod protected;
mod redirects;
mod smtp;
mod through_nginx;
