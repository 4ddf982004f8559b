//! Google Play purchase tokens, checked online with the Play Developer API
//! (`purchases.products.get`) under a service-account credential.
//!
//! The credential is the service account's JSON key file. An OAuth access token is obtained
//! from its `token_uri` by the JWT-bearer grant (an RS256 assertion signed with the account's
//! key) and reused until a minute before it expires; one request at a time fetches it, the
//! others wait for it. If the API refuses the token (HTTP 401) it is dropped and fetched
//! again once.
//!
//! How answers map to [`VerifyError`]: 200 with `purchaseState` 0 (or absent) is a purchase;
//! another state is [`VerifyError::NotPurchased`]; 4xx for the token (400 invalid, 404 unknown,
//! 410 gone) is [`VerifyError::StoreRejected`]; everything that says nothing about the
//! token — network failure, timeout ([`REQUEST_TIMEOUT`]), 5xx, an unreadable answer, the
//! token endpoint failing, and 401/403/408/429 (our credential, our permissions, rate
//! limits) — is [`VerifyError::StoreUnavailable`], so a player is never told a good
//! purchase was rejected because of the server's configuration.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{StatusCode, Url};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::json;

use super::{IapConfigError, VerifyError};

/// The Play Developer API's address.
pub const DEFAULT_API_BASE: &str = "https://androidpublisher.googleapis.com";
/// Where access tokens come from when the key file names no `token_uri`.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth scope of the Play Developer API.
pub const ANDROIDPUBLISHER_SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";
/// The OAuth grant type of a signed JWT assertion (RFC 7523).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Each request to Google, connection to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest product id accepted, bytes.
pub const MAX_PRODUCT_ID_BYTES: usize = 256;
/// Longest purchase token accepted, bytes.
pub const MAX_PURCHASE_TOKEN_BYTES: usize = 4096;
/// Largest answer read from Google.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Lifetime of the JWT assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// An access token is fetched again this long before it expires.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How to reach the Play Developer API for one app.
#[derive(Clone)]
pub struct GoogleConfig {
    /// The service account's JSON key file, as downloaded: `client_email`, `private_key`
    /// (PEM PKCS#8 `PRIVATE KEY`), `token_uri` (default [`DEFAULT_TOKEN_URI`]).
    pub service_account_json: String,
    /// The app's package name (`com.example.game`).
    pub package_name: String,
    /// The API's base URL: [`DEFAULT_API_BASE`] except in tests.
    pub api_base: String,
}

impl GoogleConfig {
    /// A configuration against the real API ([`DEFAULT_API_BASE`]).
    pub fn new(service_account_json: impl Into<String>, package_name: impl Into<String>) -> Self {
        GoogleConfig {
            service_account_json: service_account_json.into(),
            package_name: package_name.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
        }
    }
}

impl std::fmt::Debug for GoogleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleConfig")
            .field("service_account_json", &"<redacted>")
            .field("package_name", &self.package_name)
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// A purchase Google confirmed (its `ProductPurchase` resource, `purchaseState` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GooglePurchase {
    /// `orderId` (`GPA.…`); absent for test purchases made with license testers.
    pub order_id: Option<String>,
    /// `productId`, or the product id asked about when the answer omits it.
    pub product_id: String,
    /// `purchaseTimeMillis`, Unix ms.
    pub purchase_time: Option<i64>,
    /// `consumptionState`: 0 not yet consumed, 1 consumed.
    pub consumption_state: i64,
    /// Whether `acknowledgementState` is 1 (a purchase not acknowledged within three days
    /// is refunded by Google).
    pub acknowledged: bool,
    /// `quantity`; 1 when absent.
    pub quantity: i64,
    /// `obfuscatedExternalAccountId`: the account id the app attached to the purchase.
    pub obfuscated_account_id: Option<String>,
    /// `purchaseType`: absent for real purchases, 0 test (license tester), 1 promo,
    /// 2 rewarded.
    pub purchase_type: Option<i64>,
}

/// Checks Google Play purchase tokens for one app. Cheap to clone; clones share the access
/// token.
#[derive(Clone)]
pub struct GoogleVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    client_email: String,
    private_key_id: Option<String>,
    /// As written in the key file: the assertion's `aud`.
    token_uri: String,
    token_url: Url,
    key: RsaKeyPair,
    rng: SystemRandom,
    package_name: String,
    api_base: Url,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

struct AccessToken {
    value: String,
    refresh_at: Instant,
}

impl std::fmt::Debug for GoogleVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleVerifier")
            .field("client_email", &self.inner.client_email)
            .field("package_name", &self.inner.package_name)
            .field("api_base", &self.inner.api_base.as_str())
            .finish()
    }
}

#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    token_uri: Option<String>,
    private_key_id: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductPurchase {
    purchase_time_millis: Option<String>,
    purchase_state: Option<i64>,
    consumption_state: Option<i64>,
    order_id: Option<String>,
    acknowledgement_state: Option<i64>,
    product_id: Option<String>,
    quantity: Option<i64>,
    obfuscated_external_account_id: Option<String>,
    purchase_type: Option<i64>,
}

/// What one `products.get` call came to.
enum Answer {
    Purchase(ProductPurchase),
    /// Our access token was refused.
    Unauthorized,
}

impl GoogleVerifier {
    /// Reads the service account and builds the HTTP client; nothing is sent until the
    /// first [`GoogleVerifier::verify`].
    pub fn new(config: GoogleConfig) -> Result<GoogleVerifier, IapConfigError> {
        let account: ServiceAccount = serde_json::from_str(&config.service_account_json)
            .map_err(|e| IapConfigError::BadServiceAccount(e.to_string()))?;
        if account.client_email.is_empty() {
            return Err(IapConfigError::BadServiceAccount(
                "client_email is empty".into(),
            ));
        }
        let key = match PrivateKeyDer::from_pem_slice(account.private_key.as_bytes())
            .map_err(|e| IapConfigError::BadPrivateKey(e.to_string()))?
        {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => {
                return Err(IapConfigError::BadPrivateKey(
                    "not an RSA key (PKCS#8 PRIVATE KEY expected)".into(),
                ));
            }
        }
        .map_err(|e| IapConfigError::BadPrivateKey(e.to_string()))?;

        let token_uri = account
            .token_uri
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        let token_url = http_url("token_uri", &token_uri)?;
        let api_base = http_url("api_base", &config.api_base)?;
        if config.package_name.is_empty() {
            return Err(IapConfigError::EmptyPackageName);
        }
        let http = crate::outbound::client(REQUEST_TIMEOUT)
            .map_err(|e| IapConfigError::HttpClient(e.to_string()))?;
        Ok(GoogleVerifier {
            inner: Arc::new(Inner {
                client_email: account.client_email,
                private_key_id: account.private_key_id,
                token_uri,
                token_url,
                key,
                rng: SystemRandom::new(),
                package_name: config.package_name,
                api_base,
                http,
                token: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The package whose purchases this verifier checks.
    pub fn package_name(&self) -> &str {
        &self.inner.package_name
    }

    /// Asks Google about `purchase_token` for `product_id`: an access token (cached until
    /// 60 s before it expires), then `GET {api_base}/androidpublisher/v3/applications/
    /// {package}/purchases/products/{productId}/tokens/{token}` (segments percent-encoded).
    /// See the module documentation for how answers map to errors.
    pub async fn verify(
        &self,
        product_id: &str,
        purchase_token: &str,
    ) -> Result<GooglePurchase, VerifyError> {
        check_segment("product id", product_id, MAX_PRODUCT_ID_BYTES)?;
        check_segment("purchase token", purchase_token, MAX_PURCHASE_TOKEN_BYTES)?;
        let url = self.products_url(product_id, purchase_token)?;

        let token = self.access_token().await?;
        let purchase = match self.get_purchase(&url, &token).await? {
            Answer::Purchase(p) => p,
            Answer::Unauthorized => {
                // Revoked or expired early: drop it and try once with a fresh one.
                self.forget_token(&token).await;
                let token = self.access_token().await?;
                match self.get_purchase(&url, &token).await? {
                    Answer::Purchase(p) => p,
                    Answer::Unauthorized => {
                        self.forget_token(&token).await;
                        return Err(VerifyError::StoreUnavailable(
                            "Google refused a fresh access token (HTTP 401)".into(),
                        ));
                    }
                }
            }
        };

        let state = purchase.purchase_state.unwrap_or(0);
        if state != 0 {
            return Err(VerifyError::NotPurchased { state });
        }
        Ok(GooglePurchase {
            order_id: purchase.order_id,
            product_id: purchase.product_id.unwrap_or_else(|| product_id.to_owned()),
            purchase_time: purchase.purchase_time_millis.and_then(|ms| ms.parse().ok()),
            consumption_state: purchase.consumption_state.unwrap_or(0),
            acknowledged: purchase.acknowledgement_state == Some(1),
            quantity: purchase.quantity.unwrap_or(1),
            obfuscated_account_id: purchase.obfuscated_external_account_id,
            purchase_type: purchase.purchase_type,
        })
    }

    /// Acknowledges a verified purchase (`POST …/tokens/{token}:acknowledge`): Google refunds
    /// one not acknowledged within three days. Called once its grant has committed; a
    /// failure leaves the grant standing (the client may acknowledge too).
    pub async fn acknowledge(
        &self,
        product_id: &str,
        purchase_token: &str,
    ) -> Result<(), VerifyError> {
        check_segment("product id", product_id, MAX_PRODUCT_ID_BYTES)?;
        check_segment("purchase token", purchase_token, MAX_PURCHASE_TOKEN_BYTES)?;
        let mut url = self.products_url(product_id, purchase_token)?;
        url.path_segments_mut()
            .map_err(|()| VerifyError::StoreUnavailable("api_base cannot be a base URL".into()))?
            .pop()
            .push(&format!("{purchase_token}:acknowledge"));
        let token = self.access_token().await?;
        let response = self
            .inner
            .http
            .post(url)
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .map_err(|e| VerifyError::StoreUnavailable(format!("acknowledge: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(VerifyError::StoreUnavailable(format!(
                "acknowledge answered HTTP {}",
                status.as_u16()
            )))
        }
    }

    fn products_url(&self, product_id: &str, purchase_token: &str) -> Result<Url, VerifyError> {
        let mut url = self.inner.api_base.clone();
        url.path_segments_mut()
            .map_err(|()| VerifyError::StoreUnavailable("api_base cannot be a base URL".into()))?
            .pop_if_empty()
            .extend([
                "androidpublisher",
                "v3",
                "applications",
                &self.inner.package_name,
                "purchases",
                "products",
                product_id,
                "tokens",
                purchase_token,
            ]);
        Ok(url)
    }

    async fn get_purchase(&self, url: &Url, token: &str) -> Result<Answer, VerifyError> {
        let response = self
            .inner
            .http
            .get(url.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| VerifyError::StoreUnavailable(format!("Play Developer API: {e}")))?;
        let status = response.status();
        match status {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => return Ok(Answer::Unauthorized),
            StatusCode::FORBIDDEN | StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                return Err(VerifyError::StoreUnavailable(format!(
                    "Play Developer API answered HTTP {}",
                    status.as_u16()
                )));
            }
            s if s.is_client_error() => {
                return Err(VerifyError::StoreRejected { status: s.as_u16() });
            }
            s => {
                return Err(VerifyError::StoreUnavailable(format!(
                    "Play Developer API answered HTTP {}",
                    s.as_u16()
                )));
            }
        }
        let body = crate::outbound::read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| VerifyError::StoreUnavailable(format!("Play Developer API: {e}")))?;
        serde_json::from_slice(&body)
            .map(Answer::Purchase)
            .map_err(|e| VerifyError::StoreUnavailable(format!("Play Developer API answer: {e}")))
    }

    /// The cached access token, or a fresh one (fetched while holding the cache, so
    /// concurrent callers wait for one fetch instead of each making their own).
    async fn access_token(&self) -> Result<String, VerifyError> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token if it is still `value`.
    async fn forget_token(&self, value: &str) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == value) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<AccessToken, VerifyError> {
        let assertion = self.assertion()?;
        let asked_at = Instant::now();
        let response = self
            .inner
            .http
            .post(self.inner.token_url.clone())
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)])
            .send()
            .await
            .map_err(|e| VerifyError::StoreUnavailable(format!("token endpoint: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(VerifyError::StoreUnavailable(format!(
                "token endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        let body = crate::outbound::read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| VerifyError::StoreUnavailable(format!("token endpoint: {e}")))?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| VerifyError::StoreUnavailable(format!("token endpoint answer: {e}")))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(ASSERTION_LIFETIME_SECS));
        Ok(AccessToken {
            value: answer.access_token,
            // A token living under the margin is used once and not kept.
            refresh_at: asked_at + lifetime.saturating_sub(TOKEN_REFRESH_MARGIN),
        })
    }

    /// The JWT-bearer assertion: RS256 over `{iss, scope, aud, iat, exp}`.
    fn assertion(&self) -> Result<String, VerifyError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.inner.private_key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.inner.client_email,
            "scope": ANDROIDPUBLISHER_SCOPE,
            "aud": self.inner.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.inner.key.public().modulus_len()];
        self.inner
            .key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.inner.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                VerifyError::StoreUnavailable("signing the token assertion failed".into())
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// A product id or purchase token fit to be one URL path segment.
fn check_segment(what: &str, value: &str, max: usize) -> Result<(), VerifyError> {
    if value.is_empty() {
        return Err(VerifyError::Malformed(format!("{what} is empty")));
    }
    if value.len() > max {
        return Err(VerifyError::Malformed(format!(
            "{what} is {} bytes; the limit is {max}",
            value.len()
        )));
    }
    // The URL path would drop or resolve these instead of sending them.
    if value == "." || value == ".." {
        return Err(VerifyError::Malformed(format!("{what} {value:?}")));
    }
    Ok(())
}

fn http_url(what: &'static str, value: &str) -> Result<Url, IapConfigError> {
    crate::outbound::http_url(value).ok_or_else(|| IapConfigError::BadUrl {
        what,
        url: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use serde_json::Value;

    use super::*;
    use crate::iap::test_support::{GOOGLE_TEST_ACCOUNT, google_account_json};

    const PACKAGE: &str = "com.example.game";

    /// A fake of Google's token endpoint and `purchases.products.get`.
    struct Fake {
        token_uri: String,
        public_key: Vec<u8>,
        token_hits: AtomicUsize,
        /// The one access token the API accepts now.
        valid_token: Mutex<Option<String>>,
        /// (product id, token) pairs the API was asked about, decoded.
        asked: Mutex<Vec<(String, String)>>,
        /// Answer 401 whatever the token.
        refuse_all: AtomicBool,
    }

    fn test_public_key() -> Vec<u8> {
        let account: Value = serde_json::from_str(GOOGLE_TEST_ACCOUNT).unwrap();
        let pem = account["private_key"].as_str().unwrap();
        let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
        else {
            panic!("test key is PKCS#8");
        };
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        key.public().as_ref().to_vec()
    }

    /// `application/x-www-form-urlencoded` pairs, decoded.
    fn form_pairs(body: &str) -> Vec<(String, String)> {
        fn decode(s: &str) -> String {
            let bytes = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8(out).unwrap()
        }
        body.split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect()
    }

    async fn token_endpoint(State(fake): State<Arc<Fake>>, body: String) -> (StatusCode, String) {
        let refuse = |why: &str| {
            (
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_grant", "error_description": why }).to_string(),
            )
        };
        let pairs = form_pairs(&body);
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if field("grant_type").as_deref() != Some(JWT_BEARER_GRANT) {
            return refuse("grant_type");
        }
        let Some(assertion) = field("assertion") else {
            return refuse("no assertion");
        };
        let parts: Vec<&str> = assertion.split('.').collect();
        if parts.len() != 3 {
            return refuse("not a JWT");
        }
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &fake.public_key)
            .verify(signed.as_bytes(), &signature)
            .is_err()
        {
            return refuse("bad signature");
        }
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let iat = claims["iat"].as_u64().unwrap();
        if header["alg"] != "RS256"
            || claims["iss"] != "iap-test@asobi-test.iam.gserviceaccount.com"
            || claims["scope"] != ANDROIDPUBLISHER_SCOPE
            || claims["aud"] != fake.token_uri.as_str()
            || claims["exp"].as_u64() != Some(iat + 3600)
            || iat.abs_diff(now) > 60
        {
            return refuse("claims");
        }
        let n = fake.token_hits.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("ya29.test-{n}");
        *fake.valid_token.lock().unwrap() = Some(token.clone());
        (
            StatusCode::OK,
            json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" })
                .to_string(),
        )
    }

    async fn products_get(
        State(fake): State<Arc<Fake>>,
        Path((package, product, token)): Path<(String, String, String)>,
        headers: HeaderMap,
    ) -> (StatusCode, String) {
        let expected = fake.valid_token.lock().unwrap().clone();
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if expected.is_none()
            || bearer != expected.as_deref()
            || fake.refuse_all.load(Ordering::SeqCst)
        {
            return (
                StatusCode::UNAUTHORIZED,
                json!({ "error": { "code": 401 } }).to_string(),
            );
        }
        if package != PACKAGE {
            return (StatusCode::NOT_FOUND, String::new());
        }
        fake.asked
            .lock()
            .unwrap()
            .push((product.clone(), token.clone()));
        let purchase = |state: i64| {
            json!({
                "kind": "androidpublisher#productPurchase",
                "purchaseTimeMillis": "1700000000123",
                "purchaseState": state,
                "consumptionState": 0,
                "developerPayload": "",
                "orderId": "GPA.3333-4444-5555-66666",
                "acknowledgementState": 1,
                "productId": product,
                "quantity": 3,
                "regionCode": "JP",
            })
            .to_string()
        };
        match token.as_str() {
            "good-token" | "odd/token+ü" => (StatusCode::OK, purchase(0)),
            "pending-token" => (StatusCode::OK, purchase(2)),
            "cancelled-token" => (StatusCode::OK, purchase(1)),
            "minimal-token" => (StatusCode::OK, json!({ "orderId": "GPA.1" }).to_string()),
            "forbidden-token" => (StatusCode::FORBIDDEN, String::new()),
            "gone-token" => (
                StatusCode::GONE,
                json!({ "error": { "code": 410 } }).to_string(),
            ),
            "broken-token" => (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
            "not-json-token" => (StatusCode::OK, "<html>".to_owned()),
            _ => (
                StatusCode::NOT_FOUND,
                json!({ "error": { "code": 404 } }).to_string(),
            ),
        }
    }

    /// Serves the fake on 127.0.0.1; returns it and its base URL.
    async fn serve() -> (Arc<Fake>, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Arc::new(Fake {
            token_uri: format!("{base}/token"),
            public_key: test_public_key(),
            token_hits: AtomicUsize::new(0),
            valid_token: Mutex::new(None),
            asked: Mutex::new(Vec::new()),
            refuse_all: AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/token", post(token_endpoint))
            .route("/broken-token-endpoint", post(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route(
                "/androidpublisher/v3/applications/{package}/purchases/products/{product}/tokens/{token}",
                get(products_get),
            )
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, base)
    }

    fn verifier(token_uri: &str, api_base: &str) -> GoogleVerifier {
        GoogleVerifier::new(GoogleConfig {
            service_account_json: google_account_json(token_uri),
            package_name: PACKAGE.into(),
            api_base: api_base.into(),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn purchase_verifies_and_the_access_token_is_cached() {
        let (fake, base) = serve().await;
        let v = verifier(&fake.token_uri, &base);
        let p = v.verify("gems_100", "good-token").await.unwrap();
        assert_eq!(
            p,
            GooglePurchase {
                order_id: Some("GPA.3333-4444-5555-66666".into()),
                product_id: "gems_100".into(),
                purchase_time: Some(1_700_000_000_123),
                consumption_state: 0,
                acknowledged: true,
                quantity: 3,
                obfuscated_account_id: None,
                purchase_type: None,
            }
        );
        // A clone shares the token: still one token request for three verifications.
        v.clone().verify("gems_500", "good-token").await.unwrap();
        v.verify("gems_100", "good-token").await.unwrap();
        assert_eq!(fake.token_hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refused_access_token_is_fetched_again_once() {
        let (fake, base) = serve().await;
        let v = verifier(&fake.token_uri, &base);
        v.verify("gems_100", "good-token").await.unwrap();
        // Google forgets the token: the next call gets 401, fetches a new one, succeeds.
        *fake.valid_token.lock().unwrap() = Some("something-else".into());
        v.verify("gems_100", "good-token").await.unwrap();
        assert_eq!(fake.token_hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn store_answers_map_to_reasons() {
        let (fake, base) = serve().await;
        let v = verifier(&fake.token_uri, &base);
        for (token, reason, status) in [
            ("unknown-token", "store_rejected", Some(404)),
            ("gone-token", "store_rejected", Some(410)),
            ("pending-token", "not_purchased", None),
            ("cancelled-token", "not_purchased", None),
            ("broken-token", "store_unavailable", None),
            ("forbidden-token", "store_unavailable", None),
            ("not-json-token", "store_unavailable", None),
        ] {
            let err = v.verify("gems_100", token).await.unwrap_err();
            assert_eq!(err.reason(), reason, "{token}: {err}");
            if let Some(status) = status {
                assert!(err.to_string().contains(&status.to_string()), "{err}");
                assert!(matches!(err, VerifyError::StoreRejected { status: s } if s == status));
            }
        }
        let err = v.verify("gems_100", "pending-token").await.unwrap_err();
        assert!(
            matches!(err, VerifyError::NotPurchased { state: 2 }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn absent_fields_take_their_defaults() {
        let (fake, base) = serve().await;
        let v = verifier(&fake.token_uri, &base);
        let p = v.verify("gems_100", "minimal-token").await.unwrap();
        assert_eq!(p.product_id, "gems_100");
        assert_eq!(p.quantity, 1);
        assert_eq!(p.purchase_time, None);
        assert_eq!(p.consumption_state, 0);
        assert!(!p.acknowledged);
    }

    #[tokio::test]
    async fn path_segments_are_percent_encoded() {
        let (fake, base) = serve().await;
        // A trailing slash on api_base is fine too.
        let v = verifier(&fake.token_uri, &format!("{base}/"));
        v.verify("gems 100/x?y#z", "odd/token+ü").await.unwrap();
        assert_eq!(
            fake.asked.lock().unwrap().last().unwrap(),
            &("gems 100/x?y#z".to_owned(), "odd/token+ü".to_owned())
        );
        for (product, token) in [
            ("", "good-token"),
            ("gems", ""),
            ("..", "good-token"),
            ("gems", "."),
        ] {
            let err = v.verify(product, token).await.unwrap_err();
            assert_eq!(err.reason(), "malformed", "{product:?} {token:?}: {err}");
        }
        let long = "x".repeat(MAX_PURCHASE_TOKEN_BYTES + 1);
        assert_eq!(
            v.verify("gems", &long).await.unwrap_err().reason(),
            "malformed"
        );
    }

    #[tokio::test]
    async fn unreachable_store_or_token_endpoint_is_unavailable() {
        let (fake, base) = serve().await;
        // The token endpoint fails.
        let v = verifier(&format!("{base}/broken-token-endpoint"), &base);
        let err = v.verify("gems_100", "good-token").await.unwrap_err();
        assert_eq!(err.reason(), "store_unavailable", "{err}");
        assert!(err.is_transient());
        // The token endpoint refuses the assertion (another issuer).
        let mut account: Value =
            serde_json::from_str(&google_account_json(&fake.token_uri)).unwrap();
        account["client_email"] = json!("someone-else@example.com");
        let v = GoogleVerifier::new(GoogleConfig {
            service_account_json: account.to_string(),
            package_name: PACKAGE.into(),
            api_base: base.clone(),
        })
        .unwrap();
        let err = v.verify("gems_100", "good-token").await.unwrap_err();
        assert_eq!(err.reason(), "store_unavailable", "{err}");
        // Nothing listens at the API's address.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_base = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let v = verifier(&fake.token_uri, &closed_base);
        let err = v.verify("gems_100", "good-token").await.unwrap_err();
        assert_eq!(err.reason(), "store_unavailable", "{err}");
        // Our credential is refused even when fresh: unavailable, not rejected, after one
        // new token.
        fake.refuse_all.store(true, Ordering::SeqCst);
        let v = verifier(&fake.token_uri, &base);
        let hits = fake.token_hits.load(Ordering::SeqCst);
        let err = v.verify("gems_100", "good-token").await.unwrap_err();
        assert_eq!(err.reason(), "store_unavailable", "{err}");
        assert_eq!(fake.token_hits.load(Ordering::SeqCst), hits + 2);
    }

    #[test]
    fn config_errors() {
        let config = |json: String, package: &str, base: &str| GoogleConfig {
            service_account_json: json,
            package_name: package.into(),
            api_base: base.into(),
        };
        let good = google_account_json("https://oauth2.googleapis.com/token");
        assert!(GoogleVerifier::new(config(good.clone(), PACKAGE, DEFAULT_API_BASE)).is_ok());
        assert!(matches!(
            GoogleVerifier::new(config("{}".into(), PACKAGE, DEFAULT_API_BASE)),
            Err(IapConfigError::BadServiceAccount(_))
        ));
        let mut no_key: Value = serde_json::from_str(&good).unwrap();
        no_key["private_key"] =
            json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assert!(matches!(
            GoogleVerifier::new(config(no_key.to_string(), PACKAGE, DEFAULT_API_BASE)),
            Err(IapConfigError::BadPrivateKey(_))
        ));
        assert!(matches!(
            GoogleVerifier::new(config(good.clone(), "", DEFAULT_API_BASE)),
            Err(IapConfigError::EmptyPackageName)
        ));
        assert!(matches!(
            GoogleVerifier::new(config(good.clone(), PACKAGE, "ftp://example.com")),
            Err(IapConfigError::BadUrl {
                what: "api_base",
                ..
            })
        ));
        assert!(matches!(
            GoogleVerifier::new(config(
                google_account_json("not a url"),
                PACKAGE,
                DEFAULT_API_BASE
            )),
            Err(IapConfigError::BadUrl {
                what: "token_uri",
                ..
            })
        ));
        // The key never shows in Debug.
        let debug = format!("{:?}", config(good.clone(), PACKAGE, DEFAULT_API_BASE));
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        let v = GoogleVerifier::new(GoogleConfig::new(good, PACKAGE)).unwrap();
        assert!(!format!("{v:?}").contains("PRIVATE KEY"));
        assert_eq!(v.package_name(), PACKAGE);
    }
}
