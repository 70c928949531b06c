//! Group commit: writes that arrive while a commit is under way wait together and go into the
//! next commit, one transaction and one durable flush for all of them.
//!
//! Why: every write must be durable before what depends on it is acknowledged, and one flush
//! per write, one after another, makes concurrent writers queue behind each other's flushes
//! (the tail of the time to Ack). Each member still returns only once a commit that holds it
//! is durable, or failed: the same guarantee, fewer flushes. The first waiter that finds no
//! commit under way commits everyone waiting (up to a bound), on its own thread: no thread
//! of the store's own, nothing to start or stop.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Writes of type `C` committed in groups; each gets an outcome `O`.
#[derive(Debug)]
pub(super) struct GroupCommit<C, O> {
    waiting: Mutex<Waiting<C, O>>,
    max: usize,
    /// Wake-ups sent, for tests.
    #[cfg(test)]
    wakes: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct Waiting<C, O> {
    members: Vec<Arc<Member<C, O>>>,
    committing: bool,
}

/// One write and, once its group committed, how it went.
#[derive(Debug)]
struct Member<C, O> {
    change: C,
    outcome: Mutex<Option<O>>,
    /// Its thread waits here (with the waiting list's lock). Why one per member: with one
    /// for all, every commit woke every thread waiting (hundreds with a fleet delivering)
    /// to find most of them not in the group; now a commit wakes its own members and the
    /// one that leads next.
    woken: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state is a list and a flag, each change of it complete under the lock.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<C, O> GroupCommit<C, O> {
    /// Groups of at most `max` writes; the rest wait for the next commit.
    pub(super) fn new(max: usize) -> GroupCommit<C, O> {
        GroupCommit {
            waiting: Mutex::new(Waiting {
                members: Vec::new(),
                committing: false,
            }),
            max: max.max(1),
            #[cfg(test)]
            wakes: Default::default(),
        }
    }

    /// Add `change` to the waiting group and return its outcome once a commit that holds it
    /// is done. `commit` writes a group in one transaction and returns one outcome per change,
    /// in order; it runs on the thread of whichever member leads the group.
    pub(super) fn submit(&self, change: C, commit: impl Fn(&[&C]) -> Vec<O>) -> O {
        self.submit_then(change, commit, || ())
    }

    /// [`GroupCommit::submit`], and `after` run by the group's leader once every member has
    /// its outcome and is woken, before the next group may commit: upkeep of what was
    /// committed (retention, a checkpoint) that no member's answer waits for. Why: run inside
    /// `commit`, it held every Ack of the group for its duration.
    pub(super) fn submit_then(
        &self,
        change: C,
        commit: impl Fn(&[&C]) -> Vec<O>,
        after: impl Fn(),
    ) -> O {
        let mine = Arc::new(Member {
            change,
            outcome: Mutex::new(None),
            woken: Condvar::new(),
        });
        let mut waiting = lock(&self.waiting);
        waiting.members.push(Arc::clone(&mine));
        loop {
            if let Some(outcome) = lock(&mine.outcome).take() {
                return outcome;
            }
            if waiting.committing {
                waiting = mine
                    .woken
                    .wait(waiting)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            let take = waiting.members.len().min(self.max);
            let members: Vec<Arc<Member<C, O>>> = waiting.members.drain(..take).collect();
            waiting.committing = true;
            drop(waiting);
            // Whatever `commit` does (panics included), the group is settled and the flag
            // cleared, so no member waits forever.
            let mut settle = Settle {
                group: self,
                members: &members,
                leader: &mine,
                members_woken: false,
            };
            let changes: Vec<&C> = members.iter().map(|m| &m.change).collect();
            let outcomes = commit(&changes);
            assert_eq!(outcomes.len(), members.len(), "one outcome per change");
            for (member, outcome) in members.iter().zip(outcomes) {
                *lock(&member.outcome) = Some(outcome);
            }
            settle.wake_members();
            after();
            drop(settle);
            waiting = lock(&self.waiting);
        }
    }

    /// For tests: a group of `1 + rest` writes, made without depending on timing. `submit(0)`
    /// starts a commit that the caller holds until `release`; `submit(1..=rest)` arrive while
    /// it is under way and wait for the next one; every thread is joined.
    #[cfg(test)]
    pub(super) fn hold_then_group(
        &self,
        rest: u32,
        submit: impl Fn(u32) -> std::thread::JoinHandle<()>,
        release: impl FnOnce(),
    ) {
        let first = submit(0);
        while !lock(&self.waiting).committing {
            std::thread::yield_now();
        }
        let rest: Vec<_> = (1..=rest).map(submit).collect();
        while lock(&self.waiting).members.len() < rest.len() {
            std::thread::yield_now();
        }
        release();
        for thread in std::iter::once(first).chain(rest) {
            thread.join().expect("a member panicked");
        }
    }
}

/// Ends a group's commit when dropped: clears the flag and wakes the group's members and the
/// first write waiting (it leads the next group). Members a panicking commit left unsettled go
/// back to the waiting list, so their threads lead or join the next group instead of waiting
/// for an outcome that never comes.
struct Settle<'a, C, O> {
    group: &'a GroupCommit<C, O>,
    members: &'a [Arc<Member<C, O>>],
    /// The member whose thread commits: it waits on nothing, so it is not woken (a wake-up
    /// is a system call even when nobody waits, and a lone forwarder's every commit made one).
    leader: &'a Arc<Member<C, O>>,
    /// Whether the members were woken already (their outcomes set, before the leader's
    /// `after`).
    members_woken: bool,
}

impl<C, O> Settle<'_, C, O> {
    fn wake(&self, member: &Member<C, O>) {
        #[cfg(test)]
        self.group
            .wakes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        member.woken.notify_one();
    }

    /// Wake the group's members, their outcomes set. The waiting list's lock is taken first:
    /// a member that found no outcome under it is then waiting on its condvar, not between
    /// its check and its wait, so the wake-up is not lost.
    fn wake_members(&mut self) {
        drop(lock(&self.group.waiting));
        for member in self.members {
            if !Arc::ptr_eq(member, self.leader) {
                self.wake(member);
            }
        }
        self.members_woken = true;
    }
}

impl<C, O> Drop for Settle<'_, C, O> {
    fn drop(&mut self) {
        let mut waiting = lock(&self.group.waiting);
        waiting.committing = false;
        // Members the commit did not settle (it panicked) wait again for the next group.
        for member in self.members {
            if lock(&member.outcome).is_none() && std::thread::panicking() {
                waiting.members.push(Arc::clone(member));
            }
        }
        if let Some(next) = waiting.members.first() {
            self.wake(next);
        }
        drop(waiting);
        if self.members_woken {
            return;
        }
        for member in self.members {
            if !Arc::ptr_eq(member, self.leader) {
                self.wake(member);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::mpsc;

    /// Writes that arrive while a commit is under way share the next one: 1 + 63 writes, two
    /// commits, every member told its own outcome. The first commit is held on a channel, so
    /// the grouping does not depend on timing.
    #[test]
    fn writes_waiting_behind_a_commit_share_the_next_one() {
        let group = Arc::new(GroupCommit::<u32, u32>::new(256));
        let commits = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let submit = |value: u32| {
            let (group, commits, held) =
                (Arc::clone(&group), Arc::clone(&commits), Arc::clone(&held));
            std::thread::spawn(move || {
                let outcome = group.submit(value, |changes| {
                    if lock(&commits).is_empty() {
                        lock(&held).recv().unwrap();
                    }
                    lock(&commits).push(changes.iter().map(|c| **c).collect());
                    changes.iter().map(|c| **c * 10).collect()
                });
                assert_eq!(outcome, value * 10);
            })
        };
        group.hold_then_group(63, submit, || release.send(()).unwrap());
        let commits = lock(&commits);
        assert_eq!(commits.len(), 2, "64 writes in two commits: {commits:?}");
        assert_eq!(commits[0], vec![0]);
        let mut second = commits[1].clone();
        second.sort_unstable();
        assert_eq!(second, (1..64).collect::<Vec<_>>());
    }

    /// A write that finds no commit under way commits itself on its own thread and wakes
    /// nobody: no other thread waits, and its own does not sleep.
    #[test]
    fn a_lone_write_wakes_no_thread() {
        use std::sync::atomic::Ordering;
        let group = GroupCommit::<u32, u32>::new(256);
        for value in 0..3 {
            assert_eq!(
                group.submit(value, |c| c.iter().map(|c| **c + 1).collect()),
                value + 1
            );
        }
        assert_eq!(group.wakes.load(Ordering::Relaxed), 0);
    }

    /// The leader's `after` runs once its group's members have returned: none of them waits
    /// for it. The second group's `after` waits (bounded) until its other members are back
    /// (member 0, alone in the first group, is not counted).
    #[test]
    fn members_return_before_the_leaders_upkeep() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let group = Arc::new(GroupCommit::<u32, u32>::new(256));
        let returned = Arc::new(AtomicUsize::new(0));
        let seen_in_after = Arc::new(Mutex::new(Vec::<usize>::new()));
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let submit = |value: u32| {
            let (group, returned, seen, held) = (
                Arc::clone(&group),
                Arc::clone(&returned),
                Arc::clone(&seen_in_after),
                Arc::clone(&held),
            );
            std::thread::spawn(move || {
                let size = Arc::new(AtomicUsize::new(0));
                let outcome = group.submit_then(
                    value,
                    |changes| {
                        if value == 0 {
                            lock(&held).recv().unwrap();
                        }
                        size.store(changes.len(), Ordering::SeqCst);
                        changes.iter().map(|c| **c).collect()
                    },
                    || {
                        let others = size.load(Ordering::SeqCst) - 1;
                        let deadline =
                            std::time::Instant::now() + std::time::Duration::from_secs(10);
                        while returned.load(Ordering::SeqCst) < others
                            && std::time::Instant::now() < deadline
                        {
                            std::thread::yield_now();
                        }
                        lock(&seen).push(returned.load(Ordering::SeqCst));
                    },
                );
                assert_eq!(outcome, value);
                if value != 0 {
                    returned.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        group.hold_then_group(5, submit, || release.send(()).unwrap());
        let seen = lock(&seen_in_after);
        assert_eq!(seen.len(), 2, "two groups: {seen:?}");
        assert_eq!(
            seen[1], 4,
            "the second group's other members returned first: {seen:?}"
        );
    }

    /// A group is at most `max` writes: the rest wait for the commit after.
    #[test]
    fn a_group_holds_at_most_its_bound() {
        let group = Arc::new(GroupCommit::<u32, ()>::new(4));
        let sizes = Arc::new(Mutex::new(Vec::<usize>::new()));
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let submit = |value: u32| {
            let (group, sizes, held) = (Arc::clone(&group), Arc::clone(&sizes), Arc::clone(&held));
            std::thread::spawn(move || {
                group.submit(value, |changes| {
                    if lock(&sizes).is_empty() {
                        lock(&held).recv().unwrap();
                    }
                    lock(&sizes).push(changes.len());
                    vec![(); changes.len()]
                })
            })
        };
        group.hold_then_group(9, submit, || release.send(()).unwrap());
        let sizes = lock(&sizes);
        assert_eq!(sizes[0], 1);
        assert!(sizes.iter().all(|&n| n <= 4), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 10);
    }
}
