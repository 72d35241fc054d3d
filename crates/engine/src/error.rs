//! Errors of the engine's session operations (defined in core, where the session
//! service maps them).

pub use wacontacts_core::session::EngineError;
