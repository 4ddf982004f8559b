//! The ops plane (`rest.md` §5.15), `/api/v1/ops/*`: operator credentials and the list
//! envelope every ops listing shares. Routes: [`economy`] (item definitions and store
//! listings) and [`players`] (look-up, export, erase, ban); the rest of the plane (player
//! lists, matches, …) builds on the same two pieces.
//!
//! Credentials: the static `ops_secret` as a bearer. Player tokens are refused, and every
//! failure (none configured, absent, wrong) is 403 `forbidden`.

pub mod economy;
pub mod players;

use std::collections::HashMap;

use asobi_core::protocol::ErrorCode;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated operator.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let forbidden = || ApiError::new(ErrorCode::Forbidden);
        let secret = app.config().ops_secret.as_deref().ok_or_else(forbidden)?;
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(forbidden)?;
        // Equal-length digests compared without an early exit: the comparison's time says
        // nothing about how much of the secret matched.
        let (a, b) = (
            Sha256::digest(given.as_bytes()),
            Sha256::digest(secret.as_bytes()),
        );
        let diff = a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| d | (x ^ y));
        if diff == 0 {
            Ok(Operator)
        } else {
            Err(forbidden())
        }
    }
}

/// A list request: `limit` 1–200 (50), `page` (1-based, ≤ 10 000, wins over `offset`),
/// `offset` (≤ 100 000, snapped down to a multiple of `limit`), `sort` (a listed field),
/// `order` (`asc`/`desc`, any case), `q` (substring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Rows per page.
    pub limit: usize,
    /// Rows skipped.
    pub offset: usize,
    /// The field to sort by.
    pub sort: &'static str,
    /// Descending.
    pub desc: bool,
    /// Substring filter.
    pub q: Option<String>,
}

impl Page {
    /// Reads the query; `sortable[0]` is the default sort field.
    pub fn from_query(
        q: &HashMap<String, String>,
        sortable: &[&'static str],
    ) -> Result<Page, ApiError> {
        let number = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
        let limit = number("limit").map_or(50, |l| l.clamp(1, 200)) as usize;
        let offset = match number("page") {
            Some(p) => (p.clamp(1, 10_000) as usize - 1) * limit,
            None => number("offset").map_or(0, |o| o.clamp(0, 100_000)) as usize,
        };
        let offset = offset / limit * limit;
        let sort = match q.get("sort") {
            None => sortable.first().copied().unwrap_or("id"),
            Some(s) => sortable.iter().copied().find(|f| f == s).ok_or_else(|| {
                ApiError::new(ErrorCode::OpsUnknownSortField)
                    .legacy_detail("field", s.clone())
                    .detail("sortable", sortable.to_vec())
            })?,
        };
        let desc = match q.get("order").map(|o| o.to_ascii_lowercase()) {
            None => false,
            Some(o) if o == "asc" => false,
            Some(o) if o == "desc" => true,
            Some(_) => {
                return Err(ApiError::new(ErrorCode::OpsUnknownSortOrder)
                    .legacy_detail("order", q.get("order").cloned().unwrap_or_default()));
            }
        };
        Ok(Page {
            limit,
            offset,
            sort,
            desc,
            q: q.get("q").filter(|s| !s.is_empty()).cloned(),
        })
    }

    /// Filters (`q` against `searchable` fields), sorts and slices `rows` into the envelope
    /// `{"data": [...], "page": {limit, offset, total}}`.
    pub fn apply(&self, mut rows: Vec<Value>, searchable: &[&str]) -> Value {
        if let Some(q) = &self.q {
            let q = q.to_lowercase();
            rows.retain(|r| {
                searchable.iter().any(|f| {
                    r.get(*f)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.to_lowercase().contains(&q))
                })
            });
        }
        rows.sort_by(|a, b| {
            let o = compare(&a[self.sort], &b[self.sort]);
            if self.desc { o.reverse() } else { o }
        });
        let total = rows.len();
        let data: Vec<Value> = rows
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        json!({"data": data, "page": {"limit": self.limit, "offset": self.offset, "total": total}})
    }
}

/// Numbers by value, strings by text, anything else as JSON text.
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn paging_follows_the_contract() {
        let p = Page::from_query(&q(&[]), &["id"]).unwrap();
        assert_eq!((p.limit, p.offset, p.sort, p.desc), (50, 0, "id", false));
        let p = Page::from_query(&q(&[("limit", "500"), ("offset", "130")]), &["id"]).unwrap();
        assert_eq!(
            (p.limit, p.offset),
            (200, 0),
            "offset snapped down to a multiple of limit"
        );
        let p = Page::from_query(&q(&[("limit", "20"), ("offset", "130")]), &["id"]).unwrap();
        assert_eq!(p.offset, 120);
        let p = Page::from_query(&q(&[("limit", "x"), ("offset", "999999")]), &["id"]).unwrap();
        assert_eq!((p.limit, p.offset), (50, 100_000));
        let p = Page::from_query(
            &q(&[("limit", "10"), ("page", "3"), ("offset", "0")]),
            &["id"],
        )
        .unwrap();
        assert_eq!(p.offset, 20, "page wins over offset");
        let p = Page::from_query(
            &q(&[("order", "DESC"), ("sort", "price")]),
            &["id", "price"],
        )
        .unwrap();
        assert_eq!((p.sort, p.desc), ("price", true));
        let e = Page::from_query(&q(&[("sort", "secret")]), &["id"]).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::OpsUnknownSortField));
        let e = Page::from_query(&q(&[("order", "sideways")]), &["id"]).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::OpsUnknownSortOrder));
    }

    #[test]
    fn the_envelope_filters_sorts_and_slices() {
        let rows = vec![
            json!({"id": "b", "price": 10}),
            json!({"id": "a", "price": 2}),
            json!({"id": "ab", "price": 7}),
        ];
        let p =
            Page::from_query(&q(&[("sort", "price"), ("limit", "2")]), &["id", "price"]).unwrap();
        let out = p.apply(rows.clone(), &["id"]);
        assert_eq!(
            out["data"],
            json!([{"id": "a", "price": 2}, {"id": "ab", "price": 7}])
        );
        assert_eq!(out["page"], json!({"limit": 2, "offset": 0, "total": 3}));
        let p = Page::from_query(&q(&[("q", "A")]), &["id"]).unwrap();
        assert_eq!(p.apply(rows, &["id"])["page"]["total"], 2);
    }
}
