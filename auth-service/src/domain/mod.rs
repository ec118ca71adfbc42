//! Types that are valid once built: handlers never see an unchecked string for these.
mod expiration;
mod level;
mod permission;
mod resource;
mod share;
mod share_id;
mod token_type;

pub use expiration::{DateStyle, ExpirationDate, ExpirationParseError, MAX_VALIDITY_SECONDS};
pub use level::Level;
pub use permission::Permission;
pub use resource::Resource;
pub use share::ShareToken;
pub use share_id::ShareId;
pub use token_type::TokenType;
