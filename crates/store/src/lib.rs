//! Persistence on sqlx.
