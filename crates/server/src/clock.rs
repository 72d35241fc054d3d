//! The wall clock on tokio's timer and tokio's tasks: the services' `Clock` and
//! `Spawner` in production.

use std::time::Duration;

use async_trait::async_trait;
use wacontacts_core::ports::{Clock, Spawner, Task};

/// System time for stamps, tokio's timer for waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

#[async_trait]
impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        wacontacts_core::ports::unix_now_ms()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Background tasks on tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }
}
