//! Conformance of `asobi_core::protocol` with Asobi's own fixtures, and robustness of the
//! binary frame decoder.
//!
//! The fixtures are a copy of the compatibility contract's `fixtures/` folder, kept in this
//! repository at `asobi-core/tests/compat/fixtures` (tests never read outside the
//! repository). A missing corpus fails the test: it never skips.

use std::path::PathBuf;

use asobi_core::protocol::binary::{Frame, FrameError, MAX_CLIENT_FRAME, MAX_SERVER_FRAME};
use asobi_core::protocol::envelope::{decode_server_text, encode_client_text, encode_text};
use asobi_core::protocol::{ClientMessage, ClientType, ServerMessage, envelope};
use serde_json::{Value, json};

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

fn fixtures() -> Vec<(String, Value)> {
    let dir = compat_dir().join("fixtures");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixtures at {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("dir entry").path();
            let text = std::fs::read_to_string(&path).expect("fixture readable");
            let name = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            (name, serde_json::from_str(&text).expect("fixture is JSON"))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The FIXTURE DRIFT corrections of `websocket.md` §14: each turns a drifted fixture into the
/// payload Asobi's code actually emits. Returns whether the raw fixture is expected to differ
/// from what our typed messages produce.
fn correct_drift(name: &str, payload: &mut Value) -> bool {
    let p = payload.as_object_mut().expect("payload object");
    let mut rename = |from: &str, to: &str| {
        if let Some(v) = p.remove(from) {
            p.insert(to.to_owned(), v);
        }
    };
    match name {
        "session.connected" => {
            p.insert("wire".into(), json!("json"));
        }
        "match.matched" => {
            p.remove("mode");
        }
        "match.vote_start" => {
            p.remove("template");
            p.insert("window_ms".into(), json!(15000));
            p.insert("method".into(), json!("plurality"));
        }
        "match.vote_tally" => {
            rename("tally", "tallies");
            p.insert("time_remaining_ms".into(), json!(8200));
            p.insert("total_votes".into(), json!(1));
        }
        "match.vote_result" => {
            p.insert("counts".into(), json!({"a": 1}));
            p.insert("distribution".into(), json!({"a": 1.0}));
            p.insert("total_votes".into(), json!(1));
            p.insert("turnout".into(), json!(0.5));
        }
        "match.vote_vetoed" => {
            p.insert("vetoed_by".into(), json!("01j8x000000000000000000002"));
        }
        "chat.message" => rename("ts", "sent_at"),
        "dm.message" => {
            rename("ts", "sent_at");
            p.insert(
                "channel_id".into(),
                json!("dm:01j8x000000000000000000000:01j8x000000000000000000002"),
            );
        }
        "dm.sent" => {
            p.clear();
            p.insert(
                "channel_id".into(),
                json!("dm:01j8x000000000000000000000:01j8x000000000000000000002"),
            );
        }
        "notification.new" => {
            *p = json!({"id": "01j8x000000000000000000006", "player_id": "01j8x000000000000000000000",
                "type": "friend_request", "subject": "New friend", "content": {"from": "01j8x000000000000000000002"},
                "read": false, "sent_at": "2026-08-03T12:00:00Z"})
            .as_object()
            .expect("object")
            .clone();
        }
        "world.joined" => {
            p.insert("listed".into(), json!(true));
            p.insert("quick_play".into(), json!(true));
        }
        // Free-form phase state: the fixture parses, but the code never sends `started_at`.
        "world.phase_changed" => {
            p.remove("started_at");
            return false;
        }
        _ => return false,
    }
    true
}

fn round_trip(doc: &Value) -> Result<Value, String> {
    let text = doc.to_string();
    let (msg, cid) = decode_server_text(&text).map_err(|e| e.to_string())?;
    let out: Value =
        serde_json::from_str(&encode_text(&msg, cid.as_ref())).map_err(|e| e.to_string())?;
    Ok(out)
}

#[test]
fn every_fixture_parses_and_serialises_back_to_equivalent_json() {
    let all = fixtures();
    assert_eq!(all.len(), 41, "Asobi ships 41 fixtures");
    for (name, mut doc) in all {
        assert_eq!(doc["type"], name.as_str(), "file name is the type");
        assert!(
            ServerMessage::TYPE_NAMES.contains(&name.as_str()),
            "{name} is a typed message"
        );
        let raw = doc.clone();
        let drifted = correct_drift(&name, &mut doc["payload"]);
        let back = round_trip(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, doc, "{name} round-trips");
        if drifted {
            assert_ne!(
                round_trip(&raw).ok(),
                Some(raw.clone()),
                "{name}: the drift note is real"
            );
        }
    }
}

#[test]
fn every_fixture_round_trips_through_a_binary_frame() {
    for (name, mut doc) in fixtures() {
        correct_drift(&name, &mut doc["payload"]);
        let (msg, _) = decode_server_text(&doc.to_string()).expect("typed");
        let bytes = Frame::from_server(&msg, Some(42)).encode();
        let (frame, used) = Frame::decode(&bytes, MAX_SERVER_FRAME)
            .expect("ok")
            .expect("whole");
        assert_eq!(used, bytes.len(), "{name}");
        assert_eq!(frame.cid, Some(42));
        assert_eq!(frame.to_server().expect("decodes"), msg, "{name}");
    }
}

#[test]
fn game_events_keep_their_name_on_both_wires() {
    let (msg, _) =
        decode_server_text(r#"{"type":"match.round_over","payload":{"round":2}}"#).expect("event");
    assert_eq!(msg.type_name(), "match.round_over");
    let frame = Frame::decode(&Frame::from_server(&msg, None).encode(), MAX_SERVER_FRAME)
        .expect("ok")
        .expect("whole")
        .0;
    assert_eq!(frame.to_server().expect("decodes"), msg);
    assert!(decode_server_text(r#"{"type":"match.state.x","payload":{}}"#).is_err());
    assert!(decode_server_text(r#"{"type":"chat.nope","payload":{}}"#).is_err());
}

fn sample_client_messages() -> Vec<ClientMessage> {
    let text = [
        r#"{"type":"session.connect","payload":{"token":"t","wire":"binary"}}"#,
        r#"{"type":"session.heartbeat","payload":{}}"#,
        r#"{"type":"match.list","payload":{"mode":"arena","has_capacity":true,"joinable":false}}"#,
        r#"{"type":"match.find_or_create","payload":{"mode":"arena","ctx":{"team":"red"}}}"#,
        r#"{"type":"match.join","payload":{"match_id":"m1"}}"#,
        r#"{"type":"match.leave","payload":{}}"#,
        r#"{"type":"match.input","payload":{"move":[1,0]}}"#,
        r#"{"type":"matchmaker.add","payload":{"mode":"arena","properties":{"skill":1200},"party":["p2"]}}"#,
        r#"{"type":"matchmaker.remove","payload":{"ticket_id":"t1"}}"#,
        r#"{"type":"world.list","payload":{"mode":"walkers"}}"#,
        r#"{"type":"world.create","payload":{"mode":"walkers"}}"#,
        r#"{"type":"world.find_or_create","payload":{"mode":"walkers"}}"#,
        r#"{"type":"world.join","payload":{"world_id":"w1","ctx":{"lvl":3}}}"#,
        r#"{"type":"world.leave","payload":{}}"#,
        r#"{"type":"world.input","seq":412,"payload":{"kind":"move","x":600}}"#,
        r#"{"type":"world.resync","payload":{"zone":[1,0]}}"#,
        r#"{"type":"chat.join","payload":{"channel_id":"global:lobby"}}"#,
        r#"{"type":"chat.leave","payload":{"channel_id":"global:lobby"}}"#,
        r#"{"type":"chat.send","payload":{"channel_id":"global:lobby","content":"gg"}}"#,
        r#"{"type":"dm.send","payload":{"recipient_id":"p2","content":"hi"}}"#,
        r#"{"type":"presence.update","payload":{"status":"away"}}"#,
        r#"{"type":"asobi.presence.subscribe","payload":{}}"#,
        r#"{"type":"asobi.party.create","payload":{"max_size":3}}"#,
        r#"{"type":"asobi.party.invite","payload":{"party_id":"p","player_id":"q"}}"#,
        r#"{"type":"asobi.party.accept","payload":{"party_id":"p"}}"#,
        r#"{"type":"asobi.party.decline","payload":{"party_id":"p"}}"#,
        r#"{"type":"asobi.party.leave","payload":{}}"#,
        r#"{"type":"asobi.party.kick","payload":{"party_id":"p","player_id":"q"}}"#,
        r#"{"type":"asobi.party.disband","payload":{"party_id":"p"}}"#,
        r#"{"type":"asobi.party.ready","payload":{"ready":false}}"#,
        r#"{"type":"vote.cast","payload":{"vote_id":"v","option_id":["a","b"]}}"#,
        r#"{"type":"vote.veto","payload":{"vote_id":"v"}}"#,
        r#"{"type":"rpc.call","cid":"r1","payload":{"protocol":1,"method":"asobi.datagram.open","params":{}}}"#,
    ];
    text.iter()
        .map(|t| envelope::decode_text(t).expect(t).message)
        .collect()
}

#[test]
fn every_client_type_round_trips_on_both_wires() {
    let msgs = sample_client_messages();
    let mut seen: Vec<ClientType> = msgs.iter().map(ClientMessage::client_type).collect();
    seen.sort_by_key(|t| t.kind());
    seen.dedup();
    assert_eq!(
        seen.len(),
        ClientType::ALL.len(),
        "the sample covers all 33 types"
    );
    for msg in msgs {
        let text = encode_client_text(&msg, Some(&json!("9")));
        let back = envelope::decode_text(&text).expect("json decodes");
        assert_eq!(back.message, msg);
        assert_eq!(back.cid, Some(json!("9")));
        let bytes = Frame::from_client(&msg, Some(9)).encode();
        let frame = Frame::decode(&bytes, MAX_CLIENT_FRAME)
            .expect("ok")
            .expect("whole")
            .0;
        let back = frame.to_client().expect("binary decodes");
        assert_eq!(back.message, msg);
        assert_eq!(back.cid, Some(json!(9)));
    }
}

#[test]
fn truncated_frames_ask_for_more_bytes() {
    let msg = &sample_client_messages()[7];
    let bytes = Frame::from_client(msg, Some(1)).encode();
    for cut in 0..bytes.len() {
        assert_eq!(
            Frame::decode(&bytes[..cut], MAX_CLIENT_FRAME),
            Ok(None),
            "prefix {cut}"
        );
        assert!(Frame::decode_datagram(&bytes[..cut], MAX_CLIENT_FRAME).is_err());
    }
    // Two frames back to back decode one at a time.
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes);
    let (_, used) = Frame::decode(&two, MAX_CLIENT_FRAME)
        .expect("ok")
        .expect("first");
    assert_eq!(used, bytes.len());
}

#[test]
fn oversized_lengths_are_refused_before_any_allocation() {
    let mut huge = vec![1u8];
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    let err = Frame::decode(&huge, MAX_CLIENT_FRAME).expect_err("too large");
    assert!(matches!(err, FrameError::TooLarge { len, .. } if len == u32::MAX as usize));
    assert_eq!(err.reason().as_str(), "payload_too_large");
    // A header claiming a 1 GiB event name inside a small frame is refused by the bincode limit.
    let mut lying = vec![1u8, 12, 0, 0, 0, 1, 0, 0, 1, 0xFC, 0, 0, 0, 0x40];
    lying.resize(5 + 12, 0);
    assert!(matches!(
        Frame::decode(&lying, MAX_CLIENT_FRAME),
        Err(FrameError::Header(_))
    ));
}

#[test]
fn garbage_never_panics() {
    // xorshift: deterministic pseudo-random garbage, including valid prefixes with bad bodies.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = Frame::from_client(&sample_client_messages()[3], Some(3)).encode();
    for round in 0..20_000 {
        let len = (next() % 96) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 {
            buf = valid.clone();
            let i = (next() as usize) % buf.len();
            buf[i] ^= (next() as u8) | 1;
        }
        if let Ok(Some((frame, _))) = Frame::decode(&buf, MAX_CLIENT_FRAME) {
            let _ = frame.to_client();
            let _ = frame.to_server();
        }
        let _ = envelope::decode_text(&String::from_utf8_lossy(&buf));
    }
    assert_eq!(
        Frame::decode(&[9, 0, 0, 0, 0], MAX_CLIENT_FRAME),
        Err(FrameError::UnsupportedVersion(9))
    );
}

#[test]
fn unknown_binary_kinds_get_the_json_paths_reasons() {
    let frame = Frame {
        kind: 999,
        cid: Some(4),
        seq: None,
        event: None,
        payload: b"{}".to_vec(),
    };
    let err = frame.to_client().expect_err("unknown");
    assert_eq!(
        (err.reason.as_str(), err.cid),
        ("unknown_type", Some(json!(4)))
    );
    let frame = Frame {
        kind: ClientType::MatchJoin.kind(),
        cid: None,
        seq: None,
        event: None,
        payload: b"{nope".to_vec(),
    };
    assert_eq!(
        frame.to_client().expect_err("bad json").reason.as_str(),
        "invalid_json"
    );
}
