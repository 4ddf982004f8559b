//! Gateways translate bytes on a transport into session calls and queued frames back into
//! bytes. Nothing past a gateway knows which transport a player uses.

pub mod quic;
pub mod tls;
pub mod ws;
