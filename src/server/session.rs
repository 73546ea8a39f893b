//! Agent sign-in for pages. `POST /signin` (in `signin`) takes an agent key once and answers
//! with a session cookie, so a browser shows an agent's pages without the key being sent again.
//! The cookie holds a token, never the key: which key (its fingerprint, as event records name
//! it), its role and when the sign-in ends, signed with HMAC-SHA256 by axum-extra's
//! `SignedCookieJar`. It is `HttpOnly` (no script reads it), `SameSite=Strict` (no page or form
//! of another site sends it), `Path=/`, with a `Max-Age`; and `Secure` when the service is
//! reached over HTTPS: `[session] secure`, or a trusted proxy (`rate_limit.trusted_proxies`)
//! saying `X-Forwarded-Proto: https`.
//!
//! A cookie that does not verify, has expired, or names a key no longer configured as an agent
//! key is ignored: the request is anonymous. Only pages read the cookie ([`PageCaller`],
//! [`AgentPage`]); the JSON API keeps bearer keys, so no signed-in browser drives it.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use ipnet::IpNet;
use tracing::debug;

use super::AppState;
use super::auth::{Caller, KeyFingerprint};
use super::error::{ApiError, PageError};
use crate::config::{ApiKey, Config, Role};

/// The session cookie's name.
pub const COOKIE: &str = "kbsearch_session";
/// Longest page address to return to after signing in (`next`).
pub const MAX_NEXT_CHARS: usize = 2000;
/// The first part of every token, so a later format can tell old tokens apart.
const TOKEN_VERSION: &str = "v1";
/// Keeps the signing key derived from `session.secret` apart from any other use of that secret.
const SECRET_CONTEXT: &str = "kbsearch 2026-12 session cookie signing key";

/// Who a valid session cookie says is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub key: KeyFingerprint,
    pub role: Role,
    /// The key's name from the configuration, for pages and logs.
    pub name: String,
    /// Seconds since the Unix epoch when the sign-in ends.
    pub expires: u64,
}

impl Session {
    /// The caller this session stands for on pages.
    pub fn caller(&self) -> Caller {
        Caller {
            role: Some(self.role),
            drafts: false,
            key: Some(self.key),
        }
    }
}

/// A configured key as a token names it.
struct KnownKey {
    fingerprint: KeyFingerprint,
    role: Role,
    name: String,
}

/// Signs and reads session cookies, with the settings of `[session]`.
pub struct Sessions {
    key: Key,
    lifetime: Duration,
    always_secure: bool,
    trusted_proxies: Vec<IpNet>,
    keys: Vec<KnownKey>,
}

impl Sessions {
    /// From `[session]`: a key derived from `secret`, or a random one for this process.
    pub fn new(config: &Config) -> Self {
        let key = match &config.session.secret {
            Some(secret) => {
                let mut material = [0u8; 64];
                blake3::Hasher::new_derive_key(SECRET_CONTEXT)
                    .update(secret.expose().as_bytes())
                    .finalize_xof()
                    .fill(&mut material);
                Key::from(&material)
            }
            None => Key::generate(),
        };
        let keys = config
            .keys
            .iter()
            .map(|key| KnownKey {
                fingerprint: KeyFingerprint::of(&key.key),
                role: key.role,
                name: key_name(key),
            })
            .collect();
        Sessions {
            key,
            lifetime: Duration::from_secs(u64::from(config.session.hours) * 3600),
            always_secure: config.session.secure,
            trusted_proxies: config.rate_limit.trusted_proxies.clone(),
            keys,
        }
    }

    /// The session the request's cookie carries, if the cookie verifies and is current.
    pub fn current(&self, headers: &HeaderMap) -> Option<Session> {
        let jar = SignedCookieJar::from_headers(headers, self.key.clone());
        let cookie = jar.get(COOKIE)?;
        let session = self.verify(cookie.value(), now());
        if session.is_none() {
            debug!("session cookie ignored: expired, or its key is no longer configured");
        }
        session
    }

    /// The cookie that signs `key` in until the configured lifetime has passed.
    pub fn sign_in(&self, key: &ApiKey, secure: bool) -> SignedCookieJar {
        let expires = now() + self.lifetime.as_secs();
        let token = format!(
            "{TOKEN_VERSION}.{}.{}.{expires}",
            KeyFingerprint::of(&key.key).hex(),
            key.role.as_str()
        );
        SignedCookieJar::new(self.key.clone()).add(self.cookie(token, secure))
    }

    /// A `Set-Cookie` value that ends the session in the browser, whatever it held.
    pub fn sign_out(&self, secure: bool) -> HeaderValue {
        let mut cookie = self.cookie(String::new(), secure);
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).expect("a cookie is a valid header value")
    }

    /// Whether the browser reached the service over HTTPS, so the cookie must be `Secure`.
    pub fn secure(&self, parts: &Parts) -> bool {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        self.always_secure || self.forwarded_https(peer, &parts.headers)
    }

    /// A trusted proxy says the browser used HTTPS. Any `https` entry counts: a proxy that
    /// appends rather than replaces leaves the client's own entries first, and a needless
    /// `Secure` costs nothing over HTTPS.
    fn forwarded_https(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
        let Some(peer) = peer.map(|peer| peer.to_canonical()) else {
            return false;
        };
        if !self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            return false;
        }
        headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }

    fn cookie(&self, value: String, secure: bool) -> Cookie<'static> {
        let max_age = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        Cookie::build((COOKIE, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(secure)
            .max_age(cookie::time::Duration::seconds(max_age))
            .build()
    }

    /// The session a token names, if it is well formed, current at `now` and for a key still
    /// configured with that role. A token that outlives the configured lifetime (signed before
    /// `session.hours` was lowered) ends early.
    fn verify(&self, token: &str, now: u64) -> Option<Session> {
        let mut parts = token.split('.');
        let (Some(TOKEN_VERSION), Some(fingerprint), Some(role), Some(expires), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let expires: u64 = expires.parse().ok()?;
        if expires <= now || expires > now.saturating_add(self.lifetime.as_secs()) {
            return None;
        }
        let known = self
            .keys
            .iter()
            .find(|known| known.fingerprint.hex() == fingerprint && known.role.as_str() == role)?;
        Some(Session {
            key: known.fingerprint,
            role: known.role,
            name: known.name.clone(),
            expires,
        })
    }
}

/// How pages and logs name a key: its configured name, or the start of its fingerprint.
pub fn key_name(key: &ApiKey) -> String {
    match &key.name {
        Some(name) => name.clone(),
        None => format!("key {}", &KeyFingerprint::of(&key.key).hex()[..8]),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Whether the browser reached the service over HTTPS, so the cookie must be `Secure`.
pub struct Https(pub bool);

impl FromRequestParts<AppState> for Https {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Https(state.sessions.secure(parts)))
    }
}

/// The caller of a page: a bearer key as for the API (and the preview's own caller), else the
/// signed-in session, else anonymous.
#[derive(Debug, Clone, Copy)]
pub struct PageCaller(pub Caller);

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.preview || parts.headers.contains_key(header::AUTHORIZATION) {
            return Caller::from_request_parts(parts, state)
                .await
                .map(PageCaller);
        }
        let caller = state
            .sessions
            .current(&parts.headers)
            .map_or(Caller::ANONYMOUS, |session| session.caller());
        Ok(PageCaller(caller))
    }
}

/// For pages only agents may open: the agent, or a redirect to `/signin` (and back here after
/// it) for a browser that is not signed in; a customer key is refused.
#[derive(Debug, Clone, Copy)]
pub struct AgentPage(pub Caller);

impl FromRequestParts<AppState> for AgentPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PageCaller(caller) = PageCaller::from_request_parts(parts, state)
            .await
            .map_err(|err| PageError::titled("Sign-in failed", err).into_response())?;
        match caller.role {
            Some(Role::Agent) => Ok(AgentPage(caller)),
            Some(Role::Customer) => Err(PageError::new(
                StatusCode::FORBIDDEN,
                "For support agents only",
                "This page is for support agents. Sign in with an agent key to open it.",
            )
            .into_response()),
            None => {
                // Nested routers see their own part of the path; the original is where to return.
                let uri = match parts.extensions.get::<OriginalUri>() {
                    Some(OriginalUri(original)) => original,
                    None => &parts.uri,
                };
                let back = uri
                    .path_and_query()
                    .map(|pq| pq.as_str())
                    .filter(|back| back.chars().count() <= MAX_NEXT_CHARS)
                    .unwrap_or("/");
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", back)
                    .finish();
                Err(Redirect::to(&format!("/signin?{query}")).into_response())
            }
        }
    }
}

/// Where to go after signing in: `next` when it is a path on this site, else the search page;
/// a `next` longer than [`MAX_NEXT_CHARS`] is a bad parameter.
pub fn return_path(next: Option<&str>) -> Result<&str, ApiError> {
    match next {
        Some(next) if next.chars().count() > MAX_NEXT_CHARS => Err(ApiError::parameter(
            "next",
            format!("longer than {MAX_NEXT_CHARS} characters"),
        )),
        _ => Ok(local_path(next)),
    }
}

/// `next` when it is a path on this site, else the search page. Anything else
/// (`//other.example`, `https://…`, a backslash some browsers read as a slash) would make the
/// sign-in form a way to send people to another site.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

/// Middleware: a response to a request that carries a session cookie is for that browser only,
/// never kept by a shared cache (it may show internal articles).
pub async fn private_when_signed_in(request: Request, next: Next) -> Response {
    let has_session = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split(';')
                .any(|pair| pair.trim_start().starts_with(&format!("{COOKIE}=")))
        });
    let mut response = next.run(request).await;
    if has_session {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    const AGENT: &str = "agent-key-0123456789abc";
    const CUSTOMER: &str = "customer-key-0123456789";

    fn config(secret: Option<&str>) -> Config {
        let mut config = Config::default();
        config.session.secret = secret.map(Secret::new);
        config.keys = vec![
            ApiKey {
                key: AGENT.into(),
                role: Role::Agent,
                name: Some("Ada".into()),
            },
            ApiKey {
                key: CUSTOMER.into(),
                role: Role::Customer,
                name: None,
            },
        ];
        config
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    /// A cookie holding `token`, signed as `sessions` signs.
    fn token_cookie(sessions: &Sessions, token: &str) -> String {
        cookie_of(
            SignedCookieJar::new(sessions.key.clone()).add(Cookie::new(COOKIE, token.to_string())),
        )
    }

    /// The `name=value` part of a jar's `Set-Cookie`.
    fn cookie_of(jar: SignedCookieJar) -> String {
        let response = jar.into_response();
        let value = response.headers()[header::SET_COOKIE].to_str().unwrap();
        value.split(';').next().unwrap().to_string()
    }

    #[test]
    fn a_signed_in_cookie_reads_back_as_its_agent() {
        let sessions = Sessions::new(&config(None));
        let cookie = cookie_of(sessions.sign_in(&config(None).keys[0], false));
        assert!(!cookie.contains(AGENT), "{cookie}");
        let session = sessions.current(&headers(&cookie)).expect("a session");
        assert_eq!(session.role, Role::Agent);
        assert_eq!(session.name, "Ada");
        assert_eq!(session.key, KeyFingerprint::of(AGENT));
        assert!(session.expires > now() + 7 * 3600, "{session:?}");
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_ignored() {
        let sessions = Sessions::new(&config(Some("0123456789abcdef0123456789abcdef")));
        let fingerprint = KeyFingerprint::of(AGENT).hex();
        let token = |expires: u64| format!("v1.{fingerprint}.agent.{expires}");
        let valid = token(now() + 60);
        assert!(
            sessions
                .current(&headers(&token_cookie(&sessions, &valid)))
                .is_some()
        );
        // Expired, or longer than the configured lifetime.
        let expired = token_cookie(&sessions, &token(now() - 1));
        assert!(sessions.current(&headers(&expired)).is_none());
        let too_long = token_cookie(&sessions, &token(now() + 9 * 3600));
        assert!(sessions.current(&headers(&too_long)).is_none());
        // The customer key's fingerprint with the agent role, an unknown key, a bad format.
        let customer = KeyFingerprint::of(CUSTOMER).hex();
        for bad in [
            format!("v1.{customer}.agent.{}", now() + 60),
            format!("v1.{}.agent.{}", "0".repeat(32), now() + 60),
            format!("v2.{fingerprint}.agent.{}", now() + 60),
            format!("v1.{fingerprint}.agent.{}.x", now() + 60),
            format!("v1.{fingerprint}.agent.soon"),
        ] {
            assert!(
                sessions
                    .current(&headers(&token_cookie(&sessions, &bad)))
                    .is_none(),
                "{bad}"
            );
        }
        // Signed with another secret, or not signed: the signature does not verify.
        let other = Sessions::new(&config(Some("another-secret-0123456789abcdef-xyz")));
        assert!(
            sessions
                .current(&headers(&token_cookie(&other, &valid)))
                .is_none()
        );
        assert!(
            sessions
                .current(&headers(&format!("{COOKIE}={valid}")))
                .is_none()
        );
        // One changed character in a valid cookie.
        let good = token_cookie(&sessions, &valid);
        let tampered = good.replace(".agent.", ".agenT.");
        assert_ne!(good, tampered);
        assert!(sessions.current(&headers(&tampered)).is_none());
    }

    #[test]
    fn the_same_secret_signs_alike_in_every_process() {
        let secret = Some("0123456789abcdef0123456789abcdef");
        let one = Sessions::new(&config(secret));
        let other = Sessions::new(&config(secret));
        let cookie = cookie_of(one.sign_in(&config(secret).keys[0], false));
        assert!(other.current(&headers(&cookie)).is_some());
        // Without a secret, each process has its own key.
        let random = Sessions::new(&config(None));
        assert!(random.current(&headers(&cookie)).is_none());
    }

    #[test]
    fn https_is_believed_only_from_trusted_proxies() {
        let mut trusted = config(None);
        trusted.rate_limit.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let sessions = Sessions::new(&trusted);
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-forwarded-proto", HeaderValue::from_static("http, https"));
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(sessions.forwarded_https(Some(proxy), &forwarded));
        assert!(!sessions.forwarded_https(Some(stranger), &forwarded));
        assert!(!sessions.forwarded_https(None, &forwarded));
        assert!(!sessions.forwarded_https(Some(proxy), &HeaderMap::new()));
    }

    #[test]
    fn only_paths_on_this_site_are_followed_after_signing_in() {
        assert_eq!(
            local_path(Some("/insights?from=2026-01-01")),
            "/insights?from=2026-01-01"
        );
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(None), "/");
        let long = format!("/{}", "a".repeat(MAX_NEXT_CHARS));
        assert!(return_path(Some(&long)).is_err());
        assert_eq!(return_path(Some("/case")).unwrap(), "/case");
    }
}
