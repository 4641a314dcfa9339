//! A fixed pool of inference threads behind a bounded queue.
//!
//! Inference is CPU-bound and takes tens to hundreds of milliseconds, so it never runs on the
//! async runtime: each request hands one job to the pool and awaits its answer. The queue holds
//! at most `capacity` waiting jobs; when it is full a request is refused at once (429), so
//! memory and latency stay bounded under any load. Every job carries a [`Ticket`]: a request
//! that times out while its job waits cancels it, and a job that changes the gallery commits
//! only if its request is still waiting for the answer, so a timed-out enrolment never lands
//! after its caller was told it failed.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ApiError;

const PENDING: u8 = 0;
const COMMITTING: u8 = 1;
const CANCELLED: u8 = 2;

/// The fate of one job, shared by the request and the worker.
#[derive(Debug, Default)]
pub struct Ticket(AtomicU8);

impl Ticket {
    /// Claims the right to apply a change: false if the request already gave up (the job
    /// must then change nothing).
    pub fn commit(&self) -> bool {
        matches!(self.0.compare_exchange(PENDING, COMMITTING, Ordering::AcqRel, Ordering::Acquire), Ok(_) | Err(COMMITTING))
    }

    /// The request gives up: false if the job is already committing (its answer must then
    /// be awaited).
    fn cancel(&self) -> bool {
        matches!(self.0.compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire), Ok(_) | Err(CANCELLED))
    }

    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire) == CANCELLED
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The pool. Dropping it lets the workers finish the queued jobs and exit.
pub struct Pool {
    tx: Mutex<Option<SyncSender<Job>>>,
    depth: Arc<AtomicUsize>,
    workers: usize,
    capacity: usize,
    handles: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("workers", &self.workers).field("capacity", &self.capacity).field("depth", &self.depth()).finish()
    }
}

impl Pool {
    /// Starts `workers` threads (at least 1) behind a queue of `capacity` waiting jobs.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn new(workers: usize, capacity: usize) -> std::io::Result<Pool> {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let handles = (0..workers)
            .map(|i| {
                let rx: Arc<Mutex<Receiver<Job>>> = Arc::clone(&rx);
                std::thread::Builder::new().name(format!("facecore-infer-{i}")).spawn(move || {
                    loop {
                        // Only one idle worker waits in recv at a time; the others wait for the lock.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Pool { tx: Mutex::new(Some(tx)), depth: Arc::new(AtomicUsize::new(0)), workers, capacity, handles: Mutex::new(handles) })
    }

    /// Jobs queued or running.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Inference threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Waiting jobs the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Runs `f` on a worker and awaits its result for at most `timeout`.
    ///
    /// # Errors
    /// 429 `queue_full` when the queue is full, 503 `shutting_down` after [`Pool::close`],
    /// 503 `timeout` when the deadline passes first (unless `f` already committed a change:
    /// then its result is awaited), 500 when the job panicked.
    pub async fn run<T: Send + 'static>(&self, timeout: Duration, f: impl FnOnce(&Ticket) -> T + Send + 'static) -> Result<T, ApiError> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let ticket = Arc::new(Ticket::default());
        let depth = Arc::clone(&self.depth);
        let job_ticket = Arc::clone(&ticket);
        let job: Job = Box::new(move || {
            struct Leave(Arc<AtomicUsize>);
            impl Drop for Leave {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, Ordering::Relaxed);
                }
            }
            let _leave = Leave(depth);
            if job_ticket.cancelled() {
                return;
            }
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&job_ticket)));
            let _ = done_tx.send(out.ok());
        });
        {
            let tx = self.tx.lock().map_err(|_| ApiError::internal("pool lock poisoned"))?;
            let Some(tx) = tx.as_ref() else {
                return Err(ApiError::unavailable("shutting_down", "the server is shutting down", 5));
            };
            self.depth.fetch_add(1, Ordering::Relaxed);
            match tx.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.depth.fetch_sub(1, Ordering::Relaxed);
                    return Err(ApiError::queue_full(1));
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.depth.fetch_sub(1, Ordering::Relaxed);
                    return Err(ApiError::unavailable("shutting_down", "the server is shutting down", 5));
                }
            }
        }
        let mut done_rx = done_rx;
        let answer = match tokio::time::timeout(timeout, &mut done_rx).await {
            Ok(answer) => answer,
            Err(_) if ticket.cancel() => {
                return Err(ApiError::unavailable("timeout", format!("no answer within {} ms; retry later", timeout.as_millis()), 1));
            }
            // The job is committing a change: its answer is the truth, wait for it.
            Err(_) => done_rx.await,
        };
        match answer {
            Ok(Some(v)) => Ok(v),
            _ => Err(ApiError::internal("the inference thread failed")),
        }
    }

    /// Refuses new jobs; queued and running jobs finish.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }

    /// Closes the pool and waits for its threads to finish their jobs.
    pub fn join(&self) {
        self.close();
        let handles = self.handles.lock().map(|mut h| std::mem::take(&mut *h)).unwrap_or_default();
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.close();
    }
}
