//! Capacity for policy work. Cheap decisions (`authorize`, a new name) and heavy work
//! (stripping, inspecting and thumbnailing an upload) have separate capacity, so
//! uploads can never starve reads; heavy work is shared fairly between clients: when
//! it is all taken, the next free slot goes to the waiting clients in turn, not to
//! whoever queued the most.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// A counting gate handing out slots round-robin between clients.
#[derive(Debug)]
pub struct FairGate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    free: usize,
    /// Waiters per client, oldest first.
    waiting: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// Clients with waiters, in turn order.
    turn: VecDeque<String>,
}

/// A slot of the gate; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    gate: Arc<FairGate>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release();
    }
}

/// A waiter's receiving end: if it is dropped after a slot was handed to it, the slot
/// goes back to the gate (a cancelled request never keeps capacity).
struct Waiting {
    rx: Option<oneshot::Receiver<()>>,
    gate: Arc<FairGate>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

impl FairGate {
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(FairGate { state: Mutex::new(GateState { free: slots.max(1), ..GateState::default() }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot for `client`.
    pub async fn acquire(self: &Arc<Self>, client: &str) -> Slot {
        let rx = {
            let mut s = self.lock();
            if s.free > 0 && s.turn.is_empty() {
                s.free -= 1;
                return Slot { gate: self.clone() };
            }
            let (tx, rx) = oneshot::channel();
            let queue = s.waiting.entry(client.to_string()).or_default();
            queue.push_back(tx);
            if queue.len() == 1 {
                s.turn.push_back(client.to_string());
            }
            rx
        };
        let mut waiting = Waiting { rx: Some(rx), gate: self.clone() };
        let rx = waiting.rx.as_mut().expect("set above");
        // The sender is only dropped with the gate: a slot always arrives.
        let _ = rx.await;
        waiting.rx = None;
        Slot { gate: self.clone() }
    }

    /// A slot now, if one is free and no client is waiting (never waits).
    pub fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let mut s = self.lock();
        if s.free > 0 && s.turn.is_empty() {
            s.free -= 1;
            return Some(Slot { gate: self.clone() });
        }
        None
    }

    /// Hands a freed slot to the next client in turn, or keeps it.
    fn release(&self) {
        let mut s = self.lock();
        while let Some(client) = s.turn.pop_front() {
            let Some(queue) = s.waiting.get_mut(&client) else { continue };
            let next = queue.pop_front();
            if queue.is_empty() {
                s.waiting.remove(&client);
            } else {
                s.turn.push_back(client);
            }
            if let Some(tx) = next {
                if tx.send(()).is_ok() {
                    return;
                }
            }
        }
        s.free += 1;
    }

    /// Slots free now (for metrics and tests).
    pub fn free(&self) -> usize {
        self.lock().free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_go_round_robin_between_clients() {
        let gate = FairGate::new(1);
        let held = gate.acquire("flood").await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // The flooding client queues five, then a light client one.
        for (i, client) in ["flood", "flood", "flood", "flood", "flood", "other"].into_iter().enumerate() {
            let (g, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = g.acquire(client).await;
                order.lock().unwrap().push(client);
                tokio::task::yield_now().await;
            }));
            // Queue in this order.
            while gate.lock().waiting.values().map(VecDeque::len).sum::<usize>() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let other = order.iter().position(|c| *c == "other").unwrap();
        assert!(other <= 1, "the other client waited behind the flood: {order:?}");
        assert_eq!(gate.free(), 1);
    }

    #[tokio::test]
    async fn try_acquire_never_waits_and_never_jumps_the_queue() {
        let gate = FairGate::new(2);
        let one = gate.try_acquire().expect("a free slot");
        let two = gate.acquire("a").await;
        assert!(gate.try_acquire().is_none(), "none free");
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.acquire("b").await })
        };
        while gate.lock().turn.is_empty() {
            tokio::task::yield_now().await;
        }
        drop(one);
        let _b = waiter.await.unwrap();
        assert!(gate.try_acquire().is_none(), "the freed slot went to the waiting client");
        drop(two);
        assert!(gate.try_acquire().is_some());
    }

    #[tokio::test]
    async fn a_cancelled_waiter_keeps_no_slot() {
        let gate = FairGate::new(1);
        let held = gate.acquire("a").await;
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.acquire("b").await })
        };
        while gate.lock().turn.is_empty() {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        drop(held);
        assert_eq!(gate.free(), 1);
        let _again = gate.acquire("c").await;
        assert_eq!(gate.free(), 0);
    }
}
