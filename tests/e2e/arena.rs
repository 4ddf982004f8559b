//! `examples/arena` played by two scripted clients: matchmaking, walking, shooting, hits,
//! a kill and the win.

use serde_json::{Value, json};

use crate::common::{TestServer, Ws};

fn player<'a>(state: &'a Value, id: &str) -> &'a Value {
    &state["payload"]["players"][id]
}

fn xy(p: &Value) -> (f64, f64) {
    (p["x"].as_f64().expect("x"), p["y"].as_f64().expect("y"))
}

/// Waits for a state satisfying `pred`.
async fn state_where(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let s = ws.recv_type("match.state").await;
        if pred(&s) {
            return s;
        }
    }
}

#[tokio::test]
async fn two_scripted_clients_play_arena_to_a_win() {
    let s = TestServer::start_with_modes(
        vec![arena::mode(arena::ArenaPlugin { win_score: 1 })],
        |c| {
            c.matchmaker_tick_ms = 100;
        },
    )
    .await;
    let (a, b) = (s.register("shooter").await, s.register("target").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    for ws in [&mut wa, &mut wb] {
        let q = ws.request("matchmaker.add", json!({"mode": "arena"})).await;
        assert_eq!(q["type"], "matchmaker.queued");
    }
    let matched = wa.recv_type("match.matched").await;
    wb.recv_type("match.matched").await;
    let match_id = matched["payload"]["match_id"].as_str().unwrap().to_owned();

    let first = wa.recv_type("match.state").await;
    let (pa, pb) = (player(&first, &a.player_id), player(&first, &b.player_id));
    assert_eq!(
        (pa["hp"].as_i64(), pb["hp"].as_i64(), pa["score"].as_i64()),
        (Some(100), Some(100), Some(0))
    );
    let (ax, _) = xy(pa);
    let (_, by0) = xy(pb);

    // The target walks down, then stops; both clients see it move.
    wb.send(json!({"type": "match.input", "payload": {"move": [0, 1]}}))
        .await;
    let moved = state_where(&mut wa, |s| xy(player(s, &b.player_id)).1 >= by0 + 50.0).await;
    wb.send(json!({"type": "match.input", "payload": {"move": [0, 0]}}))
        .await;
    state_where(&mut wb, |s| xy(player(s, &b.player_id)).1 >= by0 + 50.0).await;
    assert!(
        xy(player(&moved, &a.player_id)).0 == ax,
        "the shooter did not move"
    );

    // The shooter aims at the target's position and fires twice (50 damage each).
    for shot in 1..=2 {
        let now = wa.recv_type("match.state").await;
        let (sx, sy) = xy(player(&now, &a.player_id));
        let (tx, ty) = xy(player(&now, &b.player_id));
        wa.send(json!({"type": "match.input", "payload": {"fire": [(tx - sx) / 800.0, (ty - sy) / 800.0]}})).await;
        let in_flight = state_where(&mut wb, |s| {
            s["payload"]["entities"]
                .as_object()
                .is_some_and(|e| !e.is_empty())
        })
        .await;
        let shot_entity = in_flight["payload"]["entities"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        assert_eq!(shot_entity["owner"], a.player_id.as_str());
        let hit = wb.recv_type("match.hit").await;
        assert_eq!(hit["payload"]["victim"], b.player_id.as_str());
        if shot == 1 {
            assert_eq!(hit["payload"]["hp"], 50);
            state_where(&mut wa, |s| player(s, &b.player_id)["hp"] == 50).await;
        }
    }
    let kill = wa.recv_type("match.kill").await;
    assert_eq!(kill["payload"]["victim"], b.player_id.as_str());
    for ws in [&mut wa, &mut wb] {
        let finished = ws.recv_type("match.finished").await;
        assert_eq!(
            finished["payload"],
            json!({"match_id": match_id, "result": {"winner": a.player_id}})
        );
    }
}
