//! The request pipeline (`rest.md` §1.2), outermost first:
//!
//! 1. [`context`]: a correlation id (`x-request-id`, taken from the request or minted) on a
//!    tracing span around the request, CORS (preflights are answered here), and the security
//!    headers every response carries;
//! 2. [`body_cap`]: a body without `Content-Length` → 411, one over the cap → 413;
//! 3. [`rate_limit_and_auth`] (on `/api/v1` only): resolves a bearer token once, keys the rate
//!    limit on the player (or the client address; always the address for `/auth/*`), and
//!    leaves the [`Principal`] for handlers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use asobi_core::protocol::ErrorCode;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::forwarded::client_ip;
use crate::ratelimit::{Bucket, client_key};
use crate::state::AppState;

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// The bearer token of a request, if it has a well-formed `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Correlation id, CORS and security headers.
pub async fn context(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("r-{}", REQUEST_SEQ.fetch_add(1, Ordering::Relaxed) + 1));
    let span =
        tracing::info_span!("http", id = %id, method = %req.method(), path = %req.uri().path());
    let origin = allowed_origin(&app, req.headers());
    let preflight = req.method() == Method::OPTIONS;
    let started = Instant::now();
    let mut response = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(req).instrument(span.clone()).await
    };
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
    });
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-request-id"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("x-xss-protection", "0"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The allow-origin value: the request's Origin when it is configured, else the first
/// configured origin, else empty (browsers refuse).
fn allowed_origin(app: &AppState, headers: &HeaderMap) -> HeaderValue {
    let allowed = &app.config().cors_origins;
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let pick = match origin {
        Some(o) if allowed.iter().any(|a| a == o || a == "*") => o,
        _ => allowed.first().map(String::as_str).unwrap_or(""),
    };
    HeaderValue::from_str(pick).unwrap_or(HeaderValue::from_static(""))
}

/// 411 for a body without a length, 413 for a body over the cap.
pub async fn body_cap(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let length = headers.get(header::CONTENT_LENGTH);
    if length.is_none() && headers.contains_key(header::TRANSFER_ENCODING) {
        return ApiError::new(ErrorCode::LengthRequired).into_response();
    }
    if let Some(len) = length {
        match len.to_str().ok().and_then(|l| l.parse::<usize>().ok()) {
            Some(n) if n <= app.config().max_body_bytes => {}
            Some(_) => return ApiError::new(ErrorCode::PayloadTooLarge).into_response(),
            None => {
                return ApiError::new(ErrorCode::InvalidPayload)
                    .message("Bad Content-Length.")
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// The bucket of a path under `/api/v1` (this middleware runs inside the nested router, so
/// the prefix is already stripped).
fn bucket_for(method: &Method, path: &str) -> Bucket {
    match path {
        "/auth/register" => Bucket::Register,
        "/players/me/erase" if method == Method::POST => Bucket::Erase,
        p if p.starts_with("/auth/") => Bucket::Auth,
        p if p.starts_with("/iap/") => Bucket::Iap,
        _ => Bucket::Api,
    }
}

/// Bearer resolution and the REST rate-limit buckets.
pub async fn rate_limit_and_auth(
    State(app): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal: Option<Principal> = match bearer(req.headers()) {
        Some(token) => match app.accounts().authenticate(token).await {
            Ok(p) => p,
            Err(e) => return ApiError::internal(e).into_response(),
        },
        None => None,
    };
    let bucket = bucket_for(req.method(), req.uri().path());
    // Sign-up and sign-in are keyed on the client's address whatever bearer comes with them
    // (rotating bearers must not buy more password guesses); the rest on the player.
    let key = match (&principal, bucket) {
        (_, Bucket::Register | Bucket::Auth) | (None, _) => req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| {
                let config = app.config();
                let ip = client_ip(
                    c.0.ip(),
                    req.headers(),
                    &config.trusted_proxies,
                    config.forwarded_header,
                );
                client_key(ip)
            })
            .unwrap_or_default(),
        (Some(p), _) => p.player_id.clone(),
    };
    let allowance = match app.limiter().check(bucket, &key) {
        Ok(a) => a,
        Err(retry) => {
            return ApiError::rate_limited(ErrorCode::RateLimited, retry.0).into_response();
        }
    };
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(allowance.remaining),
    );
    h.insert("x-ratelimit-reset", HeaderValue::from(allowance.reset_secs));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_contract_buckets() {
        for (method, path, bucket) in [
            (Method::POST, "/auth/register", Bucket::Register),
            (Method::POST, "/auth/login", Bucket::Auth),
            (Method::POST, "/players/me/erase", Bucket::Erase),
            (Method::POST, "/iap/apple", Bucket::Iap),
            (Method::POST, "/iap/google", Bucket::Iap),
            (Method::POST, "/store/purchase", Bucket::Api),
            (Method::GET, "/wallets", Bucket::Api),
        ] {
            assert_eq!(bucket_for(&method, path), bucket, "{method} {path}");
        }
    }
}
