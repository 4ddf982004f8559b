//! Leaderboards (`rest.md` §5.7, `lua.md` §6.2–6.3): boards created on first use, ranked
//! best first with ties broken by `sub_score` and then player id ascending.
//!
//! Owns the `leaderboard_entries` and `leaderboard_periods` tables. The database is the
//! source of truth; every submit is one upsert on the entry's primary key whose `ON CONFLICT`
//! clause applies the board's operator (`set`, `best`, `increment`, `decrement`) atomically.
//! Reads never scan the board: each (board, period) a node serves is held in memory as a
//! [`rank::RankIndex`], loaded once from the database, so rank, top-N and around-me cost
//! O(log n) at any size. Writes reach the index with the entry's `revision`, so concurrent
//! submits land in the order the database applied them.
//!
//! The index is per node: on a cluster sharing one database, another node's submits reach
//! this node's index only when it reloads the board (the cluster issue's to solve).
//!
//! A board with a reset schedule has periods: the current one starts at the schedule's last
//! fire; when the next fire passes, reads and submits move to a new, empty period and the
//! finished one stays readable (`Period::Previous`, or by its start).

pub mod config;
pub mod cron;
pub mod rank;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use asobi_core::protocol::ErrorCode;
use futures_util::TryStreamExt;
use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::clock::Clock;
use crate::db::{Backend, Db};
use crate::error::Coded;
use crate::time::iso8601;
pub use config::{BoardConfig, ClientSubmit, LeaderboardSettings, Operator, Order};
use cron::{CronError, Schedule};
use rank::RankIndex;

/// Longest board id, bytes.
pub const MAX_BOARD_BYTES: usize = 128;
/// Scores are kept within ±2^53 so every client's JSON numbers hold them exactly.
pub const MAX_SCORE: i64 = 1 << 53;

/// Why a leaderboard operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderboardError {
    /// The board does not take scores from players.
    #[error("board {0:?} does not accept client scores")]
    ClientSubmitDisabled(String),
    /// The period holds `max_entries` already.
    #[error("board {0:?} is full")]
    CapacityReached(String),
    /// A board id that is empty or too long, or a period that does not parse.
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// The player has no entry (Lua's `rank`).
    #[error("not ranked")]
    NotFound,
    /// The board belongs to a tournament that is not running now.
    #[error("board {0:?} takes scores only while its tournament runs")]
    Closed(String),
    /// A declared board's schedule does not parse.
    #[error("board {board:?}: {source}")]
    Schedule {
        /// Board id.
        board: String,
        /// Why.
        #[source]
        source: CronError,
    },
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl Coded for LeaderboardError {
    fn code(&self) -> ErrorCode {
        match self {
            LeaderboardError::ClientSubmitDisabled(_) => ErrorCode::LeaderboardClientSubmitDisabled,
            LeaderboardError::CapacityReached(_) => ErrorCode::LeaderboardCapacityReached,
            LeaderboardError::Invalid(_) => ErrorCode::InvalidPayload,
            LeaderboardError::NotFound => ErrorCode::WsRequestFailed,
            LeaderboardError::Closed(_) => ErrorCode::Forbidden,
            LeaderboardError::Schedule { .. } | LeaderboardError::Db(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            LeaderboardError::Invalid(why) => {
                d.insert("reason".into(), json!(why));
            }
            LeaderboardError::Closed(_) => {
                d.insert("reason".into(), json!("board_closed"));
            }
            _ => {}
        }
        d
    }

    fn reason(&self) -> &'static str {
        match self {
            LeaderboardError::NotFound => "not_found",
            LeaderboardError::Invalid(_) => "invalid_payload",
            LeaderboardError::Schedule { .. } | LeaderboardError::Db(_) => "internal",
            LeaderboardError::ClientSubmitDisabled(_) => "client_submit_disabled",
            LeaderboardError::CapacityReached(_) => "capacity_reached",
            LeaderboardError::Closed(_) => "board_closed",
        }
    }
}

/// Which period of a board to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Period {
    /// The one running now.
    #[default]
    Current,
    /// The one before it.
    Previous,
    /// The period that started at this instant (Unix ms); `0` for a board that never resets.
    Start(i64),
}

impl Period {
    /// Parses the `period` query value: `current`, `previous`, or a period's start in Unix ms.
    pub fn parse(s: &str) -> Result<Period, LeaderboardError> {
        match s {
            "" | "current" => Ok(Period::Current),
            "previous" => Ok(Period::Previous),
            ms => ms.parse().map(Period::Start).map_err(|_| {
                LeaderboardError::Invalid("period is current, previous or a start in ms")
            }),
        }
    }
}

/// One ranked entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Board id.
    pub board_id: String,
    /// Player.
    pub player_id: String,
    /// Score.
    pub score: i64,
    /// Tie-break, same direction as the score.
    pub sub_score: i64,
    /// 1-based rank.
    pub rank: u64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

impl Entry {
    /// The REST entry `{leaderboard_id, player_id, score, sub_score, rank, updated_at}`.
    pub fn to_json(&self) -> Value {
        json!({
            "leaderboard_id": self.board_id,
            "player_id": self.player_id,
            "score": self.score,
            "sub_score": self.sub_score,
            "rank": self.rank,
            "updated_at": iso8601(self.updated_at),
        })
    }
}

/// A board's period: when it began and when it ends (None: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodSpan {
    /// Start, Unix ms (0 for a board that never resets).
    pub start: i64,
    /// End, Unix ms.
    pub end: Option<i64>,
}

impl PeriodSpan {
    /// `{start, end}` as Unix ms and ISO strings.
    pub fn to_json(&self) -> Value {
        json!({
            "start": self.start,
            "end": self.end,
            "start_at": iso8601(self.start),
            "end_at": self.end.map(iso8601),
        })
    }
}

/// A declared board, ready to use.
#[derive(Debug, Clone)]
struct Board {
    config: BoardConfig,
    schedule: Option<Schedule>,
}

/// Sort key: ascending order of keys is best first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RankKey {
    score: i64,
    sub_score: i64,
    player: Arc<str>,
}

#[derive(Debug, Clone)]
struct Standing {
    score: i64,
    sub_score: i64,
    revision: i64,
    updated_at: i64,
}

/// One (board, period) in memory.
#[derive(Default)]
struct Ranked {
    ready: bool,
    index: RankIndex<RankKey>,
    standings: HashMap<Arc<str>, Standing>,
    /// Writes that committed while the period was loading.
    pending: Vec<(Arc<str>, Standing)>,
}

struct Cached {
    order: Order,
    loaded: tokio::sync::OnceCell<()>,
    ranked: Mutex<Ranked>,
    period_recorded: AtomicBool,
}

impl Cached {
    fn lock(&self) -> MutexGuard<'_, Ranked> {
        self.ranked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key(&self, player: &Arc<str>, s: &Standing) -> RankKey {
        match self.order {
            // Bitwise not reverses the order of every i64 without overflow.
            Order::Desc => RankKey {
                score: !s.score,
                sub_score: !s.sub_score,
                player: player.clone(),
            },
            Order::Asc => RankKey {
                score: s.score,
                sub_score: s.sub_score,
                player: player.clone(),
            },
        }
    }

    /// Applies a committed write unless the index already holds a later one.
    fn apply(&self, player: Arc<str>, standing: Standing) {
        let mut r = self.lock();
        if !r.ready {
            r.pending.push((player, standing));
            return;
        }
        self.apply_ready(&mut r, player, standing);
    }

    fn apply_ready(&self, r: &mut Ranked, player: Arc<str>, standing: Standing) {
        if let Some(old) = r.standings.get(&player) {
            if old.revision >= standing.revision {
                return;
            }
            let old_key = self.key(&player, old);
            r.index.remove(&old_key);
        }
        r.index.insert(self.key(&player, &standing));
        r.standings.insert(player, standing);
    }

    fn remove(&self, player: &str) {
        let mut r = self.lock();
        if let Some((player, old)) = r.standings.remove_entry(player) {
            let key = self.key(&player, &old);
            r.index.remove(&key);
        }
    }

    fn entry(&self, r: &Ranked, board: &str, key: &RankKey, rank: usize) -> Entry {
        let standing = r.standings.get(&key.player);
        Entry {
            board_id: board.to_owned(),
            player_id: key.player.to_string(),
            score: standing.map_or(0, |s| s.score),
            sub_score: standing.map_or(0, |s| s.sub_score),
            rank: rank as u64 + 1,
            updated_at: standing.map_or(0, |s| s.updated_at),
        }
    }
}

struct Inner {
    db: Db,
    clock: Clock,
    boards: HashMap<String, Board>,
    default_board: Board,
    client_submit: ClientSubmit,
    cached: Mutex<HashMap<(String, i64), Arc<Cached>>>,
    /// Boards that take scores only in a window `[start, end)`: tournaments' boards.
    windows: Mutex<HashMap<String, (i64, i64)>>,
}

/// The leaderboards service. Cheap to clone.
#[derive(Clone)]
pub struct Leaderboards(Arc<Inner>);

impl std::fmt::Debug for Leaderboards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaderboards")
            .field("boards", &self.0.boards.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Leaderboards {
    /// The service over `db`; fails if a declared schedule does not parse.
    pub fn new(
        db: Db,
        clock: Clock,
        settings: LeaderboardSettings,
    ) -> Result<Leaderboards, LeaderboardError> {
        let mut boards = HashMap::new();
        for (id, config) in settings.boards {
            let schedule = config
                .schedule()
                .map_err(|source| LeaderboardError::Schedule {
                    board: id.clone(),
                    source,
                })?;
            boards.insert(id, Board { config, schedule });
        }
        Ok(Leaderboards(Arc::new(Inner {
            db,
            clock,
            boards,
            default_board: Board {
                config: BoardConfig::default(),
                schedule: None,
            },
            client_submit: settings.client_submit,
            cached: Mutex::default(),
            windows: Mutex::default(),
        })))
    }

    /// The clock the service reads (tests move it to cross reset boundaries).
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Opens `board_id` to scores only within `[start, end)` (a tournament's run): a submit
    /// outside it is refused with [`LeaderboardError::Closed`], so a result fixed at the end
    /// cannot move. Reads are unaffected.
    pub fn set_window(&self, board_id: &str, start: i64, end: i64) {
        lock(&self.0.windows).insert(board_id.to_owned(), (start, end));
    }

    /// Whether players may submit their own scores to `board` over REST.
    pub fn client_may_submit(&self, board: &str) -> bool {
        self.0.client_submit.allows(board) || self.board(board).config.client_submit
    }

    /// Submits `score` for `player` as the board's operator says; returns the player's
    /// entry afterwards (unchanged by a `best` submit that is not better).
    pub async fn submit(
        &self,
        board_id: &str,
        player: &str,
        score: i64,
        sub_score: i64,
    ) -> Result<Entry, LeaderboardError> {
        check_board(board_id)?;
        let board = self.board(board_id);
        let at = self.0.clock.now_ms();
        if lock(&self.0.windows)
            .get(board_id)
            .is_some_and(|(start, end)| at < *start || at >= *end)
        {
            return Err(LeaderboardError::Closed(board_id.to_owned()));
        }
        let span = self.span(board, at);
        let cached = self.load(board_id, board, span.start, span.start).await?;
        let (mut score, sub_score) = (clamp(score), clamp(sub_score));
        if board.config.operator == Operator::Decrement {
            score = -score;
        }
        let player: Arc<str> = Arc::from(player);
        {
            let r = cached.lock();
            if !r.standings.contains_key(&player)
                && r.standings.len() as u64 >= board.config.max_entries
            {
                return Err(LeaderboardError::CapacityReached(board_id.to_owned()));
            }
        }
        let now = self.0.clock.now_ms();
        // Built from constants only: the operator and the dialect pick the clauses.
        let sql = sqlx::AssertSqlSafe(upsert_sql(&board.config, self.0.db.backend()));
        let row = sqlx::query(sql)
            .bind(board_id)
            .bind(span.start)
            .bind(&*player)
            .bind(score)
            .bind(sub_score)
            .bind(now)
            .fetch_optional(self.0.db.pool())
            .await?;
        if let Some(row) = row {
            let standing = Standing {
                score: row.try_get(0)?,
                sub_score: row.try_get(1)?,
                revision: row.try_get(2)?,
                updated_at: row.try_get(3)?,
            };
            cached.apply(player.clone(), standing);
        }
        if !cached.period_recorded.swap(true, Ordering::Relaxed) {
            self.record_period(board_id, span).await?;
        }
        self.entry_of(&cached, board_id, &player)
            .ok_or(LeaderboardError::NotFound)
    }

    /// The best `limit` entries.
    pub async fn top(
        &self,
        board_id: &str,
        limit: usize,
        period: Period,
    ) -> Result<Vec<Entry>, LeaderboardError> {
        let cached = self.cached_period(board_id, period).await?;
        let r = cached.lock();
        Ok(r.index
            .range(0, limit)
            .enumerate()
            .map(|(i, k)| cached.entry(&r, board_id, k, i))
            .collect())
    }

    /// Up to `range` entries above and below `player`, and the player; empty if unranked.
    pub async fn around(
        &self,
        board_id: &str,
        player: &str,
        range: usize,
        period: Period,
    ) -> Result<Vec<Entry>, LeaderboardError> {
        let cached = self.cached_period(board_id, period).await?;
        let r = cached.lock();
        let Some(rank) = rank_of(&cached, &r, player) else {
            return Ok(Vec::new());
        };
        let start = rank.saturating_sub(range);
        Ok(r.index
            .range(start, rank - start + range + 1)
            .enumerate()
            .map(|(i, k)| cached.entry(&r, board_id, k, start + i))
            .collect())
    }

    /// The player's entry, if ranked.
    pub async fn rank(
        &self,
        board_id: &str,
        player: &str,
        period: Period,
    ) -> Result<Option<Entry>, LeaderboardError> {
        let cached = self.cached_period(board_id, period).await?;
        Ok(self.entry_of(&cached, board_id, player))
    }

    /// The board's current period and the finished ones with entries, newest first.
    pub async fn periods(
        &self,
        board_id: &str,
    ) -> Result<(PeriodSpan, Vec<PeriodSpan>), LeaderboardError> {
        check_board(board_id)?;
        let current = self.span(self.board(board_id), self.0.clock.now_ms());
        let rows = sqlx::query(
            "SELECT period, ends_at FROM leaderboard_periods \
             WHERE board_id = $1 AND period < $2 ORDER BY period DESC LIMIT 100",
        )
        .bind(board_id)
        .bind(current.start)
        .fetch_all(self.0.db.pool())
        .await?;
        let finished = rows
            .iter()
            .map(|r| {
                Ok(PeriodSpan {
                    start: r.try_get(0)?,
                    end: r.try_get(1)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((current, finished))
    }

    /// Deletes every entry of `player` (account erase).
    pub async fn forget_player(&self, player: &str) -> Result<(), LeaderboardError> {
        sqlx::query("DELETE FROM leaderboard_entries WHERE player_id = $1")
            .bind(player)
            .execute(self.0.db.pool())
            .await?;
        let cached: Vec<Arc<Cached>> = lock(&self.0.cached).values().cloned().collect();
        for c in cached {
            c.remove(player);
        }
        Ok(())
    }

    /// The standings of `players` on `board_id` at `at` (its period holding that instant),
    /// best first, read from the database rather than this node's cache: what a tournament
    /// settles on. Players without an entry are left out.
    pub async fn standings_of(
        &self,
        board_id: &str,
        at: i64,
        players: &[String],
    ) -> Result<Vec<(String, i64)>, LeaderboardError> {
        let board = self.board(board_id);
        let period = self.span(board, at).start;
        let mut rows: Vec<(String, i64, i64)> = Vec::with_capacity(players.len());
        for chunk in players.chunks(500) {
            let mut sql = String::from(
                "SELECT player_id, score, sub_score FROM leaderboard_entries \
                 WHERE board_id = $1 AND period = $2 AND player_id IN (",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", i + 3));
            }
            sql.push(')');
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(board_id)
                .bind(period);
            for p in chunk {
                q = q.bind(p);
            }
            for r in q.fetch_all(self.0.db.pool()).await? {
                rows.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
        }
        let desc = board.config.order == Order::Desc;
        rows.sort_by(|a, b| {
            let (x, y) = if desc { (b, a) } else { (a, b) };
            x.1.cmp(&y.1)
                .then(x.2.cmp(&y.2))
                .then_with(|| a.0.cmp(&b.0))
        });
        Ok(rows.into_iter().map(|(p, s, _)| (p, s)).collect())
    }

    /// A board's declaration: its own, else that of the id before its last `:` (so a
    /// recurring tournament's `<board>:<start>` boards behave as `<board>` is declared),
    /// else the defaults.
    fn board(&self, id: &str) -> &Board {
        self.0
            .boards
            .get(id)
            .or_else(|| {
                id.rsplit_once(':')
                    .and_then(|(base, _)| self.0.boards.get(base))
            })
            .unwrap_or(&self.0.default_board)
    }

    /// The period of `board` holding `now`.
    fn span(&self, board: &Board, now: i64) -> PeriodSpan {
        match &board.schedule {
            None => PeriodSpan {
                start: 0,
                end: None,
            },
            Some(s) => PeriodSpan {
                start: s.last_at_or_before(now).unwrap_or(0),
                end: s.first_after(now),
            },
        }
    }

    async fn cached_period(
        &self,
        board_id: &str,
        period: Period,
    ) -> Result<Arc<Cached>, LeaderboardError> {
        check_board(board_id)?;
        let board = self.board(board_id);
        let current = self.span(board, self.0.clock.now_ms());
        let start = match (period, &board.schedule) {
            (Period::Current, _) | (Period::Previous, None) => current.start,
            (Period::Previous, Some(s)) => s.last_at_or_before(current.start - 1).unwrap_or(0),
            (Period::Start(0), None) => 0,
            (Period::Start(ms), Some(s))
                if ms <= current.start && s.last_at_or_before(ms) == Some(ms) =>
            {
                ms
            }
            (Period::Start(_), _) => {
                return Err(LeaderboardError::Invalid("no such period"));
            }
        };
        let cached = self.load(board_id, board, start, current.start).await?;
        // A read of a board nobody wrote keeps nothing in memory: ids are free-form.
        if cached.lock().standings.is_empty() {
            let mut map = lock(&self.0.cached);
            let key = (board_id.to_owned(), start);
            if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cached)) {
                map.remove(&key);
            }
        }
        Ok(cached)
    }

    /// The in-memory index of (board, period), loading it on first use. A board keeps its
    /// current period and at most one finished one in memory: loading another drops the
    /// rest (they reload if read again).
    async fn load(
        &self,
        board_id: &str,
        board: &Board,
        period: i64,
        current: i64,
    ) -> Result<Arc<Cached>, LeaderboardError> {
        let cached = {
            let mut map = lock(&self.0.cached);
            match map.get(&(board_id.to_owned(), period)) {
                Some(c) => c.clone(),
                None => {
                    map.retain(|(b, p), _| b != board_id || *p == current);
                    let c = Arc::new(Cached {
                        order: board.config.order,
                        loaded: tokio::sync::OnceCell::new(),
                        ranked: Mutex::default(),
                        period_recorded: AtomicBool::new(false),
                    });
                    map.insert((board_id.to_owned(), period), c.clone());
                    c
                }
            }
        };
        cached
            .loaded
            .get_or_try_init(|| async {
                // Streamed: a million rows never sit in memory at once.
                let mut rows = sqlx::query(
                    "SELECT player_id, score, sub_score, revision, updated_at \
                     FROM leaderboard_entries WHERE board_id = $1 AND period = $2",
                )
                .bind(board_id)
                .bind(period)
                .fetch(self.0.db.pool());
                let mut standings = HashMap::new();
                let mut keys = Vec::new();
                while let Some(row) = rows.try_next().await? {
                    let player: String = row.try_get(0)?;
                    let player: Arc<str> = Arc::from(player);
                    let s = Standing {
                        score: row.try_get(1)?,
                        sub_score: row.try_get(2)?,
                        revision: row.try_get(3)?,
                        updated_at: row.try_get(4)?,
                    };
                    keys.push(cached.key(&player, &s));
                    standings.insert(player, s);
                }
                drop(rows);
                let mut r = cached.lock();
                r.index = RankIndex::from_unsorted(keys);
                r.standings = standings;
                r.ready = true;
                for (player, s) in std::mem::take(&mut r.pending) {
                    cached.apply_ready(&mut r, player, s);
                }
                Ok::<(), LeaderboardError>(())
            })
            .await?;
        Ok(cached)
    }

    async fn record_period(
        &self,
        board_id: &str,
        span: PeriodSpan,
    ) -> Result<(), LeaderboardError> {
        sqlx::query(
            "INSERT INTO leaderboard_periods (board_id, period, ends_at) VALUES ($1, $2, $3) \
             ON CONFLICT (board_id, period) DO NOTHING",
        )
        .bind(board_id)
        .bind(span.start)
        .bind(span.end)
        .execute(self.0.db.pool())
        .await?;
        Ok(())
    }

    fn entry_of(&self, cached: &Cached, board_id: &str, player: &str) -> Option<Entry> {
        let r = cached.lock();
        let rank = rank_of(cached, &r, player)?;
        let key = r.index.range(rank, 1).next()?;
        Some(cached.entry(&r, board_id, key, rank))
    }
}

fn rank_of(cached: &Cached, r: &Ranked, player: &str) -> Option<usize> {
    let (player, standing) = r.standings.get_key_value(player)?;
    r.index.rank(&cached.key(player, standing))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn clamp(v: i64) -> i64 {
    v.clamp(-MAX_SCORE, MAX_SCORE)
}

fn check_board(id: &str) -> Result<(), LeaderboardError> {
    if id.is_empty() || id.len() > MAX_BOARD_BYTES || id.contains('\0') {
        return Err(LeaderboardError::Invalid(
            "board id must be 1-128 bytes, without NUL",
        ));
    }
    Ok(())
}

/// The upsert for a board's operator: `$1` board, `$2` period, `$3` player, `$4` score,
/// `$5` sub_score, `$6` now (`$4` negated for a decrement). Returns the row as written; none when `best` kept the old one.
fn upsert_sql(config: &BoardConfig, backend: Backend) -> String {
    let t = "leaderboard_entries";
    let (least, greatest) = match backend {
        Backend::Sqlite => ("MIN", "MAX"),
        Backend::Postgres => ("LEAST", "GREATEST"),
    };
    let better = match config.order {
        Order::Desc => ">",
        Order::Asc => "<",
    };
    let (score, condition) = match config.operator {
        Operator::Set => ("excluded.score".to_owned(), String::new()),
        Operator::Best => (
            "excluded.score".to_owned(),
            format!(
                " WHERE (excluded.score, excluded.sub_score) {better} ({t}.score, {t}.sub_score)"
            ),
        ),
        // A decrement is bound as the negated score (see `submit`).
        Operator::Increment | Operator::Decrement => (
            format!("{greatest}({least}({t}.score + excluded.score, {MAX_SCORE}), -{MAX_SCORE})"),
            String::new(),
        ),
    };
    format!(
        "INSERT INTO {t} (board_id, period, player_id, score, sub_score, revision, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6) \
         ON CONFLICT (board_id, period, player_id) DO UPDATE SET score = {score}, \
         sub_score = excluded.sub_score, revision = {t}.revision + 1, \
         updated_at = excluded.updated_at{condition} \
         RETURNING score, sub_score, revision, updated_at"
    )
}

/// A player's board entries, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[crate::export::PlayerData {
    section: "leaderboard_entries",
    sql: "SELECT board_id, period, score, sub_score, updated_at FROM leaderboard_entries WHERE player_id = $1 ORDER BY board_id, period",
}];
