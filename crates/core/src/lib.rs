//! Domain types and rules of wacontacts. No sockets, no SQL: everything here is pure
//! and testable, and the other crates depend on it (never the other way round).

pub mod contact;
pub mod identity;
pub mod ids;
pub mod lease;
pub mod phone;
pub mod policy;
pub mod ports;
pub mod queued;
pub mod search;
pub mod service;
pub mod session;
pub mod username;
pub mod webhook;
