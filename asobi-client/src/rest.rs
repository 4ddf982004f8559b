//! The REST half of the client: auth, players, matchmaker, matches and worlds (`rest.md`).
//!
//! Successful answers come back as JSON values (the contract's shapes); failures as
//! [`ClientError::Server`] with the HTTP status and the stable code. Sign-in results are kept
//! in the shared [`Tokens`], which the realtime connection reads on every (re)connect.

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ClientError;

/// What a sign-in returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthSession {
    /// The player id.
    pub player_id: String,
    /// Bearer token for REST and `session.connect`.
    pub access_token: String,
    /// Token for `POST /auth/refresh`.
    pub refresh_token: String,
    /// The account name, when the account has one.
    #[serde(default)]
    pub username: Option<String>,
}

/// The signed-in player's tokens, shared by REST and realtime.
#[derive(Debug, Default, Clone)]
pub struct Tokens(Arc<Mutex<Option<AuthSession>>>);

impl Tokens {
    /// The current session, if signed in.
    pub fn get(&self) -> Option<AuthSession> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, session: Option<AuthSession>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = session;
    }
}

/// REST calls against one server.
#[derive(Debug, Clone)]
pub struct Rest {
    base: String,
    http: reqwest::Client,
    tokens: Tokens,
}

impl Rest {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, tokens: Tokens) -> Result<Self, ClientError> {
        Rest::with_roots(base_url, tokens, &[])
    }

    /// [`new`](Self::new), trusting `roots` (DER) for `https://` besides the web PKI.
    pub fn with_roots(
        base_url: &str,
        tokens: Tokens,
        roots: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder();
        for cert in roots {
            let cert = reqwest::Certificate::from_der(cert.as_ref())
                .map_err(|e| ClientError::Config(format!("trusted certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Rest {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            tokens,
        })
    }

    /// The tokens this client signs in with.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        authed: bool,
    ) -> Result<Value, ClientError> {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        if authed {
            let session = self.tokens.get().ok_or(ClientError::NotSignedIn)?;
            req = req.bearer_auth(session.access_token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))?
        };
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(ClientError::from_rest(status, body))
        }
    }

    /// Any REST call, for APIs without a method here (and for the C ABI): `method` is an
    /// HTTP verb, `path` is below `/api/v1` (e.g. `/leaderboards/weekly`). The access token is
    /// sent when a player is signed in.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ClientError::Config(format!("not an HTTP method: {method}")))?;
        if !path.starts_with('/') {
            return Err(ClientError::Config(format!(
                "REST path must start with '/': {path}"
            )));
        }
        let authed = self.tokens.get().is_some();
        self.call(method, path, body, authed).await
    }

    fn signed_in(&self, body: Value) -> Result<AuthSession, ClientError> {
        let session: AuthSession =
            serde_json::from_value(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.tokens.set(Some(session.clone()));
        Ok(session)
    }

    /// `POST /auth/register`; signs in as the new player.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AuthSession, ClientError> {
        let body = json!({"username": username, "password": password});
        let answer = self
            .call(Method::POST, "/auth/register", Some(body), false)
            .await?;
        self.signed_in(answer)
    }

    /// `POST /auth/login`.
    pub async fn login(&self, username: &str, password: &str) -> Result<AuthSession, ClientError> {
        let body = json!({"username": username, "password": password});
        let answer = self
            .call(Method::POST, "/auth/login", Some(body), false)
            .await?;
        self.signed_in(answer)
    }

    /// `POST /auth/guest`.
    pub async fn guest(
        &self,
        device_id: &str,
        device_secret: &str,
    ) -> Result<AuthSession, ClientError> {
        let body = json!({"device_id": device_id, "device_secret": device_secret});
        let answer = self
            .call(Method::POST, "/auth/guest", Some(body), false)
            .await?;
        self.signed_in(answer)
    }

    /// `POST /auth/refresh`: rotates the tokens.
    pub async fn refresh(&self) -> Result<AuthSession, ClientError> {
        let mut session = self.tokens.get().ok_or(ClientError::NotSignedIn)?;
        let body = json!({"refresh_token": session.refresh_token});
        let answer = self
            .call(Method::POST, "/auth/refresh", Some(body), false)
            .await?;
        let field = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_owned);
        match (field("access_token"), field("refresh_token")) {
            (Some(access), Some(refresh)) => {
                session.access_token = access;
                session.refresh_token = refresh;
                self.tokens.set(Some(session.clone()));
                Ok(session)
            }
            _ => Err(ClientError::Protocol(
                "refresh answer without tokens".into(),
            )),
        }
    }

    /// `POST /auth/logout`; forgets the tokens.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let session = self.tokens.get().ok_or(ClientError::NotSignedIn)?;
        let body = json!({"refresh_token": session.refresh_token});
        self.call(Method::POST, "/auth/logout", Some(body), true)
            .await?;
        self.tokens.set(None);
        Ok(())
    }

    /// `GET /players/:id`.
    pub async fn player(&self, id: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/players/{id}"), None, true)
            .await
    }

    /// `PUT /players/:id` (the signed-in player only).
    pub async fn update_player(&self, id: &str, changes: Value) -> Result<Value, ClientError> {
        self.call(Method::PUT, &format!("/players/{id}"), Some(changes), true)
            .await
    }

    /// `POST /matchmaker`: queues the signed-in player (`{mode, properties?, party?}`).
    pub async fn matchmaker_add(&self, request: Value) -> Result<Value, ClientError> {
        self.call(Method::POST, "/matchmaker", Some(request), true)
            .await
    }

    /// `GET /matchmaker/:ticket_id`.
    pub async fn matchmaker_ticket(&self, ticket_id: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/matchmaker/{ticket_id}"), None, true)
            .await
    }

    /// `DELETE /matchmaker/:ticket_id`.
    pub async fn matchmaker_remove(&self, ticket_id: &str) -> Result<Value, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/matchmaker/{ticket_id}"),
            None,
            true,
        )
        .await
    }

    /// `GET /matches/live`.
    pub async fn live_matches(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/matches/live", None, true).await
    }

    /// `GET /matches` (the signed-in player's history).
    pub async fn match_history(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/matches", None, true).await
    }

    /// `GET /matches/:id`.
    pub async fn match_record(&self, id: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/matches/{id}"), None, true)
            .await
    }

    /// `GET /worlds`.
    pub async fn worlds(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/worlds", None, true).await
    }

    /// `GET /worlds/:id`.
    pub async fn world(&self, id: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/worlds/{id}"), None, true)
            .await
    }

    /// `POST /worlds` (`{mode}`).
    pub async fn create_world(&self, mode: &str) -> Result<Value, ClientError> {
        self.call(Method::POST, "/worlds", Some(json!({"mode": mode})), true)
            .await
    }
}
