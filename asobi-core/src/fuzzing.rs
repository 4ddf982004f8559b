//! Fuzz targets for every decoder in this crate that reads untrusted bytes, and the bounded
//! driver that runs them inside `cargo test`.
//!
//! Each target takes arbitrary bytes and must return without panicking, hanging or
//! allocating from an untrusted length; where a decode succeeds, it also checks that
//! encoding the result and decoding it again gives the same thing. The same functions are
//! the bodies of the coverage-guided `cargo fuzz` targets under `fuzz/` (`fuzz/run` runs each
//! for a given time) and of the bounded run in this crate's tests ([`drive`]): a fixed number
//! of deterministic mutations of the seed corpus (`fuzz/seeds/<target>/`) and every input
//! a fuzzer once crashed on (`fuzz/regressions/<target>/`).

use crate::protocol::binary::{Frame, FrameReader, MAX_CLIENT_FRAME, MAX_SERVER_FRAME};
use crate::protocol::client::validate_join_ctx;
use crate::protocol::envelope::{decode_server_text, decode_text, parse_envelope};
use crate::world::compact;
use crate::world::delta::Entities;
use crate::world::terrain::Chunk;

/// Server side: the native path's byte stream and datagrams, split into frames by the same
/// [`FrameReader`] the QUIC gateway uses (the first byte picks the chunk size, so the split
/// points vary), each frame turned into an envelope and a typed client message.
pub fn binary_frames(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut reader = FrameReader::new(MAX_CLIENT_FRAME, 1 << 20);
    for chunk in rest.chunks(usize::from(split).max(1)) {
        reader.push(chunk);
        while let Some(frame) = reader.next_frame() {
            let Ok(frame) = frame else { continue };
            if let Ok(envelope) = frame.to_envelope() {
                let _ = envelope.decode();
            }
            let _ = frame.to_client();
        }
    }
    if let Ok(frame) = Frame::decode_datagram(rest, MAX_CLIENT_FRAME) {
        let again = Frame::decode_datagram(&frame.encode(), MAX_CLIENT_FRAME);
        assert!(
            again.is_ok(),
            "a decoded datagram re-encodes to a decodable one"
        );
        let _ = frame.to_client();
    }
}

/// Server side: a WebSocket text frame, its JSON envelope and every client message's decode
/// (input normalisation included), and the join context rules.
pub fn json_envelope(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(envelope) = parse_envelope(text) {
        let _ = envelope.decode();
    }
    let _ = decode_text(text);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = validate_join_ctx(&value);
    }
}

/// Client side: what a server sends, as JSON text and as binary frames.
pub fn server_frames(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_server_text(text);
    }
    let mut reader = FrameReader::new(MAX_SERVER_FRAME, MAX_SERVER_FRAME);
    reader.push(data);
    while let Some(frame) = reader.next_frame() {
        if let Ok(frame) = frame {
            let _ = frame.to_server();
        }
    }
    if let Ok(frame) = Frame::decode_datagram(data, MAX_SERVER_FRAME) {
        let _ = frame.to_server();
    }
}

/// Client side: the compact `world.tick` decoder, against no table and against a small one
/// (ranks name entities of the table), and re-encoding what it decoded.
pub fn compact_delta(data: &[u8]) {
    let _ = compact::header(data);
    let _ = compact::record_count(data);
    let _ = compact::decode(data, None);
    let mut table = Entities::new();
    for (i, x) in [(0, 1.5), (1, -3.0), (2, 1e9)] {
        let mut fields = serde_json::Map::new();
        fields.insert("x".into(), serde_json::json!(x));
        fields.insert("hp".into(), serde_json::json!(i));
        table.insert(format!("e{i}"), fields);
    }
    if let Ok(tick) = compact::decode(data, Some(&table))
        && let Some(bytes) = compact::encode(&tick, Some(&table))
    {
        let again = compact::decode(&bytes, Some(&table));
        assert!(
            again.is_ok(),
            "a decoded tick re-encodes to a decodable one"
        );
    }
}

/// Client side: a terrain chunk as streamed (compressed, checked) and in its raw form.
pub fn terrain_chunk(data: &[u8]) {
    if let Ok(chunk) = Chunk::decode(data) {
        let again = Chunk::decode(&chunk.encode()).expect("a decoded chunk re-encodes");
        assert_eq!(
            again.to_raw(),
            chunk.to_raw(),
            "the round trip keeps every tile"
        );
    }
    if let Ok(chunk) = Chunk::from_raw(data) {
        let again = Chunk::from_raw(&chunk.to_raw()).expect("a raw chunk reads back");
        assert_eq!(again.to_raw(), chunk.to_raw());
    }
}

/// A fuzz target: arbitrary bytes in, a panic on a violated invariant.
pub type Target = fn(&[u8]);

/// Every target of this crate, by the name its `fuzz/` target and folders use.
pub const TARGETS: &[(&str, Target)] = &[
    ("binary_frames", binary_frames),
    ("json_envelope", json_envelope),
    ("server_frames", server_frames),
    ("compact_delta", compact_delta),
    ("terrain_chunk", terrain_chunk),
];

/// Every file in `dir` (none when it does not exist).
pub fn files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect();
    out.sort();
    out
}

/// The bounded run: every input of `corpus`, then `runs` deterministic mutations of them
/// (bit flips, byte sets, truncations, insertions, splices). Returns how many inputs ran.
pub fn drive(target: Target, mut corpus: Vec<Vec<u8>>, runs: usize) -> usize {
    for input in &corpus {
        target(input);
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..runs {
        let mut input = corpus[(next() as usize) % corpus.len()].clone();
        for _ in 0..=(next() % 4) {
            let at = |n: u64, len: usize| (n as usize) % len.max(1);
            match next() % 6 {
                0 if !input.is_empty() => {
                    let i = at(next(), input.len());
                    input[i] ^= 1 << (next() % 8);
                }
                1 if !input.is_empty() => {
                    let i = at(next(), input.len());
                    input[i] = [0, 0xff, 0x7f, 0x80, b'{', b'"'][(next() % 6) as usize];
                }
                2 => input.truncate(at(next(), input.len() + 1)),
                3 => {
                    let i = at(next(), input.len() + 1);
                    input.insert(i, next() as u8);
                }
                4 => {
                    let other = &corpus[(next() as usize) % corpus.len()];
                    let from = at(next(), other.len());
                    let i = at(next(), input.len() + 1);
                    input.splice(i..i, other[from..].iter().take(64).copied());
                }
                _ => {}
            }
        }
        target(&input);
    }
    corpus.len() + runs
}
