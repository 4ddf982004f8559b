//! Exported: versions, errors, strings, and a client's life (create, choose the transport,
//! poll, free).

use std::ffi::c_char;

use crate::client::ClientInner;
use crate::cstr::{opt_str_arg, require, str_arg, write_out};
use crate::event::{AsobiEvent, AsobiEventKind};
use crate::handle::{self, AsobiClient};
use crate::status::{AsobiStatus, guard, last_error_ptr};

/// The C ABI's version. It changes whenever a signature, struct layout or enum value of
/// this header changes incompatibly; compare it with `asobi_abi_version()` at start-up.
pub const ASOBI_ABI_VERSION: u32 = 1;

/// The ABI version of the loaded library (see `ASOBI_ABI_VERSION`). Bindings compare it with
/// the version they were generated for and refuse to run on a mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn asobi_abi_version() -> u32 {
    ASOBI_ABI_VERSION
}

/// The library's version, e.g. "0.1.0". A static string: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn asobi_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Text describing the last failed call on the calling thread ("" if none). Owned by the
/// library; valid until the next failing call on this thread. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn asobi_last_error() -> *const c_char {
    last_error_ptr()
}

/// A status code's name, e.g. "ASOBI_STATUS_NOT_CONNECTED" (a static string: never free it);
/// "ASOBI_STATUS_UNKNOWN" for a number that is not a status.
#[unsafe(no_mangle)]
pub extern "C" fn asobi_status_name(status: i32) -> *const c_char {
    let name: &'static str = match status {
        0 => "ASOBI_STATUS_OK\0",
        1 => "ASOBI_STATUS_NULL_ARGUMENT\0",
        2 => "ASOBI_STATUS_INVALID_HANDLE\0",
        3 => "ASOBI_STATUS_INVALID_UTF8\0",
        4 => "ASOBI_STATUS_INVALID_JSON\0",
        5 => "ASOBI_STATUS_INVALID_ARGUMENT\0",
        6 => "ASOBI_STATUS_NOT_CONNECTED\0",
        7 => "ASOBI_STATUS_NOT_FOUND\0",
        8 => "ASOBI_STATUS_BUFFER_TOO_SMALL\0",
        9 => "ASOBI_STATUS_RUNTIME\0",
        10 => "ASOBI_STATUS_PANIC\0",
        _ => "ASOBI_STATUS_UNKNOWN\0",
    };
    name.as_ptr().cast()
}

/// Frees a string the library returned to the caller (`asobi_*_json` outputs). NULL is
/// ignored. Never pass strings from `AsobiEvent`, `asobi_last_error` or `asobi_version`:
/// the library keeps those.
///
/// # Safety
/// `text` is NULL or a string from this library not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: by contract, `text` came from `CString::into_raw` in this library.
        drop(unsafe { std::ffi::CString::from_raw(text) });
    }
}

/// Creates a client for the server whose HTTP base URL is `http_url` (e.g.
/// "http://127.0.0.1:8080"). Realtime goes over WebSocket at `<http_url>/ws` — which any
/// Asobi server speaks — until `asobi_client_use_quic`. No network traffic happens yet.
///
/// The client owns one I/O thread. Its functions may be called from any thread, but events
/// are only delivered by `asobi_client_poll`, so call that from the thread that consumes
/// them (the engine's main thread). Free it with `asobi_client_free`.
///
/// Errors: NULL_ARGUMENT, INVALID_UTF8, INVALID_ARGUMENT (not an http(s) URL), RUNTIME.
///
/// # Safety
/// `http_url` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_client_new(
    http_url: *const c_char,
    out: *mut *mut AsobiClient,
) -> AsobiStatus {
    guard(|| {
        require(out, "out")?;
        // SAFETY: caller's contract.
        let url = unsafe { str_arg(http_url, "http_url") }?;
        let client = handle::insert(ClientInner::new(url)?);
        // SAFETY: checked non-NULL above; writable by contract.
        unsafe { write_out(out, client, "out") }
    })
}

/// Switches realtime to the native QUIC path at `addr` ("host:port", the server's
/// `--quic-addr`). `pin_sha256` is the SHA-256 fingerprint of the server's certificate as
/// the server prints it (64 hex digits, ':' allowed); NULL verifies against the web PKI
/// instead. Only while the realtime session is closed.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, INVALID_ARGUMENT (bad fingerprint,
/// or the session is open).
///
/// # Safety
/// String arguments are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_client_use_quic(
    client: *mut AsobiClient,
    addr: *const c_char,
    pin_sha256: *const c_char,
) -> AsobiStatus {
    guard(|| {
        let inner = handle::get(client)?;
        // SAFETY: caller's contract.
        let (addr, pin) = unsafe {
            (
                str_arg(addr, "addr")?,
                opt_str_arg(pin_sha256, "pin_sha256")?,
            )
        };
        inner.use_quic(addr, pin)
    })
}

/// Switches realtime back to WebSocket (`<http_url>/ws`), the default. Only while the
/// realtime session is closed.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT (the session is open).
#[unsafe(no_mangle)]
pub extern "C" fn asobi_client_use_websocket(client: *mut AsobiClient) -> AsobiStatus {
    guard(|| handle::get(client)?.use_websocket())
}

/// Takes the next event: a finished request, a server push, or a connection change. When
/// nothing is waiting, `out->kind` is `ASOBI_EVENT_KIND_NONE` and the call still returns OK.
/// Never blocks. The strings in `*out` belong to the client and stay valid until the next
/// poll on this client or until it is freed.
///
/// Call it every frame until it reports NONE:
/// `while (asobi_client_poll(c, &ev) == ASOBI_STATUS_OK && ev.kind != ASOBI_EVENT_KIND_NONE)`.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE (including a freed client).
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_client_poll(
    client: *mut AsobiClient,
    out: *mut AsobiEvent,
) -> AsobiStatus {
    guard(|| {
        require(out, "out")?;
        let inner = handle::get(client)?;
        let next = inner.next_outcome();
        let event = inner.polled().hand_out(next);
        debug_assert!(event.kind != AsobiEventKind::None || event.request_id == 0);
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out, event, "out") }
    })
}

/// Closes the realtime session (waiting at most a second for the server to see it), stops
/// the client's I/O thread and frees the client. Events not yet polled are dropped. After
/// this, every call with the handle returns INVALID_HANDLE.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE (already freed).
#[unsafe(no_mangle)]
pub extern "C" fn asobi_client_free(client: *mut AsobiClient) -> AsobiStatus {
    guard(|| {
        let inner = handle::remove(client)?;
        inner.shutdown();
        Ok(())
    })
}

/// How many clients are alive (created and not freed). For leak checks.
#[unsafe(no_mangle)]
pub extern "C" fn asobi_client_count() -> usize {
    handle::live()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 §14: freeing a client from inside a tokio runtime neither panics (blocking
    /// there would) nor keeps the handle.
    #[test]
    fn free_from_inside_a_tokio_runtime_does_not_block_or_panic() {
        let url = c"http://127.0.0.1:9";
        let mut client: *mut AsobiClient = std::ptr::null_mut();
        // SAFETY: a valid C string and out pointer.
        let status = unsafe { asobi_client_new(url.as_ptr(), &mut client) };
        assert_eq!(status, AsobiStatus::Ok);
        let before = asobi_client_count();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let freed = rt.block_on(async { asobi_client_free(client) });
        assert_eq!(freed, AsobiStatus::Ok);
        assert_eq!(asobi_client_count(), before - 1);
        assert_eq!(asobi_client_free(client), AsobiStatus::InvalidHandle);
    }
}
