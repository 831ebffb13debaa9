//! The last copy read of a resource, so that an operation can reuse a read
//! made moments ago (at connect, or as the read-back of the previous write)
//! instead of asking a slow BMC again, without ever passing off an old copy
//! as the current state.

use std::time::{Duration, Instant};

use super::transport::Reply;

/// How old an unused copy may be and still stand for the current state.
/// Long enough to bridge two calls of one operation sequence (connect, then
/// power on; set boot, then power on), far shorter than any poll interval.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(2);

/// A resource as last read.
#[derive(Debug, Clone)]
pub(crate) struct LastRead {
    /// Boxed: a client holds two of these and should stay small to move.
    reply: Box<Reply>,
    at: Instant,
    /// No caller has yet been given this copy as the current state, and
    /// nothing was written to the resource since it was read.
    unused: bool,
}

impl LastRead {
    /// A copy just read; `unused` when no caller saw it as current yet.
    pub(crate) fn new(reply: Reply, unused: bool) -> Self {
        LastRead {
            reply: Box::new(reply),
            at: Instant::now(),
            unused,
        }
    }

    /// The copy, for what does not change with the resource's state (links,
    /// allowable values, action targets).
    pub(crate) fn any(&self) -> &Reply {
        &self.reply
    }

    /// The copy as the current state, once: only if unused and younger than
    /// [`FRESH_FOR`]. A second state query (a poll) reads the BMC again.
    pub(crate) fn take_current(&mut self) -> Option<Reply> {
        if self.is_current() {
            self.unused = false;
            Some((*self.reply).clone())
        } else {
            None
        }
    }

    /// Whether [`Self::take_current`] would give the copy.
    pub(crate) fn is_current(&self) -> bool {
        self.unused && self.at.elapsed() < FRESH_FOR
    }

    /// The resource was written: the copy no longer stands for its state.
    pub(crate) fn written(&mut self) {
        self.unused = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply() -> Reply {
        Reply {
            status: 200,
            etag: None,
            location: None,
            body: json!({"PowerState": "On"}),
        }
    }

    #[test]
    fn a_copy_stands_for_now_once() {
        let mut r = LastRead::new(reply(), true);
        assert!(r.take_current().is_some());
        assert!(r.take_current().is_none());
        assert_eq!(r.any().body["PowerState"], "On");
    }

    #[test]
    fn a_write_or_a_seen_copy_is_not_current() {
        let mut r = LastRead::new(reply(), true);
        r.written();
        assert!(r.take_current().is_none());
        let mut r = LastRead::new(reply(), false);
        assert!(r.take_current().is_none());
    }

    #[test]
    fn an_old_copy_is_not_current() {
        let mut r = LastRead::new(reply(), true);
        r.at = Instant::now()
            .checked_sub(FRESH_FOR + Duration::from_millis(1))
            .expect("the clock is past FRESH_FOR since boot");
        assert!(r.take_current().is_none());
    }
}
