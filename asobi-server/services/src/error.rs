//! What every service error tells its callers: a code of the closed set (`rest.md` §3),
//! whose HTTP status is fixed, a `details` object, and the short reason a Lua script sees in
//! `{error = reason}` (`lua.md` §6: the code without its domain, e.g. `not_found`).

use asobi_core::protocol::ErrorCode;
use serde_json::{Map, Value};

/// A service failure as the surfaces answer it.
pub trait Coded: std::error::Error {
    /// The code.
    fn code(&self) -> ErrorCode;

    /// The error's `details` object (`{}` unless the contract names fields).
    fn details(&self) -> Map<String, Value> {
        Map::new()
    }

    /// The reason Lua sees: the code without its domain (`save.not_found` → `not_found`).
    fn reason(&self) -> &'static str {
        without_domain(self.code())
    }
}

/// A code without its domain: `save.not_found` → `not_found`.
pub fn without_domain(code: ErrorCode) -> &'static str {
    let code = code.as_str();
    code.split_once('.').map_or(code, |(_, rest)| rest)
}

/// Whether a database error is a unique-key violation (a concurrent insert won).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Whether a database error is a foreign-key violation (the row names a missing player).
pub fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}
