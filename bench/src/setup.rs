//! Getting simulated clients going: guest accounts over REST (cheap, so 100,000 sessions
//! need no password hashing), then a connection authenticated with `session.connect`.

use std::time::Duration;

use asobi_core::protocol::{ClientMessage, ServerMessage};
use base64::Engine;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use crate::conn::{Conn, Dialer, Transport};
use crate::error::BenchError;

/// A signed-in player.
#[derive(Debug, Clone)]
pub struct Account {
    /// Player id.
    pub player_id: String,
    /// Access token.
    pub token: String,
}

/// Signs in `n` guests (`bench-<run>-<i>`), `concurrency` at a time. Fails on the first
/// refusal: a benchmark on half its players measures nothing.
pub async fn guests(
    http_url: &str,
    run: &str,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Account>, BenchError> {
    let http = reqwest::Client::new();
    let url = format!("{http_url}/api/v1/auth/guest");
    let mut out = Vec::with_capacity(n);
    let mut pending = FuturesUnordered::new();
    let mut next = 0;
    while out.len() < n {
        while next < n && pending.len() < concurrency.max(1) {
            let (http, url) = (http.clone(), url.clone());
            let device = format!("bench-{run}-{next}");
            let mut secret = [0u8; 32];
            for (i, b) in device
                .bytes()
                .chain(std::iter::repeat(7))
                .take(32)
                .enumerate()
            {
                secret[i] = b ^ (i as u8);
            }
            let secret = base64::engine::general_purpose::STANDARD.encode(secret);
            pending.push(async move {
                let resp = http
                    .post(url)
                    .json(&json!({"device_id": device, "device_secret": secret}))
                    .send()
                    .await
                    .map_err(|e| BenchError::Http(e.to_string()))?;
                let status = resp.status();
                let body: Value = resp
                    .json()
                    .await
                    .map_err(|e| BenchError::Http(e.to_string()))?;
                match (body["player_id"].as_str(), body["access_token"].as_str()) {
                    (Some(p), Some(t)) if status.is_success() => Ok(Account {
                        player_id: p.to_owned(),
                        token: t.to_owned(),
                    }),
                    _ => Err(BenchError::Http(format!("guest sign-in: {status} {body}"))),
                }
            });
            next += 1;
        }
        if let Some(result) = pending.next().await {
            out.push(result?);
        }
    }
    Ok(out)
}

/// Connects and authenticates.
pub async fn session(
    dialer: &Dialer,
    transport: Transport,
    account: &Account,
) -> Result<Conn, BenchError> {
    let mut conn = dialer.dial(transport).await?;
    let connect = ClientMessage::SessionConnect {
        token: Some(account.token.clone()),
        wire: None,
    };
    match conn.request(&connect, 1, Duration::from_secs(30)).await? {
        ServerMessage::SessionConnected(_) => Ok(conn),
        other => Err(BenchError::unexpected("session.connect", &other)),
    }
}

/// How clients are set up: how many at once, and for how long at most.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Clients set up at once.
    pub concurrency: usize,
    /// Time allowed for one [`in_parallel`] run.
    pub timeout: Duration,
}

/// Runs `make(i)` for `0..n`, `setup.concurrency` at a time, collecting the successes and
/// counting the failures (each failure's error is printed once per distinct message). What
/// has not finished when `setup.timeout` is up is abandoned and counted as failed, so a
/// server that cannot take the load still gets a (short) measured run.
pub async fn in_parallel<T, F, Fut>(n: usize, setup: &Setup, make: F) -> (Vec<T>, u64)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, BenchError>>,
{
    let mut out = Vec::with_capacity(n);
    let mut failures = 0;
    let mut seen = std::collections::HashSet::new();
    let mut pending = FuturesUnordered::new();
    let mut next = 0;
    let deadline = tokio::time::Instant::now() + setup.timeout;
    loop {
        while next < n && pending.len() < setup.concurrency.max(1) {
            pending.push(make(next));
            next += 1;
        }
        match tokio::time::timeout_at(deadline, pending.next()).await {
            Ok(Some(Ok(v))) => out.push(v),
            Ok(Some(Err(e))) => {
                failures += 1;
                let text = e.to_string();
                if seen.len() < 20 && seen.insert(text.clone()) {
                    eprintln!("setup failure: {text}");
                }
            }
            Ok(None) => break,
            Err(_) => {
                let abandoned = (n - out.len()) as u64 - failures;
                eprintln!(
                    "setup stopped after {} s: {abandoned} clients not set up (counted as failed)",
                    setup.timeout.as_secs()
                );
                failures += abandoned;
                break;
            }
        }
    }
    (out, failures)
}

/// A run id unique enough to keep device ids apart between runs on one database.
pub fn run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}")
}
