//! Fetches run by the node: each one a task the node tracks, stopped with a
//! [`NodeError::Cancelled`] when the node shuts down, and read as a sequence of
//! [`FetchUpdate`]s (progress, then the outcome). The control API's streaming fetch and
//! the CLI's fetch through a temporary node both read fetches this way.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Node, NodeError};
use crate::exchange::fetch::{FetchOutcome, FetchProgress, FetchRequest};

/// One step of a running fetch.
#[derive(Debug)]
pub enum FetchUpdate {
    /// How far the fetch has come.
    Progress(FetchProgress),
    /// The fetch ended: every file verified, or why not. Always the last update.
    Finished(Box<Result<FetchOutcome, NodeError>>),
}

/// A fetch running on a node. Dropping it stops the fetch.
#[derive(Debug)]
pub struct RunningFetch {
    progress: Option<mpsc::UnboundedReceiver<FetchProgress>>,
    outcome: Option<JoinHandle<Result<FetchOutcome, NodeError>>>,
}

impl RunningFetch {
    /// The next update: progress while the fetch runs, then its outcome once; `None`
    /// after that.
    pub async fn next(&mut self) -> Option<FetchUpdate> {
        let task = self.outcome.as_mut()?;
        let mut progress_ended = false;
        let joined = match &mut self.progress {
            // Progress already sent comes first; the outcome once the task has ended.
            Some(progress) => tokio::select! {
                biased;
                update = progress.recv() => match update {
                    Some(update) => return Some(FetchUpdate::Progress(update)),
                    None => {
                        progress_ended = true;
                        task.await
                    }
                },
                joined = &mut *task => joined,
            },
            None => task.await,
        };
        if progress_ended {
            self.progress = None;
        }
        self.outcome = None;
        Some(FetchUpdate::Finished(Box::new(match joined {
            Ok(result) => result,
            Err(error) => Err(NodeError::Task(error.to_string())),
        })))
    }

    /// Waits for the outcome, passing over progress.
    pub async fn outcome(mut self) -> Result<FetchOutcome, NodeError> {
        loop {
            match self.next().await {
                Some(FetchUpdate::Progress(_)) => continue,
                Some(FetchUpdate::Finished(result)) => return *result,
                None => return Err(NodeError::Task("the fetch already ended".to_owned())),
            }
        }
    }
}

impl Drop for RunningFetch {
    fn drop(&mut self) {
        if let Some(task) = &self.outcome {
            task.abort();
        }
    }
}

impl Node {
    /// Starts fetching a checkpoint or file; progress reports (about four a second) and
    /// the outcome come from the returned [`RunningFetch`]. Any progress sender in
    /// `request` is replaced.
    pub fn fetch_with_progress(&self, mut request: FetchRequest) -> RunningFetch {
        let (progress_tx, progress) = mpsc::unbounded_channel();
        request.progress = Some(progress_tx);
        RunningFetch {
            progress: Some(progress),
            outcome: Some(self.spawn_fetch(request)),
        }
    }

    /// Fetches a checkpoint or file; progress goes to `request.progress`, if set.
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchOutcome, NodeError> {
        RunningFetch {
            progress: None,
            outcome: Some(self.spawn_fetch(request)),
        }
        .outcome()
        .await
    }

    /// Runs the fetch as a task of the node, until it ends or the node shuts down; a fetch
    /// that needs the network on a node with no peers fails at once (see [`super::peers`]).
    /// The fetch is tracked in the node's [`crate::transfers::Transfers`] while it runs.
    fn spawn_fetch(
        &self,
        mut request: FetchRequest,
    ) -> JoinHandle<Result<FetchOutcome, NodeError>> {
        let transfer = self.inner.transfers.start(request.id);
        // Progress passes through here on its way to the caller, to be tracked.
        let (progress_tx, mut progress) = mpsc::unbounded_channel::<FetchProgress>();
        let caller = request.progress.replace(progress_tx);
        let fetcher = self.inner.fetcher.clone();
        let shutdown = self.inner.shutdown.clone();
        let network = self.inner.network.clone();
        let store = self.inner.store.clone();
        let has_bootstrap = self.inner.has_bootstrap;
        self.inner.tasks.spawn(async move {
            let fetch = async {
                super::peers::ensure_for_fetch(&network, &store, &request.id, has_bootstrap)
                    .await?;
                fetcher.fetch(request).await.map_err(NodeError::from)
            };
            let forward = |update: FetchProgress| {
                transfer.progress(&update);
                if let Some(caller) = &caller {
                    // A caller that went away no longer wants progress.
                    let _ = caller.send(update);
                }
            };
            let mut fetch = std::pin::pin!(fetch);
            let result = loop {
                tokio::select! {
                    () = shutdown.cancelled() => break Err(NodeError::Cancelled),
                    result = &mut fetch => break result,
                    Some(update) = progress.recv() => forward(update),
                }
            };
            while let Ok(update) = progress.try_recv() {
                forward(update);
            }
            transfer.finish(result.as_ref().err().map(|e| e.kind().as_str()));
            result
        })
    }
}
