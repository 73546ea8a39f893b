//! What the service tells browsers, and what it checks of them. Every response says
//! `X-Content-Type-Options: nosniff` (JSON is never run as a script or page) and a
//! `Referrer-Policy` of `same-origin` (a search in the address never leaves for other sites);
//! pages get a `Content-Security-Policy` that runs only the service's own scripts and styles,
//! with no inline code of any kind, and that lets no other site frame them (or only the portals
//! in `server.frame_ancestors`).
//!
//! The case form and the sign-in forms post as plain HTML forms, so they get a same-origin check:
//! browsers mark every request with `Sec-Fetch-Site`, and a form posted from another site is
//! refused (a forged sign-in would sign a victim's browser in as the forger). Browsers too
//! old for that header send `Origin` on every cross-site post, which must then name the host the
//! request was sent to. A request with neither is not from a browser, so there is no victim's
//! browser to abuse (this is what Go's `http.CrossOriginProtection` does). Unlike a form token
//! it needs no cookie, no session and no JavaScript, and it survives a TLS-terminating proxy:
//! `Sec-Fetch-Site` is the browser's own judgement, whatever the proxy rewrites. The JSON routes
//! need no check: browsers send a cross-site JSON body only after a CORS preflight, which this
//! service never grants.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::PageError;
use crate::config;

/// The headers added to responses, built once from the configuration.
pub struct BrowserPolicy {
    content_security_policy: HeaderValue,
    /// `DENY`, unless some portals may frame the pages (the CSP names them; this header cannot).
    frame_options: Option<HeaderValue>,
}

impl BrowserPolicy {
    pub fn new(server: &config::Server) -> Self {
        let frame_ancestors = if server.frame_ancestors.is_empty() {
            "'none'".to_string()
        } else {
            server.frame_ancestors.join(" ")
        };
        // Images may come from any https site, as articles may show screenshots kept elsewhere;
        // nothing else runs or loads from outside.
        let policy = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors {frame_ancestors}"
        );
        BrowserPolicy {
            content_security_policy: HeaderValue::from_str(&policy)
                .expect("validated: frame ancestors are visible ASCII"),
            frame_options: server
                .frame_ancestors
                .is_empty()
                .then_some(HeaderValue::from_static("DENY")),
        }
    }
}

/// Middleware: the security headers on every response.
pub async fn add_headers(
    State(policy): State<Arc<BrowserPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        policy.content_security_policy.clone(),
    );
    if let Some(frame_options) = &policy.frame_options {
        headers.insert(header::X_FRAME_OPTIONS, frame_options.clone());
    }
    response
}

/// Middleware for form posts: refuses a form sent from another site.
pub async fn same_origin_form(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if let Some(reason) = cross_site(request.headers(), host) {
        tracing::debug!(reason, "cross-site form post refused");
        return PageError::new(
            StatusCode::FORBIDDEN,
            "The form was sent from another site",
            "For your protection, forms are taken only from this site's own pages. Open the \
             form here and send it again.",
        )
        .into_response();
    }
    next.run(request).await
}

/// Why a request is a cross-site one, or `None` when it is not (or not from a browser).
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: the person opened it themselves (a bookmark, the address bar).
        return match site.as_bytes() {
            b"same-origin" | b"none" => None,
            _ => Some("sec-fetch-site is not same-origin"),
        };
    }
    let origin = headers.get(header::ORIGIN)?;
    let Some(authority) = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority)
    else {
        // `Origin: null` (a sandboxed frame, a privacy redirect) or unreadable.
        return Some("origin is opaque");
    };
    match host {
        Some(host) if host.eq_ignore_ascii_case(authority) => None,
        _ => Some("origin does not name this host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn forms_from_other_sites_are_told_apart() {
        let host = Some("kb.example.com");
        let check = |pairs: &[(&'static str, &'static str)]| cross_site(&headers(pairs), host);
        assert_eq!(check(&[("sec-fetch-site", "same-origin")]), None);
        assert_eq!(check(&[("sec-fetch-site", "none")]), None);
        assert!(check(&[("sec-fetch-site", "same-site")]).is_some());
        assert!(check(&[("sec-fetch-site", "cross-site")]).is_some());
        // Sec-Fetch-Site decides when present, whatever Origin says (a proxy rewrote the host).
        assert_eq!(
            check(&[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://elsewhere.example")
            ]),
            None
        );
        // Older browsers: Origin must name the host.
        assert_eq!(check(&[("origin", "https://kb.example.com")]), None);
        assert_eq!(check(&[("origin", "https://KB.example.com")]), None);
        assert!(check(&[("origin", "https://evil.example")]).is_some());
        assert!(check(&[("origin", "https://kb.example.com.evil.example")]).is_some());
        assert!(check(&[("origin", "null")]).is_some());
        // Not a browser (curl, a portal's server): nothing to protect.
        assert_eq!(check(&[]), None);
    }

    #[test]
    fn the_policy_frames_only_for_configured_portals() {
        let closed = BrowserPolicy::new(&config::Server::default());
        let policy = closed.content_security_policy.to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(closed.frame_options, Some(HeaderValue::from_static("DENY")));
        let open = BrowserPolicy::new(&config::Server {
            frame_ancestors: vec!["https://portal.example.com".into(), "'self'".into()],
        });
        let policy = open.content_security_policy.to_str().unwrap();
        assert!(
            policy.ends_with("frame-ancestors https://portal.example.com 'self'"),
            "{policy}"
        );
        assert_eq!(open.frame_options, None);
    }
}
