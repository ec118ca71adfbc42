//! The pooled HTTP client of auth-service.
use std::time::Duration;

use auth_wire::{
    CreateTokenBody, CreateTokenResponse, DecodeRequest, DecodeResponse, SendCodeRequest,
    TokenType, UnlockRequest,
};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{AuthError, Result};

/// Largest answer accepted: a decode answer lists a share's resources, a few KiB even for a
/// share of hundreds of studies; past this it is not an answer of ours and reading stops there.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Time limits of every call.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// TCP connect: auth-service sits next to the landing page, a slow connect means it is down.
    pub connect: Duration,
    /// The whole call. Opening a MedDream publication waits for MedDream (5 s by default), so
    /// this must be longer than auth-service's own MedDream limit.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(10),
        }
    }
}

/// Client of auth-service. Build it once and share it (cloning shares the connection pool).
#[derive(Clone, Debug)]
pub struct AuthClient {
    http: reqwest::Client,
    base: Url,
    /// Parsed once: joining and parsing a URL (with its IDNA pass) on every call showed in the
    /// landing bench's profile.
    decode_url: Url,
    authorization: HeaderValue,
}

impl AuthClient {
    /// `base` is auth-service's root (`AUTH_SERVICE_URL`); `user`/`password` one of its `USERS`.
    /// Redirects are never followed: the credentials must go to auth-service only.
    pub fn new(
        base: &Url,
        user: &str,
        password: &SecretString,
        timeouts: Timeouts,
    ) -> Result<AuthClient> {
        if !matches!(base.scheme(), "http" | "https") {
            return Err(AuthError::Build(format!(
                "the auth-service URL must be http or https, not {}",
                base.scheme()
            )));
        }
        if timeouts.connect.is_zero() || timeouts.total.is_zero() {
            return Err(AuthError::Build("timeouts must be longer than zero".into()));
        }
        let mut base = base.clone();
        // Joining "tokens/decode" must append to a root like http://auth/prefix, not replace it.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .build()
            .map_err(|e| AuthError::Build(e.to_string()))?;
        let decode_url = base
            .join("tokens/decode")
            .map_err(|e| AuthError::Build(e.to_string()))?;
        Ok(AuthClient {
            http,
            base,
            decode_url,
            authorization: basic(user, password)?,
        })
    }

    /// `POST /tokens/decode`: what a token opens, or why it does not. Opening counts a use of
    /// the share and, for a MedDream publication, mints a MedDream link.
    pub async fn decode(&self, token: &str) -> Result<DecodeResponse> {
        self.decode_body(&DecodeRequest::of_token(token)).await
    }

    /// `POST /tokens/decode` with `preview`: whether the token would open and what it shares,
    /// checked by auth-service, without counting a use or minting anything (`redirect-url`
    /// null). Only our auth-service knows the flag; the Python service would open the link.
    pub async fn preview(&self, token: &str) -> Result<DecodeResponse> {
        self.decode_body(&DecodeRequest::preview_of_token(token))
            .await
    }

    async fn decode_body(&self, body: &DecodeRequest<'_>) -> Result<DecodeResponse> {
        self.call(self.http.post(self.decode_url.clone()).json(body))
            .await
    }

    /// `POST /tokens/unlock` (ours): a protected link's password or code checked; the answer
    /// carries the viewer link with the visitor's session token, or says why not (decode's
    /// shape). Counts a use of the share when it unlocks.
    pub async fn unlock(&self, request: &UnlockRequest) -> Result<DecodeResponse> {
        self.call(self.http.post(self.url("tokens/unlock")?).json(request))
            .await
    }

    /// `POST /tokens/send-code` (ours): e-mails a one-time code for a protected link to the
    /// address at `address` in the masked list decode gave.
    pub async fn send_code(&self, token: &str, address: usize) -> Result<DecodeResponse> {
        let body = SendCodeRequest {
            token_value: token.to_owned(),
            address,
        };
        self.call(self.http.post(self.url("tokens/send-code")?).json(&body))
            .await
    }

    /// `PUT /tokens/{type}`: a new share token and its link.
    pub async fn create_token(
        &self,
        token_type: TokenType,
        body: &CreateTokenBody,
    ) -> Result<CreateTokenResponse> {
        let path = format!("tokens/{}", token_type.as_str());
        self.call(self.http.put(self.url(&path)?).json(body)).await
    }

    /// `GET /health`: Ok when auth-service answers 200.
    pub async fn health(&self) -> Result<()> {
        let _: serde_json::Value = self.call(self.http.get(self.url("health")?)).await?;
        Ok(())
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| AuthError::Build(e.to_string()))
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T> {
        let mut response = request
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(AuthError::Status(status.as_u16()));
        }
        if response.content_length().unwrap_or(0) > MAX_ANSWER_BYTES as u64 {
            return Err(AuthError::OversizedAnswer);
        }
        // Chunk by chunk, so an answer without Content-Length is cut at the cap too.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(AuthError::OversizedAnswer);
            }
            body.extend_from_slice(&chunk);
        }
        // serde_json's message names a position, never the content.
        serde_json::from_slice(&body).map_err(|e| AuthError::InvalidAnswer(e.to_string()))
    }
}

fn unreachable(error: reqwest::Error) -> AuthError {
    // reqwest's Display names the URL (no credentials: they travel in a header) and the kind.
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    AuthError::Unreachable(kind.to_owned())
}

fn basic(user: &str, password: &SecretString) -> Result<HeaderValue> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{user}:{}", password.expose_secret()));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| AuthError::Build("the user name is not valid in a header".into()))?;
    // Kept out of reqwest's debug output.
    value.set_sensitive(true);
    Ok(value)
}
