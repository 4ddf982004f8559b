//! The native path end to end: `asobi-client` over QUIC (and over WebSocket, side by side)
//! against a real server — sign-in, matchmaking and play, worlds with terrain and other
//! players, reconnect and resume inside the grace period, convergence under datagram loss,
//! and bad frames on the QUIC control stream answered with the WebSocket path's codes.

use std::sync::Arc;
use std::time::Duration;

use asobi_client::{Client, ClientConfig, Event, Events, Faults, Realtime};
use asobi_core::protocol::ClientMessage;
use asobi_core::protocol::ServerMessage;
use asobi_core::protocol::binary::{Frame, FrameReader, MAX_SERVER_FRAME};
use asobi_core::world::terrain::{NoiseTerrain, TerrainProvider};
use asobi_server::session::CloseReason;
use serde_json::{Map, Value, json};

use crate::common::TestServer;
use crate::world_modes;

const WAIT: Duration = Duration::from_secs(10);

/// Reads events until `pick` returns something (or fails the test after [`WAIT`]).
async fn until<T>(events: &mut Events, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("event in time")
            .expect("session alive");
        if let Some(t) = pick(&event) {
            return t;
        }
    }
}

/// Polls the client's world view until `done` holds.
async fn until_view(rt: &Realtime, events: &mut Events, done: impl Fn(&Realtime) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(rt) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "world view never got there"
        );
        // Keep the event queue drained while waiting.
        let _ = tokio::time::timeout(Duration::from_millis(20), events.next()).await;
    }
}

fn position(rt: &Realtime, id: &str) -> Option<(f64, f64)> {
    let world = rt.world();
    let e = world.entity(id)?;
    Some((e.get("x")?.as_f64()?, e.get("y")?.as_f64()?))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn signed_in(client: &Client, name: &str) -> (Realtime, Events, String) {
    let session = client
        .rest()
        .register(name, "correct-horse-battery")
        .await
        .expect("register");
    let (rt, mut events) = client.connect().await.expect("connect");
    let id = until(&mut events, |e| match e {
        Event::Connected {
            player_id,
            resumed: false,
        } => Some(player_id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(id, session.player_id);
    (rt, events, id)
}

fn state_y(e: &Event, player: &str) -> Option<f64> {
    match e {
        Event::Message(ServerMessage::MatchState(s)) => s
            .get("players")
            .and_then(|p| p.get(player))
            .and_then(|p| p.get("y"))
            .and_then(Value::as_f64),
        _ => None,
    }
}

#[tokio::test]
async fn quic_and_websocket_clients_matchmake_and_see_each_other_move() {
    let s = TestServer::start_with_modes(
        vec![arena::mode(arena::ArenaPlugin { win_score: 1 })],
        |c| c.matchmaker_tick_ms = 100,
    )
    .await;
    let (quic, ws) = (s.quic_client(), s.ws_client());
    let (ra, mut ea, _a) = signed_in(&quic, "native_quic").await;
    let (rb, mut eb, b) = signed_in(&ws, "native_ws").await;
    for rt in [&ra, &rb] {
        let queued = rt
            .request(ClientMessage::MatchmakerAdd {
                mode: "arena".into(),
                properties: json!({}),
                party: Vec::new(),
            })
            .await
            .expect("queued");
        assert!(
            matches!(queued, ServerMessage::MatchmakerQueued(_)),
            "{queued:?}"
        );
    }
    for events in [&mut ea, &mut eb] {
        until(events, |e| {
            matches!(e, Event::Message(ServerMessage::MatchMatched(_))).then_some(())
        })
        .await;
    }
    let y0 = until(&mut ea, |e| state_y(e, &b)).await;
    rb.send(ClientMessage::MatchInput(object(json!({"move": [0, 1]}))))
        .expect("input");
    // The QUIC client sees the WebSocket client walk, and so does the walker itself.
    until(&mut ea, |e| state_y(e, &b).filter(|y| *y >= y0 + 50.0)).await;
    until(&mut eb, |e| state_y(e, &b).filter(|y| *y >= y0 + 50.0)).await;
    // Errors answer requests with the server's stable code on the native path too.
    let e = ra
        .request(ClientMessage::MatchJoin {
            match_id: "no-such-match".into(),
            ctx: None,
        })
        .await
        .expect_err("unknown match");
    assert!(e.code().is_some_and(|c| c.starts_with("match.")), "{e:?}");
    ra.close().await;
    rb.close().await;
}

#[tokio::test]
async fn a_world_over_quic_streams_terrain_and_other_players() {
    let s = TestServer::start_with_game(Vec::new(), world_modes::all(), |_| {}).await;
    let client_a = s.quic_client();
    let client_b = s.quic_client();
    let (ra, mut ea, a) = signed_in(&client_a, "native_walker").await;
    let (rb, mut eb, _) = signed_in(&client_b, "native_watcher").await;
    for rt in [&ra, &rb] {
        let joined = rt
            .request(ClientMessage::WorldFindOrCreate {
                mode: "walkers".into(),
            })
            .await
            .expect("joined");
        assert!(
            matches!(joined, ServerMessage::WorldJoined(_)),
            "{joined:?}"
        );
    }
    move_to(&ra, 30.0, 40.0, 1);
    until_view(&rb, &mut eb, |rt| position(rt, &a) == Some((30.0, 40.0))).await;
    // Synced too: a delta lost under load is caught up before the view settles.
    until_view(&ra, &mut ea, |rt| {
        rt.world().ack().is_some_and(|ack| ack.seq >= 1)
            && rt.world().chunk([0, 0]).is_some()
            && rt
                .world()
                .zones()
                .get(&[0, 0])
                .is_some_and(|z| z.is_synced())
    })
    .await;
    // The chunk arrived on its own stream and decodes to exactly the provider's chunk.
    let expected = NoiseTerrain { seed: 42 }.chunk(0, 0).expect("chunk");
    assert_eq!(ra.world().chunk([0, 0]), Some(&expected));
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_resumes_inside_the_grace() {
    let s = TestServer::start_with_game(Vec::new(), world_modes::all(), |_| {}).await;
    let (client_a, client_b) = (s.quic_client(), s.quic_client());
    let (ra, mut ea, a) = signed_in(&client_a, "native_flaky").await;
    let (rb, mut eb, _) = signed_in(&client_b, "native_witness").await;
    join_world(&[&ra, &rb], "graceful").await;
    move_to(&ra, 60.0, 70.0, 1);
    until_view(&rb, &mut eb, |rt| position(rt, &a) == Some((60.0, 70.0))).await;
    // The server drops the player's connection.
    s.running().state().sessions().close_player(
        &a,
        CloseReason {
            code: 1011,
            reason: "test_drop",
        },
    );
    let (code, reconnecting) = until(&mut ea, |e| match e {
        Event::Disconnected {
            code, reconnecting, ..
        } => Some((*code, *reconnecting)),
        _ => None,
    })
    .await;
    assert_eq!((code, reconnecting), (Some(1011), true));
    until(&mut ea, |e| {
        matches!(e, Event::Connected { resumed: true, .. }).then_some(())
    })
    .await;
    // Resumed: the same entity, where it was, without joining again.
    until_view(&ra, &mut ea, |rt| position(rt, &a) == Some((60.0, 70.0))).await;
    move_to(&ra, 61.0, 70.0, 2);
    until_view(&rb, &mut eb, |rt| position(rt, &a) == Some((61.0, 70.0))).await;
}

/// Every client joins (or creates) the one world of `mode`.
async fn join_world(rts: &[&Realtime], mode: &str) {
    for rt in rts {
        rt.request(ClientMessage::WorldFindOrCreate { mode: mode.into() })
            .await
            .expect("joined");
    }
}

/// Sends a `world.input` moving the player to (`x`, `y`).
fn move_to(rt: &Realtime, x: f64, y: f64, seq: u64) {
    rt.send(ClientMessage::WorldInput {
        input: object(json!({"x": x, "y": y})),
        seq: Some(seq),
    })
    .expect("input");
}

/// A server, and in its `walkers` world a mover (with its player id) on a clean QUIC client
/// and a watcher on one that drops `loss` of the datagrams it receives (deterministically).
async fn mover_and_lossy_watcher(
    loss: f64,
    seed: u64,
    tag: &str,
) -> (TestServer, (Realtime, Events, String), (Realtime, Events)) {
    let s = TestServer::start_with_game(Vec::new(), world_modes::all(), |_| {}).await;
    let mover = s.quic_client();
    let lossy = lossy_client(&s, loss, seed);
    let (ra, ea, a) = signed_in(&mover, &format!("native_mover_{tag}")).await;
    let (rb, eb, _) = signed_in(&lossy, &format!("native_lossy_{tag}")).await;
    join_world(&[&ra, &rb], "walkers").await;
    (s, (ra, ea, a), (rb, eb))
}

fn lossy_client(s: &TestServer, loss: f64, seed: u64) -> Client {
    let r = s.running();
    let mut config = ClientConfig::local(
        "127.0.0.1",
        r.addr().port(),
        r.quic_addr().expect("quic").port(),
    )
    .pinned(r.quic_fingerprint().expect("fp"))
    .expect("pin");
    config.faults = Faults {
        datagram_loss: loss,
        seed,
    };
    Client::new(config).expect("client")
}

#[tokio::test]
async fn state_converges_when_a_third_of_the_datagrams_are_lost() {
    let (_s, (ra, mut ea, a), (rb, mut eb)) = mover_and_lossy_watcher(0.33, 7, "a_third").await;
    // Walk (40 steps at least) until the watcher has missed a delta: how many deltas a
    // loaded machine coalesces into one tick varies, so a fixed walk may lose none.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut step = 0u32;
    while step < 40 || rb.world().gaps() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the loss knob dropped no delta"
        );
        step += 1;
        move_to(&ra, 10.0 + f64::from(step % 40), 20.0, u64::from(step));
        tokio::time::sleep(Duration::from_millis(30)).await;
        while ea.try_next().is_some() {}
        while eb.try_next().is_some() {}
    }
    move_to(&ra, 55.0, 20.0, u64::from(step + 1));
    until_view(&rb, &mut eb, |rt| position(rt, &a) == Some((55.0, 20.0))).await;
    let gaps = rb.world().gaps();
    assert!(rb.world().zones()[&[0, 0]].is_synced());
    eprintln!("datagram loss 33%: {gaps} gaps, recovered by resync");
}

/// Every datagram lost: deltas only ever reach this client as the repeat of a zone's last
/// delta on the control stream once the zone goes quiet. Without the repeat no later frame
/// would show the client that it missed anything, and its table would stay stale.
#[tokio::test]
async fn a_lost_last_delta_is_repeated_on_the_stream() {
    let (_s, (ra, mut ea, a), (rb, mut eb)) = mover_and_lossy_watcher(1.0, 11, "all").await;
    move_to(&ra, 33.0, 44.0, 1);
    until_view(&ra, &mut ea, |rt| position(rt, &a) == Some((33.0, 44.0))).await;
    until_view(&rb, &mut eb, |rt| position(rt, &a) == Some((33.0, 44.0))).await;
    assert!(rb.world().zones()[&[0, 0]].is_synced());
}

/// A raw QUIC connection to the server's control stream, for sending bytes no client would.
struct Raw {
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    reader: FrameReader,
    _endpoint: quinn::Endpoint,
}

impl Raw {
    /// A handshake with the server's QUIC gateway.
    async fn handshake(
        s: &TestServer,
    ) -> (
        quinn::Endpoint,
        Result<quinn::Connection, quinn::ConnectionError>,
    ) {
        let r = s.running();
        let pin = asobi_client::Fingerprint::parse(r.quic_fingerprint().expect("fp")).expect("pin");
        let crypto = asobi_client::transport::pin::client_crypto(Some(&pin)).expect("crypto");
        let crypto =
            quinn::crypto::rustls::QuicClientConfig::try_from(crypto).expect("quic crypto");
        let mut endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("ep");
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = endpoint
            .connect(r.quic_addr().expect("quic"), "localhost")
            .expect("connect")
            .await;
        (endpoint, conn)
    }

    async fn open(s: &TestServer) -> Raw {
        let (endpoint, conn) = Raw::handshake(s).await;
        let conn = conn.expect("handshake");
        let (send, recv) = conn.open_bi().await.expect("control stream");
        Raw {
            conn,
            send,
            recv,
            reader: FrameReader::new(MAX_SERVER_FRAME, MAX_SERVER_FRAME),
            _endpoint: endpoint,
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.send.write_all(bytes).await.expect("write");
    }

    async fn request(&mut self, message: &ClientMessage, cid: u64) -> (Option<u64>, ServerMessage) {
        self.write(&Frame::from_client(message, Some(cid)).encode())
            .await;
        self.next().await
    }

    /// The next message on the control stream.
    async fn next(&mut self) -> (Option<u64>, ServerMessage) {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.reader.next_frame() {
                let frame = frame.expect("server frames are valid");
                return (frame.cid, frame.to_server().expect("readable"));
            }
            let n = tokio::time::timeout(WAIT, self.recv.read(&mut buf))
                .await
                .expect("reply in time")
                .expect("read")
                .expect("stream open");
            self.reader.push(&buf[..n]);
        }
    }

    async fn error(&mut self) -> (Option<u64>, String) {
        match self.next().await {
            (cid, ServerMessage::Error(e)) => (cid, e.reason),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_frames_on_quic_get_the_websocket_codes_and_the_server_keeps_serving() {
    let s = TestServer::start().await;
    let acc = s.register("native_fuzzer").await;
    let mut raw = Raw::open(&s).await;
    let connect = ClientMessage::SessionConnect {
        token: Some(acc.access_token.clone()),
        wire: None,
    };
    match raw.request(&connect, 1).await {
        (Some(1), ServerMessage::SessionConnected(c)) => assert_eq!(c.wire, "binary"),
        other => panic!("{other:?}"),
    }
    // An unknown kind, with its cid echoed.
    let unknown = Frame {
        kind: 999,
        cid: Some(2),
        seq: None,
        event: None,
        payload: b"{}".to_vec(),
    };
    raw.write(&unknown.encode()).await;
    assert_eq!(raw.error().await, (Some(2), "unknown_type".into()));
    // A payload that is not JSON.
    let garbled = Frame {
        kind: 101,
        cid: Some(3),
        seq: None,
        event: None,
        payload: b"{nope".to_vec(),
    };
    raw.write(&garbled.encode()).await;
    assert_eq!(raw.error().await, (Some(3), "invalid_json".into()));
    // A frame over 64 KiB: answered, skipped, and the stream goes on.
    let big = Frame {
        kind: 102,
        cid: Some(4),
        seq: None,
        event: None,
        payload: vec![b' '; 70_000],
    };
    raw.write(&big.encode()).await;
    assert_eq!(raw.error().await, (None, "payload_too_large".into()));
    // A header that does not decode.
    raw.write(&[1, 3, 0, 0, 0, 0xff, 0xff, 0xff]).await;
    assert_eq!(raw.error().await, (None, "invalid_message".into()));
    // A garbage datagram.
    raw.conn
        .send_datagram(bytes::Bytes::from_static(b"\x07garbage"))
        .expect("datagram");
    assert_eq!(raw.error().await, (None, "invalid_message".into()));
    // Still serving this connection.
    let (cid, hb) = raw.request(&ClientMessage::SessionHeartbeat, 5).await;
    assert!(
        matches!(hb, ServerMessage::Heartbeat(_)) && cid == Some(5),
        "{hb:?}"
    );
    // Lost framing (a wrong version byte) and an absurd length close the connection after
    // the answer; other connections are untouched.
    raw.write(&[9, 0, 0, 0, 0]).await;
    assert_eq!(raw.error().await, (None, "invalid_message".into()));
    let closed = tokio::time::timeout(WAIT, raw.conn.closed())
        .await
        .expect("closed");
    assert!(
        matches!(&closed, quinn::ConnectionError::ApplicationClosed(c) if c.error_code.into_inner() == 1002),
        "{closed:?}"
    );
    let mut again = Raw::open(&s).await;
    again.write(&[1, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_eq!(again.error().await, (None, "payload_too_large".into()));
    let mut fresh = Raw::open(&s).await;
    match fresh.request(&connect, 9).await {
        (Some(9), ServerMessage::SessionConnected(_)) => {}
        other => panic!("{other:?}"),
    }
}

/// Issue 15 §13: an address over its connect limit is refused on its first packet, before
/// any handshake crypto (it used to complete the TLS handshake, then be closed).
#[tokio::test]
async fn the_connect_limit_refuses_a_quic_address_before_the_handshake() {
    let s = TestServer::start_with(|c| {
        c.rate_limits.ws_connect = asobi_server::config::Limit {
            count: 2,
            window_ms: 60_000,
        }
    })
    .await;
    let mut kept = Vec::new();
    for _ in 0..2 {
        let (endpoint, conn) = Raw::handshake(&s).await;
        kept.push((
            endpoint,
            conn.expect("within the limit: handshake completes"),
        ));
    }
    let (_endpoint, refused) = Raw::handshake(&s).await;
    match refused {
        Err(quinn::ConnectionError::ConnectionClosed(c)) => {
            assert_eq!(c.error_code, quinn::TransportErrorCode::CONNECTION_REFUSED);
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unauthenticated_quic_connection_is_closed_like_an_idle_socket() {
    let s = TestServer::start_with(|c| c.ws_idle_auth_timeout_ms = 300).await;
    let raw = Raw::open(&s).await;
    let closed = tokio::time::timeout(WAIT, raw.conn.closed())
        .await
        .expect("closed");
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(
                (c.error_code.into_inner(), &c.reason[..]),
                (1008, &b"idle_auth_timeout"[..])
            );
        }
        other => panic!("{other:?}"),
    }
}
