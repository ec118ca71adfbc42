//! Types that are valid once built: handlers never see an unchecked string for these.
mod expiration;
mod resource;
mod share;
mod share_id;

pub use expiration::{DateStyle, ExpirationDate, ExpirationParseError, MAX_VALIDITY_SECONDS};
pub use resource::Resource;
pub use share::{Guard, ShareToken};
pub use share_id::ShareId;
// The words of the contract live in the wire crate, shared with the clients.
pub use auth_wire::{Level, Permission, TokenType};
