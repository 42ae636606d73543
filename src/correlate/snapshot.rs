//! Open correlation windows as data, so the daemon can keep them across a restart (state
//! file) and across a rule reload.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::window::Group;
use super::Engine;

/// Every open group, by correlation id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// The newest event time seen, which sets the lateness watermark.
    max_time: i64,
    groups: BTreeMap<String, Vec<(String, Group)>>,
}

impl Engine {
    pub fn snapshot(&self) -> Snapshot {
        let groups = self
            .correlations
            .iter()
            .zip(&self.groups)
            .filter(|(_, g)| !g.is_empty())
            .map(|(c, g)| {
                let mut list: Vec<(String, Group)> =
                    g.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
                list.sort_by(|a, b| a.0.cmp(&b.0));
                (c.meta.info.id.clone(), list)
            })
            .collect();
        Snapshot {
            max_time: self.max_time,
            groups,
        }
    }

    /// Takes over the groups of correlations that are still loaded (matched by id); returns
    /// how many groups were restored. Groups of correlations no longer loaded are dropped.
    pub fn restore(&mut self, snapshot: Snapshot) -> usize {
        self.max_time = self.max_time.max(snapshot.max_time);
        let mut restored = 0;
        for (id, groups) in snapshot.groups {
            let Some(ci) = self.correlations.iter().position(|c| c.meta.info.id == id) else {
                continue;
            };
            for (key, group) in groups {
                self.groups[ci].insert(key.into(), group);
                restored += 1;
            }
        }
        self.recount();
        restored
    }
}
