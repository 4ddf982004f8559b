//! **rest**: register then log in, again and again, from C concurrent workers over
//! keep-alive HTTP connections. Figures: each call's latency (one row for register, one for
//! login), requests per second, server CPU and memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Ctx, latency, stop_signal};
use crate::error::BenchError;
use crate::report::Row;
use crate::stats::{Counters, Latency};

/// Settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Rest {
    /// Concurrent workers.
    #[arg(long, default_value_t = 100)]
    pub concurrency: usize,
}

#[derive(Default)]
struct Shared {
    counters: Counters,
    register: Latency,
    login: Latency,
}

/// Runs the scenario; returns the register row and the login row.
pub async fn run(ctx: &Ctx, args: &Rest) -> Result<Vec<Row>, BenchError> {
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop) = stop_signal();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| BenchError::Http(e.to_string()))?;
    let base = format!("{}/api/v1/auth", ctx.dialer.http_url());
    let mut tasks = JoinSet::new();
    for w in 0..args.concurrency {
        let (shared, stop, http, base, run) = (
            shared.clone(),
            stop.clone(),
            http.clone(),
            base.clone(),
            ctx.run.clone(),
        );
        Counters::add(&shared.counters.live, 1);
        tasks.spawn(async move { worker(w, &run, &http, &base, &shared, stop).await });
    }
    let window = ctx
        .measure(
            &shared.counters,
            &[&shared.register, &shared.login],
            Duration::from_secs(30),
        )
        .await;
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    let load = format!("concurrency {}", args.concurrency);
    let mut register = window.row(
        "rest",
        "http",
        format!("register, {load}"),
        args.concurrency as u64,
    );
    register.latency_of = "register";
    register.latency = latency(&shared.register);
    let mut login = window.row(
        "rest",
        "http",
        format!("login, {load}"),
        args.concurrency as u64,
    );
    login.latency_of = "login";
    login.latency = latency(&shared.login);
    Ok(vec![register, login])
}

async fn call(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    shared: &Shared,
    latency: &Latency,
) -> bool {
    let started = Instant::now();
    let sent = serde_json::to_vec(body).map_or(0, |b| b.len());
    let answer = http.post(url).json(body).send().await;
    let ok = match answer {
        Ok(resp) => {
            let status = resp.status();
            let bytes = resp.bytes().await.map_or(0, |b| b.len());
            shared.counters.sent(sent);
            shared.counters.received(bytes);
            status.is_success()
        }
        Err(_) => false,
    };
    if ok {
        latency.record(started.elapsed());
    } else {
        Counters::add(&shared.counters.errors, 1);
    }
    ok
}

async fn worker(
    w: usize,
    run: &str,
    http: &reqwest::Client,
    base: &str,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) {
    let (register, login) = (format!("{base}/register"), format!("{base}/login"));
    for i in 0u64.. {
        if *stop.borrow_and_update() {
            break;
        }
        let body = json!({"username": format!("b{run}_{w}_{i}"), "password": "bench-password-1"});
        if call(http, &register, &body, shared, &shared.register).await {
            call(http, &login, &body, shared, &shared.login).await;
        }
    }
}
