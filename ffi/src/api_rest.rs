//! Exported: sign-in and any REST call. Each starts a request and returns its id at once;
//! the answer arrives as an `ASOBI_EVENT_KIND_RESPONSE` or `_FAILURE` event with that id.
//! The signed-in player's tokens are kept by the client and used by later calls and by the
//! realtime session.

use std::ffi::c_char;

use crate::cstr::{opt_json_arg, str_arg};
use crate::handle::{AsobiClient, start};
use crate::status::AsobiStatus;

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
        let (u, p) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            )
        };
        Ok(inner.register(u, p))
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
        let (u, p) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            )
        };
        Ok(inner.login(u, p))
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
        Ok(inner.guest(d, s))
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
    start(client, request_id, |inner| Ok(inner.logout()))
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
        Ok(inner.rest_call(m, p, body))
    })
}
