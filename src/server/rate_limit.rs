//! Rate limits per client address, on the routes that write (drafts, their feedback, the case
//! form), on sign-in attempts (each a guess at a key) and, when configured, on search. A client past its burst gets 429 with `Retry-After`.
//!
//! The client is the peer address of the connection, unless that peer is one of
//! `rate_limit.trusted_proxies`: then `X-Forwarded-For` is read from the right, each trusted
//! proxy having appended the address it got the request from, and the first address that is not
//! a trusted proxy is the client. Entries further left are whatever the client wrote, so they are
//! never believed. IPv6 clients count by their /64, the block one subscriber gets, so a client
//! cannot get a fresh budget by changing the low bits of its address.
//!
//! The limits are `governor`'s GCRA, one state per client in a concurrent map. A client's state
//! is only needed while its budget is not full again; [`Limiter::check`] sweeps such states away
//! (`retain_recent`) every few seconds, so memory follows the clients seen within the time a
//! budget takes to refill, not every address ever seen.
//!
//! Requests that did not come through `connections::serve` (a router driven in-process, as the
//! tests do) carry no peer address and are not limited: there is no client to count.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use tracing::debug;

use super::AppState;
use super::error::{ApiError, PageError};
use crate::config::RateLimit;

/// How often, at most, states of clients whose budget is full again are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Which budget a route draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `POST /api/deflect`, its feedback and `POST /case`.
    Writes,
    /// The search page, `/api/search` and `/api/suggest`.
    Search,
    /// `POST /signin`: each attempt is a guess at a key.
    SignIn,
}

/// The service's rate limits, from `[rate_limit]`.
pub struct RateLimits {
    writes: Option<Limiter>,
    search: Option<Limiter>,
    signin: Option<Limiter>,
    trusted_proxies: Vec<IpNet>,
}

impl RateLimits {
    pub fn new(config: &RateLimit) -> Self {
        let limiter = |per_second, burst| {
            if config.enabled {
                Limiter::new(per_second, burst)
            } else {
                None
            }
        };
        RateLimits {
            writes: limiter(config.writes_per_second, config.writes_burst),
            search: limiter(config.search_per_second, config.search_burst),
            signin: limiter(config.signin_per_second, config.signin_burst),
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    fn limiter(&self, budget: Budget) -> Option<&Limiter> {
        match budget {
            Budget::Writes => self.writes.as_ref(),
            Budget::Search => self.search.as_ref(),
            Budget::SignIn => self.signin.as_ref(),
        }
    }
}

/// One budget per client.
struct Limiter {
    clients: DefaultKeyedRateLimiter<IpAddr>,
    created: Instant,
    /// When the states were last swept, in milliseconds since `created`.
    swept_at: AtomicU64,
}

impl Limiter {
    /// `None` when `per_second` is 0 (not limited).
    fn new(per_second: f64, burst: u32) -> Option<Limiter> {
        if per_second <= 0.0 {
            return None;
        }
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / per_second))?
            .allow_burst(NonZeroU32::new(burst)?);
        Some(Limiter {
            clients: RateLimiter::keyed(quota),
            created: Instant::now(),
            swept_at: AtomicU64::new(0),
        })
    }

    /// Takes one request from the client's budget, or says how long until it may send again.
    fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.sweep();
        self.clients
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clients.clock().now()))
    }

    /// Drops the states of clients whose budget is full again (they are the same as no state),
    /// at most every [`SWEEP_EVERY`]; one request does it while the others go on.
    fn sweep(&self) {
        let now = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.swept_at.load(Ordering::Relaxed);
        let due = now.saturating_sub(last) >= SWEEP_EVERY.as_millis() as u64;
        if due
            && self
                .swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.clients.retain_recent();
            self.clients.shrink_to_fit();
        }
    }
}

/// Middleware: counts the request against the client's `budget`, or answers 429 with
/// `Retry-After` (JSON under `/api`, a page elsewhere).
pub async fn limit(
    State((state, budget)): State<(AppState, Budget)>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.rate_limits;
    let Some(limiter) = limits.limiter(budget) else {
        return next.run(request).await;
    };
    let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        return next.run(request).await;
    };
    let client = client_address(peer.ip(), request.headers(), &limits.trusted_proxies);
    match limiter.check(budget_key(client)) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            debug!(%client, ?budget, "rate limited");
            let error = ApiError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            };
            // Nested routers see their own part of the path; the original says where we are.
            let path = match request.extensions().get::<OriginalUri>() {
                Some(OriginalUri(original)) => original.path(),
                None => request.uri().path(),
            };
            if path.starts_with("/api/") {
                error.into_response()
            } else {
                PageError::titled("Too many requests", error).into_response()
            }
        }
    }
}

/// The address a request is counted for: the peer, or what trusted proxies say of the client.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |address: &IpAddr| trusted_proxies.iter().any(|net| net.contains(address));
    let mut client = peer.to_canonical();
    if !trusted(&client) {
        return client;
    }
    // Every `X-Forwarded-For` line in order, then its entries: right to left.
    let entries: Vec<Option<&str>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(Some).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect();
    for entry in entries.into_iter().rev() {
        // What cannot be read was not written by a proxy we trust: the last hop stands.
        let Some(address) = entry.and_then(forwarded_address) else {
            break;
        };
        client = address;
        if !trusted(&client) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| entry.trim_matches(['[', ']']).parse::<IpAddr>())
        .ok()?;
    Some(address.to_canonical())
}

/// The key a client's budget is kept under: the address, or for IPv6 its /64.
fn budget_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in forwarded {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies_and_from_the_right() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.7/32".parse().unwrap(),
        ];
        let from = |peer: &str, forwarded: &[&str]| {
            client_address(ip(peer), &headers(forwarded), &trusted).to_string()
        };
        // An untrusted peer is the client, whatever it writes.
        assert_eq!(from("203.0.113.5", &["198.51.100.1"]), "203.0.113.5");
        // A trusted proxy: the address it appended.
        assert_eq!(from("192.0.2.7", &["198.51.100.1"]), "198.51.100.1");
        // Entries left of the first untrusted address are the client's own writing.
        assert_eq!(
            from("192.0.2.7", &["1.2.3.4, 198.51.100.1, 10.1.1.1"]),
            "198.51.100.1"
        );
        // Several header lines are one list.
        assert_eq!(
            from("10.0.0.1", &["1.2.3.4", "198.51.100.2"]),
            "198.51.100.2"
        );
        // Only trusted hops: the first one.
        assert_eq!(from("10.0.0.1", &["10.2.2.2, 10.3.3.3"]), "10.2.2.2");
        // Garbage stops the walk at the last hop that could be read.
        assert_eq!(from("10.0.0.1", &["198.51.100.1, junk"]), "10.0.0.1");
        // No header: the proxy itself.
        assert_eq!(from("10.0.0.1", &[]), "10.0.0.1");
        // Ports and brackets as some proxies write them; IPv4-mapped IPv6 peers.
        assert_eq!(from("192.0.2.7", &["198.51.100.1:4711"]), "198.51.100.1");
        assert_eq!(from("192.0.2.7", &["[2001:db8::1]:4711"]), "2001:db8::1");
        assert_eq!(from("::ffff:192.0.2.7", &["198.51.100.1"]), "198.51.100.1");
    }

    #[test]
    fn ipv6_clients_count_by_their_64_block() {
        assert_eq!(budget_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            budget_key(ip("2001:db8:1:2:ffff::9")),
            budget_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            budget_key(ip("2001:db8:1:3::1")),
            budget_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(budget_key(ip("198.51.100.1")), ip("198.51.100.1"));
    }

    #[test]
    fn a_budget_refuses_past_the_burst_and_forgets_clients_when_full_again() {
        let mut limiter = Limiter::new(1000.0, 2).unwrap();
        let client = ip("198.51.100.1");
        assert!(limiter.check(client).is_ok());
        assert!(limiter.check(client).is_ok());
        let wait = limiter.check(client).unwrap_err();
        assert!(wait <= Duration::from_millis(1), "{wait:?}");
        assert!(limiter.check(ip("198.51.100.2")).is_ok(), "per client");
        assert_eq!(limiter.clients.len(), 2);
        std::thread::sleep(Duration::from_millis(10));
        // As if the last sweep were longer ago than SWEEP_EVERY: both budgets are full again, so
        // the sweep drops both states (and this check adds one).
        limiter.created -= SWEEP_EVERY * 2;
        assert!(limiter.check(ip("198.51.100.3")).is_ok());
        assert_eq!(limiter.clients.len(), 1);
        assert!(Limiter::new(0.0, 10).is_none(), "0 is not limited");
    }
}
