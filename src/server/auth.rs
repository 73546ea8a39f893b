//! Who is calling: anonymous, a registered customer, or support staff, from the
//! `Authorization: Bearer` header. An unknown key is refused, never downgraded to anonymous.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tracing::debug;

use super::AppState;
use super::error::ApiError;
use crate::config::Role;
use crate::content::article::Visibility;

/// The caller of a request and what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub role: Option<Role>,
    /// Drafts are shown: only in the writers' preview.
    pub drafts: bool,
}

impl Caller {
    /// A request without a key, outside the preview.
    pub const ANONYMOUS: Caller = Caller {
        role: None,
        drafts: false,
    };

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
        })
    }
}
