//! Exported: the realtime session (connect, requests, inputs, close) and the matchmaking
//! and match shortcuts engines use most. Every message type and payload is the server's
//! (`websocket.md`); the shortcuts are the generic calls with the type filled in.

use std::ffi::c_char;

use crate::client::message;
use crate::cstr::{opt_json_arg, str_arg};
use crate::handle::{self, AsobiClient, start};
use crate::status::{AsobiStatus, guard};

/// Opens the realtime session as the signed-in player, over the client's transport
/// (WebSocket by default, QUIC after `asobi_client_use_quic`). Response type
/// `session.connected` once authenticated, then an `ASOBI_EVENT_KIND_CONNECTED` event.
/// Dropped connections are retried with backoff and resumed by the library
/// (`DISCONNECTED` with `flag` = reconnecting, then `CONNECTED` with `flag` = resumed).
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT (already open).
/// Failure event: `client.not_signed_in`, `client.connect`, or the server's code.
///
/// # Safety
/// `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_realtime_connect(
    client: *mut AsobiClient,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| inner.connect())
}

/// Sends a realtime request of `type_name` (e.g. "match.join", "world.join",
/// "match.find_or_create") with `payload_json` (NULL for none). The reply arrives as a
/// `RESPONSE` (its type, e.g. `match.joined`) or a `FAILURE` with the server's code.
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, INVALID_ARGUMENT
/// (unknown type), INVALID_JSON (payload unreadable or of the wrong shape), NOT_CONNECTED.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_realtime_request(
    client: *mut AsobiClient,
    type_name: *const c_char,
    payload_json: *const c_char,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| {
        // SAFETY: caller's contract.
        let (ty, payload) = unsafe {
            (
                str_arg(type_name, "type_name")?,
                opt_json_arg(payload_json, "payload_json")?,
            )
        };
        inner.request(message(ty, payload)?)
    })
}

/// Sends a realtime message that has no reply (e.g. "match.input", "world.input",
/// "session.heartbeat"). Inputs travel in order with the session's other messages.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, INVALID_ARGUMENT, INVALID_JSON,
/// NOT_CONNECTED.
///
/// # Safety
/// Strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_realtime_send(
    client: *mut AsobiClient,
    type_name: *const c_char,
    payload_json: *const c_char,
) -> AsobiStatus {
    guard(|| {
        let inner = handle::get(client)?;
        // SAFETY: caller's contract.
        let (ty, payload) = unsafe {
            (
                str_arg(type_name, "type_name")?,
                opt_json_arg(payload_json, "payload_json")?,
            )
        };
        inner.send(message(ty, payload)?)
    })
}

/// Closes the realtime session; no reconnect. Response type `session.closed`, then a
/// `CLOSED` event. The client stays usable (REST, or connect again).
///
/// Errors (immediate): NULL_ARGUMENT, INVALID_HANDLE, NOT_CONNECTED.
///
/// # Safety
/// `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_realtime_close(
    client: *mut AsobiClient,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| inner.close_realtime())
}

/// Queues for a match of `mode` (`matchmaker.add`) with optional `properties_json` (an
/// object, NULL for none). The response (`matchmaker.queued`) carries the ticket; the match
/// arrives later as a `match.matched` message, after which `match.state` messages flow.
///
/// Errors (immediate): as `asobi_realtime_request`.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `request_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_matchmaker_add(
    client: *mut AsobiClient,
    mode: *const c_char,
    properties_json: *const c_char,
    request_id: *mut u64,
) -> AsobiStatus {
    start(client, request_id, |inner| {
        // SAFETY: caller's contract.
        let (mode, properties) = unsafe {
            (
                str_arg(mode, "mode")?,
                opt_json_arg(properties_json, "properties_json")?,
            )
        };
        inner.matchmaker_add(mode, properties)
    })
}

/// Sends an input to the current match (`match.input`); `input_json` is the game's object,
/// handed to the mode's `handle_input`.
///
/// Errors: as `asobi_realtime_send`.
///
/// # Safety
/// `input_json` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_match_input(
    client: *mut AsobiClient,
    input_json: *const c_char,
) -> AsobiStatus {
    guard(|| {
        let inner = handle::get(client)?;
        // SAFETY: caller's contract.
        let input = unsafe { opt_json_arg(input_json, "input_json") }?;
        inner.send(message("match.input", input)?)
    })
}
