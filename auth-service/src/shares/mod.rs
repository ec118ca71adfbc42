//! The share registry: every share created here is recorded (SQLite, or PostgreSQL for several
//! replicas), so it can be listed, revoked, limited in uses and purged after it expired.
mod follower;
mod journal;
mod known;
mod record;
mod registry;
mod store;
mod unlocking;

pub use known::{KnownShare, KnownShares, Standing, UseDelta};
pub use record::{
    Cursor, ShareFilter, SharePage, ShareRecord, ShareState, ShareView, StoredProtection,
};
pub use registry::{
    RegistryOptions, SettingFollower, ShareRegistry, Unavailable, FLUSH_INTERVAL, POLL_INTERVAL,
};
pub use store::{
    Bound, Change, ChangeCursor, ChangesRead, CodeIssue, NewCode, SendLimit, ShareStore,
    UnlockState, DEFAULT_TIMEOUT,
};
