//! A few store connections a hub process shares among its request
//! handlers: one writer on SQLite (its writes take turns anyway), several on
//! PostgreSQL, where syncs of different sites run side by side and the
//! database orders what must be ordered.

use crate::error::Result;
use crate::store::{Backend, Store, Target};
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};

pub struct StorePool {
    idle: Mutex<Vec<Store>>,
    returned: Condvar,
    size: usize,
}

impl StorePool {
    /// `size` connections to the database at `target`.
    pub fn open(target: &Target, size: usize) -> Result<StorePool> {
        let stores = (0..size.max(1))
            .map(|_| Store::open(target, false))
            .collect::<Result<Vec<_>>>()?;
        Ok(StorePool {
            size: stores.len(),
            idle: Mutex::new(stores),
            returned: Condvar::new(),
        })
    }

    /// How many connections a pool of `backend` should hold for writers and
    /// for readers, given the configured PostgreSQL pool size.
    pub fn sizes(backend: Backend, pool_size: usize) -> (usize, usize) {
        match backend {
            Backend::Sqlite => (1, 1),
            Backend::Postgres => (pool_size.max(1), pool_size.div_ceil(2).max(1)),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// A connection, waiting for one to be returned if all are in use.
    pub fn get(&self) -> PooledStore<'_> {
        // A panic while a store was out cannot leave the database
        // half-written (its transaction rolls back), so a poisoned lock is
        // still usable.
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(store) = idle.pop() {
                return PooledStore {
                    pool: self,
                    store: Some(store),
                };
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Runs `f` on each connection in turn (settings such as cache size).
    pub fn each(&self, f: impl FnMut(&Store) -> Result<()>) -> Result<()> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.iter().try_for_each(f)
    }
}

/// A store borrowed from a [`StorePool`]; back in the pool when dropped.
pub struct PooledStore<'a> {
    pool: &'a StorePool,
    store: Option<Store>,
}

impl Deref for PooledStore<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store
            .as_ref()
            .expect("a pooled store is present until dropped")
    }
}

impl DerefMut for PooledStore<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.store
            .as_mut()
            .expect("a pooled store is present until dropped")
    }
}

impl Drop for PooledStore<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(store);
            self.pool.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StorePool;
    use crate::store::{Store, Target};

    #[test]
    fn a_borrowed_store_comes_back_and_a_waiter_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::Sqlite(dir.path().to_path_buf());
        Store::open(&target, true).unwrap();
        let pool = std::sync::Arc::new(StorePool::open(&target, 1).unwrap());
        let held = pool.get();
        let p = pool.clone();
        let waiter = std::thread::spawn(move || p.get().users().unwrap().len());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished());
        drop(held);
        assert_eq!(waiter.join().unwrap(), 0);
        assert_eq!(pool.size(), 1);
    }
}
