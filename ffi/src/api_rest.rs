//! Exported: sign-in and any REST call. Each starts a request and returns its id at once;
//! the answer arrives as an `ASOBI_EVENT_KIND_RESPONSE` or `_FAILURE` event with that id.
//! The signed-in player's tokens are kept by the client and used by later calls and by the
//! realtime session.

use std::ffi::c_char;

use serde_json::{Value, json};

use crate::client::ClientInner;
use crate::cstr::{opt_json_arg, require, str_arg, write_out};
use crate::handle::{self, AsobiClient};
use crate::status::{AsobiStatus, FfiError, guard};

/// Starts `work` for a handle and writes its request id.
fn start<F, Fut>(client: *mut AsobiClient, request_id: *mut u64, work: F) -> AsobiStatus
where
    F: FnOnce(&ClientInner) -> Result<Fut, FfiError>,
    Fut: Future<Output = Result<(String, String), asobi_client::ClientError>> + Send + 'static,
{
    guard(|| {
        require(request_id, "request_id")?;
        let inner = handle::get(client)?;
        let id = inner.spawn(work(&inner)?);
        // SAFETY: checked non-NULL; writable by the exported function's contract.
        unsafe { write_out(request_id, id, "request_id") }
    })
}

fn session_json(s: &asobi_client::AuthSession) -> String {
    json!({
        "player_id": s.player_id,
        "username": s.username,
        "access_token": s.access_token,
        "refresh_token": s.refresh_token,
    })
    .to_string()
}

/// Registers a player with a username and password and signs in as them. Response type
/// `auth.register`, payload `{"player_id", "username", "access_token", "refresh_token"}`;
/// failures carry the server's code (e.g. `auth.username_taken`).
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_auth_register(
    client: *mut AsobiClient,
    username: *const c_char,
    password: *const c_char,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| {
        // SAFETY: caller's contract.
        let (u, p) = unsafe { (str_arg(username, "username")?, str_arg(password, "password")?) };
        let (u, p, rest) = (u.to_owned(), p.to_owned(), inner.rest());
        Ok(async move {
            let s = rest.register(&u, &p).await?;
            Ok(("auth.register".to_owned(), session_json(&s)))
        })
    })
}

/// Signs in with a username and password. Response type `auth.login`, payload as
/// `asobi_auth_register`; a wrong password fails with `auth.invalid_credentials`.
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_auth_login(
    client: *mut AsobiClient,
    username: *const c_char,
    password: *const c_char,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| {
        // SAFETY: caller's contract.
        let (u, p) = unsafe { (str_arg(username, "username")?, str_arg(password, "password")?) };
        let (u, p, rest) = (u.to_owned(), p.to_owned(), inner.rest());
        Ok(async move {
            let s = rest.login(&u, &p).await?;
            Ok(("auth.login".to_owned(), session_json(&s)))
        })
    })
}

/// Signs in as a guest bound to a device (the server must allow guest sign-in). Response
/// type `auth.guest`, payload as `asobi_auth_register`.
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_auth_guest(
    client: *mut AsobiClient,
    device_id: *const c_char,
    device_secret: *const c_char,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| {
        // SAFETY: caller's contract.
        let (d, s) = unsafe {
            (
                str_arg(device_id, "device_id")?,
                str_arg(device_secret, "device_secret")?,
            )
        };
        let (d, s, rest) = (d.to_owned(), s.to_owned(), inner.rest());
        Ok(async move {
            let session = rest.guest(&d, &s).await?;
            Ok(("auth.guest".to_owned(), session_json(&session)))
        })
    })
}

/// Signs out: the server revokes the refresh token and the client forgets its tokens.
/// Response type `auth.logout`, payload `null`.
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE.
///
/// # Safety
/// `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_auth_logout(
    client: *mut AsobiClient,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| {
        let rest = inner.rest();
        Ok(async move {
            rest.logout().await?;
            Ok(("auth.logout".to_owned(), "null".to_owned()))
        })
    })
}

/// Any REST call: `method` is an HTTP verb ("GET", "POST", "PUT", "DELETE"…), `path` is
/// below `/api/v1` (e.g. "/players/<id>", "/leaderboards/weekly"), `body_json` is the JSON
/// body or NULL. The signed-in player's token is sent. Response type `rest`, payload the
/// answer's JSON; a non-2xx answer is a failure with the server's code and the HTTP status.
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, INVALID_JSON.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_rest_call(
    client: *mut AsobiClient,
    method: *const c_char,
    path: *const c_char,
    body_json: *const c_char,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| {
        // SAFETY: caller's contract.
        let (m, p, body) = unsafe {
            (
                str_arg(method, "method")?,
                str_arg(path, "path")?,
                opt_json_arg(body_json, "body_json")?,
            )
        };
        let (m, p, rest) = (m.to_owned(), p.to_owned(), inner.rest());
        Ok(async move {
            let answer: Value = rest.send(&m, &p, body).await?;
            Ok(("rest".to_owned(), answer.to_string()))
        })
    })
}
