//! Client handles. A handle handed to C is a number in pointer clothing, looked up in a
//! registry on every call; it is never dereferenced. So a freed, forged or repeated handle
//! is answered `ASOBI_STATUS_INVALID_HANDLE` instead of touching freed memory, and numbers
//! are never reused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use crate::client::ClientInner;
use crate::cstr::{require, write_out};
use crate::status::{AsobiStatus, FfiError, guard};

/// An Asobi client: configuration, REST session, realtime session and the event queue the
/// game polls. Opaque; create with `asobi_client_new`, free with `asobi_client_free`.
pub struct AsobiClient {
    _opaque: [u8; 0],
}

static REGISTRY: LazyLock<Mutex<HashMap<usize, Arc<ClientInner>>>> = LazyLock::new(Mutex::default);
/// Handle numbers; 0 is never issued (it is NULL). Spaced by 16 so a handle looks aligned.
static NEXT: AtomicUsize = AtomicUsize::new(16);

fn registry() -> MutexGuard<'static, HashMap<usize, Arc<ClientInner>>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers a client and returns its handle.
pub(crate) fn insert(inner: ClientInner) -> *mut AsobiClient {
    let id = NEXT.fetch_add(16, Ordering::Relaxed);
    registry().insert(id, Arc::new(inner));
    std::ptr::without_provenance_mut(id)
}

/// The live client behind a handle.
pub(crate) fn get(handle: *const AsobiClient) -> Result<Arc<ClientInner>, FfiError> {
    if handle.is_null() {
        return Err(FfiError::Null("client"));
    }
    registry()
        .get(&handle.addr())
        .cloned()
        .ok_or(FfiError::InvalidHandle)
}

/// Unregisters a handle; the caller shuts the client down.
pub(crate) fn remove(handle: *const AsobiClient) -> Result<Arc<ClientInner>, FfiError> {
    if handle.is_null() {
        return Err(FfiError::Null("client"));
    }
    registry()
        .remove(&handle.addr())
        .ok_or(FfiError::InvalidHandle)
}

/// The body of every export that answers with a request id: checks the out-pointer and the
/// handle, starts the request with `work`, and writes its id.
pub(crate) fn start(
    client: *mut AsobiClient,
    request_id: *mut u64,
    work: impl FnOnce(&ClientInner) -> Result<u64, FfiError>,
) -> AsobiStatus {
    guard(|| {
        require(request_id, "request_id")?;
        let inner = get(client)?;
        let id = work(&inner)?;
        // SAFETY: checked non-NULL; the exported function's contract makes it writable.
        unsafe { write_out(request_id, id, "request_id") }
    })
}

/// How many clients are alive (for leak checks in tests).
pub(crate) fn live() -> usize {
    registry().len()
}
