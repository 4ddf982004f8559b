//! Outbound HTTP to third parties (stores, sign-in providers): the one client shape every
//! verifier builds (a timeout, no redirects), URL checks for configured endpoints, and
//! bounded reads, so an answer never makes us allocate more than we chose to.

use std::time::Duration;

use reqwest::Url;

/// A client for one third party: `timeout` per request, redirects never followed (a
/// configured endpoint answers itself).
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// `value` as an absolute `http`/`https` URL that can take a path; `None` otherwise.
pub fn http_url(value: &str) -> Option<Url> {
    let url = Url::parse(value).ok()?;
    (matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base()).then_some(url)
}

/// The body of `response`, refused past `max` bytes.
pub async fn read_bounded(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("answer over {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
