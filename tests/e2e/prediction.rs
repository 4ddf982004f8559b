//! Client-side prediction with the shared simulation: `examples/shared-sim`'s movement
//! plugin runs in the server's zones and in the client's predictor; with simulated latency
//! the prediction runs ahead of the server and, once the server has every input, equals it.

use std::time::Duration;

use asobi_client::{Event, Events, Realtime};
use asobi_core::protocol::{ClientMessage, ServerMessage};
use asobi_core::sim::{NetId, SimInput, Simulation};
use serde_json::{Map, Value};
use shared_sim::client::Predictor;
use shared_sim::movement::{self, Position};

use crate::common::TestServer;

const LATENCY: Duration = Duration::from_millis(60);

fn own(rt: &Realtime, id: &str) -> Option<Map<String, Value>> {
    rt.world().entity(id).cloned()
}

async fn drain(events: &mut Events) {
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(5), events.next()).await {}
}

#[tokio::test]
async fn prediction_matches_the_authoritative_position_after_reconciliation() {
    let s = TestServer::start_with_game(Vec::new(), vec![shared_sim::server::mode()], |_| {}).await;
    let client = s.quic_client();
    client
        .rest()
        .register("predictor", "correct-horse-battery")
        .await
        .expect("register");
    let (rt, mut events) = client.connect().await.expect("connect");
    let me = loop {
        if let Some(Event::Connected { player_id, .. }) = events.next().await {
            break player_id;
        }
    };
    let joined = rt
        .request(ClientMessage::WorldFindOrCreate {
            mode: "glide".into(),
        })
        .await
        .expect("joined");
    assert!(matches!(joined, ServerMessage::WorldJoined(_)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let start = loop {
        if let Some(e) = own(&rt, &me) {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "own entity never arrived"
        );
        drain(&mut events).await;
    };
    let (x0, y0) = (
        start["x"].as_f64().expect("x"),
        start["y"].as_f64().expect("y"),
    );
    let mut predictor = Predictor::new(&me, x0, y0);

    // A scripted walk; every input is sent LATENCY late, as over a slow link.
    let script: Vec<(f64, f64)> = (0..30)
        .map(|i| match i % 3 {
            0 => (1.0, 0.0),
            1 => (0.5, -1.0),
            _ => (-0.25, 0.75),
        })
        .collect();
    let mut ahead = 0;
    let mut last_seq = 0;
    for (dx, dy) in &script {
        let input = movement::input(*dx, *dy);
        last_seq = predictor.input(input.clone());
        let (rt2, seq) = (rt.clone(), last_seq);
        tokio::spawn(async move {
            tokio::time::sleep(LATENCY).await;
            let _ = rt2.send(ClientMessage::WorldInput {
                input,
                seq: Some(seq),
            });
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drain(&mut events).await;
        if let Some(server) = own(&rt, &me) {
            predictor.reconcile(&server);
            let sx = server["x"].as_f64().unwrap_or_default();
            if predictor.pending() > 0 && predictor.position().0 != sx {
                ahead += 1;
            }
        }
    }
    assert!(
        ahead > 0,
        "with latency the prediction runs ahead of the server"
    );

    // Once the server has consumed every input, the reconciled prediction is exact.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let server = loop {
        drain(&mut events).await;
        match own(&rt, &me) {
            Some(e) if e.get("seq").and_then(Value::as_u64) == Some(last_seq) => break e,
            _ => assert!(
                tokio::time::Instant::now() < deadline,
                "server never acked {last_seq}"
            ),
        }
    };
    predictor.reconcile(&server);
    let authoritative = (
        server["x"].as_f64().expect("x"),
        server["y"].as_f64().expect("y"),
    );
    assert_eq!(predictor.pending(), 0);
    assert_eq!(predictor.position(), authoritative);

    // And it is what the shared plugin computes offline from the same inputs.
    let mut offline = Simulation::new(&[movement::plugin]);
    offline
        .world_mut()
        .spawn((NetId(me.clone()), Position { x: x0, y: y0 }));
    for (seq, (dx, dy)) in script.iter().enumerate() {
        offline.step(vec![SimInput {
            owner: me.clone(),
            seq: seq as u64 + 1,
            input: movement::input(*dx, *dy),
        }]);
    }
    let w = offline.world_mut();
    let p = *w.query::<&Position>().single(w).expect("one");
    assert_eq!((p.x, p.y), authoritative);
}
