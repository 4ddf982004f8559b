//! How a board behaves, as the operator (`asobi.toml`, `[leaderboards.<id>]`) or the game
//! (Lua `config.lua`'s `leaderboards` table, or a Rust game's [`LeaderboardSettings`]) declares
//! it. An undeclared board gets [`BoardConfig::default`]: the original's behaviour.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::cron::{CronError, Schedule};

/// Which scores rank first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Higher first (the original's only order).
    #[default]
    Desc,
    /// Lower first (times, strokes).
    Asc,
}

/// What a submit does to a player's standing entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// Replaces it (the original).
    #[default]
    Set,
    /// Keeps the better of the two (by `order`, then `sub_score`).
    Best,
    /// Adds the submitted score.
    Increment,
    /// Subtracts the submitted score.
    Decrement,
}

/// One board's behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoardConfig {
    /// Sort order.
    pub order: Order,
    /// What a submit does.
    pub operator: Operator,
    /// Cron expression (UTC) at which the board starts a new, empty period; the finished
    /// one stays readable. None: never resets.
    pub reset: Option<String>,
    /// Whether players may submit their own scores over REST (also on when the board is
    /// listed in `leaderboard_client_submit`).
    pub client_submit: bool,
    /// Entries a period may hold; submits of new players beyond it are refused.
    pub max_entries: u64,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            order: Order::Desc,
            operator: Operator::Set,
            reset: None,
            client_submit: false,
            max_entries: 10_000_000,
        }
    }
}

impl BoardConfig {
    /// The reset schedule, parsed.
    pub fn schedule(&self) -> Result<Option<Schedule>, CronError> {
        self.reset.as_deref().map(Schedule::parse).transpose()
    }
}

/// Which boards accept scores from players over REST (`leaderboard_client_submit`): none
/// by default, a list of board ids, or `all`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSubmit(Vec<String>);

impl ClientSubmit {
    /// From a list of board ids, where `all` opens every board.
    pub fn new(ids: Vec<String>) -> Self {
        ClientSubmit(ids)
    }

    /// Whether `board` is open to client scores.
    pub fn allows(&self, board: &str) -> bool {
        self.0.iter().any(|id| id == "all" || id == board)
    }
}

impl<'de> Deserialize<'de> for ClientSubmit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Form::deserialize(d)? {
            Form::One(s) => ClientSubmit(split_list(&s)),
            Form::Many(v) => ClientSubmit(v),
        })
    }
}

/// `"a, b"` → `["a", "b"]` (how the environment variable spells a list).
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Everything the leaderboards service is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderboardSettings {
    /// Declared boards by id.
    pub boards: BTreeMap<String, BoardConfig>,
    /// Boards open to client scores.
    pub client_submit: ClientSubmit,
}
