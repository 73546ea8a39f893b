//! The threads that compute searches and deflections: one per core, each taking the next request
//! from a single queue.
//!
//! A draft costs about a millisecond of CPU, so how requests reach the cores matters as much as
//! the search itself. Handing each one to tokio's blocking pool behind a semaphore woke a chain
//! of threads at every hand-off (the finished task's waker, the permit's next waiter, an idle
//! blocking thread), and a core idled meanwhile; one more permit than cores kept them busy but
//! made them preempt each other. Here a thread that finishes a request takes the next one from
//! the queue without sleeping, exactly as many run as there are cores, and the queue keeps the
//! order in which requests came.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;
use tokio::sync::oneshot;
use tracing::error;

/// Why a request got no result from the pool.
#[derive(Debug, Error)]
pub enum PoolError {
    #[error("the search threads have stopped")]
    Stopped,
    #[error("the search panicked")]
    Panicked,
}

type Job = Box<dyn FnOnce() + Send>;

/// A queue and the threads that serve it; they stop when the last clone of the pool is dropped.
#[derive(Clone)]
pub struct SearchPool {
    queue: Sender<Job>,
}

impl SearchPool {
    /// A pool of one thread per core.
    pub fn for_cores() -> SearchPool {
        SearchPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    pub fn new(threads: usize) -> SearchPool {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        for number in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("kbsearch-search-{number}"))
                .spawn(move || serve(jobs))
                .expect("starting a search thread");
        }
        SearchPool { queue }
    }

    /// Runs `work` on a pool thread once the requests queued before it have started.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The client left while the request waited: nobody would read the answer.
            if !answer.is_closed() {
                let _ = answer.send(work());
            }
        });
        self.queue.send(job).map_err(|_| PoolError::Stopped)?;
        // The job dropped its sender without answering: `work` panicked.
        result.await.map_err(|_| PoolError::Panicked)
    }
}

fn serve(jobs: Receiver<Job>) {
    for job in jobs {
        // A panicking search fails its own request (its answer is dropped), not the thread.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            error!("a search panicked; its request failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_survives_a_panic() {
        let pool = SearchPool::new(1);
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
        let panicked = pool.run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(PoolError::Panicked)));
        // The one thread is still there.
        assert_eq!(pool.run(|| "still here").await.unwrap(), "still here");
    }

    #[tokio::test]
    async fn requests_start_in_the_order_they_came() {
        let pool = SearchPool::new(1);
        let started = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let runs: Vec<_> = (0..20)
            .map(|i| {
                let started = started.clone();
                pool.run(move || started.lock().unwrap().push(i))
            })
            .collect();
        for run in runs {
            run.await.unwrap();
        }
        assert_eq!(*started.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }
}
