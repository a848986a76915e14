//! A service's background work, as named tasks the process runs together
//! until its shutdown signal: each service says what it runs
//! (`CommandService::tasks`, `QueryService::tasks`, the projectors'), and
//! the `zekka` binary runs them all in one [`JoinSet`], reporting any that
//! ends abnormally in one place.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use tokio::task::JoinSet;

/// One background task of a service: it runs until the shutdown signal it
/// was made with.
pub struct Task {
    name: &'static str,
    work: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Task {
    /// The task `name` doing `work`.
    pub fn new(name: &'static str, work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            name,
            work: Box::pin(work),
        }
    }

    /// Its name, for the log.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Runs `tasks` together and waits for every one to end, logging each
/// that panicked (the others end with the shutdown signal).
pub async fn run_all(tasks: Vec<Task>) {
    let mut set = JoinSet::new();
    let mut names = HashMap::new();
    for task in tasks {
        let handle = set.spawn(task.work);
        names.insert(handle.id(), task.name);
    }
    while let Some(ended) = set.join_next_with_id().await {
        match ended {
            Ok((id, ())) => {
                tracing::debug!(task = names.get(&id).copied().unwrap_or("?"), "task ended");
            }
            Err(error) => {
                let name = names.get(&error.id()).copied().unwrap_or("?");
                tracing::error!(task = name, %error, "a background task stopped abnormally");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_runs_to_its_end_even_when_another_panics() {
        let (done, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let tasks = vec![
            Task::new("panics", async { panic!("on purpose") }),
            Task::new("finishes", async move {
                let _ = done.send("finished");
            }),
        ];
        run_all(tasks).await;
        assert_eq!(seen.recv().await, Some("finished"));
    }
}
