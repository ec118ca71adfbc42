//! The request and answer bodies of auth-service, with the dashed JSON names of the contract
//! (PROTOCOL.md), and the words they are made of (token types, levels, permissions).
//!
//! Every type here serialises and deserialises, so the service and its clients (the landing
//! page, tests) read and write the same bytes. Beside them, the one reader of a share token's
//! claims and expiration date, and the one definition of the token fingerprint the logs show.
//! This crate depends on serde, strum, chrono and sha2 only; its feature `openapi` adds the
//! OpenAPI schemas of these types (utoipa), for auth-service's document.
pub mod claims;
mod emails;
mod fingerprint;
#[cfg(feature = "openapi")]
pub mod openapi;
mod profiles;
mod protection;
mod roles;
mod tokens;
mod vocabulary;

pub use emails::{SendEmailRequest, SendEmailResponse};
pub use fingerprint::{fingerprint_of_sha256, token_fingerprint, FINGERPRINT_BYTES};
pub use profiles::{ProfileRequest, UserProfile};
pub use protection::{
    mask_address, CodeSent, ProtectionEcho, ProtectionInfo, ProtectionMethod, ProtectionRequest,
    SendCodeRequest, UnlockRequest, MAX_PASSWORD_CHARS, MAX_PROTECTION_ADDRESSES,
    MIN_PASSWORD_CHARS,
};
pub use roles::{RolePermissions, RoleUpdate, RolesConfig, RolesUpdate};
pub use tokens::{
    CreateTokenBody, CreateTokenEcho, CreateTokenResponse, DecodeErrorCode, DecodeRequest,
    DecodeResponse, Method, ResourceDto, ValidateRequest, ValidateResponse, MAX_LINK_BYTES,
};
pub use vocabulary::{Level, Permission, TokenType};
