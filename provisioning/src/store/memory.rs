//! In-memory [`Store`] for engine unit tests: same rules as SQLite (both use
//! `logic`), nothing persisted, change notifications in-process only.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::watch;

use super::logic::{self, Write};
use super::{
    BoxFuture, DeleteOutcome, EventType, LabelSelector, ObjectKey, RawRef, Result, Store,
    StoreError, Subresource, WatchEvent,
};

/// Events kept for [`Store::watch`]; older ones are compacted away.
const EVENT_HISTORY: usize = 10_000;

#[derive(Default)]
struct State {
    revision: u64,
    compacted: u64,
    objects: BTreeMap<(String, String, String), Value>,
    events: VecDeque<WatchEvent>,
}

/// A [`Store`] held in memory.
pub struct MemoryStore {
    state: Mutex<State>,
    revision_tx: watch::Sender<u64>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
            revision_tx: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-written
        // (every write is applied in one step), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, state: &mut State, key: ObjectKey, write: Write, added: bool) -> Value {
        let (event_type, object) = match write {
            Write::Unchanged(v) => return v,
            Write::Put(v) => {
                let t = if added {
                    EventType::Added
                } else {
                    EventType::Modified
                };
                state.objects.insert(tuple(&key), v.clone());
                (t, v)
            }
            Write::Remove(v) => {
                state.objects.remove(&tuple(&key));
                (EventType::Deleted, v)
            }
        };
        state.revision += 1;
        state.events.push_back(WatchEvent {
            revision: state.revision,
            event_type,
            key,
            object: object.clone(),
        });
        while state.events.len() > EVENT_HISTORY {
            if let Some(old) = state.events.pop_front() {
                state.compacted = old.revision;
            }
        }
        self.revision_tx.send_replace(state.revision);
        object
    }

    fn write(&self, obj: Value, subresource: Subresource) -> Result<Value> {
        let key = ObjectKey::of(&obj);
        let mut state = self.lock();
        let current = state
            .objects
            .get(&tuple(&key))
            .ok_or_else(|| StoreError::NotFound { key: key.clone() })?;
        let write = logic::prepare_update(&key, current, obj, state.revision + 1, subresource)?;
        Ok(self.apply(&mut state, key, write, false))
    }
}

fn tuple(key: &ObjectKey) -> (String, String, String) {
    (key.kind.clone(), key.namespace.clone(), key.name.clone())
}

impl Store for MemoryStore {
    fn get(&self, key: &ObjectKey) -> Result<Value> {
        self.lock()
            .objects
            .get(&tuple(key))
            .cloned()
            .ok_or_else(|| StoreError::NotFound { key: key.clone() })
    }

    fn list_with(
        &self,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
        visit: &mut dyn FnMut(RawRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        // Snapshot first so that `visit` runs without the lock held.
        let (revision, objects) = {
            let state = self.lock();
            let objects: Vec<(ObjectKey, String)> = state
                .objects
                .iter()
                .filter(|((k, ns, _), _)| k == kind && namespace.is_none_or(|n| n == ns))
                .filter(|(_, obj)| {
                    selector.is_none_or(|s| {
                        let labels = logic::labels(obj)
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        s.matches(&labels)
                    })
                })
                .map(|((k, ns, name), obj)| (ObjectKey::new(k, ns, name), obj.to_string()))
                .collect();
            (state.revision, objects)
        };
        for (key, json) in &objects {
            visit(RawRef {
                kind: &key.kind,
                namespace: &key.namespace,
                name: &key.name,
                json,
            })?;
        }
        Ok(revision)
    }

    fn create(&self, obj: Value) -> Result<Value> {
        let mut state = self.lock();
        let (key, obj) = logic::prepare_create(obj, state.revision + 1)?;
        if state.objects.contains_key(&tuple(&key)) {
            return Err(StoreError::AlreadyExists { key });
        }
        Ok(self.apply(&mut state, key, Write::Put(obj), true))
    }

    fn update(&self, obj: Value) -> Result<Value> {
        self.write(obj, Subresource::Main)
    }

    fn update_status(&self, obj: Value) -> Result<Value> {
        self.write(obj, Subresource::Status)
    }

    fn delete(&self, key: &ObjectKey) -> Result<DeleteOutcome> {
        let mut state = self.lock();
        let current = state
            .objects
            .get(&tuple(key))
            .ok_or_else(|| StoreError::NotFound { key: key.clone() })?;
        let write = logic::prepare_delete(key, current, state.revision + 1)?;
        let removed = matches!(write, Write::Remove(_));
        let obj = self.apply(&mut state, key.clone(), write, false);
        Ok(if removed {
            DeleteOutcome::Deleted(obj)
        } else {
            DeleteOutcome::Pending(obj)
        })
    }

    fn revision(&self) -> Result<u64> {
        Ok(self.lock().revision)
    }

    fn watch(&self, since: u64) -> Result<Vec<WatchEvent>> {
        self.watch_limited(since, usize::MAX)
    }

    fn watch_limited(&self, since: u64, limit: usize) -> Result<Vec<WatchEvent>> {
        let state = self.lock();
        if since < state.compacted {
            return Err(StoreError::Expired {
                since,
                compacted: state.compacted,
            });
        }
        Ok(state
            .events
            .iter()
            .filter(|e| e.revision > since)
            .take(limit)
            .cloned()
            .collect())
    }

    fn wait_for_change(&self, since: u64) -> BoxFuture<'_, Result<u64>> {
        let mut rx = self.revision_tx.subscribe();
        Box::pin(async move {
            // The sender lives in `self`, which outlives this future, so
            // `wait_for` cannot fail with a closed channel; map it anyway.
            let rev = rx
                .wait_for(|r| *r > since)
                .await
                .map(|r| *r)
                .unwrap_or(since);
            Ok(rev)
        })
    }
}
