//! The product's rules over the ports: what every dialect calls. Reads come from the
//! store (kept current by WhatsApp's events); WhatsApp is asked only when the store
//! cannot answer or its answer is stale, and the service writes back what WhatsApp said
//! (the `Directory` itself has no side effects on our data).

mod check_queue;
mod checks;
mod contacts;
mod sessions;

pub use check_queue::{CheckQueue, QueueError, QueuePolicy, outcome};
pub use checks::{Answer, BudgetStatus, CheckService, CheckStats, PartialCheck};
pub use contacts::{ContactError, ContactService};
pub use sessions::{Lifecycle, SessionError, SessionService, SessionView};

/// In-memory doubles of every port, for unit tests here and in the server
/// (feature `fakes`; never in a release build).
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
#[cfg(test)]
mod tests;
