//! The base alert a correlation alert is built on: the alert of the event that completed the
//! window gives it its event, origin and record. The daemon keeps it in memory. Replay puts
//! it in an [`AlertStore`] (a temporary file) as the event is observed and reads it back only
//! if that event completes a window, so what waits per observation is a few bytes however
//! large the record.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;

/// Where a stored alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub offset: u64,
    pub len: u32,
}

/// Alerts written aside, read back by position.
pub trait AlertStore: Send + Sync {
    /// None if it could not be read: the store keeps the error for its owner to report, and
    /// the correlation alert it was for is not raised.
    fn load(&self, slot: Slot) -> Option<Alert>;
}

#[derive(Clone)]
pub enum Base {
    Alert(Arc<Alert>),
    Stored(Arc<dyn AlertStore>, Slot),
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base::Alert(a) => f.debug_tuple("Alert").field(&a.alert_id).finish(),
            Base::Stored(_, slot) => f.debug_tuple("Stored").field(slot).finish(),
        }
    }
}

impl Base {
    pub fn load(&self) -> Option<Arc<Alert>> {
        match self {
            Base::Alert(a) => Some(Arc::clone(a)),
            Base::Stored(store, slot) => store.load(*slot).map(Arc::new),
        }
    }
}
