//! Tournaments (`rest.md` §5.12): listing, joining with an entry fee charged through the
//! ledger, and rewards paid by rank exactly once, with a notification per winner, including
//! after the server is killed mid-payout.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestServer;
use crate::economy::{balance, grant};

const MINUTE: i64 = 60_000;

fn cup(now: i64) -> asobi_services::tournaments::TournamentDef {
    serde_json::from_value(json!({
        "name": "Friday Cup",
        "leaderboard": "friday_cup",
        "start_at": now - MINUTE,
        "end_at": now + 10 * MINUTE,
        "max_entries": 3,
        "entry_fee": 10,
        "entry_currency": "gold",
        "rewards": [
            {"ranks": [1, 1], "currencies": {"gold": 100}, "items": {"trophy": 1}},
            {"ranks": [2, 2], "currencies": {"gold": 50}},
        ],
    }))
    .expect("tournament")
}

/// Tournament passes run once at start and then hourly: these tests drive
/// `materialize` and `settle_due` themselves, so every step is awaited, not polled for
/// (the background loop is the killed-payout test's, across a real process).
const HOURLY: u64 = 3_600_000;

#[tokio::test]
async fn joining_charges_the_fee_and_the_end_pays_by_rank_once() {
    let now = asobi_services::time::now_ms();
    let s = TestServer::start_with(|c| {
        c.tournaments.insert("friday".into(), cup(now));
        c.tournaments.insert(
            "later".into(),
            serde_json::from_value(json!({"start_at": now + 60 * MINUTE, "duration_secs": 600}))
                .unwrap(),
        );
        c.economy =
            serde_json::from_value(json!({"items": {"trophy": {"stackable": false}}})).unwrap();
        c.tournament_tick_ms = HOURLY;
    })
    .await;
    let players = [
        s.register("first").await,
        s.register("second").await,
        s.register("third").await,
        s.register("fourth").await,
    ];
    for p in &players {
        grant(&s, p, "gold", 15).await;
    }
    let t0 = players[0].access_token.as_str();

    // Listing by start, filtered by status, once the occurrences exist.
    s.running()
        .state()
        .tournaments()
        .materialize()
        .await
        .unwrap();
    let list = s.get("/api/v1/tournaments", Some(t0)).await.body;
    assert_eq!(list["tournaments"].as_array().unwrap().len(), 2, "{list}");
    let row = &list["tournaments"][0];
    assert_eq!(row["name"], "Friday Cup");
    assert_eq!(row["status"], "active");
    assert_eq!(row["leaderboard_id"], "friday_cup");
    assert_eq!(row["entry_fee"], 10);
    assert_eq!(row["max_entries"], 3);
    for key in [
        "id",
        "rewards",
        "start_at",
        "end_at",
        "metadata",
        "inserted_at",
    ] {
        assert!(row.get(key).is_some(), "tournament row has {key}");
    }
    assert_eq!(list["tournaments"][1]["status"], "upcoming");
    let id = row["id"].as_str().unwrap().to_owned();
    let r = s.get("/api/v1/tournaments?status=upcoming", Some(t0)).await;
    assert_eq!(r.body["tournaments"].as_array().unwrap().len(), 1);
    let r = s.get("/api/v1/tournaments?status=bogus", Some(t0)).await;
    assert_eq!(r.body, json!({"tournaments": []}));
    let r = s.get("/api/v1/tournaments/no-such", Some(t0)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "tournament.not_found")
    );

    // Joining: the fee is debited; twice is refused; the fourth finds it full.
    let join = format!("/api/v1/tournaments/{id}/join");
    for p in &players[..3] {
        let r = s.post(&join, json!({}), Some(&p.access_token)).await;
        assert_eq!(r.body, json!({"success": true, "tournament_id": id}));
        assert_eq!(balance(&s, &p.access_token, "gold").await, 5);
    }
    let r = s.post(&join, json!({}), Some(t0)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "tournament.already_joined")
    );
    let r = s
        .post(&join, json!({}), Some(&players[3].access_token))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "tournament.full")
    );
    assert_eq!(
        balance(&s, &players[3].access_token, "gold").await,
        15,
        "nothing charged"
    );
    let r = s
        .post("/api/v1/tournaments/no-such/join", json!({}), Some(t0))
        .await;
    assert_eq!(r.code(), "tournament.not_found");
    let h = s.get("/api/v1/wallets/gold/history", Some(t0)).await;
    assert_eq!(h.body["transactions"][0]["reason"], "tournament_entry");
    assert_eq!(h.body["transactions"][0]["reference_id"], id.as_str());
    let r = s.get(&format!("/api/v1/tournaments/{id}"), Some(t0)).await;
    assert_eq!(r.body["entries"], 3);

    // Scores: the fourth player scores highest but never entered.
    let boards = s.running().state().leaderboards();
    for (p, score) in players.iter().zip([70, 90, 10, 500]) {
        boards
            .submit("friday_cup", &p.player_id, score, 0)
            .await
            .unwrap();
    }

    // The end: first place is `second` (90), then `first` (70); `third` gets nothing.
    let mut online = s.ws_as(&players[1]).await;
    boards.clock().advance(11 * MINUTE);
    let r = s
        .post(&join, json!({}), Some(&players[3].access_token))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let late = boards
        .submit("friday_cup", &players[2].player_id, 9999, 0)
        .await;
    assert!(
        matches!(
            late,
            Err(asobi_services::leaderboards::LeaderboardError::Closed(_))
        ),
        "scores after the end do not count"
    );
    // Once this pass returns, the tournament is settled (had the start-up pass been running
    // too, their locks would have shared the rows between them, each paid once).
    s.running()
        .state()
        .tournaments()
        .settle_due(100)
        .await
        .unwrap();
    let r = s.get(&format!("/api/v1/tournaments/{id}"), Some(t0)).await;
    assert_eq!(r.body["status"], "completed");
    let gold: Vec<i64> = futures_util::future::join_all(
        players.iter().map(|p| balance(&s, &p.access_token, "gold")),
    )
    .await;
    assert_eq!(gold, [5 + 50, 5 + 100, 5, 15]);
    let r = s
        .get("/api/v1/inventory", Some(&players[1].access_token))
        .await;
    assert_eq!(r.body["items"][0]["item_def_id"], "trophy");
    let h = s
        .get(
            "/api/v1/wallets/gold/history",
            Some(&players[1].access_token),
        )
        .await;
    let reward = &h.body["transactions"][0];
    assert_eq!(
        (reward["reason"].as_str(), reward["amount"].as_i64()),
        (Some("tournament_reward"), Some(100))
    );
    assert_eq!(reward["metadata"]["rank"], 1);

    // The winner who was online heard of it.
    let pushed = online
        .recv_type_within("notification.new", Duration::from_secs(10))
        .await;
    assert_eq!(pushed["payload"]["type"], "tournament_reward", "{pushed}");
    assert_eq!(pushed["payload"]["content"]["rank"], 1);

    // Each winner got one notification; the others none.
    let r = s
        .get("/api/v1/notifications", Some(&players[1].access_token))
        .await;
    let notes = r.body["notifications"].as_array().unwrap().clone();
    assert_eq!(notes.len(), 1, "{}", r.body);
    assert_eq!(notes[0]["type"], "tournament_reward");
    assert_eq!(notes[0]["content"]["rank"], 1);
    assert_eq!(notes[0]["read"], false);
    assert_eq!(notes[0]["id"], pushed["payload"]["id"]);
    let r = s
        .get("/api/v1/notifications", Some(&players[2].access_token))
        .await;
    assert_eq!(r.body, json!({"notifications": []}));

    // Notifications: read, filtered, another player's refused, deleted.
    let nid = notes[0]["id"].as_str().unwrap();
    let t1 = Some(players[1].access_token.as_str());
    let r = s
        .put(&format!("/api/v1/notifications/{nid}/read"), json!({}), t1)
        .await;
    assert_eq!(r.body["read"], true, "{}", r.body);
    let r = s.get("/api/v1/notifications?read=false", t1).await;
    assert_eq!(r.body, json!({"notifications": []}));
    let r = s
        .put(
            &format!("/api/v1/notifications/{nid}/read"),
            json!({}),
            Some(t0),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = s
        .delete(&format!("/api/v1/notifications/{nid}"), Some(t0))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s.delete(&format!("/api/v1/notifications/{nid}"), t1).await;
    assert_eq!(r.body, json!({"success": true}));
    let r = s.delete(&format!("/api/v1/notifications/{nid}"), t1).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "notification.not_found")
    );

    // Settling again pays nothing more.
    let again = s
        .running()
        .state()
        .tournaments()
        .settle_due(100)
        .await
        .unwrap();
    assert_eq!(again.paid, 0);
    assert_eq!(balance(&s, &players[1].access_token, "gold").await, 105);
}

#[tokio::test]
async fn an_entry_fee_the_wallet_cannot_cover_is_refused() {
    let now = asobi_services::time::now_ms();
    let s = TestServer::start_with(|c| {
        c.tournaments.insert("friday".into(), cup(now));
        c.economy =
            serde_json::from_value(json!({"items": {"trophy": {"stackable": false}}})).unwrap();
        c.tournament_tick_ms = HOURLY;
    })
    .await;
    let a = s.register("broke").await;
    grant(&s, &a, "gold", 9).await;
    let t = a.access_token.as_str();
    s.running()
        .state()
        .tournaments()
        .materialize()
        .await
        .unwrap();
    let r = s.get("/api/v1/tournaments?status=active", Some(t)).await;
    let id = r.body["tournaments"][0]["id"].as_str().unwrap().to_owned();
    let r = s
        .post(
            &format!("/api/v1/tournaments/{id}/join"),
            json!({}),
            Some(t),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYMENT_REQUIRED, "economy.insufficient_funds")
    );
    assert_eq!(r.body["error"]["details"]["required"], 10);
    assert_eq!(balance(&s, t, "gold").await, 9);
    let r = s.get(&format!("/api/v1/tournaments/{id}"), Some(t)).await;
    assert_eq!(r.body["entries"], 0);
}

/// The `asobi-server` binary beside this test binary in `target/<profile>`. CI builds every
/// target first; a bare `cargo test` has not built it, so it is built here (once per test
/// process), as trybuild-style tests do.
fn server_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
            let bin = dir.join(format!("asobi-server{}", std::env::consts::EXE_SUFFIX));
            if !bin.is_file() {
                let mut build = std::process::Command::new(env!("CARGO"));
                build.args(["build", "-p", "asobi-server", "--bin", "asobi-server"]);
                if dir.ends_with("release") {
                    build.arg("--release");
                }
                let status = build.status().expect("cargo runs");
                assert!(status.success(), "cargo build -p asobi-server failed");
            }
            assert!(bin.is_file(), "{} is missing", bin.display());
            bin
        })
        .clone()
}

/// A server process that is killed (SIGKILL) when dropped, so a failing assertion never
/// leaves it running.
struct Process(std::process::Child);

impl Process {
    /// SIGKILL: no drain, no cleanup.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn paid(db: &asobi_server::db::Db, id: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(
        "SELECT COUNT(*) FROM tournament_payouts WHERE tournament_id = $1 AND paid_at IS NOT NULL",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await
    .expect("count")
    .try_get(0)
    .expect("count")
}

/// Ledger rows and notifications of the payout, per player.
async fn rewards_written(db: &asobi_server::db::Db, id: &str) -> Vec<(String, i64, i64)> {
    use sqlx::Row;
    sqlx::query(
        "SELECT p.id, \
         (SELECT COUNT(*) FROM wallet_transactions t JOIN wallets w ON w.id = t.wallet_id \
          WHERE w.player_id = p.id AND t.reference_id = $1), \
         (SELECT COUNT(*) FROM notifications n WHERE n.player_id = p.id) \
         FROM players p ORDER BY p.id",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await
    .expect("rewards")
    .iter()
    .map(|r| {
        (
            r.try_get(0).unwrap(),
            r.try_get(1).unwrap(),
            r.try_get(2).unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn a_payout_killed_midway_completes_once_after_restart() {
    const WINNERS: i64 = 100;
    let (url, dir) = crate::common::fresh_database().await;
    let db = asobi_server::db::Db::connect(&url, 2).await.expect("db");
    db.migrate().await.expect("migrate");
    let now = asobi_services::time::now_ms();
    // An occurrence that has already ended, with 100 entrants on its board.
    let def = json!({
        "start_at": now - 10 * MINUTE, "end_at": now - 1000, "leaderboard": "killcup",
        "rewards": [{"ranks": [1, 1], "currencies": {"gold": 1000}}, {"ranks": [2, 1000], "currencies": {"gold": 10}}],
    });
    let clock = asobi_services::clock::Clock::system();
    let economy = asobi_services::economy::Economy::new(db.clone(), clock.clone());
    let boards =
        asobi_services::leaderboards::Leaderboards::new(db.clone(), clock, Default::default())
            .expect("boards");
    let mut defs = std::collections::BTreeMap::new();
    defs.insert(
        "killcup".to_owned(),
        serde_json::from_value(def.clone()).unwrap(),
    );
    let tournaments = asobi_services::tournaments::Tournaments::new(&economy, boards, defs);
    tournaments.materialize().await.expect("occurrence");
    let id = tournaments.list(None, 10).await.unwrap()[0].id.clone();
    for i in 0..WINNERS {
        let player = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO players (id, username, display_name, inserted_at, updated_at) VALUES ($1, $2, $2, $3, $3)")
            .bind(&player)
            .bind(format!("entrant-{i}"))
            .bind(now)
            .execute(db.pool())
            .await
            .expect("player");
        sqlx::query("INSERT INTO tournament_entries (tournament_id, player_id, joined_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(&player)
            .bind(now)
            .execute(db.pool())
            .await
            .expect("entry");
        sqlx::query("INSERT INTO leaderboard_entries (board_id, period, player_id, score, sub_score, revision, updated_at) VALUES ('killcup', 0, $1, $2, 0, 1, $3)")
            .bind(&player)
            .bind(i)
            .bind(now)
            .execute(db.pool())
            .await
            .expect("score");
    }

    // A server that pays 5 rows per 100 ms pass: 2 s for the whole payout.
    let work =
        std::env::temp_dir().join(format!("asobi-killcup-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("asobi.toml");
    let toml = format!(
        "http_addr = \"127.0.0.1:0\"\nquic = false\ndatabase_url = {url:?}\n\
         tournament_tick_ms = 100\ntournament_payout_batch = 5\n\
         [tournaments.killcup]\nstart_at = {}\nend_at = {}\nleaderboard = \"killcup\"\n\
         rewards = [{{ ranks = [1, 1], currencies = {{ gold = 1000 }} }}, {{ ranks = [2, 1000], currencies = {{ gold = 10 }} }}]\n",
        now - 10 * MINUTE,
        now - 1000
    );
    std::fs::write(&config, toml).unwrap();
    let start = || {
        let child = std::process::Command::new(server_binary())
            .arg("--config")
            .arg(&config)
            .current_dir(&work)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("server starts");
        Process(child)
    };

    // Kill it (SIGKILL: no drain, no cleanup) once some rewards are paid and some not.
    let mut server = start();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = paid(&db, &id).await;
        assert!(
            n < WINNERS,
            "the payout finished before it could be interrupted"
        );
        if n > 0 {
            server.kill();
            break;
        }
        assert!(Instant::now() < deadline, "no payout started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let interrupted = paid(&db, &id).await;
    assert!(
        0 < interrupted && interrupted < WINNERS,
        "killed mid-way: {interrupted} paid"
    );
    // Whatever was paid was paid whole: a ledger row and a notification per paid row.
    let partial = rewards_written(&db, &id).await;
    let written: i64 = partial.iter().map(|(_, ledger, _)| ledger).sum();
    let notified: i64 = partial.iter().map(|(_, _, n)| n).sum();
    assert_eq!((written, notified), (interrupted, interrupted));

    // Restarted, it pays the rest, and nobody twice.
    let mut server = start();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        use sqlx::Row;
        let status: String = sqlx::query("SELECT status FROM tournaments WHERE id = $1")
            .bind(&id)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        if status == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "payout never completed after restart ({status})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let done = rewards_written(&db, &id).await;
    assert_eq!(done.len(), WINNERS as usize);
    assert!(
        done.iter().all(|(_, ledger, n)| (*ledger, *n) == (1, 1)),
        "{done:?}"
    );
    use sqlx::Row;
    let total: i64 = sqlx::query("SELECT CAST(SUM(balance) AS BIGINT) FROM wallets")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(total, 1000 + 10 * (WINNERS - 1));
    db.close().await;
    let _ = std::fs::remove_dir_all(&work);
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn a_reward_that_cannot_be_paid_is_settled_as_failed_and_the_rest_are_paid() {
    use sqlx::Row;
    let (url, dir) = crate::common::fresh_database().await;
    let db = asobi_server::db::Db::connect(&url, 2).await.expect("db");
    db.migrate().await.expect("migrate");
    let now = asobi_services::time::now_ms();
    let clock = asobi_services::clock::Clock::system();
    let economy = asobi_services::economy::Economy::new(db.clone(), clock.clone());
    let boards =
        asobi_services::leaderboards::Leaderboards::new(db.clone(), clock, Default::default())
            .expect("boards");
    let mut defs = std::collections::BTreeMap::new();
    defs.insert(
        "capped".to_owned(),
        serde_json::from_value(json!({
            "start_at": now - MINUTE, "end_at": now - 1, "leaderboard": "capped",
            "rewards": [{"ranks": [1, 3], "currencies": {"gold": 10}}],
        }))
        .unwrap(),
    );
    // Scores first: once the occurrence exists its board is closed (it has ended).
    let mut players = Vec::new();
    for i in 0..3 {
        let p = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO players (id, username, display_name, inserted_at, updated_at) VALUES ($1, $2, $2, 0, 0)")
            .bind(&p)
            .bind(format!("capped-{i}"))
            .execute(db.pool())
            .await
            .unwrap();
        boards.submit("capped", &p, 100 - i, 0).await.unwrap();
        players.push(p);
    }
    let creator = asobi_services::tournaments::Tournaments::new(&economy, boards.clone(), defs);
    creator.materialize().await.unwrap();
    let id = creator.list(None, 10).await.unwrap()[0].id.clone();
    for p in &players {
        sqlx::query("INSERT INTO tournament_entries (tournament_id, player_id, joined_at) VALUES ($1, $2, 0)")
            .bind(&id)
            .bind(p)
            .execute(db.pool())
            .await
            .unwrap();
    }
    let late = boards.submit("capped", &players[2], 1000, 0).await;
    assert!(
        matches!(
            late,
            Err(asobi_services::leaderboards::LeaderboardError::Closed(_))
        ),
        "an ended tournament's board takes no more scores"
    );
    // The winner's wallet is at the cap: 10 more gold can never be paid.
    let note = asobi_services::economy::Note::reason("test");
    economy
        .grant(
            &players[0],
            "gold",
            asobi_services::economy::MAX_BALANCE,
            &note,
            None,
        )
        .await
        .unwrap();

    // A node that no longer declares the tournament still settles it, from the row.
    let settler =
        asobi_services::tournaments::Tournaments::new(&economy, boards, Default::default());
    let settled = settler.settle_due(100).await.unwrap();
    assert_eq!(
        (settled.fixed, settled.paid, settled.completed),
        (1, 2, 1),
        "{settled:?}"
    );
    let failure: Option<String> = sqlx::query(
        "SELECT failure FROM tournament_payouts WHERE tournament_id = $1 AND player_id = $2",
    )
    .bind(&id)
    .bind(&players[0])
    .fetch_one(db.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap();
    assert!(
        failure.is_some_and(|f| f.contains("exceed")),
        "the reason is kept"
    );
    for p in &players[1..] {
        let w = economy.wallets(p).await.unwrap();
        assert_eq!(w[0].balance, 10);
    }
    assert_eq!(
        settler.settle_due(100).await.unwrap().paid,
        0,
        "nothing twice"
    );
    db.close().await;
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}
