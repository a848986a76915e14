//! Real-time push over WebSocket (`GET /api/v1/ws`, CONTRACT.md "Real
//! time"): the hub follows the event stream and fans messages out to the
//! sockets of this process.
//!
//! # Layout
//! - [`hub`]: following the stream, subscriptions, non-blocking fan-out, `metrics:updated`.
//! - [`messages`]: what each event means to a client.
//! - [`socket`]: one socket's life (auth, subscribe, replay, pings, closing).
//! - [`typing`]: typing indicators between every process's sockets.

pub mod hub;
pub mod messages;
pub mod socket;
pub mod typing;

pub use hub::Hub;
pub use socket::realtime_socket;
