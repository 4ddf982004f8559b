//! Worlds end to end: joining, convergence from deltas, crossings and interest rings, resync,
//! acks, lazy zones and reaping, terrain, concurrent find-or-create, reconnect grace, and a
//! panicking zone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use asobi_core::world::delta::{self, Entities, Fields};
use asobi_core::world::terrain::{Chunk, NoiseTerrain, TerrainProvider};
use base64::Engine;
use serde_json::{Value, json};

use crate::common::{Account, TestServer, Ws};
use crate::world_modes;

async fn server() -> TestServer {
    TestServer::start_with_game(Vec::new(), world_modes::all(), |_| {}).await
}

/// A client's view: one entity table and high-water mark per zone (what SDKs keep).
#[derive(Default)]
struct View {
    zones: BTreeMap<(i64, i64), (Entities, Option<u64>)>,
    gaps: Vec<(i64, i64)>,
    acks: Vec<Value>,
}

impl View {
    /// Applies a `world.tick`; returns false when it was a gap (the delta is not applied).
    fn apply(&mut self, frame: &Value) -> bool {
        let p = &frame["payload"];
        let zone = (
            p["zone"][0].as_i64().unwrap(),
            p["zone"][1].as_i64().unwrap(),
        );
        let updates: Vec<Fields> = serde_json::from_value(p["updates"].clone()).unwrap();
        let (table, mark) = self.zones.entry(zone).or_default();
        match (
            p.get("frame_seq").and_then(Value::as_u64),
            p["kf"].as_bool(),
        ) {
            (Some(seq), Some(true)) => {
                table.clear();
                delta::apply(table, &updates);
                *mark = Some(seq);
            }
            (Some(seq), _) => {
                if mark.is_some_and(|m| seq <= m) {
                    return true;
                }
                if mark.is_some_and(|m| seq > m + 1) {
                    self.gaps.push(zone);
                    return false;
                }
                delta::apply(table, &updates);
                *mark = Some(seq);
            }
            (None, _) => delta::apply(table, &updates),
        }
        true
    }

    fn position(&self, zone: (i64, i64), id: &str) -> Option<(f64, f64)> {
        let e = self.zones.get(&zone)?.0.get(id)?;
        Some((e.get("x")?.as_f64()?, e.get("y")?.as_f64()?))
    }
}

/// Reads frames into the view until `done` holds (or 5 s pass).
async fn until(ws: &mut Ws, view: &mut View, done: impl Fn(&View) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(view) {
        assert!(
            Instant::now() < deadline,
            "condition not reached; view: {:?}",
            view.zones.keys().collect::<Vec<_>>()
        );
        let f = ws.recv().await;
        if f["type"] == "world.tick" {
            view.apply(&f);
        } else if f["type"] == "world.ack" {
            view.acks.push(f);
        }
    }
}

async fn enter(s: &TestServer, name: &str, mode: &str) -> (Account, Ws, Value) {
    let acc = s.register(name).await;
    let mut ws = s.ws_as(&acc).await;
    let joined = ws
        .request("world.find_or_create", json!({"mode": mode}))
        .await;
    assert_eq!(joined["type"], "world.joined", "{joined}");
    (acc, ws, joined)
}

fn mv(x: f64, y: f64) -> Value {
    json!({"type": "world.input", "payload": {"x": x, "y": y}})
}

#[tokio::test]
async fn clients_converge_on_each_others_positions_from_deltas_alone() {
    let s = server().await;
    let mut clients = Vec::new();
    let mut world_id = None;
    for i in 0..5 {
        let (acc, ws, joined) = enter(&s, &format!("walker{i}"), "walkers").await;
        let p = &joined["payload"];
        assert_eq!(
            (
                p["grid_size"].as_u64(),
                p["listed"].as_bool(),
                p["quick_play"].as_bool()
            ),
            (Some(4), Some(true), Some(true))
        );
        let id = p["world_id"].clone();
        assert!(
            world_id.get_or_insert(id.clone()) == &id,
            "all in one world"
        );
        clients.push((acc, ws, View::default()));
    }
    // Everyone moves somewhere in zone (0,0).
    for (i, (_, ws, _)) in clients.iter_mut().enumerate() {
        ws.send(mv(10.0 + 15.0 * i as f64, 80.0)).await;
    }
    let expected: Vec<(String, f64)> = clients
        .iter()
        .enumerate()
        .map(|(i, (a, _, _))| (a.player_id.clone(), 10.0 + 15.0 * i as f64))
        .collect();
    for (_, ws, view) in &mut clients {
        until(ws, view, |v| {
            expected
                .iter()
                .all(|(id, x)| v.position((0, 0), id) == Some((*x, 80.0)))
        })
        .await;
        assert!(view.gaps.is_empty(), "contiguous frame_seq");
    }
    let list = clients[0]
        .1
        .request("world.list", json!({"mode": "walkers"}))
        .await;
    assert_eq!(list["payload"]["worlds"][0]["player_count"], 5);
}

#[tokio::test]
async fn crossing_zones_sends_keyframes_and_drops_the_old_ring() {
    let s = server().await;
    let (a, mut wa, _) = enter(&s, "crosser", "walkers").await;
    let (b, mut wb, _) = enter(&s, "stayer", "walkers").await;
    let mut va = View::default();
    until(&mut wa, &mut va, |v| {
        v.position((0, 0), &b.player_id).is_some()
    })
    .await;

    // Within the hysteresis margin (15 units past the edge): no crossing yet.
    wa.send(mv(110.0, 50.0)).await;
    until(&mut wa, &mut va, |v| {
        v.position((0, 0), &a.player_id) == Some((110.0, 50.0))
    })
    .await;
    // Far across: a keyframe for the new zone, a removal frame for the zone left behind.
    wa.send(mv(350.0, 50.0)).await;
    let (mut got_kf, mut got_removal) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(got_kf && got_removal) {
        assert!(
            Instant::now() < deadline,
            "kf {got_kf}, removal {got_removal}"
        );
        let f = wa.recv().await;
        if f["type"] != "world.tick" {
            continue;
        }
        let p = &f["payload"];
        if p["zone"] == json!([3, 0]) && p["kf"] == true {
            got_kf = true;
        }
        if p["zone"] == json!([0, 0]) && p.get("frame_seq").is_none() {
            assert!(p.get("kf").is_none());
            assert!(
                p["updates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|u| u["op"] == "r")
            );
            got_removal = true;
        }
        va.apply(&f);
    }
    until(&mut wa, &mut va, |v| {
        v.position((3, 0), &a.player_id) == Some((350.0, 50.0))
    })
    .await;
    // The stayer keeps moving in (0,0); the crosser no longer hears about it.
    wb.send(mv(20.0, 20.0)).await;
    let mut vb = View::default();
    until(&mut wb, &mut vb, |v| {
        v.position((0, 0), &b.player_id) == Some((20.0, 20.0))
    })
    .await;
    let quiet_until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet_until {
        if let Ok(f) = tokio::time::timeout(Duration::from_millis(50), wa.recv()).await {
            assert!(
                !(f["type"] == "world.tick" && f["payload"]["zone"] == json!([0, 0])),
                "still subscribed to (0,0): {f}"
            );
        }
    }
}

#[tokio::test]
async fn a_frame_seq_gap_recovers_by_resync_and_inputs_are_acked() {
    let s = server().await;
    let (a, mut wa, _) = enter(&s, "gappy", "walkers").await;
    let mut view = View::default();
    until(&mut wa, &mut view, |v| {
        v.position((0, 0), &a.player_id).is_some()
    })
    .await;
    // Drop one delta on the floor, as a lossy client would.
    wa.send(mv(30.0, 30.0)).await;
    loop {
        let f = wa.recv().await;
        if f["type"] == "world.tick" && f["payload"]["kf"] == false {
            break;
        }
    }
    wa.send(json!({"type": "world.input", "seq": 41, "payload": {"x": 31.0, "y": 31.0}}))
        .await;
    until(&mut wa, &mut view, |v| !v.gaps.is_empty()).await;
    wa.send(json!({"type": "world.resync", "payload": {"zone": [0, 0]}}))
        .await;
    until(&mut wa, &mut view, |v| {
        v.position((0, 0), &a.player_id) == Some((31.0, 31.0))
    })
    .await;
    // Acks: the consumed seq comes back, once (acks only ever increase).
    until(&mut wa, &mut view, |v| !v.acks.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(f) = tokio::time::timeout(Duration::from_millis(50), wa.recv()).await {
        if f["type"] == "world.ack" {
            view.acks.push(f);
        }
    }
    assert_eq!(view.acks.len(), 1, "{:?}", view.acks);
    let ack = &view.acks[0];
    assert_eq!(ack["payload"]["seq"], 41);
    assert!(ack["payload"]["tick"].as_u64().unwrap() > 0);
    assert!(ack.get("cid").is_none());
}

#[tokio::test]
async fn lazy_zones_load_on_entry_and_unload_after_idle() {
    let s = server().await;
    let (_, mut wa, _) = enter(&s, "lazy", "walkers").await;
    let loaded = |s: &TestServer| {
        let st = s.running().state();
        st.worlds()
            .stats()
            .zones_loaded
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(loaded(&s), 1, "only the spawn zone");
    wa.send(mv(350.0, 350.0)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while loaded(&s) < 2 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The zone left behind is empty and unwatched: reaped after the idle timeout (300 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    while loaded(&s) != 1 {
        assert!(
            Instant::now() < deadline,
            "the idle zone was never unloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let h = s.get("/health", None).await;
    assert_eq!(h.body["worlds"]["zones_loaded"], 1);
}

#[tokio::test]
async fn terrain_bytes_decode_to_exactly_the_providers_chunk() {
    let s = server().await;
    let acc = s.register("surveyor").await;
    let mut ws = s.ws_as(&acc).await;
    ws.send(json!({"type": "world.find_or_create", "cid": "j", "payload": {"mode": "walkers"}}))
        .await;
    // The reply comes first, then the ring's keyframes and terrain.
    let first = ws.recv().await;
    assert_eq!(first["type"], "world.joined");
    let terrain = ws.recv_type("world.terrain").await;
    assert_eq!(terrain["payload"]["coords"], json!([0, 0]));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(terrain["payload"]["data"].as_str().unwrap())
        .unwrap();
    let chunk = Chunk::decode(&bytes).unwrap();
    assert_eq!(Some(chunk), NoiseTerrain { seed: 42 }.chunk(0, 0));
}

#[tokio::test]
async fn twenty_concurrent_find_or_create_land_in_one_world() {
    let s = server().await;
    let mut accounts = Vec::new();
    for i in 0..20 {
        accounts.push(s.register(&format!("rush{i}")).await);
    }
    let mut sockets = Vec::new();
    for a in &accounts {
        sockets.push(s.ws_as(a).await);
    }
    let joins = sockets.into_iter().map(|mut ws| {
        tokio::spawn(async move {
            ws.request("world.find_or_create", json!({"mode": "walkers"}))
                .await
        })
    });
    let replies = futures_util::future::join_all(joins).await;
    let ids: std::collections::BTreeSet<String> = replies
        .into_iter()
        .map(|r| {
            r.unwrap()["payload"]["world_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one world: {ids:?}");
}

#[tokio::test]
async fn a_dropped_player_reconnects_inside_the_grace_to_the_same_entity() {
    let s = server().await;
    let (a, mut wa, _) = enter(&s, "flaky", "graceful").await;
    let (_, mut wb, _) = enter(&s, "watcher", "graceful").await;
    wa.send(mv(60.0, 70.0)).await;
    let mut vb = View::default();
    until(&mut wb, &mut vb, |v| {
        v.position((0, 0), &a.player_id) == Some((60.0, 70.0))
    })
    .await;
    drop(wa);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Reconnect: no world.joined, keyframes re-sent, the same entity where it was.
    let mut wa = s.ws_as(&a).await;
    let mut va = View::default();
    until(&mut wa, &mut va, |v| {
        v.position((0, 0), &a.player_id) == Some((60.0, 70.0))
    })
    .await;
    wa.send(mv(61.0, 70.0)).await;
    until(&mut wb, &mut vb, |v| {
        v.position((0, 0), &a.player_id) == Some((61.0, 70.0))
    })
    .await;
    // Gone for good: after the grace the entity is removed.
    drop(wa);
    until(&mut wb, &mut vb, |v| {
        v.position((0, 0), &a.player_id).is_none()
    })
    .await;
}

#[tokio::test]
async fn a_panicking_zone_is_rebuilt_and_its_neighbours_keep_ticking() {
    let s = server().await;
    let (a, mut wa, _) = enter(&s, "crasher", "walkers").await;
    let (b, mut wb, _) = enter(&s, "bystander", "walkers").await;
    wb.send(mv(350.0, 350.0)).await;
    let mut vb = View::default();
    until(&mut wb, &mut vb, |v| {
        v.position((3, 3), &b.player_id) == Some((350.0, 350.0))
    })
    .await;
    wa.send(json!({"type": "world.input", "payload": {"panic": true}}))
        .await;
    // The bystander's zone keeps delivering.
    for step in 1..=5 {
        wb.send(mv(350.0 + f64::from(step), 350.0)).await;
        until(&mut wb, &mut vb, |v| {
            v.position((3, 3), &b.player_id) == Some((350.0 + f64::from(step), 350.0))
        })
        .await;
    }
    // The crashed zone was rebuilt from its last broadcast: the crasher can move again.
    wa.send(mv(42.0, 42.0)).await;
    let mut va = View::default();
    until(&mut wa, &mut va, |v| {
        v.position((0, 0), &a.player_id) == Some((42.0, 42.0))
    })
    .await;
    let h = s.get("/health", None).await;
    assert_eq!(h.body["worlds"]["zone_crashes"], 1);
}

#[tokio::test]
async fn the_rest_routes_list_show_and_create_worlds() {
    use reqwest::StatusCode;
    let s = server().await;
    let acc = s.register("rester").await;
    let t = Some(acc.access_token.as_str());
    let created = s
        .post("/api/v1/worlds", json!({"mode": "walkers"}), t)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["world_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            created.body["player_count"].as_u64(),
            created.body["grid_size"].as_u64()
        ),
        (Some(0), Some(4))
    );
    let one = s.get(&format!("/api/v1/worlds/{id}"), t).await;
    assert_eq!(
        (one.status, one.body["world_id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let list = s
        .get("/api/v1/worlds?mode=walkers&has_capacity=true", t)
        .await;
    assert!(
        list.body["worlds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["world_id"] == id.as_str())
    );
    let missing = s
        .get("/api/v1/worlds/0198f3a2-0004-7000-8000-00000000d009", t)
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "world.not_found")
    );
    let bad = s.post("/api/v1/worlds", json!({"mode": "nope"}), t).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "world.create_failed")
    );
    assert_eq!(bad.body["error"]["details"]["reason"], "not_found");
    let no_mode = s.post("/api/v1/worlds", json!({}), t).await;
    assert_eq!(
        (no_mode.status, no_mode.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );
    for _ in 0..4 {
        assert_eq!(
            s.post("/api/v1/worlds", json!({"mode": "walkers"}), t)
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let capped = s
        .post("/api/v1/worlds", json!({"mode": "walkers"}), t)
        .await;
    assert_eq!(
        (capped.status, capped.code()),
        (StatusCode::TOO_MANY_REQUESTS, "world.player_limit_reached")
    );
    // On the socket the same cap is a ws.request_failed with details.reason (kept asymmetric).
    let mut ws = s.ws_as(&acc).await;
    let e = ws.request("world.create", json!({"mode": "walkers"})).await;
    assert_eq!(
        e["payload"]["error"]["details"]["reason"],
        "player_world_limit_reached"
    );
}

#[tokio::test]
async fn a_persistent_worlds_zone_survives_unload_and_a_restart() {
    let mut s = server().await;
    let (a, mut wa, joined) = enter(&s, "gardener", "garden").await;
    let world_id = joined["payload"]["world_id"].as_str().unwrap().to_owned();
    wa.send(json!({"type": "world.input", "payload": {"plant": "tree-1", "x": 20, "y": 30}}))
        .await;
    let mut view = View::default();
    until(&mut wa, &mut view, |v| {
        v.position((0, 0), "tree-1") == Some((20.0, 30.0))
    })
    .await;
    // Walk far away: zone (0,0) keeps only the tree, nobody watches it, and it unloads.
    wa.send(mv(350.0, 350.0)).await;
    let zones = |s: &TestServer| {
        s.running()
            .state()
            .worlds()
            .stats()
            .zones_loaded
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        until(&mut wa, &mut view, |v| {
            v.position((3, 3), &a.player_id).is_some()
        })
        .await;
        if zones(&s) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "zone (0,0) never unloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Walk back: the zone loads again, with the tree.
    wa.send(mv(50.0, 50.0)).await;
    let mut back = View::default();
    until(&mut wa, &mut back, |v| {
        v.position((0, 0), "tree-1") == Some((20.0, 30.0))
    })
    .await;
    drop(wa);

    // Restart the server on the same database: the world comes back under its id, tree included.
    s.stop().await;
    let s2 = TestServer::start_on_with_game(
        s.database_url.clone(),
        Vec::new(),
        world_modes::all(),
        |_| {},
    )
    .await;
    let acc = s2.register("visitor").await;
    let mut wv = s2.ws_as(&acc).await;
    let j = wv
        .request("world.join", json!({"world_id": world_id}))
        .await;
    assert_eq!(j["type"], "world.joined", "{j}");
    let mut v2 = View::default();
    until(&mut wv, &mut v2, |v| {
        v.position((0, 0), "tree-1") == Some((20.0, 30.0))
    })
    .await;
    assert!(
        v2.position((0, 0), &a.player_id).is_none(),
        "players are not persisted"
    );
}

#[tokio::test]
async fn a_player_crossing_too_often_is_clamped_back_into_its_zone() {
    let s = server().await;
    let (a, mut wa, _) = enter(&s, "zigzag", "walkers").await;
    // 16 crossings of the x = 100 edge as fast as the zone applies them: five a second
    // pass, the rest clamp the player back inside the zone it is in (worlds.md §6).
    let mut xs = Vec::new();
    for i in 0..16 {
        let x = if i % 2 == 0 { 130.0 } else { 70.0 };
        wa.send(mv(x, 50.0)).await;
        // Three ticks to apply it, cross or clamp, and broadcast.
        let until = tokio::time::Instant::now() + Duration::from_millis(60);
        while let Ok(f) = tokio::time::timeout_at(until, wa.recv()).await {
            let updates = f["payload"]["updates"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            xs.extend(
                updates
                    .iter()
                    .filter(|u| f["type"] == "world.tick" && u["id"] == a.player_id.as_str())
                    .filter_map(|u| u["x"].as_f64()),
            );
        }
    }
    let clamped = xs.iter().filter(|x| (99.0..=100.0).contains(*x)).count();
    let crossed = xs.iter().filter(|x| **x == 130.0).count();
    assert!(crossed >= 1, "the first crossings pass: {xs:?}");
    assert!(
        clamped >= 1,
        "later crossings are clamped at the edge: {xs:?}"
    );
}

#[tokio::test]
async fn the_matchmaker_places_a_group_in_a_new_world() {
    let s = server().await;
    let (a, b) = (s.register("queued_a").await, s.register("queued_b").await);
    let (mut wa, mut wb) = (s.ws_as(&a).await, s.ws_as(&b).await);
    for ws in [&mut wa, &mut wb] {
        let q = ws.request("matchmaker.add", json!({"mode": "pairs"})).await;
        assert_eq!(q["payload"]["players_needed"], 2, "{q}");
    }
    // Each player gets the world shape of match.matched, and the world's frames, but no
    // world.joined (matchmaker.md §5.2).
    let mut world_ids = Vec::new();
    for (ws, me) in [(&mut wa, &a), (&mut wb, &b)] {
        let mut view = View::default();
        let matched = loop {
            let f = ws.recv().await;
            assert_ne!(f["type"], "world.joined", "{f}");
            if f["type"] == "match.matched" {
                break f;
            }
            if f["type"] == "world.tick" {
                view.apply(&f);
            }
        };
        let p = &matched["payload"];
        assert_eq!(p["mode"], "pairs", "{matched}");
        let mut ids: Vec<&str> = p["player_ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        ids.sort();
        let mut want = vec![a.player_id.as_str(), b.player_id.as_str()];
        want.sort();
        assert_eq!(ids, want);
        world_ids.push(p["match_id"].clone());
        until(ws, &mut view, |v| {
            v.position((0, 0), &me.player_id).is_some()
        })
        .await;
    }
    assert_eq!(world_ids[0], world_ids[1], "one world for the group");
    // The players are in it: inputs move them.
    wa.send(mv(60.0, 60.0)).await;
    let mut view = View::default();
    until(&mut wb, &mut view, |v| {
        v.position((0, 0), &a.player_id) == Some((60.0, 60.0))
    })
    .await;
}

/// Figures for the benchmark issue (printed, not asserted: machines here are shared):
/// ten players walking in one zone at 20 Hz for two seconds.
#[tokio::test]
async fn figures_ten_walkers_bytes_per_player_and_zone_tick_time() {
    let s = server().await;
    let stats = || {
        let w = s.running().state().worlds();
        let st = w.stats();
        (
            st.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
            st.zone_tick.summary(),
            st.zones_loaded.load(std::sync::atomic::Ordering::Relaxed),
        )
    };
    let mut tasks = Vec::new();
    let mut players = Vec::new();
    for i in 0..10 {
        let (acc, ws, _) = enter(&s, &format!("bench{i}"), "walkers").await;
        players.push((acc, ws));
    }
    let (bytes_before, _, _) = stats();
    let started = Instant::now();
    for (i, (_, mut ws)) in players.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let (mut bytes, mut frames) = (0usize, 0usize);
            for k in 0..40 {
                let x = 10.0 + f64::from((k * 2) % 80);
                ws.send(mv(x, 10.0 + 8.0 * i as f64)).await;
                let until = tokio::time::Instant::now() + Duration::from_millis(50);
                while let Ok(f) = tokio::time::timeout_at(until, ws.recv()).await {
                    bytes += f.to_string().len();
                    frames += 1;
                }
            }
            (bytes, frames)
        }));
    }
    let mut received = Vec::new();
    for t in tasks {
        received.push(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    let (bytes_after, zone_tick, zones) = stats();
    let per_player = (bytes_after - bytes_before) as f64 / 10.0 / secs;
    let frames: usize = received.iter().map(|r| r.1).sum();
    assert!(frames > 0, "the players saw the world");
    println!(
        "figures: 10 walkers, {secs:.2} s: server sent {per_player:.0} B/s per player; \
         clients read {} frames; zones loaded {zones}; zone tick {zone_tick}",
        frames
    );
}

#[tokio::test]
async fn world_chat_channels_follow_the_player_in_and_out_of_zones() {
    let s = TestServer::start_with_game(Vec::new(), world_modes::all(), |c| {
        c.world_chat.insert(
            "walkers".into(),
            serde_json::from_value(
                json!({"world": true, "zone": true, "proximity": 1, "global": ["realm"]}),
            )
            .unwrap(),
        );
    })
    .await;
    let (a, mut wa, joined) = enter(&s, "talker", "walkers").await;
    let (b, mut wb, _) = enter(&s, "hearer", "walkers").await;
    let world = joined["payload"]["world_id"].as_str().unwrap().to_owned();
    let say = |ch: &str, text: &str| json!({"type": "chat.send", "payload": {"channel_id": ch, "content": text}});
    let heard = |f: &Value| f["payload"]["content"].as_str().map(str::to_owned);

    // Neither joined anything: the world put both in its channels.
    for (channel, text) in [
        (format!("world:{world}"), "to the world"),
        (format!("zone:{world}:0,0"), "to the zone"),
        (format!("prox:{world}:1,0"), "to the neighbourhood"),
        ("global:realm".to_owned(), "to the realm"),
    ] {
        wa.send(say(&channel, text)).await;
        let m = wb
            .recv_type_within("chat.message", Duration::from_secs(5))
            .await;
        assert_eq!(heard(&m).as_deref(), Some(text), "{channel}: {m}");
    }

    // Amy crosses into zone (3, 0): her zone and proximity channels follow her.
    let mut va = View::default();
    wa.send(mv(350.0, 50.0)).await;
    until(&mut wa, &mut va, |v| {
        v.position((3, 0), &a.player_id).is_some()
    })
    .await;
    for (channel, text) in [
        (format!("zone:{world}:0,0"), "old zone"),
        (format!("prox:{world}:1,0"), "old neighbourhood"),
        (format!("zone:{world}:3,0"), "new zone"),
        (format!("prox:{world}:2,0"), "new neighbourhood"),
    ] {
        wb.send(say(&channel, text)).await;
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = wa
            .recv_type_within("chat.message", Duration::from_secs(5))
            .await;
        let text = heard(&m).unwrap_or_default();
        assert!(!text.starts_with("old"), "left behind with the zone: {m}");
        got.push(text);
    }
    assert_eq!(got, ["new zone", "new neighbourhood"]);

    // Ben leaves the world: out of all of them.
    assert_eq!(
        wb.request("world.leave", json!({})).await["type"],
        "world.left"
    );
    wa.send(say(&format!("world:{world}"), "gone")).await;
    wa.send(say("global:realm", "gone too")).await;
    // Amy's own copy shows both were delivered before Ben joins again.
    loop {
        let m = wa
            .recv_type_within("chat.message", Duration::from_secs(5))
            .await;
        if heard(&m).as_deref() == Some("gone too") {
            break;
        }
    }
    let r = wb
        .request("chat.join", json!({"channel_id": "global:realm"}))
        .await;
    assert_eq!(
        r["type"], "chat.joined",
        "anyone may use a world's global channel: {r}"
    );
    wa.send(say("global:realm", "back")).await;
    let m = wb
        .recv_type_within("chat.message", Duration::from_secs(5))
        .await;
    assert_eq!(
        heard(&m).as_deref(),
        Some("back"),
        "nothing reached Ben after he left: {m}"
    );
    let _ = b;
}

#[tokio::test]
async fn a_player_back_inside_the_grace_is_back_in_the_world_chat() {
    let s = TestServer::start_with_game(Vec::new(), world_modes::all(), |c| {
        c.world_chat.insert(
            "graceful".into(),
            serde_json::from_value(json!({"world": true})).unwrap(),
        );
    })
    .await;
    let (a, wa, joined) = enter(&s, "dropper", "graceful").await;
    let (_, mut wb, _) = enter(&s, "stayer", "graceful").await;
    let world = joined["payload"]["world_id"].as_str().unwrap().to_owned();
    drop(wa);
    // Back on a new connection: the world re-binds it (keyframes) and its chat channels.
    let mut wa = s.ws_as(&a).await;
    let mut va = View::default();
    until(&mut wa, &mut va, |v| {
        v.position((0, 0), &a.player_id).is_some()
    })
    .await;
    wb.send(json!({"type": "chat.send", "payload": {"channel_id": format!("world:{world}"), "content": "welcome back"}}))
        .await;
    let m = wa
        .recv_type_within("chat.message", Duration::from_secs(5))
        .await;
    assert_eq!(m["payload"]["content"], "welcome back", "{m}");
}
