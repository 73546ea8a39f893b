//! Who is calling: anonymous, a registered customer, or support staff, from the
//! `Authorization: Bearer` header. An unknown key is refused, never downgraded to anonymous.
//! Which key it was is kept as a fingerprint, never the key: drafts remember their creator by it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tracing::debug;

use super::AppState;
use super::error::ApiError;
use crate::config::Role;
use crate::content::article::Visibility;
use crate::events::ANONYMOUS_CREATOR;

/// Keeps fingerprints of keys apart from any other use of BLAKE3 on the same bytes.
const FINGERPRINT_CONTEXT: &str = "kbsearch 2026-12 API key fingerprint for event records";

/// A configured key, by a fingerprint that stands for it in stored records (the first 128 bits
/// of BLAKE3 in key-derivation mode, with a context of its own), so records name the key without
/// holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFingerprint([u8; 16]);

impl KeyFingerprint {
    pub(super) fn of(key: &str) -> Self {
        let derived = blake3::derive_key(FINGERPRINT_CONTEXT, key.as_bytes());
        let mut fingerprint = [0; 16];
        fingerprint.copy_from_slice(&derived[..16]);
        KeyFingerprint(fingerprint)
    }

    /// The fingerprint in lowercase hex, as records and session tokens write it.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The caller of a request and what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub role: Option<Role>,
    /// Drafts are shown: only in the writers' preview.
    pub drafts: bool,
    /// The key the request came with, if any.
    pub key: Option<KeyFingerprint>,
}

impl Caller {
    /// A request without a key, outside the preview.
    pub const ANONYMOUS: Caller = Caller {
        role: None,
        drafts: false,
        key: None,
    };

    /// How drafts name this caller as their creator: `anonymous`, `preview`, or `key:` and the
    /// key's fingerprint in hex. Never the key.
    pub fn creator(self) -> String {
        match (self.key, self.drafts) {
            (Some(fingerprint), _) => format!("key:{}", fingerprint.hex()),
            (None, true) => "preview".to_string(),
            (None, false) => ANONYMOUS_CREATOR.to_string(),
        }
    }

    /// The most restricted visibility this caller may see.
    pub fn audience(self) -> Visibility {
        match self.role {
            None => Visibility::Public,
            Some(Role::Customer) => Visibility::Customer,
            Some(Role::Agent) => Visibility::Internal,
        }
    }

    pub fn is_agent(self) -> bool {
        self.role == Some(Role::Agent)
    }

    /// For the agent routes: no key is 401 (with `WWW-Authenticate: Bearer`, so clients know to
    /// send one), a key without the agent role 403.
    pub fn require_agent(self) -> Result<(), ApiError> {
        match self.role {
            None => Err(ApiError::KeyRequired),
            Some(Role::Agent) => Ok(()),
            Some(Role::Customer) => Err(ApiError::Forbidden),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.preview {
            // The writers' preview shows everything, labelled on every page.
            return Ok(Caller {
                role: Some(Role::Agent),
                drafts: true,
                key: None,
            });
        }
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Caller::ANONYMOUS);
        };
        let key = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        let Some(configured) = state.config.key(key) else {
            debug!("request with an unknown API key refused");
            return Err(ApiError::Unauthorized);
        };
        debug!(key = configured.name.as_deref().unwrap_or("unnamed"), role = ?configured.role, "caller");
        Ok(Caller {
            role: Some(configured.role),
            drafts: false,
            key: Some(KeyFingerprint::of(&configured.key)),
        })
    }
}
