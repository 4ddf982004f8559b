//! Lua game modes end to end: callbacks, the event style, shared state, the `game` API, the
//! sandbox under attack, budgets, and hot reload on a running match.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Account, TestServer, Ws};

/// Copies the test game into a fresh directory (hot-reload tests rewrite it).
fn game_copy() -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("asobi-lua-{}", uuid::Uuid::now_v7().simple()));
    copy(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/lua/game")),
        &dir,
    );
    dir
}

async fn lua_server(dir: &Path) -> TestServer {
    let dir = dir.to_owned();
    TestServer::start_with_modes(Vec::new(), move |c| {
        c.game_dir = Some(dir);
        c.lua_memory_limit_mb = 16;
    })
    .await
}

async fn join(ws: &mut Ws, mode: &str) -> Value {
    let r = ws
        .request("match.find_or_create", json!({"mode": mode}))
        .await;
    assert_eq!(r["type"], "match.joined", "{r}");
    r
}

/// The update record for `who` in a `world.tick` frame.
fn entity(f: &Value, who: &str) -> Option<Value> {
    f["payload"]["updates"]
        .as_array()
        .and_then(|u| u.iter().find(|r| r["id"] == who).cloned())
}

/// Two players in one `borders` world: the first lands in the west zone, the second in the east.
async fn two_in_borders(s: &TestServer, west: &str, east: &str) -> ((Account, Ws), (Account, Ws)) {
    let (a, b) = (s.register(west).await, s.register(east).await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    let j = wa
        .request("world.find_or_create", json!({"mode": "borders"}))
        .await;
    wb.request("world.join", json!({"world_id": j["payload"]["world_id"]}))
        .await;
    ((a, wa), (b, wb))
}

async fn sent(ws: &mut Ws) -> Value {
    ws.recv_type("module.message").await["payload"]["message"].clone()
}

#[tokio::test]
async fn a_lua_match_runs_every_callback() {
    let s = lua_server(&game_copy()).await;
    let (a, b) = (s.register("lua_a").await, s.register("lua_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);

    // join refusal with a reason; the state is rolled back (nobody was added).
    let refused = wa
        .request(
            "match.find_or_create",
            json!({"mode": "counter", "ctx": {"team": "blue"}}),
        )
        .await;
    assert_eq!(refused["payload"]["reason"], "join_refused");
    assert_eq!(
        refused["payload"]["error"]["details"]["refused_reason"],
        "team_full"
    );
    let weird = wa
        .request(
            "match.find_or_create",
            json!({"mode": "counter", "ctx": {"team": "weird"}}),
        )
        .await;
    assert_eq!(weird["payload"]["reason"], "join_refused");
    assert!(
        weird["payload"]["error"]["details"]
            .get("refused_reason")
            .is_none(),
        "invalid reasons are dropped"
    );

    let joined = join(&mut wa, "counter").await;
    assert_eq!(
        (
            joined["payload"]["status"].as_str(),
            joined["payload"]["listed"].as_bool()
        ),
        (Some("waiting"), Some(true))
    );
    join(&mut wb, "counter").await;

    // Per-player get_state.
    let st = wa.recv_type("match.state").await;
    assert_eq!(st["payload"]["me"], a.player_id.as_str());
    assert_eq!(
        st["payload"]["players"][&a.player_id],
        json!({"x": 0, "hp": 100})
    );
    assert!(st["payload"]["players"][&b.player_id].is_object(), "{st}");
    assert_eq!(
        wb.recv_type("match.state").await["payload"]["me"],
        b.player_id.as_str()
    );

    wa.send(json!({"type": "match.input", "payload": {"move": 3}}))
        .await;
    loop {
        let st = wb.recv_type("match.state").await;
        if st["payload"]["players"][&a.player_id]["x"] == 3 {
            break;
        }
    }
    // A failing handle_input keeps the previous state (its in-place change is rolled back).
    wa.send(json!({"type": "match.input", "payload": {"boom": true}}))
        .await;
    wa.send(json!({"type": "match.input", "payload": {"move": 1}}))
        .await;
    loop {
        let st = wa.recv_type("match.state").await;
        let x = &st["payload"]["players"][&a.player_id]["x"];
        assert_ne!(x, -999, "a failed callback's mutation leaked");
        if x == 4 {
            break;
        }
    }

    // game.send: the deprecated twin first, then module.message.
    wa.send(json!({"type": "match.input", "payload": {"ping": 7}}))
        .await;
    let legacy = wa.recv_type("game.message").await;
    assert_eq!(
        legacy["payload"],
        json!({"module": "lua", "message": {"pong": 7}})
    );
    assert_eq!(sent(&mut wa).await, json!({"pong": 7}));
    // A JSON null in input reaches the script as the string "null" (Asobi's quirk).
    wa.send(json!({"type": "match.input", "payload": {"null_check": null}}))
        .await;
    assert_eq!(sent(&mut wa).await, json!({"null_is": "null"}));
    // game.broadcast to everyone; a reserved name returns {error} to the script.
    wa.send(json!({"type": "match.input", "payload": {"shout": "hello"}}))
        .await;
    for ws in [&mut wa, &mut wb] {
        assert_eq!(
            ws.recv_type("match.hello").await["payload"],
            json!({"from": a.player_id})
        );
    }
    wa.send(json!({"type": "match.input", "payload": {"shout": "state"}}))
        .await;
    assert!(
        sent(&mut wa).await["refused"]
            .as_str()
            .unwrap()
            .contains("reserved")
    );

    // _finished / _result from tick.
    wb.send(json!({"type": "match.input", "payload": {"finish": true}}))
        .await;
    for ws in [&mut wa, &mut wb] {
        let f = ws.recv_type("match.finished").await;
        assert_eq!(f["payload"]["result"], json!({"winner": b.player_id}));
    }
}

#[tokio::test]
async fn set_joinable_locks_and_leave_runs() {
    let s = lua_server(&game_copy()).await;
    let (a, b, c) = (
        s.register("lock_la").await,
        s.register("lock_lb").await,
        s.register("lock_lc").await,
    );
    let (mut wa, mut wb, mut wc) = (s.ws_as(&a).await, s.ws_as(&b).await, s.ws_as(&c).await);
    let id = join(&mut wa, "counter").await["payload"]["match_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wb.request("match.join", json!({"match_id": id})).await;
    wa.recv_type("match.state").await;
    wa.send(json!({"type": "match.input", "payload": {"lock": true}}))
        .await;
    // b leaves: leave(player_id, state) removes them from the script's state.
    wb.request("match.leave", json!({})).await;
    loop {
        let st = wa.recv_type("match.state").await;
        if st["payload"]["players"].get(&b.player_id).is_none() {
            break;
        }
    }
    let locked = wc.request("match.join", json!({"match_id": id})).await;
    assert_eq!(locked["payload"]["reason"], "match_locked");
}

#[tokio::test]
async fn the_game_api_answers_with_the_contracts_conventions() {
    let s = lua_server(&game_copy()).await;
    let p = s.register("api_user").await;
    let mut ws = s.ws_as(&p).await;
    join(&mut ws, "probe").await;
    ws.send(json!({"type": "match.input", "payload": {"api": true}}))
        .await;
    let r = sent(&mut ws).await;
    assert_eq!(r["id_len"], 36);
    assert_eq!(r["logged"], 30, "30 log lines per second per match");
    assert_eq!(r["bad_level"], true);
    assert_eq!(
        (
            r["near"].as_i64(),
            r["nearest"].as_str(),
            r["typed"].as_str()
        ),
        (Some(2), Some("a"), Some("b"))
    );
    assert_eq!(
        (r["dist"].as_f64(), r["in_range"].as_bool()),
        (Some(5.0), Some(true))
    );
    assert!(r["zone_form"].as_str().unwrap().contains("zone context"));
    assert_eq!(
        (r["bad_args"].as_bool(), r["bad_joinable"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(r["twice"], 42, "require resolves next to the mode script");
}

#[tokio::test]
async fn storage_and_leaderboards_from_a_script_are_the_services_rest_serves() {
    let s = lua_server(&game_copy()).await;
    let p = s.register("lua_saver").await;
    let t = Some(p.access_token.as_str());
    let mut ws = s.ws_as(&p).await;
    join(&mut ws, "probe").await;
    ws.send(json!({"type": "match.input", "payload": {"services": true}}))
        .await;
    let r = sent(&mut ws).await;
    assert_eq!(r["set"]["ok"]["version"], 1, "{r}");
    assert_eq!(r["set_again"]["ok"]["version"], 2);
    assert!(
        r["set"]["ok"].get("id").is_none(),
        "wrapped rows drop the id"
    );
    assert_eq!(r["get"], json!({"ok": {"text": "hello"}}));
    assert_eq!(r["missing"], json!({"error": "not_found"}));
    assert_eq!(r["pset"]["ok"]["player_id"], p.player_id.as_str());
    assert_eq!(r["pget"], json!({"ok": 7}));
    assert!(r["bad"]["error"].as_str().unwrap().starts_with("get("));
    assert_eq!(
        (
            r["submit"].as_bool(),
            r["lower"].as_bool(),
            r["bot"].as_bool()
        ),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(
        r["top"]["ok"],
        json!([
            {"player_id": "bot_x_abc123", "score": 99, "rank": 1},
            {"player_id": p.player_id, "score": 40, "rank": 2},
        ]),
        "config.lua declared lua_best with operator best"
    );
    assert_eq!(r["rank"], json!({"ok": 2}));
    assert_eq!(r["unranked"], json!({"error": "not_found"}));
    assert_eq!(r["around"]["ok"].as_array().unwrap().len(), 2);

    // The same rows over REST: the player row is theirs; the global one is invisible.
    let row = s.get("/api/v1/storage/progress/level", t).await;
    assert_eq!(row.body["value"], 7, "{}", row.body);
    assert_eq!(
        s.get("/api/v1/storage/cfg/motd", t).await.code(),
        "storage.not_found"
    );
    let board = s.get("/api/v1/leaderboards/lua_best", t).await;
    assert_eq!(board.body["entries"][1]["score"], 40);
}

#[tokio::test]
async fn the_economy_from_a_script_is_the_service_rest_serves() {
    let game = game_copy();
    let s = lua_server(&game).await;
    let p = s.register("lua_spender").await;
    let t = Some(p.access_token.as_str());
    let mut ws = s.ws_as(&p).await;
    join(&mut ws, "probe").await;
    ws.send(json!({"type": "match.input", "payload": {"economy": true}}))
        .await;
    let r = sent(&mut ws).await;
    let wallet = |balance: i64| json!({"ok": {"player_id": p.player_id, "currency": "gold", "balance": balance}});
    assert_eq!(r["grant"], wallet(50), "amounts truncate to integers: {r}");
    assert_eq!(r["debit"], wallet(30));
    assert_eq!(r["short"], json!({"error": "insufficient_funds"}));
    let item = &r["purchase"]["ok"];
    assert_eq!(item["item_def_id"], "potion", "{r}");
    assert_eq!(item["quantity"], 1);
    assert_eq!(item["player_id"], p.player_id.as_str());
    assert!(item["acquired_at"].as_str().unwrap().ends_with('Z'));
    assert!(item.get("id").is_none() && item.get("updated_at").is_none());
    assert_eq!(r["inactive"], json!({"error": "listing_inactive"}));
    assert_eq!(
        r["balance"],
        json!({"ok": [{"currency": "gold", "balance": 25}]})
    );
    assert!(r["bad"]["error"].as_str().unwrap().starts_with("grant("));

    // The same wallet and ledger over REST.
    let h = s.get("/api/v1/wallets/gold/history", t).await;
    let reasons: Vec<&str> = h.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["purchase", "debit", "quest"]);
    let store = s.get("/api/v1/store", t).await;
    assert_eq!(store.body["listings"][0]["price"], 5);

    // Editing config.lua re-syncs the catalogue, as a script edit reloads modes.
    let config = game.join("config.lua");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("price = 5", "price = 7")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let store = s.get("/api/v1/store", t).await;
        if store.body["listings"][0]["price"] == 7 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "catalogue never re-synced: {}",
            store.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn chat_from_a_script_reaches_the_channel() {
    let dir = game_copy();
    let s = TestServer::start_with_modes(Vec::new(), move |c| {
        c.game_dir = Some(dir);
        c.chat_global_channels = vec!["lobby".into()];
    })
    .await;
    let p = s.register("lua_chatter").await;
    let mut ws = s.ws_as(&p).await;
    let r = ws
        .request("chat.join", json!({"channel_id": "global:lobby"}))
        .await;
    assert_eq!(r["type"], "chat.joined");
    join(&mut ws, "probe").await;
    ws.send(json!({"type": "match.input", "payload": {"chat": true}}))
        .await;
    let m = ws
        .recv_type_within("chat.message", Duration::from_secs(5))
        .await;
    assert_eq!(m["payload"]["sender_id"], "bot_announcer", "{m}");
    assert_eq!(m["payload"]["content"], "from lua");
    let r = sent(&mut ws).await;
    assert_eq!(r["sent"], true, "{r}");
    assert_eq!(
        r["bad_channel"], true,
        "plain true even when refused (lua.md §6.3)"
    );
    assert!(r["bad"]["error"].as_str().unwrap().starts_with("send("));
    let h = s
        .get("/api/v1/chat/global:lobby/history", Some(&p.access_token))
        .await;
    assert_eq!(h.body["messages"][0]["content"], "from lua", "persisted");
}

#[tokio::test]
async fn notifications_from_a_script_are_stored_and_pushed() {
    let s = lua_server(&game_copy()).await;
    let p = s.register("lua_notified").await;
    let mut ws = s.ws_as(&p).await;
    join(&mut ws, "probe").await;
    ws.send(json!({"type": "match.input", "payload": {"notify": true}}))
        .await;
    // The pushes go out while the callback runs, before its `game.send` answer.
    let mut kinds = Vec::new();
    let r = loop {
        let f = ws.recv_within(Duration::from_secs(5)).await;
        match f["type"].as_str() {
            Some("notification.new") => {
                kinds.push(f["payload"]["type"].as_str().unwrap().to_owned())
            }
            Some("module.message") => break f["payload"]["message"].clone(),
            _ => {}
        }
    };
    let one = &r["one"]["ok"];
    assert_eq!(one["type"], "quest_done", "{r}");
    assert_eq!(one["subject"], "Quest complete");
    assert_eq!(one["content"], json!({"xp": 50}));
    assert_eq!(one["read"], false);
    assert!(one["sent_at"].as_str().unwrap().ends_with('Z'));
    assert!(one.get("id").is_none(), "wrapped rows drop the id");
    assert_eq!(
        r["many"],
        json!([p.player_id]),
        "once each; the unknown player was not reached"
    );
    assert!(r["bad_data"]["error"].is_string());
    assert!(r["bad"]["error"].as_str().unwrap().starts_with("notify("));
    assert_eq!(r["unknown"], json!({"error": "not_found"}));

    // Both were pushed to the player's socket, and stored.
    kinds.sort();
    assert_eq!(kinds, ["event", "quest_done"]);
    let list = s.get("/api/v1/notifications", Some(&p.access_token)).await;
    assert_eq!(list.body["notifications"].as_array().unwrap().len(), 2);
}

/// Reads a socket for `window` and returns the intervals between `match.state` frames.
fn cadence(mut ws: Ws, window: Duration) -> tokio::task::JoinHandle<(Ws, Vec<Duration>)> {
    tokio::spawn(async move {
        let (mut last, mut out) = (None::<Instant>, Vec::new());
        let end = Instant::now() + window;
        while Instant::now() < end {
            if ws.recv().await["type"] == "match.state" {
                let now = Instant::now();
                if let Some(prev) = last {
                    out.push(now - prev);
                }
                last = Some(now);
            }
        }
        (ws, out)
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn sandbox_escapes_fail_inside_the_script_and_runaways_end_only_their_match() {
    let s = lua_server(&game_copy()).await;
    let (n, p, q) = (
        s.register("neighbour").await,
        s.register("prisoner").await,
        s.register("bomber").await,
    );
    let mut wn = s.ws_as(&n).await;
    join(&mut wn, "probe").await;
    let neighbour = cadence(wn, Duration::from_millis(2500));

    let mut wp = s.ws_as(&p).await;
    join(&mut wp, "probe").await;
    for attempt in [
        "io_open",
        "os_execute",
        "load",
        "string_dump",
        "debug_registry",
        "require_escape",
        "collectgarbage",
    ] {
        wp.send(json!({"type": "match.input", "payload": {"attempt": attempt}}))
            .await;
        let r = sent(&mut wp).await;
        assert_eq!(
            (r["attempt"].as_str(), r["ok"].as_bool()),
            (Some(attempt), Some(false)),
            "{attempt}: {r}"
        );
    }
    // An infinite loop in handle_input: stopped by the budget, and the match ends.
    let started = Instant::now();
    wp.send(json!({"type": "match.input", "payload": {"spin": true}}))
        .await;
    let f = wp.recv_type("match.finished").await;
    assert_eq!(
        f["payload"]["result"],
        json!({"status": "script_error", "reason": "timeout"})
    );
    println!(
        "runaway loop stopped and its match ended after {:?}",
        started.elapsed()
    );

    // A memory bomb: the VM's cap stops it.
    let mut wq = s.ws_as(&q).await;
    join(&mut wq, "probe").await;
    wq.send(json!({"type": "match.input", "payload": {"bomb": true}}))
        .await;
    let f = wq.recv_type("match.finished").await;
    assert_eq!(f["payload"]["result"]["status"], "script_error");

    let (mut wn, intervals) = neighbour.await.unwrap();
    let m = median(intervals.clone());
    println!(
        "neighbour match: median state interval {m:?} over {} states (10 Hz = 100 ms)",
        intervals.len()
    );
    assert!(
        m < Duration::from_millis(150),
        "the neighbour kept its tick: {m:?}"
    );
    assert!(intervals.len() >= 15);
    wn.assert_alive().await;
    wp.assert_alive().await;
}

/// Issue 15 §1–5: hostile scripts. Each runaway ends only its own match, however it tries
/// to catch the overrun; an error whose text mimics an overrun, a cyclic state and an
/// oversized client string fail only that call; a neighbour keeps its tick rate throughout.
#[tokio::test]
async fn hostile_scripts_end_only_their_own_match_and_the_neighbour_keeps_its_tick() {
    let s = lua_server(&game_copy()).await;
    let n = s.register("calm_neighbour").await;
    let mut wn = s.ws_as(&n).await;
    join(&mut wn, "probe").await;
    let neighbour = cadence(wn, Duration::from_millis(4000));

    let finished = |f: Value| f["payload"]["result"].clone();
    for (i, hostile) in ["pcall_spin", "xpcall_spin", "coroutine_spin"]
        .into_iter()
        .enumerate()
    {
        let a = s.register(&format!("spinner{i}")).await;
        let mut w = s.ws_as(&a).await;
        join(&mut w, "probe").await;
        let started = Instant::now();
        w.send(json!({"type": "match.input", "payload": {"hostile": hostile}}))
            .await;
        let f = finished(w.recv_type("match.finished").await);
        assert_eq!(
            f,
            json!({"status": "script_error", "reason": "timeout"}),
            "{hostile}"
        );
        println!("{hostile}: match ended after {:?}", started.elapsed());
    }

    // A finalizer cannot be set at all.
    let a = s.register("finalizer").await;
    let mut w = s.ws_as(&a).await;
    join(&mut w, "probe").await;
    w.send(json!({"type": "match.input", "payload": {"attempt": "gc_finalizer"}}))
        .await;
    let r = sent(&mut w).await;
    assert_eq!(r["ok"], false, "{r}");
    assert!(r["err"].as_str().unwrap_or("").contains("__gc"), "{r}");

    // A player choosing the overrun's text as an action does not end the match.
    for action in ["asobi: callback time budget exceeded", "not enough memory"] {
        w.send(json!({"type": "match.input", "payload": {"hostile": "action", "action": action}}))
            .await;
    }
    w.send(json!({"type": "match.input", "payload": {"attempt": "load"}}))
        .await;
    assert_eq!(sent(&mut w).await["attempt"], "load", "the match is alive");

    // A cyclic state is the script's error: that player gets `{}`, the match goes on.
    w.send(json!({"type": "match.input", "payload": {"cycle": true}}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = w.recv_type("match.state").await;
        if st["payload"] == json!({}) {
            break;
        }
        assert!(Instant::now() < deadline, "no empty state after a cycle");
    }
    w.send(json!({"type": "match.input", "payload": {"calm": true}}))
        .await;
    loop {
        let st = w.recv_type("match.state").await;
        if st["payload"]["n"].is_number() {
            break;
        }
        assert!(Instant::now() < deadline, "state never recovered");
    }

    // An oversized client string is refused before any script sees it.
    let long = format!("x{}x", " ".repeat(5000));
    w.send(
        json!({"type": "match.input", "cid": "7", "payload": {"hostile": "trim", "text": long}}),
    )
    .await;
    let e = w.recv_type("error").await;
    assert_eq!(e["payload"]["reason"], "input_string_too_long", "{e}");
    // Within the cap, the quadratic trim idiom runs out of the callback's budget. Which way
    // depends on the machine's speed: past the deadline it is the callback's overrun (the
    // match ends with `timeout`); when the matcher's step budget (an estimate of the time
    // left) runs out first, the call fails as a catchable error and the match ticks on.
    // Either way nothing hangs: the match ends, or its states keep coming.
    let text = format!("x{}x", " ".repeat(4000));
    let started = Instant::now();
    w.send(json!({"type": "match.input", "payload": {"hostile": "trim", "text": text}}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut states = 0;
    let outcome = loop {
        let f = w
            .recv_within(deadline.saturating_duration_since(Instant::now()))
            .await;
        if f["type"] == "match.finished" {
            assert_eq!(finished(f)["reason"], "timeout");
            break "the match ended with timeout";
        }
        if f["type"] == "match.state" {
            states += 1;
            if states >= 10 {
                break "the call failed within its budget and the match ticks on";
            }
        }
    };
    println!(
        "trim idiom on 4 KB: {outcome} after {:?}",
        started.elapsed()
    );

    // A state that fans out to 2^60 nodes counts against the memory cap.
    let a = s.register("fan_out").await;
    let mut w = s.ws_as(&a).await;
    join(&mut w, "probe").await;
    w.send(json!({"type": "match.input", "payload": {"fan_out": true}}))
        .await;
    let f = finished(w.recv_type("match.finished").await);
    assert_eq!(f["status"], "script_error", "{f}");
    assert!(
        f["reason"] == "heap_exhausted" || f["reason"] == "timeout",
        "the memory cap or the time budget ends it: {f}"
    );

    let (mut wn, intervals) = neighbour.await.unwrap();
    let m = median(intervals.clone());
    println!(
        "neighbour match: median state interval {m:?} over {} states (10 Hz = 100 ms)",
        intervals.len()
    );
    println!(
        "neighbour match: longest interval {:?}",
        intervals.iter().max()
    );
    assert!(
        m < Duration::from_millis(150),
        "the neighbour kept its tick: {m:?}"
    );
    assert!(intervals.len() >= 20);
    wn.assert_alive().await;
}

/// Issue 15 §6: a match's VM is built off the I/O runtime. The test's runtime is single
/// threaded and shared with the server, so a build on it would hold every socket; here a
/// heartbeat sent after a slow `find_or_create` is answered before that start is.
#[tokio::test]
async fn a_slow_script_start_does_not_hold_other_sockets() {
    let s = lua_server(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/lua/slowstart"
    )))
    .await;
    let (a, b) = (s.register("slow_a").await, s.register("slow_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    wa.send(json!({"type": "match.find_or_create", "cid": "slow", "payload": {"mode": "default"}}))
        .await;
    wb.send(json!({"type": "session.heartbeat", "cid": "hb", "payload": {}}))
        .await;
    let hb = wb.recv().await;
    assert_eq!(hb["cid"], "hb", "{hb}");
    // The heartbeat was answered while the match was still being built.
    assert!(
        wa.poll_ready().is_none(),
        "the slow match replied before the heartbeat: its build held the runtime"
    );
    // Then the failed start is answered. (Built on the I/O runtime, as before the fix, that
    // answer was written before the heartbeat's: the session replies as soon as the build
    // ends, and the heartbeat waited for it.)
    let reply = wa.recv_within(Duration::from_secs(30)).await;
    assert_eq!(
        (&reply["type"], &reply["cid"]),
        (&json!("error"), &json!("slow")),
        "{reply}"
    );
}

#[tokio::test]
async fn the_event_style_sends_state_when_it_changes() {
    let s = lua_server(&game_copy()).await;
    let p = s.register("eventful").await;
    let mut ws = s.ws_as(&p).await;
    join(&mut ws, "events").await;
    let first = ws.recv_type("match.state").await;
    assert_eq!(
        first["payload"],
        json!({"players": {p.player_id.clone(): {"score": 0}}})
    );
    // Nothing changes: nothing is sent.
    let quiet = tokio::time::timeout(Duration::from_millis(400), ws.recv_type("match.state")).await;
    assert!(quiet.is_err(), "no state without a change");
    ws.send(json!({"type": "match.input", "payload": {"add": 3}}))
        .await;
    let st = ws.recv_type("match.state").await;
    assert_eq!(st["payload"]["players"][&p.player_id]["score"], 3);
    ws.send(json!({"type": "match.input", "payload": {"add": 7}}))
        .await;
    let f = ws.recv_type("match.finished").await;
    assert_eq!(f["payload"]["result"], json!({"winner": p.player_id}));
}

#[tokio::test]
async fn shared_state_is_one_payload_for_everyone() {
    let s = lua_server(&game_copy()).await;
    let (a, b) = (s.register("shared_a").await, s.register("shared_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    join(&mut wa, "shared").await;
    join(&mut wb, "shared").await;
    let want = json!([a.player_id, b.player_id]);
    let sa = loop {
        let st = wa.recv_type("match.state").await;
        if st["payload"]["roster"] == want {
            break st;
        }
    };
    let sb = loop {
        let st = wb.recv_type("match.state").await;
        if st["payload"]["ticks"] == sa["payload"]["ticks"]
            || st["payload"]["ticks"].as_i64() > sa["payload"]["ticks"].as_i64()
        {
            break st;
        }
    };
    assert_eq!(sb["payload"]["roster"], want);
}

#[tokio::test]
async fn an_edited_script_takes_effect_on_the_next_tick_and_a_broken_edit_keeps_the_old_code() {
    let dir = game_copy();
    let s = lua_server(&dir).await;
    let (a, b) = (s.register("reload_a").await, s.register("reload_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    join(&mut wa, "counter").await;
    join(&mut wb, "counter").await;
    wa.send(json!({"type": "match.input", "payload": {"move": 2}}))
        .await;
    let before = loop {
        let st = wa.recv_type("match.state").await;
        if st["payload"]["players"][&a.player_id]["x"] == 2 {
            break st;
        }
    };
    assert_eq!(
        (
            before["payload"]["version"].as_str(),
            before["payload"]["speed"].as_i64()
        ),
        (Some("v1"), Some(1))
    );

    let script = dir.join("counter/match.lua");
    let original = std::fs::read_to_string(&script).unwrap();
    let edited = original
        .replace("speed = 1", "speed = 5")
        .replace("version = \"v1\"", "version = \"v2\"");
    std::fs::write(&script, &edited).unwrap();
    let edited_at = Instant::now();
    let after = loop {
        let st = wa.recv_type("match.state").await;
        if st["payload"]["version"] == "v2" {
            break st;
        }
    };
    println!(
        "edit visible in match.state after {:?}",
        edited_at.elapsed()
    );
    assert_eq!(
        after["payload"]["players"][&a.player_id]["x"], 2,
        "state kept across the reload"
    );
    wa.send(json!({"type": "match.input", "payload": {"move": 2}}))
        .await;
    loop {
        let st = wb.recv_type("match.state").await;
        if st["payload"]["players"][&a.player_id]["x"] == 12 {
            break;
        }
    }

    // A broken edit: logged, the previous code keeps running.
    std::fs::write(
        &script,
        "match_size = 2\nfunction tick(state) return state end\nthis is not lua\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    wa.send(json!({"type": "match.input", "payload": {"move": 1}}))
        .await;
    loop {
        let st = wa.recv_type("match.state").await;
        assert_eq!(
            st["payload"]["version"], "v2",
            "the good code is still running"
        );
        if st["payload"]["players"][&a.player_id]["x"] == 17 {
            break;
        }
    }
    // The same sockets stayed open throughout.
    wa.assert_alive().await;
    wb.assert_alive().await;
}

#[tokio::test]
async fn a_broken_game_stops_the_server_at_start_naming_file_and_line() {
    let dir = std::env::temp_dir().join(format!("asobi-badgame-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("match.lua"),
        "match_size = 2\nfunction init( return {} end\n",
    )
    .unwrap();
    let (url, _) = crate::common::fresh_database().await;
    let mut config = crate::common::test_config(url);
    config.game_dir = Some(dir);
    let err = asobi_server::start(config)
        .await
        .err()
        .expect("start fails");
    let text = err.to_string();
    assert!(text.contains("match.lua:2:"), "{text}");
}

#[tokio::test]
async fn changed_mode_globals_apply_to_new_matches() {
    let dir = game_copy();
    let s = lua_server(&dir).await;
    let (a, b, c) = (
        s.register("shape_a").await,
        s.register("shape_b").await,
        s.register("shape_c").await,
    );
    let (mut wa, mut wb, mut wc) = (s.ws_as(&a).await, s.ws_as(&b).await, s.ws_as(&c).await);
    join(&mut wa, "counter").await;
    join(&mut wb, "counter").await;
    let q = wc
        .request("matchmaker.add", json!({"mode": "counter"}))
        .await;
    assert_eq!(q["payload"]["players_needed"], 2);
    wc.request(
        "matchmaker.remove",
        json!({"ticket_id": q["payload"]["ticket_id"]}),
    )
    .await;

    let script = dir.join("counter/match.lua");
    let text = std::fs::read_to_string(&script)
        .unwrap()
        .replace("match_size = 2", "match_size = 3");
    std::fs::write(&script, text).unwrap();
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let q = wc
            .request("matchmaker.add", json!({"mode": "counter"}))
            .await;
        let needed = q["payload"]["players_needed"].as_i64();
        wc.request(
            "matchmaker.remove",
            json!({"ticket_id": q["payload"]["ticket_id"]}),
        )
        .await;
        if needed == Some(3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new match_size never applied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The running match keeps its players and keeps ticking.
    let st = wa.recv_type("match.state").await;
    assert!(st["payload"]["players"][&b.player_id].is_object());
}

#[tokio::test]
async fn a_lua_world_runs_its_world_vm_and_zone_vms() {
    let s = lua_server(&game_copy()).await;
    let (a, b) = (s.register("realm_a").await, s.register("realm_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    let refused = wa
        .request("world.find_or_create", json!({"mode": "realm"}))
        .await;
    let id = refused["payload"]["world_id"].clone();
    assert_eq!(refused["type"], "world.joined", "{refused}");
    // join refusal with a reason (Asobi cannot refuse in worlds; we can).
    let banned = wb
        .request(
            "world.join",
            json!({"world_id": id, "ctx": {"banned": true}}),
        )
        .await;
    assert_eq!(banned["payload"]["reason"], "join_refused");
    assert_eq!(
        banned["payload"]["error"]["details"]["refused_reason"],
        "banned"
    );
    let ok = wb.request("world.join", json!({"world_id": id})).await;
    assert_eq!(ok["type"], "world.joined");

    // spawn_position came from the world VM; zone_tick touched the entity in the zone VM.
    let spawned = loop {
        let f = wa.recv_type("world.tick").await;
        if let Some(e) = entity(&f, &a.player_id)
            && e.get("seen_by_zone").is_some()
        {
            break e;
        }
    };
    assert_eq!(
        (spawned["x"].as_f64(), spawned["y"].as_f64()),
        (Some(11.0), Some(20.0)),
        "{spawned}"
    );

    // handle_input in the zone VM moves the entity, returns a consumed seq, and broadcasts.
    wa.send(
        json!({"type": "world.input", "seq": 5, "payload": {"x": 40, "y": 41, "consumed": 77}}),
    )
    .await;
    loop {
        let f = wb.recv_type("world.tick").await;
        if entity(&f, &a.player_id).is_some_and(|e| e["x"] == 40) {
            break;
        }
    }
    let ack = wa.recv_type("world.ack").await;
    assert_eq!(
        ack["payload"]["seq"], 77,
        "the reported watermark beats the stamp"
    );
    wa.send(json!({"type": "world.input", "payload": {"shout": "hello"}}))
        .await;
    for ws in [&mut wa, &mut wb] {
        assert_eq!(
            ws.recv_type("world.hello").await["payload"],
            json!({"from": a.player_id})
        );
    }
    // terrain_provider picked the built-in perlin provider; game.terrain works in zone VMs.
    wa.send(json!({"type": "world.input", "payload": {"chunk": true}}))
        .await;
    let reply = sent(&mut wa).await;
    let expected = asobi_core::world::terrain::NoiseTerrain { seed: 99 };
    let wire = asobi_core::world::terrain::TerrainProvider::chunk(&expected, 0, 0)
        .unwrap()
        .encode();
    assert_eq!(
        (reply["ok"].as_bool(), reply["bytes"].as_u64()),
        (Some(true), Some(wire.len() as u64)),
        "{reply}"
    );
    assert!(reply["bad"].as_str().unwrap().contains("get_chunk"));
    // Entities the script adds are authoritative.
    wb.send(json!({"type": "world.input", "payload": {"plant": "oak"}}))
        .await;
    loop {
        let f = wa.recv_type("world.tick").await;
        if entity(&f, "oak").is_some_and(|e| e["type"] == "tree") {
            break;
        }
    }
}

#[tokio::test]
async fn border_bands_let_zones_see_and_affect_their_neighbours() {
    let s = lua_server(&game_copy()).await;
    let ((a, mut wa), (b, mut wb)) = two_in_borders(&s, "west_side", "east_side").await;
    // Let a tick publish the bands, then probe from the west zone.
    tokio::time::sleep(Duration::from_millis(150)).await;
    wa.send(json!({"type": "world.input", "payload": {"probe": true}}))
        .await;
    let r = sent(&mut wa).await;
    assert_eq!(
        (r["own"].as_i64(), r["own_id"].as_str()),
        (Some(1), Some(a.player_id.as_str())),
        "own zone query: {r}"
    );
    assert_eq!(r["rect"], 1);
    assert_eq!(
        (r["near"].as_i64(), r["near_id"].as_str()),
        (Some(1), Some(b.player_id.as_str())),
        "neighbour band: {r}"
    );
    assert_eq!(r["box"], 1);
    // An effect for the neighbour's entity is handled by the zone that owns it.
    wa.send(json!({"type": "world.input", "payload": {"poke": b.player_id}}))
        .await;
    assert_eq!(sent(&mut wa).await["poked"], true);
    loop {
        let f = wb.recv_type("world.tick").await;
        let hit = f["payload"]["updates"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| u["id"] == b.player_id.as_str() && u["hits"] == 5);
        if hit {
            break;
        }
    }
    wa.send(json!({"type": "world.input", "payload": {"poke": "nobody"}}))
        .await;
    assert_eq!(sent(&mut wa).await["poked"], false);
}

#[tokio::test]
async fn generate_world_seeds_each_zone_state() {
    let s = lua_server(&game_copy()).await;
    let ((a, mut wa), (b, mut wb)) = two_in_borders(&s, "seed_west", "seed_east").await;
    // Each player's zone stamps its generated label on the player's entity.
    for (ws, id, label) in [
        (&mut wa, &a.player_id, "west"),
        (&mut wb, &b.player_id, "east"),
    ] {
        loop {
            let f = ws.recv_type("world.tick").await;
            if entity(&f, id).is_some_and(|e| e["zone_label"] == label) {
                break;
            }
        }
    }
}

#[tokio::test]
async fn a_persistent_lua_zone_keeps_its_zone_state_across_a_restart() {
    let dir = game_copy();
    let mut s = lua_server(&dir).await;
    let a = s.register("vault_keeper").await;
    let mut wa = s.ws_as(&a).await;
    let j = wa
        .request("world.find_or_create", json!({"mode": "vault"}))
        .await;
    let world_id = j["payload"]["world_id"].clone();
    let clock = |f: &Value| entity(f, "clock").and_then(|e| e["ticks"].as_i64());
    let before = loop {
        if let Some(t) = clock(&wa.recv_type("world.tick").await)
            && t >= 40
        {
            break t;
        }
    };
    drop(wa);
    s.stop().await;

    // After a restart the zone's counter carries on from where it stopped.
    let s2 = TestServer::start_on(s.database_url.clone(), Vec::new(), |c| {
        c.game_dir = Some(dir);
        c.lua_memory_limit_mb = 16;
    })
    .await;
    let b = s2.register("vault_visitor").await;
    let mut wb = s2.ws_as(&b).await;
    let r = wb
        .request("world.join", json!({"world_id": world_id}))
        .await;
    assert_eq!(r["type"], "world.joined", "{r}");
    let mut seen = Vec::new();
    while seen.len() < 10 {
        if let Some(t) = clock(&wb.recv_type("world.tick").await) {
            seen.push(t);
        }
    }
    assert!(
        seen.iter().all(|t| *t >= before),
        "zone state restarted from scratch: {before} before, then {seen:?}"
    );
    // The world VM saw the stored snapshot in on_world_recovered: the clock entity and a
    // counter at least as far as the last one this test saw.
    let r = wb.recv_type("world.recovered").await;
    assert_eq!(r["payload"]["entities"], 1, "{r}");
    assert!(r["payload"]["ticks"].as_i64() >= Some(before), "{r}");
}

#[tokio::test]
async fn spawn_templates_spawn_and_respawn_entities() {
    let s = lua_server(&game_copy()).await;
    let a = s.register("hunter").await;
    let mut wa = s.ws_as(&a).await;
    let j = wa
        .request("world.find_or_create", json!({"mode": "grove"}))
        .await;
    assert_eq!(j["type"], "world.joined", "{j}");
    let npc = |f: &Value| {
        f["payload"]["updates"]
            .as_array()
            .and_then(|u| u.iter().find(|r| r["type"] == "npc").cloned())
    };
    let wolf = loop {
        if let Some(w) = npc(&wa.recv_type("world.tick").await) {
            break w;
        }
    };
    assert_eq!(
        (&wolf["hp"], &wolf["name"], &wolf["x"], &wolf["y"]),
        (&json!(10), &json!("alpha"), &json!(20.0), &json!(30.0)),
        "base state, overrides, position: {wolf}"
    );
    let id = wolf["id"].as_str().unwrap().to_owned();

    // Timed from before the hunt is sent: the despawn (and its respawn timer) come later,
    // so this elapsed time is never shorter than the timer's.
    let hunted = Instant::now();
    wa.send(json!({"type": "world.input", "payload": {"hunt": true}}))
        .await;
    let r = sent(&mut wa).await;
    assert_eq!(
        (r["hunted"].as_i64(), r["ghost"].as_bool()),
        (Some(1), Some(false)),
        "{r}"
    );
    // Removed, then back after the delay: same id and position, base state only.
    let mut removed = false;
    let back = loop {
        let f = wa.recv_type("world.tick").await;
        match entity(&f, &id) {
            Some(e) if e["op"] == "r" => removed = true,
            Some(e) if removed => break e,
            _ => {}
        }
    };
    assert!(
        hunted.elapsed() >= Duration::from_millis(150),
        "respawned after {:?}",
        hunted.elapsed()
    );
    assert_eq!(
        (&back["hp"], back.get("name"), &back["x"]),
        (&json!(10), None, &json!(20.0)),
        "{back}"
    );
}

#[tokio::test]
async fn changed_world_mode_globals_apply_to_new_worlds() {
    let dir = game_copy();
    let s = lua_server(&dir).await;
    let create = |n: usize| {
        let s = &s;
        async move {
            let acc = s.register(&format!("shaper_{n}")).await;
            let r = s
                .post(
                    "/api/v1/worlds",
                    json!({"mode": "grove"}),
                    Some(&acc.access_token),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            (r.body["max_players"].as_i64(), r.body["grid_size"].as_i64())
        }
    };
    assert_eq!(create(0).await, (Some(4), Some(1)));
    let script = dir.join("grove/world.lua");
    let text = std::fs::read_to_string(&script)
        .unwrap()
        .replace("match_size = 4", "match_size = 6")
        .replace("grid_size = 1", "grid_size = 3");
    std::fs::write(&script, text).unwrap();
    let deadline = Instant::now() + Duration::from_secs(6);
    for n in 1.. {
        if create(n).await == (Some(6), Some(3)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new world shape never applied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn world_phases_wait_run_and_finish_the_world() {
    let s = lua_server(&game_copy()).await;
    let a = s.register("farmer").await;
    let mut wa = s.ws_as(&a).await;
    let j = wa
        .request("world.find_or_create", json!({"mode": "seasons"}))
        .await;
    assert_eq!(j["type"], "world.joined", "{j}");
    let world_id = j["payload"]["world_id"].clone();
    assert_eq!(
        j["payload"]["phase"],
        json!({"status": "waiting", "phase": "lobby", "start_condition": {"type": "players", "value": 1}})
    );
    // The player starts the lobby; it runs 200 ms, then the harvest 300 ms, then the world ends.
    let mut seen = Vec::new();
    let finished = loop {
        let f = wa.recv().await;
        match f["type"].as_str() {
            Some("world.phase_changed") => {
                let p = &f["payload"];
                if p.get("world_id").is_some() {
                    assert_eq!(p["world_id"], world_id);
                    seen.push((p["status"].clone(), p["phase"].clone(), p["config"].clone()));
                }
            }
            Some("world.phase_log") => {
                seen.push((json!("log"), f["payload"]["log"].clone(), Value::Null))
            }
            Some("world.finished") => break f,
            _ => {}
        }
    };
    assert_eq!(
        finished["payload"]["result"]["status"], "phases_complete",
        "{finished}"
    );
    let active: Vec<&Value> = seen
        .iter()
        .filter(|s| s.0 == "active")
        .map(|s| &s.1)
        .collect();
    assert_eq!(active, vec!["lobby", "harvest"], "{seen:?}");
    assert!(
        seen.iter()
            .any(|s| s.0 == "active" && s.2 == json!({"rate": 2})),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.0 == "complete"), "{seen:?}");
    assert!(
        seen.iter()
            .any(|s| s.0 == "log" && s.1 == "+lobby -lobby +harvest"),
        "callbacks ran in order: {seen:?}"
    );
}

#[tokio::test]
async fn match_phases_run_in_order_and_finish_the_match() {
    let s = lua_server(&game_copy()).await;
    let a = s.register("rounder").await;
    let mut wa = s.ws_as(&a).await;
    let j = join(&mut wa, "rounds").await;
    assert_eq!(
        (
            &j["payload"]["phase"]["status"],
            &j["payload"]["phase"]["phase"]
        ),
        (&json!("active"), &json!("warmup")),
        "{j}"
    );
    let mut phases = Vec::new();
    let finished = loop {
        let f = wa.recv().await;
        match f["type"].as_str() {
            Some("match.state") => {
                let p = f["payload"]["phase"].clone();
                if phases.last() != Some(&p) {
                    phases.push(p);
                }
            }
            Some("match.finished") => break f,
            _ => {}
        }
    };
    assert_eq!(phases, vec![json!("warmup"), json!("round")], "{phases:?}");
    assert_eq!(
        finished["payload"]["result"]["status"], "phases_complete",
        "{finished}"
    );
}

/// Issue 19 §3: a Lua game verifies its own tokens in `auth.lua`.
#[tokio::test]
async fn a_lua_sign_in_hook_accepts_and_refuses_tokens() {
    let dir = game_copy();
    std::fs::write(
        dir.join("auth.lua"),
        r#"
return {
  studio = function(token)
    local id = string.match(token, "^studio:(%w+)$")
    if not id then return nil, "not a studio token" end
    return { id = id, display_name = "Player " .. id }
  end,
  spinner = function(token)
    while true do end
  end,
}
"#,
    )
    .unwrap();
    let s = lua_server(&dir).await;
    let oauth = |provider: &str, token: &str| {
        s.post(
            "/api/v1/auth/oauth",
            json!({"provider": provider, "token": token}),
            None,
        )
    };
    let r = oauth("studio", "studio:bob").await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["created"], true);
    assert!(
        r.body["username"]
            .as_str()
            .unwrap()
            .starts_with("studio_bob_")
    );
    let again = oauth("studio", "studio:bob").await;
    assert_eq!(again.body["player_id"], r.body["player_id"]);
    let me = s
        .get(
            &format!("/api/v1/players/{}", r.body["player_id"].as_str().unwrap()),
            again.body["access_token"].as_str(),
        )
        .await;
    assert_eq!(me.body["display_name"], "Player bob");
    // Refused by the script, and a script that never returns is cut off by its budget.
    for (provider, token) in [("studio", "someone else"), ("spinner", "x")] {
        let r = oauth(provider, token).await;
        assert_eq!(
            (r.status, r.code()),
            (reqwest::StatusCode::UNAUTHORIZED, "auth.provider_rejected"),
            "{}",
            r.body
        );
        assert_eq!(r.body["error"]["details"]["reason"], "denied");
    }
    assert_eq!(
        oauth("studio", "studio:eve").await.status,
        reqwest::StatusCode::OK
    );
}
