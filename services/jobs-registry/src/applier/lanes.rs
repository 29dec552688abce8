//! The applier's lanes: each applies the events queued on it one at a time, in the
//! order they arrived, and every event of a job is queued on the same lane, so one
//! job's events are applied in order while other jobs' are applied beside them.

use std::hash::{DefaultHasher, Hash, Hasher};

use anyhow::Context;
use bgjobs_messaging::events::ReceivedEvent;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::unapplied::Unsettled;
use super::{Backoff, EventApplier};

/// Events waiting on one lane: a few, so that a lane held up (by a locked job, or an
/// unavailable database) soon stops the reading of more rather than hoarding them.
const LANE_QUEUE: usize = 16;

/// The lane, of `lanes`, that applies the events of job `job_id`: the same for every
/// event of the job.
pub fn lane_of(job_id: &str, lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    job_id.hash(&mut hasher);
    let lanes = u64::try_from(lanes.max(1)).unwrap_or(u64::MAX);
    usize::try_from(hasher.finish() % lanes).unwrap_or(0)
}

/// An event waiting on a lane, counted as unapplied until it is settled.
type Queued = (ReceivedEvent, Unsettled);

/// Lanes applying events at once, each on a task of its own.
pub(super) struct Lanes {
    queues: Vec<mpsc::Sender<Queued>>,
    tasks: JoinSet<usize>,
}

impl Lanes {
    /// Starts `count` lanes (at least one) applying through `applier`.
    pub(super) fn start(
        applier: &EventApplier,
        count: usize,
        shutdown: &CancellationToken,
    ) -> Self {
        let mut tasks = JoinSet::new();
        let queues = (0..count.max(1))
            .map(|_| {
                let (queue, queued) = mpsc::channel(LANE_QUEUE);
                tasks.spawn(applier.clone().lane(queued, shutdown.clone()));
                queue
            })
            .collect();
        Self { queues, tasks }
    }

    /// Queues `received` on its job's lane, waiting while that lane's queue is full.
    /// `false` only when the lane has stopped, which is a bug (a panic); the event is
    /// then dropped unsettled and comes back after the ack wait.
    pub(super) async fn queue(&self, received: ReceivedEvent, unsettled: Unsettled) -> bool {
        let lane = lane_of(&received.event.job_id, self.queues.len());
        self.queues[lane].send((received, unsettled)).await.is_ok()
    }

    /// Closes the queues and waits until every lane has finished and settled its
    /// current event and handed back the rest; returns how many were handed back.
    pub(super) async fn close(self) -> anyhow::Result<usize> {
        let Self { queues, mut tasks } = self;
        drop(queues);
        let mut handed_back = 0;
        while let Some(lane) = tasks.join_next().await {
            handed_back += lane.context("an event applier lane failed")?;
        }
        Ok(handed_back)
    }
}

impl EventApplier {
    /// One lane: applies the events queued on it in order until its queue is closed;
    /// once `shutdown` is cancelled, hands back those still queued instead. Returns how
    /// many it handed back.
    async fn lane(self, mut queued: mpsc::Receiver<Queued>, shutdown: CancellationToken) -> usize {
        let mut backoff = Backoff::default();
        let mut handed_back = 0;
        // An event counts as unapplied until it is settled or handed back here.
        while let Some((received, _unsettled)) = queued.recv().await {
            if shutdown.is_cancelled() {
                handed_back += 1;
                if let Err(error) = received.hand_back().await {
                    tracing::warn!(%error, "handing back a job event failed; it comes back after the ack wait");
                }
            } else {
                self.apply(received, &mut backoff, &shutdown).await;
            }
        }
        handed_back
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_keeps_its_lane_and_jobs_spread_over_the_lanes() {
        let jobs: Vec<String> =
            (0..400).map(|n| format!("00000000-0000-4000-8000-{n:012}")).collect();
        let mut per_lane = [0; 4];
        for job in &jobs {
            let lane = lane_of(job, 4);
            assert_eq!(lane_of(job, 4), lane);
            per_lane[lane] += 1;
        }
        assert!(per_lane.iter().all(|&count| count > 50), "{per_lane:?}");
        assert_eq!(lane_of(&jobs[0], 1), 0);
        assert_eq!(lane_of(&jobs[0], 0), 0);
    }
}
