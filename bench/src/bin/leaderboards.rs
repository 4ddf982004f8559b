//! **leaderboards**: one board seeded with N entries, then C concurrent workers running a mix
//! of submit (40 %), top-100 (30 %) and around-me ±5 (30 %) through the leaderboards service
//! (the functions REST and Lua call), on SQLite or PostgreSQL. Prints the seed and first-load
//! times, then p50/p99/max and throughput per operation.
//!
//! ```text
//! cargo run --release -p asobi-bench --bin leaderboards -- --entries 1000000
//! cargo run --release -p asobi-bench --bin leaderboards -- --entries 1000000 \
//!     --database-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! It measures the service in-process: HTTP adds the same fixed cost to every route and is
//! measured by the `rest` scenario of `bench/run`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asobi_services::clock::Clock;
use asobi_services::db::Db;
use asobi_services::leaderboards::{LeaderboardSettings, Leaderboards, Period};
use clap::Parser;

#[path = "../shared/fresh_db.rs"]
mod fresh_db;

/// Settings.
#[derive(Debug, Parser)]
struct Args {
    /// Database: sqlite://FILE (a fresh file by default) or postgres://… (a fresh schema).
    #[arg(long)]
    database_url: Option<String>,
    /// Entries seeded on the board.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Concurrent workers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

#[derive(Default)]
struct Samples {
    submit: Vec<Duration>,
    top: Vec<Duration>,
    around: Vec<Duration>,
    errors: u64,
}

const BOARD: &str = "bench";
const BATCH: u64 = 1000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let db = fresh_db::open(args.database_url.as_deref(), "lb").await?;

    let started = Instant::now();
    seed(&db, args.entries).await?;
    println!(
        "seeded {} entries in {:.1} s",
        args.entries,
        started.elapsed().as_secs_f64()
    );

    let boards = Leaderboards::new(db.clone(), Clock::system(), LeaderboardSettings::default())?;
    let rss_before = rss_kib();
    let started = Instant::now();
    let top = boards.top(BOARD, 100, Period::Current).await?;
    println!(
        "first read loads the board: {:.2} s ({} on top)",
        started.elapsed().as_secs_f64(),
        top.first().map_or(0, |e| e.score)
    );
    if let (Some(a), Some(b)) = (rss_before, rss_kib()) {
        println!(
            "resident memory for the board: {} MiB ({} B per entry)",
            b.saturating_sub(a) / 1024,
            b.saturating_sub(a) * 1024 / args.entries.max(1)
        );
    }

    let samples = Arc::new(Mutex::new(Samples::default()));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        let (boards, samples, n) = (boards.clone(), samples.clone(), args.entries.max(1));
        tasks.spawn(async move {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (w as u64 + 1);
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut local = Samples::default();
            while Instant::now() < deadline {
                let player = format!("player-{:08}", next() % n);
                let op = next() % 10;
                let t = Instant::now();
                let ok = match op {
                    0..=3 => {
                        let score = (next() % 1_000_000) as i64;
                        boards.submit(BOARD, &player, score, 0).await.is_ok()
                    }
                    4..=6 => boards.top(BOARD, 100, Period::Current).await.is_ok(),
                    _ => boards
                        .around(BOARD, &player, 5, Period::Current)
                        .await
                        .is_ok(),
                };
                let took = t.elapsed();
                match (ok, op) {
                    (false, _) => local.errors += 1,
                    (true, 0..=3) => local.submit.push(took),
                    (true, 4..=6) => local.top.push(took),
                    (true, _) => local.around.push(took),
                }
            }
            let mut all = samples.lock().unwrap_or_else(|p| p.into_inner());
            all.submit.extend(local.submit);
            all.top.extend(local.top);
            all.around.extend(local.around);
            all.errors += local.errors;
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut s = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    println!(
        "\n{} entries, concurrency {}, {} s, {} errors\n",
        args.entries, args.concurrency, args.seconds, s.errors
    );
    println!("| operation | calls/s | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in [
        ("submit", &mut s.submit),
        ("top 100", &mut s.top),
        ("around ±5", &mut s.around),
    ] {
        v.sort();
        let q = |p: f64| v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)));
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        println!(
            "| {name} | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms |",
            v.len() as f64 / args.seconds as f64,
            ms(q(0.5)),
            ms(q(0.99)),
            ms(v.last())
        );
    }
    db.close().await;
    Ok(())
}

/// This process's resident set, KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes `n` entries for players `player-00000000…` in batches, as the table holds them.
async fn seed(db: &Db, n: u64) -> Result<(), sqlx::Error> {
    let mut done = 0;
    while done < n {
        let count = BATCH.min(n - done);
        let mut sql = String::from(
            "INSERT INTO leaderboard_entries \
             (board_id, period, player_id, score, sub_score, revision, updated_at) VALUES ",
        );
        for i in 0..count {
            if i > 0 {
                sql.push(',');
            }
            let p = done + i;
            // Scores spread with ties, from a fixed permutation of the player number.
            let score = (p.wrapping_mul(2_654_435_761) % 1_000_000) as i64;
            sql.push_str(&format!(
                "('{BOARD}', 0, 'player-{p:08}', {score}, 0, 1, 0)"
            ));
        }
        // Built from numbers and constants only.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(db.pool())
            .await?;
        done += count;
    }
    Ok(())
}
