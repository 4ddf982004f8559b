//! Gateways translate bytes on a transport into session calls and queued frames back into
//! bytes. Nothing past a gateway knows which transport a player uses. The admission rules and
//! the end-of-connection cleanup are the same for every gateway and live here.

pub mod quic;
pub mod tls;
pub mod ws;

use std::net::IpAddr;

use crate::ratelimit::{Bucket, client_key};
use crate::session::CloseReason;
use crate::state::AppState;

/// Whether a new connection from `ip` may open a session: the per-address connect limit
/// first (so connections the gateway's own check refuses still spend budget), the cap on
/// sockets open from the address, then that check (`origin_ok`, the WebSocket Origin
/// allowlist), then the drain.
fn admission(app: &AppState, ip: IpAddr, origin_ok: impl FnOnce() -> bool) -> Option<CloseReason> {
    let key = client_key(ip);
    if app.limiter().check(Bucket::WsConnect, &key).is_err() {
        Some(CloseReason {
            code: 1008,
            reason: "rate_limited",
        })
    } else if app.sessions().address_count(&key) >= app.config().max_sockets_per_address {
        Some(CloseReason {
            code: 1008,
            reason: "too_many_connections",
        })
    } else if !origin_ok() {
        Some(CloseReason {
            code: 1008,
            reason: "origin_rejected",
        })
    } else if app.is_draining() {
        Some(CloseReason::SHUTDOWN)
    } else {
        None
    }
}

/// A connection ended: forget its session and tell matches and worlds the player may be gone.
fn disconnected(app: &AppState, session_id: u64) {
    app.channels().leave_all(session_id);
    if let Some(offline) = app.sessions().remove(session_id) {
        app.presence().unsubscribe(&offline, session_id);
        app.matches().player_offline(&offline);
        app.worlds().player_offline(&offline);
        // The last socket closed: the player's friends see them go.
        if !app.sessions().is_online(&offline) {
            app.presence().clear(&offline);
            let app = app.clone();
            tokio::spawn(async move { crate::presence::announce(&app, &offline).await });
        }
    }
}
