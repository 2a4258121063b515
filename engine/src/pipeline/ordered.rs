//! The one worker pipeline every job runs on: a producer (usually the reader) hands items to
//! worker threads, and their results come back to one consumer (usually the writer) in the
//! producer's order, whatever order the workers finish in.
//!
//! Memory stays fixed whatever the disk size: at most `in_flight` items exist between the
//! producer handing one over and the consumer being done with it; the producer waits for room.
//! Cancelling stops the producer and the consumer between items. The first error, from any of
//! the three, is returned in its place in the order: everything handed over before it is
//! consumed first, nothing after it is. When the consumer stops (an error, a cancel), the
//! producer and the workers wind down without blocking and without panicking.

use crate::error::{Error, Result};
use crate::events::Cancel;
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

/// The producer's side: each item handed over waits for room first.
pub(crate) struct Feed<'a, I, O> {
    next: u64,
    room: Receiver<()>,
    work: Sender<(u64, I)>,
    results: Sender<(u64, Result<O>)>,
    cancel: &'a Cancel,
    stopped: &'a AtomicBool,
}

impl<I, O> Feed<'_, I, O> {
    /// Hands an item to a worker. `Err(Cancelled)` once the job is cancelled or the consumer
    /// has stopped: the producer then returns it (with `?`) and ends.
    pub fn work(&mut self, item: I) -> Result<()> {
        let seq = self.slot()?;
        self.work.send((seq, item)).map_err(|_| Error::Cancelled)
    }

    /// Hands a result straight to the consumer, in its place in the order, past the workers:
    /// something with nothing to compute (an all-zero chunk, a window copied by the kernel, a
    /// read that failed and waits for the rescue pass).
    pub fn done(&mut self, out: O) -> Result<()> {
        let seq = self.slot()?;
        self.results
            .send((seq, Ok(out)))
            .map_err(|_| Error::Cancelled)
    }

    /// Waits until fewer than `in_flight` items are on their way, and numbers the next one.
    fn slot(&mut self) -> Result<u64> {
        self.cancel.check()?;
        if self.stopped.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        self.room.recv().map_err(|_| Error::Cancelled)?;
        let seq = self.next;
        self.next += 1;
        Ok(seq)
    }
}

/// Runs `produce` on a thread of its own, `workers` threads each running a function made by
/// `worker` (once per thread, so each can keep its own codec and buffers), and `consume` on
/// the calling thread, in the order `produce` handed the items over. Returns when everything
/// produced is consumed, or with the first error in that order.
pub(crate) fn run<I, O, W>(
    cancel: &Cancel,
    workers: usize,
    in_flight: usize,
    produce: impl FnOnce(&mut Feed<'_, I, O>) -> Result<()> + Send,
    worker: impl Fn() -> W + Sync,
    mut consume: impl FnMut(O) -> Result<()>,
) -> Result<()>
where
    I: Send,
    O: Send,
    W: FnMut(I) -> Result<O>,
{
    let workers = workers.max(1);
    let in_flight = in_flight.max(1);
    // One token per item that may be on its way; the consumer gives one back per item done.
    let (room_tx, room_rx) = bounded::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = room_tx.try_send(());
    }
    let (work_tx, work_rx) = bounded::<(u64, I)>(in_flight);
    // One more than the tokens: the producer's own error travels without one.
    let (results_tx, results_rx) = bounded::<(u64, Result<O>)>(in_flight + 1);
    let stopped = AtomicBool::new(false);
    std::thread::scope(|s| {
        let stopped = &stopped;
        let results = results_tx.clone();
        s.spawn(move || {
            let mut feed = Feed {
                next: 0,
                room: room_rx,
                work: work_tx,
                results,
                cancel,
                stopped,
            };
            if let Err(e) = produce(&mut feed) {
                // Nobody hears it when the consumer has stopped already: that is fine.
                let _ = feed.results.send((feed.next, Err(e)));
            }
        });
        for _ in 0..workers {
            let work_rx = work_rx.clone();
            let results = results_tx.clone();
            let worker = &worker;
            s.spawn(move || {
                let mut f = worker();
                for (seq, item) in work_rx {
                    // Items left in the queue once the consumer stopped are dropped unworked.
                    if stopped.load(Ordering::Relaxed) {
                        continue;
                    }
                    if results.send((seq, f(item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        drop(results_tx);
        let out = consume_in_order(cancel, results_rx, room_tx, &mut consume);
        // The channels the consumer held are closed by now: a producer waiting for room or
        // a worker sending a result wakes up with an error and ends.
        stopped.store(true, Ordering::Relaxed);
        out
    })
}

fn consume_in_order<O>(
    cancel: &Cancel,
    results: Receiver<(u64, Result<O>)>,
    room: Sender<()>,
    consume: &mut impl FnMut(O) -> Result<()>,
) -> Result<()> {
    let mut next = 0u64;
    // Results that arrived before their turn, by their distance from `next`.
    let mut early: VecDeque<Option<Result<O>>> = VecDeque::new();
    loop {
        while let Some(Some(_)) = early.front() {
            let Some(Some(result)) = early.pop_front() else {
                break;
            };
            next += 1;
            cancel.check()?;
            consume(result?)?;
            let _ = room.try_send(());
        }
        let Ok((seq, result)) = results.recv() else {
            break;
        };
        let at = (seq - next) as usize;
        if early.len() <= at {
            early.resize_with(at + 1, || None);
        }
        early[at] = Some(result);
    }
    if early.is_empty() {
        Ok(())
    } else {
        // Only a worker that died mid-item leaves a gap; the scope reports its panic.
        Err(Error::Invalid(format!(
            "pipeline item {next} was never finished by its worker"
        )))
    }
}

/// Big buffers go round (reader → worker → writer → reader) instead of being allocated per
/// item: a fresh 1 MiB buffer costs a page fault per 4 KiB. At most `capacity` wait here;
/// more are freed.
pub(crate) struct Pool {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
}

impl Pool {
    pub fn new(capacity: usize) -> Pool {
        let (tx, rx) = bounded(capacity.max(1));
        Pool { tx, rx }
    }

    /// A buffer that went round before (length and contents as it was left), or a new one.
    pub fn take(&self) -> Vec<u8> {
        self.rx.try_recv().unwrap_or_default()
    }

    pub fn give(&self, buf: Vec<u8>) {
        let _ = self.tx.try_send(buf);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// A pseudo-random delay per item, so workers finish out of order.
    fn jitter(i: u64) -> Duration {
        Duration::from_micros((i.wrapping_mul(2654435761) >> 7) % 3000)
    }

    #[test]
    fn results_come_in_the_producers_order_though_workers_finish_out_of_it() {
        let got = Mutex::new(Vec::new());
        let finished = Mutex::new(Vec::new());
        run(
            &Cancel::new(),
            4,
            8,
            |feed| {
                for i in 0..200u64 {
                    // Every fifth skips the workers, and still keeps its place.
                    if i % 5 == 0 {
                        feed.done(i)?;
                    } else {
                        feed.work(i)?;
                    }
                }
                Ok(())
            },
            || {
                |i: u64| {
                    std::thread::sleep(jitter(i));
                    finished.lock().unwrap().push(i);
                    Ok(i)
                }
            },
            |i| {
                got.lock().unwrap().push(i);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(*got.lock().unwrap(), (0..200).collect::<Vec<_>>());
        let finished = finished.into_inner().unwrap();
        assert!(
            finished.windows(2).any(|w| w[0] > w[1]),
            "the workers should have finished out of order for this test to mean anything"
        );
    }

    #[test]
    fn never_more_than_in_flight_items_between_producer_and_consumer() {
        let on_the_way = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let k = 6;
        run(
            &Cancel::new(),
            3,
            k,
            |feed| {
                for i in 0..300u64 {
                    // Counted before handing over, so an item waiting for room counts too.
                    let now = on_the_way.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    if i % 7 == 0 {
                        feed.done(i)?;
                    } else {
                        feed.work(i)?;
                    }
                }
                Ok(())
            },
            || |i: u64| Ok(i),
            |i| {
                // A slow consumer: the producer must wait, not pile up.
                std::thread::sleep(jitter(i) / 10);
                on_the_way.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            },
        )
        .unwrap();
        // In flight, plus the one the producer holds while it waits for room.
        let most = most.load(Ordering::SeqCst);
        assert!(most <= k + 1, "{most}");
        assert!(
            most >= k,
            "the producer should have filled the room: {most}"
        );
    }

    #[test]
    fn a_cancel_stops_the_job_promptly_between_items() {
        let cancel = Cancel::new();
        let produced = AtomicUsize::new(0);
        let consumed = AtomicUsize::new(0);
        let started = Instant::now();
        let r = run(
            &cancel,
            2,
            4,
            |feed| {
                // Endless: only the cancel ends it.
                for i in 0.. {
                    feed.work(i)?;
                    produced.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            },
            || {
                |i: u64| {
                    std::thread::sleep(Duration::from_millis(1));
                    Ok(i)
                }
            },
            |i| {
                if i == 20 {
                    cancel.cancel();
                }
                consumed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        );
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
        assert_eq!(consumed.load(Ordering::SeqCst), 21);
        assert!(produced.load(Ordering::SeqCst) <= 21 + 4 + 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_cancel_seen_only_by_the_producer_is_still_an_error() {
        // The consumer may have taken every item already when the producer notices: the
        // job must not look complete.
        let cancel = Cancel::new();
        let r = run(
            &cancel,
            1,
            4,
            |feed| {
                feed.work(1u64)?;
                cancel.cancel();
                feed.work(2)
            },
            || |i: u64| Ok(i),
            |_| Ok(()),
        );
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    }

    #[test]
    fn an_error_in_the_middle_is_returned_after_what_came_before_and_nothing_after() {
        let consumed = Mutex::new(Vec::new());
        let r = run(
            &Cancel::new(),
            4,
            8,
            |feed| {
                for i in 0..1000u64 {
                    feed.work(i)?;
                }
                Ok(())
            },
            || {
                |i: u64| {
                    std::thread::sleep(jitter(i) / 10);
                    if i == 50 {
                        Err(Error::corrupt("item", i, "bad"))
                    } else {
                        Ok(i)
                    }
                }
            },
            |i| {
                consumed.lock().unwrap().push(i);
                Ok(())
            },
        );
        match r {
            Err(Error::Corrupt { offset: 50, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(*consumed.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn a_producer_error_comes_after_the_items_it_handed_over() {
        let consumed = Mutex::new(Vec::new());
        let r = run(
            &Cancel::new(),
            3,
            8,
            |feed| {
                for i in 0..10u64 {
                    feed.work(i)?;
                }
                Err(Error::corrupt("disk", 10, "unreadable"))
            },
            || {
                |i: u64| {
                    std::thread::sleep(jitter(i));
                    Ok(i)
                }
            },
            |i| {
                consumed.lock().unwrap().push(i);
                Ok(())
            },
        );
        assert!(matches!(r, Err(Error::Corrupt { offset: 10, .. })), "{r:?}");
        assert_eq!(*consumed.lock().unwrap(), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_consumer_that_stops_early_winds_everything_down_without_hanging() {
        let worked = AtomicUsize::new(0);
        let started = Instant::now();
        let r = run(
            &Cancel::new(),
            3,
            4,
            |feed| {
                for i in 0..1_000_000u64 {
                    if i % 2 == 0 {
                        feed.done(i)?;
                    } else {
                        feed.work(i)?;
                    }
                }
                Ok(())
            },
            || {
                |i: u64| {
                    worked.fetch_add(1, Ordering::SeqCst);
                    Ok(i)
                }
            },
            |i| {
                if i == 7 {
                    Err(Error::Invalid("the writer failed".into()))
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
        // Workers stop at once: the few items already queued at most.
        assert!(worked.load(Ordering::SeqCst) < 20, "{worked:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_pool_hands_back_what_it_was_given_and_keeps_no_more_than_its_capacity() {
        let pool = Pool::new(2);
        pool.give(vec![1; 10]);
        pool.give(vec![2; 10]);
        pool.give(vec![3; 10]);
        assert_eq!(pool.take(), vec![1; 10]);
        assert_eq!(pool.take(), vec![2; 10]);
        assert!(pool.take().is_empty());
    }
}
