//! One OpenID Connect issuer: its discovery document and key set, fetched and cached, and
//! ID tokens checked against them (signature, issuer, audience, expiry with leeway, nonce).
//!
//! Keys are never fetched per request. They are fetched on first use, again once they are
//! older than `key_max_age_secs`, and early when a token names a key id the set lacks (a
//! provider rotated), but at most once per `key_refresh_min_secs`, so a flood of tokens with
//! made-up key ids costs one fetch. One fetch runs at a time; if it fails, the keys in hand
//! stay in use.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::jwt::{Jwk, Token};
use super::{ProviderConfig, Reason, Verified};
use crate::outbound;

/// Per request to the issuer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// After a failed fetch, none is tried again for at least this long (or the refresh
/// interval, when longer): an issuer that is down costs one attempt per interval.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// An issuer and its cached keys.
pub struct OidcProvider {
    discovery: Url,
    /// The configured issuer, which the discovery document must name.
    pinned: Option<String>,
    audiences: Vec<String>,
    aliases: Vec<String>,
    leeway: i64,
    refresh_min: Duration,
    max_age: Duration,
    http: reqwest::Client,
    cache: RwLock<Option<Arc<KeySet>>>,
    /// Held while fetching; holds when the last fetch failed.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

struct KeySet {
    /// The discovery document's `issuer` (may hold Microsoft's `{tenantid}` template).
    issuer: String,
    keys: Vec<Jwk>,
    fetched_at: Instant,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl OidcProvider {
    /// Checks the settings; nothing is fetched until the first token.
    pub fn new(config: &ProviderConfig) -> Result<OidcProvider, String> {
        let discovery = match (&config.discovery_url, &config.issuer) {
            (Some(url), _) => url.clone(),
            (None, Some(issuer)) => format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
            (None, None) => return Err("an OIDC provider needs `issuer` or `discovery_url`".into()),
        };
        let discovery = outbound::http_url(&discovery)
            .ok_or_else(|| format!("{discovery:?} is not an http(s) URL"))?;
        if config.client_ids.is_empty() || config.client_ids.iter().any(String::is_empty) {
            return Err("`client_ids` must list the audiences tokens are issued for".into());
        }
        if config.key_max_age_secs == 0 {
            return Err("`key_max_age_secs` must be positive".into());
        }
        Ok(OidcProvider {
            discovery,
            pinned: config.issuer.clone(),
            audiences: config.client_ids.clone(),
            aliases: config.issuer_aliases.clone(),
            leeway: i64::try_from(config.leeway_secs).unwrap_or(i64::MAX),
            refresh_min: Duration::from_secs(config.key_refresh_min_secs),
            max_age: Duration::from_secs(config.key_max_age_secs),
            http: outbound::client(REQUEST_TIMEOUT).map_err(|e| e.to_string())?,
            cache: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// Verifies an ID token.
    pub async fn verify(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Verified, (Reason, String)> {
        let t = Token::decode(token)?;
        let set = self.keys(t.kid.as_deref()).await?;
        let candidates: Vec<&Jwk> = match &t.kid {
            Some(kid) => set
                .keys
                .iter()
                .filter(|k| k.kid.as_ref() == Some(kid))
                .collect(),
            None => set.keys.iter().collect(),
        };
        if candidates.is_empty() {
            return Err((
                Reason::UnknownKey,
                format!("no published key has id {:?}", t.kid),
            ));
        }
        let mut last = None;
        if !candidates.iter().any(|k| match t.verify(k) {
            Ok(()) => true,
            Err(e) => {
                last = Some(e);
                false
            }
        }) {
            return Err(last.unwrap_or((Reason::BadSignature, String::new())));
        }
        self.check_claims(&set.issuer, &t.claims, nonce)
    }

    fn check_claims(
        &self,
        issuer: &str,
        claims: &serde_json::Map<String, Value>,
        nonce: Option<&str>,
    ) -> Result<Verified, (Reason, String)> {
        let text = |k: &str| claims.get(k).and_then(Value::as_str);
        let iss = text("iss").unwrap_or_default();
        let expected = match text("tid") {
            Some(tid) if issuer.contains("{tenantid}") => issuer.replace("{tenantid}", tid),
            _ => issuer.to_owned(),
        };
        if iss != expected && !self.aliases.iter().any(|a| a == iss) {
            return Err((Reason::WrongIssuer, format!("iss {iss:?}")));
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(a)) => self.audiences.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.audiences.iter().any(|x| x == a)),
            _ => false,
        };
        if !audience_ok {
            return Err((
                Reason::WrongAudience,
                "aud names no configured client id".into(),
            ));
        }
        let now = crate::time::now_ms() / 1000;
        let seconds = |k: &str| claims.get(k).and_then(Value::as_f64).map(|f| f as i64);
        let Some(exp) = seconds("exp") else {
            return Err((Reason::Malformed, "no exp".into()));
        };
        if now > exp.saturating_add(self.leeway) {
            return Err((Reason::Expired, format!("expired at {exp}")));
        }
        for k in ["nbf", "iat"] {
            if let Some(at) = seconds(k)
                && at > now.saturating_add(self.leeway)
            {
                return Err((Reason::NotYetValid, format!("{k} {at} is ahead of {now}")));
            }
        }
        if let Some(nonce) = nonce
            && text("nonce") != Some(nonce)
        {
            return Err((Reason::NonceMismatch, "nonce differs".into()));
        }
        let uid = text("sub")
            .filter(|s| !s.is_empty())
            .ok_or((Reason::MissingSubject, "no sub".to_owned()))?;
        let display_name = ["name", "preferred_username", "global_name"]
            .into_iter()
            .find_map(text)
            .map(str::to_owned);
        Ok(Verified {
            uid: uid.to_owned(),
            display_name,
        })
    }

    /// The key set to verify a token naming `kid` with (see the module doc).
    async fn keys(&self, kid: Option<&str>) -> Result<Arc<KeySet>, (Reason, String)> {
        let asked_at = Instant::now();
        let stale = |set: &Option<Arc<KeySet>>| match set {
            None => true,
            Some(s) => {
                let age = s.fetched_at.elapsed();
                let unknown =
                    kid.is_some_and(|kid| !s.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
                age >= self.max_age || (unknown && age >= self.refresh_min)
            }
        };
        let current = self.current();
        if !stale(&current) {
            return current.ok_or((Reason::ProviderUnavailable, String::new()));
        }
        let mut failed_at = self.fetching.lock().await;
        // Someone else may have fetched while we waited.
        let current = self.current();
        if let Some(s) = &current
            && (s.fetched_at >= asked_at || !stale(&current))
        {
            return Ok(s.clone());
        }
        let unavailable = |why: String| current.clone().ok_or((Reason::ProviderUnavailable, why));
        if let Some(t) = *failed_at
            && (t >= asked_at || t.elapsed() < self.refresh_min.max(RETRY_AFTER_FAILURE))
        {
            return unavailable("the provider's keys could not be fetched".into());
        }
        match self.fetch().await {
            Ok(set) => {
                *failed_at = None;
                let set = Arc::new(set);
                *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
                Ok(set)
            }
            Err(why) => {
                *failed_at = Some(Instant::now());
                tracing::warn!(discovery = %self.discovery, error = %why, "cannot fetch the provider's keys");
                unavailable(why)
            }
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let discovery: Discovery = serde_json::from_slice(&self.get(self.discovery.clone()).await?)
            .map_err(|e| format!("discovery document: {e}"))?;
        if let Some(pinned) = &self.pinned
            && discovery.issuer.trim_end_matches('/') != pinned.trim_end_matches('/')
            && !discovery.issuer.contains("{tenantid}")
        {
            return Err(format!(
                "the discovery document names issuer {:?}, not the configured {pinned:?}",
                discovery.issuer
            ));
        }
        let jwks = outbound::http_url(&discovery.jwks_uri)
            .ok_or_else(|| format!("jwks_uri {:?} is not an http(s) URL", discovery.jwks_uri))?;
        let keys = super::jwt::parse_key_set(&self.get(jwks).await?)?;
        Ok(KeySet {
            issuer: discovery.issuer,
            keys,
            fetched_at: Instant::now(),
        })
    }

    async fn get(&self, url: Url) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        outbound::read_bounded(response, MAX_DOCUMENT_BYTES).await
    }
}
