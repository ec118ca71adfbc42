//! Integration tests of the MedDream client against the MedDream double.
#![allow(clippy::unwrap_used)]

mod failures;
mod helpers;
mod pool;
mod tokens;
