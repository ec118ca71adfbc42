//! A recorded share as the registry holds it and as `GET /shares` shows it.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::ResourceDto;
use crate::domain::{ShareId, TokenType};
use auth_wire::{ProtectionEcho, ProtectionMethod};

/// How a share is protected, as the registry holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredProtection {
    pub method: ProtectionMethod,
    /// The addresses a code may be sent to (`email-code`), as given.
    pub addresses: Vec<String>,
    /// The password's Argon2id hash (PHC string), written at creation. Reads of the registry
    /// leave it out: only the unlock check reads it.
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for StoredProtection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredProtection")
            .field("method", &self.method)
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

impl StoredProtection {
    /// A plain publication created under REQUIRE_LINK_PROTECTION with PROTECT_EMAILED_LINKS=code:
    /// codes with no address yet. It opens nothing until `/emails/send` binds it to recipients.
    pub fn awaiting_email() -> StoredProtection {
        StoredProtection {
            method: ProtectionMethod::EmailCode,
            addresses: Vec::new(),
            password_hash: None,
        }
    }

    pub fn echo(&self) -> ProtectionEcho {
        ProtectionEcho {
            method: self.method,
            email_code: (self.method == ProtectionMethod::EmailCode)
                .then(|| self.addresses.clone()),
        }
    }
}

/// One row of the registry. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRecord {
    pub id: ShareId,
    /// `None` only for a revocation that came before its share's record (`recorded` false).
    pub token_type: Option<TokenType>,
    /// False for a row that holds a revocation only: the id was revoked before any share with
    /// it was recorded (a token from before the registry, or a record still on its way). The
    /// record, when it comes, fills the row in and stays revoked.
    pub recorded: bool,
    pub resources: Vec<ResourceDto>,
    /// The link handed out, with the token taken out of it.
    pub url: Option<String>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub max_uses: Option<u64>,
    pub use_count: u64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    /// A protected link, or a share bound to e-mail addresses since.
    pub protection: Option<StoredProtection>,
    /// Unix ms until which unlocking is refused (too many wrong attempts).
    pub locked_until: Option<i64>,
}

/// Where a share stands, as listed and filtered. One state each, in this order of precedence:
/// revoked, used-up, expired, active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ShareState {
    Active,
    Expired,
    Revoked,
    UsedUp,
}

impl ShareState {
    pub fn parse(text: &str) -> Option<ShareState> {
        match text {
            "active" => Some(ShareState::Active),
            "expired" => Some(ShareState::Expired),
            "revoked" => Some(ShareState::Revoked),
            "used-up" => Some(ShareState::UsedUp),
            _ => None,
        }
    }
}

impl ShareRecord {
    pub fn state(&self, now_ms: i64) -> ShareState {
        if self.revoked_at.is_some() {
            ShareState::Revoked
        } else if self.max_uses.is_some_and(|m| self.use_count > m) {
            ShareState::UsedUp
        } else if self.expires_at.is_some_and(|e| e <= now_ms) {
            ShareState::Expired
        } else {
            ShareState::Active
        }
    }

    pub fn view(&self, now_ms: i64) -> ShareView {
        ShareView {
            id: self.id.to_string(),
            token_type: self.token_type,
            resources: self.resources.clone(),
            url: self.url.clone(),
            created_at: self.recorded.then(|| time(self.created_at)).flatten(),
            created_by: self.recorded.then(|| self.created_by.clone()),
            expiration_date: self.expires_at.and_then(time),
            max_uses: self.max_uses,
            use_count: self.use_count,
            last_used_at: self.last_used_at.and_then(time),
            revoked_at: self.revoked_at.and_then(time),
            revoked_by: self.revoked_by.clone(),
            state: self.state(now_ms),
            protection: self.protection.as_ref().map(StoredProtection::echo),
            locked_until: self
                .locked_until
                .filter(|until| *until > now_ms)
                .and_then(time),
        }
    }
}

fn time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// `GET /shares/{id}` and each item of `GET /shares`. An id revoked before any share with it
/// was recorded shows `type`, `created-at` and `created-by` null.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Share, example = json!({"id": "3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5", "type": "stone-viewer-publication", "resources": [{"dicom-uid": "1.2.840.113619.2.55.3.604688119", "orthanc-id": null, "url": null, "level": "study"}], "url": "https://pacs.example.org/share/?token=", "created-at": "2026-11-30T09:12:44.120Z", "created-by": "orthanc", "expiration-date": "2026-12-30T09:12:44Z", "max-uses": 5, "use-count": 1, "last-used-at": "2026-11-30T10:02:01.517Z", "revoked-at": null, "revoked-by": null, "state": "active"}))]
pub struct ShareView {
    /// The first 32 hex digits of the token's SHA-256: names the share, never opens it.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(required = true)]
    pub token_type: Option<TokenType>,
    pub resources: Vec<ResourceDto>,
    /// The link handed out, with the token taken out of it.
    #[schema(required = true)]
    pub url: Option<String>,
    #[serde(rename = "created-at")]
    #[schema(required = true)]
    pub created_at: Option<DateTime<Utc>>,
    /// The Basic-auth user who created it.
    #[serde(rename = "created-by")]
    #[schema(required = true)]
    pub created_by: Option<String>,
    #[serde(rename = "expiration-date")]
    #[schema(required = true)]
    pub expiration_date: Option<DateTime<Utc>>,
    #[serde(rename = "max-uses")]
    #[schema(required = true, minimum = 1)]
    pub max_uses: Option<u64>,
    /// Opens through the landing page so far.
    #[serde(rename = "use-count")]
    pub use_count: u64,
    #[serde(rename = "last-used-at")]
    #[schema(required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(rename = "revoked-at")]
    #[schema(required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(rename = "revoked-by")]
    #[schema(required = true)]
    pub revoked_by: Option<String>,
    pub state: ShareState,
    /// Ours: how the link is protected (method and addresses; never the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionEcho>,
    /// While unlocking is refused after too many wrong attempts.
    #[serde(
        rename = "locked-until",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub locked_until: Option<DateTime<Utc>>,
}

/// `GET /shares` answer: newest first; `next-cursor` fetches the following page.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SharePage {
    pub shares: Vec<ShareView>,
    /// The `cursor` of the next page; null on the last one.
    #[serde(rename = "next-cursor")]
    #[schema(required = true, pattern = "^-?[0-9]+_[0-9a-f]{32}$")]
    pub next_cursor: Option<String>,
}

/// Where a page starts: strictly older than this share in (created-at, id) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn after(record: &ShareRecord) -> Cursor {
        Cursor {
            created_at: record.created_at,
            id: record.id.to_string(),
        }
    }

    pub fn parse(text: &str) -> Option<Cursor> {
        let (ms, id) = text.split_once('_')?;
        let id = ShareId::parse(id)?;
        Some(Cursor {
            created_at: ms.parse().ok()?,
            id: id.to_string(),
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.created_at, self.id)
    }
}

/// `GET /shares` query, checked.
#[derive(Clone, Debug, Default)]
pub struct ShareFilter {
    /// A DICOM UID or an Orthanc id of any of the share's resources.
    pub resource: Option<String>,
    pub token_type: Option<TokenType>,
    pub state: Option<ShareState>,
    pub created_by: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips_and_refuses_garbage() {
        let c = Cursor {
            created_at: 1_700_000_000_123,
            id: ShareId::of_token("x").to_string(),
        };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        assert_eq!(Cursor::parse("12_nothex"), None);
        assert_eq!(Cursor::parse("abc"), None);
    }
}
