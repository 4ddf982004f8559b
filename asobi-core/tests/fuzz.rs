//! The bounded fuzz run (`asobi_core::fuzzing`): each decoder target over its seeds, every
//! input a fuzzer once crashed on (`fuzz/regressions/<target>/`), and deterministic
//! mutations of them. The long, coverage-guided runs are `fuzz/run`.
//!
//! `cargo test -p asobi-core --test fuzz -- --ignored write_seeds` writes the same seeds to
//! `fuzz/corpus/<target>/` for `cargo fuzz` to start from.

use std::path::{Path, PathBuf};

use asobi_core::fuzzing::{self, TARGETS};
use asobi_core::protocol::ServerMessage;
use asobi_core::protocol::binary::Frame;
use asobi_core::protocol::envelope::{decode_server_text, decode_text};
use asobi_core::protocol::server::WorldTick;
use asobi_core::world::compact;
use asobi_core::world::terrain::Chunk;
use serde_json::json;

/// Mutations per target in `cargo test`.
const RUNS: usize = 20_000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Client messages the server decodes, as JSON text.
fn client_texts() -> Vec<String> {
    [
        json!({"type": "session.connect", "cid": "1", "payload": {"token": "abc"}}),
        json!({"type": "session.heartbeat", "cid": 2, "payload": {}}),
        json!({"type": "match.input", "payload": {"data": "{\"fire\":true}"}}),
        json!({"type": "match.input", "payload": {"move": {"x": 1.5, "y": -2}, "tags": [null, 1e300]}}),
        json!({"type": "world.input", "seq": 9, "payload": {"x": 3}}),
        json!({"type": "match.join", "payload": {"match_id": "m1", "ctx": {"team": "red", "n": 3}}}),
        json!({"type": "match.find_or_create", "payload": {"mode": "arena"}}),
        json!({"type": "matchmaker.add", "payload": {"mode": "arena", "properties": {"skill": 9e18}, "party": ["p2"]}}),
        json!({"type": "world.find_or_create", "payload": {"mode": "realm"}}),
        json!({"type": "world.resync", "payload": {"zone": [1, -2]}}),
        json!({"type": "chat.send", "payload": {"channel_id": "c", "content": "hi"}}),
        json!({"type": "match.list", "payload": {"mode": "arena", "has_capacity": true}}),
        json!({"type": "rpc.call", "cid": "r", "payload": {"method": "m", "payload": {}, "protocol": 1}}),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect()
}

fn server_texts() -> Vec<String> {
    fuzzing::files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/fixtures"))
        .into_iter()
        .filter_map(|b| String::from_utf8(b).ok())
        .collect()
}

fn sample_tick() -> WorldTick {
    let updates = [
        json!({"op": "a", "id": "p1", "x": 10.5, "y": 20.0, "hp": 3, "name": "ann"}),
        json!({"op": "a", "id": "p2", "x": -1.0, "y": 1e9, "alive": true}),
    ];
    WorldTick {
        zone: [1, -1],
        frame_seq: Some(4),
        kf: Some(true),
        tick: 77,
        updates: updates
            .into_iter()
            .filter_map(|u| u.as_object().cloned())
            .collect(),
    }
}

/// The seed corpus of each target.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "json_envelope" => client_texts().into_iter().map(String::into_bytes).collect(),
        "binary_frames" => client_texts()
            .iter()
            .filter_map(|t| decode_text(t).ok())
            .map(|inbound| {
                let mut bytes = vec![7u8];
                bytes.extend(Frame::from_client(&inbound.message, Some(3)).encode());
                bytes
            })
            .collect(),
        "server_frames" => {
            let mut out: Vec<Vec<u8>> = Vec::new();
            for text in server_texts() {
                if let Ok((msg, _)) = decode_server_text(&text) {
                    out.push(Frame::from_server(&msg, Some(5)).encode());
                }
                out.push(text.into_bytes());
            }
            out.push(Frame::from_server(&ServerMessage::WorldTick(sample_tick()), None).encode());
            out
        }
        "compact_delta" => compact::encode(&sample_tick(), None).into_iter().collect(),
        "terrain_chunk" => {
            let chunk = Chunk::default();
            vec![chunk.encode(), chunk.to_raw()]
        }
        other => panic!("no seeds for {other}"),
    }
}

#[test]
fn every_decoder_survives_its_bounded_fuzz_run() {
    for (name, target) in TARGETS {
        let mut corpus = seeds(name);
        assert!(!corpus.is_empty(), "{name} has seeds");
        corpus.extend(fuzzing::files(&repo().join("fuzz/regressions").join(name)));
        let ran = fuzzing::drive(*target, corpus, RUNS);
        println!("{name}: {ran} inputs");
    }
}

#[test]
#[ignore = "writes fuzz/corpus/<target>/ for cargo fuzz (fuzz/run does it)"]
fn write_seeds() {
    for (name, _) in TARGETS {
        let dir = repo().join("fuzz/corpus").join(name);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (i, seed) in seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("seed written");
        }
    }
}
