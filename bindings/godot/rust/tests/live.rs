//! The Godot extension's logic (`core`) against a live server: the signals a game would see
//! for login, a two-client matchmake, `match_state` after input, and shutdown. Needs the
//! server `bindings/run-tests godot` starts (it runs these with `--include-ignored`).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use asobi_godot::core::{Arg, Core, Emit};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run bindings/run-tests godot"))
}

/// Frames until `want` matches an emitted signal (others are kept in `seen`).
fn until(cores: &[&Core], seen: &mut Vec<Emit>, want: impl Fn(&Emit) -> bool) -> Emit {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for core in cores {
            while let Some(e) = core.poll() {
                if want(&e) {
                    return e;
                }
                seen.push(e);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("signal not emitted; saw {seen:?}");
}

fn json(arg: &Arg) -> serde_json::Value {
    match arg {
        Arg::Json(text) => serde_json::from_str(text).unwrap(),
        other => panic!("not JSON: {other:?}"),
    }
}

fn player(tag: &str, quic: bool) -> (Core, String) {
    let core = Core::new(&env("ASOBI_TEST_HTTP")).unwrap();
    if quic {
        core.use_quic(&env("ASOBI_TEST_QUIC"), Some(&env("ASOBI_TEST_PIN")))
            .unwrap();
    }
    let name = format!("gd_{tag}_{}", std::process::id());
    let id = core.register(&name, "correct-horse-battery");
    let mut seen = Vec::new();
    let done = until(&[&core], &mut seen, |e| {
        e.signal == "request_completed" && e.args[0] == Arg::Int(id as i64)
    });
    let player_id = json(&done.args[2])["player_id"]
        .as_str()
        .unwrap()
        .to_owned();
    core.connect().unwrap();
    until(&[&core], &mut seen, |e| e.signal == "connected");
    (core, player_id)
}

#[test]
#[ignore = "needs a live server: bindings/run-tests godot"]
fn login_signals_success_and_the_servers_code() {
    let core = Core::new(&env("ASOBI_TEST_HTTP")).unwrap();
    let name = format!("gd_login_{}", std::process::id());
    let mut seen = Vec::new();
    let id = core.register(&name, "correct-horse-battery");
    until(&[&core], &mut seen, |e| {
        e.signal == "request_completed" && e.args[0] == Arg::Int(id as i64)
    });
    let id = core.login(&name, "wrong-password");
    let failed = until(&[&core], &mut seen, |e| e.signal == "request_failed");
    assert_eq!(failed.args[0], Arg::Int(id as i64));
    assert_eq!(failed.args[1], Arg::Str("auth.invalid_credentials".into()));
    let id = core.login(&name, "correct-horse-battery");
    let ok = until(&[&core], &mut seen, |e| e.signal == "request_completed");
    assert_eq!(ok.args[0], Arg::Int(id as i64));
    assert_eq!(ok.args[1], Arg::Str("auth.login".into()));
}

#[test]
#[ignore = "needs a live server: bindings/run-tests godot"]
fn two_clients_matchmake_and_see_match_state_after_input() {
    let (a, a_id) = player("a", true);
    let (b, _) = player("b", false);
    let mut seen = Vec::new();
    a.matchmaker_add("duel").unwrap();
    b.request("matchmaker.add", r#"{"mode": "duel"}"#).unwrap();
    until(&[&a], &mut seen, |e| e.signal == "matched");
    until(&[&b], &mut seen, |e| e.signal == "matched");
    a.send("match.input", r#"{"dx": 6}"#).unwrap();
    let state = until(&[&b], &mut seen, |e| {
        e.signal == "match_state" && json(&e.args[0])["players"][&a_id]["x"] == 6
    });
    assert_eq!(json(&state.args[0])["players"][&a_id]["inputs"], 1);
}

#[test]
#[ignore = "needs a live server: bindings/run-tests godot"]
fn misuse_and_clean_shutdown() {
    let core = Core::new(&env("ASOBI_TEST_HTTP")).unwrap();
    assert!(core.send("match.input", "{}").is_err(), "not connected yet");
    assert!(Core::new("not a url").is_err());
    let (c, _) = player("close", true);
    assert!(c.request("no.such.type", "").is_err());
    assert!(c.send("match.input", "{").is_err());
    c.close().unwrap();
    let mut seen = Vec::new();
    until(&[&c], &mut seen, |e| e.signal == "closed");
}
