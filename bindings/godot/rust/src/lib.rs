//! Godot 4 GDExtension: an `AsobiClient` node over the same polled client as libasobi
//! ([`core::Core`]). GDScript:
//!
//! ```gdscript
//! @onready var asobi: AsobiClient = $AsobiClient
//! func _ready():
//!     asobi.configure("http://localhost:8080")
//!     asobi.match_state.connect(func(state): print(state))
//!     asobi.request_completed.connect(_on_done)
//!     asobi.auth.login("player1", "secret123")
//! func _on_done(id, type, result):
//!     if type == "auth.login": asobi.realtime.connect_to_server()
//!     elif type == "session.connected": asobi.realtime.add_to_matchmaker("arena")
//! ```
//!
//! Signals are emitted from the node's `_process`, on Godot's main thread. This layer only
//! converts between Godot types and [`core`], whose behaviour `cargo test` covers.

// gdext's macros generate property accessors without doc comments.
#![allow(missing_docs)]

pub mod core;
pub mod json;

use std::sync::Arc;

use godot::classes::{INode, Node};
use godot::prelude::*;

use crate::core::{Arg, Core};

struct AsobiExtension;

// SAFETY: the one entry point Godot calls to load the library; gdext's contract is that it
// is implemented exactly once per cdylib, as here.
#[gdextension]
unsafe impl ExtensionLibrary for AsobiExtension {}

/// The client node: configure it, then use `auth` and `realtime`; results and pushes arrive
/// as signals.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct AsobiClient {
    base: Base<Node>,
    core: Option<Arc<Core>>,
    /// Sign-in calls.
    #[var]
    auth: Option<Gd<AsobiAuth>>,
    /// Realtime calls.
    #[var]
    realtime: Option<Gd<AsobiRealtime>>,
    /// The last error text of a call that returned -1 or false.
    #[var]
    last_error: GString,
}

#[godot_api]
impl INode for AsobiClient {
    fn init(base: Base<Node>) -> Self {
        AsobiClient {
            base,
            core: None,
            auth: None,
            realtime: None,
            last_error: GString::new(),
        }
    }

    fn process(&mut self, _delta: f64) {
        let Some(core) = self.core.clone() else {
            return;
        };
        while let Some(emit) = core.poll() {
            let args: Vec<Variant> = emit.args.into_iter().map(to_variant).collect();
            self.base_mut().emit_signal(emit.signal, &args);
        }
    }
}

#[godot_api]
impl AsobiClient {
    /// A request finished: its id, reply type and result (Dictionary).
    #[signal]
    fn request_completed(request_id: i64, reply_type: GString, result: Variant);
    /// A request failed with a stable code.
    #[signal]
    fn request_failed(request_id: i64, code: GString, message: GString);
    /// The realtime session is up (`resumed` after a reconnect).
    #[signal]
    fn connected(resumed: bool);
    /// The realtime connection dropped.
    #[signal]
    fn disconnected(code: i64, reason: GString, reconnecting: bool);
    /// The realtime session ended for good.
    #[signal]
    fn closed();
    /// A `match.state` push.
    #[signal]
    fn match_state(state: Variant);
    /// A `match.matched` push.
    #[signal]
    fn matched(found: Variant);
    /// Any other push.
    #[signal]
    fn message(message_type: GString, payload: Variant);

    /// Points the client at a server; `quic_addr` empty keeps realtime on WebSocket.
    #[func]
    fn configure(&mut self, server_url: GString, quic_addr: GString, quic_pin: GString) -> bool {
        let core = match Core::new(&server_url.to_string()) {
            Ok(core) => Arc::new(core),
            Err(e) => return self.fail(e.to_string()),
        };
        if !quic_addr.is_empty() {
            let pin = quic_pin.to_string();
            if let Err(e) = core.use_quic(
                &quic_addr.to_string(),
                (!pin.is_empty()).then_some(pin.as_str()),
            ) {
                return self.fail(e.to_string());
            }
        }
        self.auth = Some(Gd::from_init_fn(|base| AsobiAuth {
            base,
            core: Some(core.clone()),
        }));
        self.realtime = Some(Gd::from_init_fn(|base| AsobiRealtime {
            base,
            core: Some(core.clone()),
        }));
        self.core = Some(core);
        true
    }

    fn fail(&mut self, text: String) -> bool {
        self.last_error = GString::from(text.as_str());
        false
    }
}

/// `asobi.auth`: sign-in. Each call returns a request id; the answer is a
/// `request_completed`/`request_failed` signal on the node.
#[derive(GodotClass)]
#[class(base = RefCounted, no_init)]
pub struct AsobiAuth {
    base: Base<RefCounted>,
    core: Option<Arc<Core>>,
}

#[godot_api]
impl AsobiAuth {
    #[func]
    fn login(&self, username: GString, password: GString) -> i64 {
        self.core.as_ref().map_or(-1, |c| {
            c.login(&username.to_string(), &password.to_string()) as i64
        })
    }

    #[func]
    fn register(&self, username: GString, password: GString) -> i64 {
        self.core.as_ref().map_or(-1, |c| {
            c.register(&username.to_string(), &password.to_string()) as i64
        })
    }
}

/// `asobi.realtime`: the realtime session. Calls return a request id, or -1 (false for
/// sends) when they could not start.
#[derive(GodotClass)]
#[class(base = RefCounted, no_init)]
pub struct AsobiRealtime {
    base: Base<RefCounted>,
    core: Option<Arc<Core>>,
}

#[godot_api]
impl AsobiRealtime {
    #[func]
    fn connect_to_server(&self) -> i64 {
        self.core
            .as_ref()
            .and_then(|c| c.connect().ok())
            .map_or(-1, |id| id as i64)
    }

    #[func]
    fn add_to_matchmaker(&self, mode: GString) -> i64 {
        self.core
            .as_ref()
            .and_then(|c| c.matchmaker_add(&mode.to_string()).ok())
            .map_or(-1, |id| id as i64)
    }

    #[func]
    fn request(&self, message_type: GString, payload_json: GString) -> i64 {
        self.core
            .as_ref()
            .and_then(|c| {
                c.request(&message_type.to_string(), &payload_json.to_string())
                    .ok()
            })
            .map_or(-1, |id| id as i64)
    }

    #[func]
    fn send_match_input(&self, input_json: GString) -> bool {
        self.core
            .as_ref()
            .is_some_and(|c| c.send("match.input", &input_json.to_string()).is_ok())
    }

    #[func]
    fn close(&self) -> i64 {
        self.core
            .as_ref()
            .and_then(|c| c.close().ok())
            .map_or(-1, |id| id as i64)
    }
}

fn to_variant(arg: Arg) -> Variant {
    match arg {
        Arg::Int(i) => i.to_variant(),
        Arg::Str(s) => GString::from(s.as_str()).to_variant(),
        Arg::Bool(b) => b.to_variant(),
        Arg::Json(text) => json::to_variant(&serde_json::from_str(&text).unwrap_or_default()),
    }
}
