//! Reading what C hands in (strings, JSON, out-pointers) and making C strings to hand out.
//! Every raw pointer the library dereferences goes through a function here.

use std::ffi::{CStr, CString, c_char};

use serde_json::Value;

use crate::status::FfiError;

/// A C string argument as UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays alive and unchanged for
/// `'a` (the duration of the exported call).
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::Null(name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|_| FfiError::InvalidUtf8(name))
}

/// An optional C string argument: NULL is `None`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(ptr, name) }.map(Some)
    }
}

/// An optional JSON argument: NULL or empty is `None`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_json_arg(
    ptr: *const c_char,
    name: &'static str,
) -> Result<Option<Value>, FfiError> {
    // SAFETY: forwarded contract.
    match unsafe { opt_str_arg(ptr, name) }? {
        None => Ok(None),
        Some(text) => json_text(text, name),
    }
}

/// JSON text given as an argument: empty (or blank) is `None`.
pub fn json_text(text: &str, name: &'static str) -> Result<Option<Value>, FfiError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| FfiError::InvalidJson {
            arg: name,
            why: e.to_string(),
        })
}

/// Writes `value` through an out-pointer.
///
/// # Safety
/// `out` is NULL or valid for writing one `T`.
pub(crate) unsafe fn write_out<T>(
    out: *mut T,
    value: T,
    name: &'static str,
) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::Null(name));
    }
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Fails early when an out-pointer is NULL, before any work is started.
pub(crate) fn require<T>(out: *mut T, name: &'static str) -> Result<(), FfiError> {
    if out.is_null() {
        Err(FfiError::Null(name))
    } else {
        Ok(())
    }
}

/// A C string of `text`; interior NULs (which C cannot carry) are dropped.
pub(crate) fn to_cstring(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| {
        let cleaned: Vec<u8> = text.bytes().filter(|b| *b != 0).collect();
        CString::new(cleaned).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_in_and_out() {
        let ok = c"héllo";
        // SAFETY: a static C string.
        assert_eq!(unsafe { str_arg(ok.as_ptr(), "s") }.ok(), Some("héllo"));
        let bad = [0xffu8, 0xfe, 0];
        // SAFETY: a NUL-terminated local buffer.
        let err = unsafe { str_arg(bad.as_ptr().cast(), "s") };
        assert!(matches!(err, Err(FfiError::InvalidUtf8("s"))));
        // SAFETY: NULL is allowed.
        let null = unsafe { str_arg(std::ptr::null(), "s") };
        assert!(matches!(null, Err(FfiError::Null("s"))));
        assert_eq!(to_cstring("a\0b").as_bytes(), b"ab");
    }

    #[test]
    fn json_arguments() {
        // SAFETY: static C strings and NULL.
        unsafe {
            assert_eq!(opt_json_arg(std::ptr::null(), "j").ok(), Some(None));
            assert_eq!(opt_json_arg(c"".as_ptr(), "j").ok(), Some(None));
            assert_eq!(
                opt_json_arg(c"{\"a\":1}".as_ptr(), "j").ok(),
                Some(Some(serde_json::json!({"a": 1})))
            );
            assert!(matches!(
                opt_json_arg(c"{".as_ptr(), "j"),
                Err(FfiError::InvalidJson { .. })
            ));
        }
    }
}
