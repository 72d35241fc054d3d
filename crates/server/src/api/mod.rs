//! HTTP routes. One file per feature; each dialect is a thin adapter over the services.

pub mod contacts;
pub mod dashboard;
pub mod dialect;
pub mod health;
pub mod lids;
pub mod onprem;
pub mod openapi;
pub mod pairing;
pub mod sessions;
pub mod usernames;
pub mod waha;
pub mod wawp;
pub mod webhook_deliveries;
pub mod webhooks;
pub mod whinself;
