//! `/api/v1/auth/*` (`rest.md` §5.1–5.2): register, login, refresh, logout, guest, provider
//! sign-in, guest upgrade, link and unlink.

use asobi_core::protocol::ErrorCode;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use super::middleware::bearer;
use crate::auth::{AuthError, validate_registration};
use crate::error::ApiError;
use crate::session::CloseReason;
use crate::state::AppState;

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        if let AuthError::SignInBackoff(secs) = e {
            return ApiError::rate_limited(ErrorCode::RateLimited, secs);
        }
        match e.code() {
            ErrorCode::Internal => ApiError::internal(e),
            ErrorCode::GuestRateLimited => ApiError::rate_limited(ErrorCode::GuestRateLimited, 5),
            code => e
                .details()
                .into_iter()
                .fold(ApiError::new(code), |api, (k, v)| api.detail(&k, v)),
        }
    }
}

/// `POST /auth/register`.
pub async fn register(
    State(app): State<AppState>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let username = body.string("username")?;
    let password = body.string("password")?;
    let display_name = match body.0.get("display_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            let mut fields = serde_json::Map::new();
            fields.insert("display_name".into(), json!(["must be a string"]));
            return Err(ApiError::validation("fields", fields));
        }
    };
    validate_registration(&username, &password, display_name.as_deref())
        .map_err(|fields| ApiError::validation("fields", fields))?;
    let signed_in = app
        .accounts()
        .register(&username, password, display_name)
        .await?;
    Ok(Json(signed_in.to_json()))
}

/// `POST /auth/login`.
pub async fn login(State(app): State<AppState>, body: JsonBody) -> Result<Json<Value>, ApiError> {
    let username = body.string("username")?;
    let password = body.string("password")?;
    let signed_in = app.accounts().login(&username, password).await?;
    Ok(Json(signed_in.to_json()))
}

/// `POST /auth/refresh`. A reused refresh token revokes its family and closes its sockets.
pub async fn refresh(State(app): State<AppState>, body: JsonBody) -> Result<Json<Value>, ApiError> {
    let token = body.string("refresh_token")?;
    let pair = match app.accounts().refresh(&token).await {
        Ok(pair) => pair,
        Err(AuthError::RefreshReused { family }) => {
            // Whoever holds the family (the thief, or the owner) is signed out everywhere,
            // as logout does.
            app.sessions().close_family(&family, CloseReason::REVOKED);
            return Err(AuthError::RefreshReused { family }.into());
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(
        json!({"access_token": pair.access_token, "refresh_token": pair.refresh_token}),
    ))
}

/// `POST /auth/logout`: always 200; revokes the refresh family and the bearer token given,
/// and closes the sockets those credentials opened.
pub async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let refresh = body.opt_string("refresh_token");
    let access = bearer(&headers);
    let principal = match access {
        Some(t) => app.accounts().authenticate(t).await?,
        None => None,
    };
    let families = app.accounts().logout(refresh.as_deref(), access).await?;
    for family in families
        .iter()
        .chain(principal.as_ref().map(|p| &p.family_id))
    {
        app.sessions().close_family(family, CloseReason::REVOKED);
    }
    Ok(Json(json!({"success": true})))
}

/// `POST /auth/guest`.
pub async fn guest(State(app): State<AppState>, body: JsonBody) -> Result<Json<Value>, ApiError> {
    let device_id = body.string("device_id")?;
    let device_secret = body.string("device_secret")?;
    let signed_in = app.accounts().guest(&device_id, &device_secret).await?;
    let mut out = signed_in.to_json();
    out["guest"] = json!(true);
    if signed_in.created {
        out["created"] = json!(true);
    }
    Ok(Json(out))
}

/// `POST /auth/oauth`: `provider`, `token` (an OIDC ID token, a Steam ticket, or the game's
/// own), and our optional `nonce`, which the ID token must then carry.
pub async fn oauth(State(app): State<AppState>, body: JsonBody) -> Result<Json<Value>, ApiError> {
    let provider = body.string("provider")?;
    let token = body.string("token")?;
    let nonce = body.opt_string("nonce");
    let signed_in = app
        .accounts()
        .oauth(&provider, &token, nonce.as_deref())
        .await?;
    let mut out = signed_in.to_json();
    if signed_in.created {
        out["created"] = json!(true);
    }
    Ok(Json(out))
}

/// `POST /auth/guest/upgrade`: the caller, an unclaimed guest, becomes a password account;
/// every earlier token is revoked and its sockets closed.
pub async fn guest_upgrade(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let username = body.string("username")?;
    let password = body.string("password")?;
    validate_registration(&username, &password, None)
        .map_err(|fields| ApiError::validation("fields", fields))?;
    let (signed_in, revoked) = app
        .accounts()
        .upgrade_guest(&me.player_id, &username, password)
        .await?;
    for family in &revoked {
        app.sessions().close_family(family, CloseReason::REVOKED);
    }
    let mut out = signed_in.to_json();
    out["upgraded"] = json!(true);
    Ok(Json(out))
}

/// `POST /auth/link`: links a provider identity to the caller.
pub async fn link(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let provider = body.string("provider")?;
    let token = body.string("token")?;
    let nonce = body.opt_string("nonce");
    let uid = app
        .accounts()
        .link_token(&me.player_id, &provider, &token, nonce.as_deref())
        .await?;
    Ok(Json(
        json!({"provider": provider, "provider_uid": uid, "linked": true}),
    ))
}

/// `DELETE /auth/unlink?provider=<name>`: unlinks the caller's identity of that provider,
/// unless it is their last way to sign in.
pub async fn unlink(
    State(app): State<AppState>,
    Authed(me): Authed,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let provider = q
        .get("provider")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::missing("provider"))?;
    app.accounts().unlink(&me.player_id, provider).await?;
    Ok(Json(json!({"success": true})))
}
