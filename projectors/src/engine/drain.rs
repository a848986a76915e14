//! Catching up to the head of the stream (rebuilds and tests), with the
//! next batch read while the last one is applied.

use super::*;

impl Projector {
    /// Applies batches until nothing is left (tests and rebuilds use it).
    ///
    /// # Errors
    /// The first batch that fails.
    pub async fn drain(&self) -> Result<usize, ProjectorError> {
        self.drain_until(None).await
    }

    /// Applies batches up to `until` (everything when `None`).
    ///
    /// # Errors
    /// The first batch that fails.
    pub async fn drain_until(&self, until: Option<Position>) -> Result<usize, ProjectorError> {
        let mut total = 0;
        loop {
            match self.run_once_until(until).await? {
                Outcome::Applied(n) => total += n,
                Outcome::Idle => return Ok(total),
                Outcome::Busy => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Applies everything there is, like [`Projector::drain`], with the next
    /// batch read (and its personal data opened) on another connection
    /// while the current one is written: reading and writing overlap, which
    /// is what a rebuild is bound by. Calls `on_batch` with each batch's size.
    ///
    /// # Errors
    /// The first batch that fails.
    pub async fn drain_prefetching(&self, mut on_batch: impl FnMut(usize)) -> Result<usize, ProjectorError> {
        let start = self.position().await?;
        let (sender, mut receiver) =
            tokio::sync::mpsc::channel::<Result<(Position, Vec<StoredEvent>), ProjectorError>>(2);
        let reader = {
            let this = self.clone();
            tokio::spawn(async move {
                let types = this.projection.aggregate_types();
                let mut after = start;
                loop {
                    let batch = async {
                        let client = this.pool.get().await?;
                        let mut events =
                            event_log::read_between(&client, after, None, this.batch_size, types).await?;
                        this.personal.open_events(&client, &mut events).await?;
                        Ok::<_, ProjectorError>(events)
                    }
                    .await;
                    match batch {
                        Ok(events) => {
                            let Some(next) = events.last().map(|e| e.position) else {
                                break;
                            };
                            if sender.send(Ok((after, events))).await.is_err() {
                                break;
                            }
                            after = next;
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error)).await;
                            break;
                        }
                    }
                }
            })
        };
        let mut total = 0;
        let mut outcome = Ok(());
        while let Some(batch) = receiver.recv().await {
            let applied = match batch {
                Ok(batch) => self.apply_next(None, Mode::Batch, Some(batch)).await,
                Err(error) => Err(error),
            };
            match applied {
                Ok(Outcome::Applied(n)) => {
                    total += n;
                    on_batch(n);
                }
                Ok(Outcome::Idle) => {}
                Ok(Outcome::Busy) => {
                    outcome = Err(ProjectorError::CheckpointMoved);
                    break;
                }
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
        reader.abort();
        match outcome {
            Ok(()) => Ok(total),
            // Name the event that fails, one at a time.
            Err(ProjectorError::Batch(_)) => Ok(total + self.drain().await?),
            Err(error) => Err(error),
        }
    }
}
