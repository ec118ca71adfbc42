//! The request and answer bodies of auth-service, with the dashed JSON names of the contract
//! (PROTOCOL.md), and the words they are made of (token types, levels, permissions).
//!
//! Every type here serialises and deserialises, so the service and its clients (the landing
//! page, tests) read and write the same bytes. This crate depends on serde, strum and chrono (the
//! one reader of a share token's expiration date) only.
pub mod claims;
mod emails;
mod profiles;
mod roles;
mod tokens;
mod vocabulary;

pub use emails::{SendEmailRequest, SendEmailResponse};
pub use profiles::{ProfileRequest, UserProfile};
pub use roles::{RolePermissions, RoleUpdate, RolesConfig, RolesUpdate};
pub use tokens::{
    CreateTokenBody, CreateTokenEcho, CreateTokenResponse, DecodeErrorCode, DecodeRequest,
    DecodeResponse, Method, ResourceDto, ValidateRequest, ValidateResponse, MAX_LINK_BYTES,
};
pub use vocabulary::{Level, Permission, TokenType};
