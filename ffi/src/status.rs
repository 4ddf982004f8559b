//! The status every exported function returns, the error behind a failed status, the
//! per-thread last error, and [`guard`], which keeps panics from crossing the C boundary.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::cstr::to_cstring;

/// What a call did. `ASOBI_STATUS_OK` (0) is success; any other value is a failure, and
/// `asobi_last_error()` describes it on the calling thread.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsobiStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// The handle is not a live client: never created, or already freed.
    InvalidHandle = 2,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 3,
    /// A JSON argument does not parse, or does not have the shape the call needs.
    InvalidJson = 4,
    /// An argument is well-formed but unusable (unknown message type, bad URL, bad
    /// fingerprint, unknown HTTP method…).
    InvalidArgument = 5,
    /// The call needs the realtime session, which is not open (connect first, or it was
    /// closed).
    NotConnected = 6,
    /// The entity, chunk or state value asked for is not there.
    NotFound = 7,
    /// The caller's buffer is too small; the call's `needed`/`written` output says how much
    /// is needed.
    BufferTooSmall = 8,
    /// The library could not do its work (e.g. its I/O runtime could not start).
    Runtime = 9,
    /// A bug inside the library was caught at the boundary; the client may be unusable.
    Panic = 10,
}

/// Why a call failed; each variant maps to one [`AsobiStatus`].
#[derive(Debug, thiserror::Error)]
pub enum FfiError {
    /// A required pointer was NULL.
    #[error("`{0}` is NULL")]
    Null(&'static str),
    /// Not a live handle.
    #[error("not a live client handle (never created, or already freed)")]
    InvalidHandle,
    /// A string argument is not UTF-8.
    #[error("`{0}` is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A JSON argument is unusable.
    #[error("`{arg}` is not usable JSON: {why}")]
    InvalidJson {
        /// The argument's name.
        arg: &'static str,
        /// What was wrong.
        why: String,
    },
    /// An argument is unusable.
    #[error("{0}")]
    InvalidArgument(String),
    /// No realtime session.
    #[error("the realtime session is not open (call asobi_realtime_connect first)")]
    NotConnected,
    /// Nothing there.
    #[error("{0} not found")]
    NotFound(String),
    /// The caller's buffer is too small.
    #[error("the buffer holds {capacity}, {needed} are needed")]
    BufferTooSmall {
        /// What would fit everything.
        needed: usize,
        /// What the caller gave.
        capacity: usize,
    },
    /// The library could not do its work.
    #[error("{0}")]
    Runtime(String),
}

impl FfiError {
    /// The status this error is reported as.
    pub fn status(&self) -> AsobiStatus {
        match self {
            FfiError::Null(_) => AsobiStatus::NullArgument,
            FfiError::InvalidHandle => AsobiStatus::InvalidHandle,
            FfiError::InvalidUtf8(_) => AsobiStatus::InvalidUtf8,
            FfiError::InvalidJson { .. } => AsobiStatus::InvalidJson,
            FfiError::InvalidArgument(_) => AsobiStatus::InvalidArgument,
            FfiError::NotConnected => AsobiStatus::NotConnected,
            FfiError::NotFound(_) => AsobiStatus::NotFound,
            FfiError::BufferTooSmall { .. } => AsobiStatus::BufferTooSmall,
            FfiError::Runtime(_) => AsobiStatus::Runtime,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(text: &str) {
    LAST_ERROR.with(|e| *e.borrow_mut() = to_cstring(text));
}

/// The calling thread's last failure text (empty when none). Valid until the next failing
/// call on this thread.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Runs the body of an exported function: its error becomes a status plus the thread's last
/// error, and a panic becomes [`AsobiStatus::Panic`] instead of unwinding into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), FfiError>) -> AsobiStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => AsobiStatus::Ok,
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            e.status()
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (panic): {what}"));
            AsobiStatus::Panic
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: the pointer is this thread's live last-error buffer.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn errors_become_statuses_and_text() {
        assert_eq!(guard(|| Ok(())), AsobiStatus::Ok);
        assert_eq!(
            guard(|| Err(FfiError::Null("out"))),
            AsobiStatus::NullArgument
        );
        assert_eq!(last(), "`out` is NULL");
    }

    #[test]
    fn panics_stop_at_the_boundary() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, AsobiStatus::Panic);
        assert!(last().contains("boom"), "{}", last());
    }
}
