//! What the token routes do, apart from HTTP: issuing a share, opening one, unlocking a protected one. The handlers in
//! routes/tokens.rs read the request, call one of these, and write the answer.
mod issue;
mod opening;
pub mod unlocking;

pub use issue::issue;
pub use opening::{checked, denial_code, open, opened_answer, refused, Opening};
