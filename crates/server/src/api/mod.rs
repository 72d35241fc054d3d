//! HTTP routes. One file per feature; each dialect is a thin adapter over the services.

pub mod health;
pub mod sessions;
