//! Sleep arming: the flag bits in `tail` and `head` through which a waiter announces
//! that it is about to sleep (module docs of `ring::mpmc`).

use super::{CLOSED, Look, QueueRing, SLEEPING, pos_of};
use crate::primitive::Ordering;
use crate::wait::Arm;

impl<T> QueueRing<T> {
    /// Announces a sleeping consumer: sets the flag on `tail` only if every claimed
    /// position has been taken (`head == tail`), so the next put sees it.
    pub(crate) fn arm_get(&self) -> Arm {
        let ctrl = self.ctrl();
        // SeqCst: loads and the CAS below are in one order with the claim CASes.
        let head = ctrl.head.load(Ordering::SeqCst);
        let tail = ctrl.tail.load(Ordering::SeqCst);
        if pos_of(tail) != pos_of(head) || tail & CLOSED != 0 {
            // A put is in flight (or data is there, or closed): look again soon.
            return if pos_of(tail) > pos_of(head) && matches!(self.look_get(head), Ok(Look::Wait)) {
                Arm::Nap
            } else {
                Arm::Retry
            };
        }
        if tail & SLEEPING != 0 {
            return Arm::Sleep;
        }
        match ctrl
            .tail
            .compare_exchange(tail, tail | SLEEPING, Ordering::SeqCst, Ordering::Relaxed)
        {
            Ok(_) => Arm::Sleep,
            Err(_) => Arm::Retry,
        }
    }

    /// Announces a sleeping producer: sets the flag on `head` only while the position
    /// whose slot we need (`tail - capacity`) is unclaimed, so its get sees it.
    pub(crate) fn arm_put(&self) -> Arm {
        let ctrl = self.ctrl();
        // SeqCst: see `arm_get`.
        let tail = ctrl.tail.load(Ordering::SeqCst);
        let head = ctrl.head.load(Ordering::SeqCst);
        if tail & CLOSED != 0 {
            return Arm::Retry;
        }
        let needed = pos_of(tail).wrapping_sub(self.cap());
        if pos_of(head) != needed {
            // That get is in flight (or the slot is free already): look again soon.
            return if pos_of(head) > needed
                && pos_of(head) <= pos_of(tail)
                && matches!(self.look_put(tail), Ok(Look::Wait))
            {
                Arm::Nap
            } else {
                Arm::Retry
            };
        }
        if head & SLEEPING != 0 {
            return Arm::Sleep;
        }
        match ctrl
            .head
            .compare_exchange(head, head | SLEEPING, Ordering::SeqCst, Ordering::Relaxed)
        {
            Ok(_) => Arm::Sleep,
            Err(_) => Arm::Retry,
        }
    }
}
