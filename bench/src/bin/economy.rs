//! **economy**: store purchases at concurrency C through the economy service (the function
//! `POST /store/purchase` and Lua's `game.economy.purchase` call), on SQLite or PostgreSQL.
//! Two shapes per C: `spread` (each purchase by one of N players) and `hot` (every purchase
//! on one player's wallet, so they serialise on it). Prints purchases/s and p50/p99/max per
//! run, then checks the books: every wallet's ledger rows sum to its balance, and no balance
//! or `balance_after` is negative.
//!
//! ```text
//! cargo run --release -p asobi-bench --bin economy
//! cargo run --release -p asobi-bench --bin economy -- --concurrency 1,8,32,128 \
//!     --database-url postgres://postgres@127.0.0.1:5432/test
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asobi_services::clock::Clock;
use asobi_services::economy::{Catalog, Economy, Note};
use clap::Parser;

#[path = "../shared/fresh_db.rs"]
mod fresh_db;
use sqlx::Row;

/// Settings.
#[derive(Debug, Parser)]
struct Args {
    /// Database: sqlite://FILE (a fresh file by default) or postgres://… (a fresh schema).
    #[arg(long)]
    database_url: Option<String>,
    /// Players buying in the `spread` shape.
    #[arg(long, default_value_t = 1000)]
    players: u64,
    /// Concurrency levels, comma-separated.
    #[arg(long, default_value = "1,8,32,128")]
    concurrency: String,
    /// Measured window per run, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let db = fresh_db::open(args.database_url.as_deref(), "economy").await?;

    let economy = Economy::new(db.clone(), Clock::system());
    let catalog: Catalog = serde_json::from_value(serde_json::json!({
        "items": {"gem": {}},
        "listings": {"gem": {"item": "gem", "currency": "gold", "price": 1}},
    }))?;
    economy.sync_catalog(&catalog).await?;
    let players: Vec<String> = (0..args.players.max(1))
        .map(|i| format!("bench-player-{i:06}"))
        .collect();
    for p in &players {
        sqlx::query(
            "INSERT INTO players (id, username, display_name, inserted_at, updated_at) \
             VALUES ($1, $1, $1, 0, 0)",
        )
        .bind(p)
        .execute(db.pool())
        .await?;
        economy
            .grant(p, "gold", 1 << 40, &Note::reason("bench"), None)
            .await?;
    }
    println!("{} players, each with 2^40 gold\n", players.len());
    let players = Arc::new(players);

    println!("| shape | concurrency | purchases/s | p50 | p99 | max | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let levels: Vec<usize> = args
        .concurrency
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    for c in levels {
        for hot in [false, true] {
            let (mut lat, errors) = run(&economy, &players, c, hot, args.seconds).await;
            lat.sort();
            let q = |p: f64| {
                lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            };
            let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
            println!(
                "| {} | {c} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {errors} |",
                if hot { "hot" } else { "spread" },
                lat.len() as f64 / args.seconds as f64,
                ms(q(0.5)),
                ms(q(0.99)),
                ms(lat.last()),
            );
        }
    }

    // The books: ledger sums equal balances, nothing negative.
    let bad: i64 = sqlx::query(
        "SELECT COUNT(*) FROM wallets w WHERE w.balance < 0 OR w.balance <> \
         (SELECT CAST(COALESCE(SUM(t.amount), 0) AS BIGINT) FROM wallet_transactions t WHERE t.wallet_id = w.id)",
    )
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    let negative: i64 =
        sqlx::query("SELECT COUNT(*) FROM wallet_transactions WHERE balance_after < 0")
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM wallet_transactions")
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    println!(
        "\nbooks: {rows} ledger rows; wallets whose ledger does not sum to the balance: {bad}; negative balance_after: {negative}"
    );
    db.close().await;
    if bad != 0 || negative != 0 {
        return Err("the books do not balance".into());
    }
    Ok(())
}

/// `c` workers buying for `seconds`; returns each purchase's latency and the error count.
async fn run(
    economy: &Economy,
    players: &Arc<Vec<String>>,
    c: usize,
    hot: bool,
    seconds: u64,
) -> (Vec<Duration>, u64) {
    let all = Arc::new(Mutex::new((Vec::new(), 0u64)));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..c {
        let (economy, players, all) = (economy.clone(), players.clone(), all.clone());
        tasks.spawn(async move {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (w as u64 + 1);
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let player = if hot {
                    &players[0]
                } else {
                    &players[(x % players.len() as u64) as usize]
                };
                let t = Instant::now();
                match economy.purchase(player, "gem", None).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            let mut all = all.lock().unwrap_or_else(|p| p.into_inner());
            all.0.extend(lat);
            all.1 += errors;
        });
    }
    while tasks.join_next().await.is_some() {}
    std::mem::take(&mut *all.lock().unwrap_or_else(|p| p.into_inner()))
}
