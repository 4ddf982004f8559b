//! A node's live instances of one kind (matches, worlds) by id, and which one each player is
//! in. Shared by the services and by the instances' own tasks, which remove themselves.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Live instances and the player index.
#[derive(Debug)]
pub struct Instances<H> {
    live: Mutex<HashMap<String, H>>,
    by_player: Mutex<HashMap<String, String>>,
}

impl<H> Default for Instances<H> {
    fn default() -> Self {
        Instances {
            live: Mutex::new(HashMap::new()),
            by_player: Mutex::new(HashMap::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<H: Clone> Instances<H> {
    /// Registers a new instance.
    pub fn insert(&self, id: String, handle: H) {
        lock(&self.live).insert(id, handle);
    }

    /// Forgets an instance that stopped, and every player bound to it.
    pub fn remove(&self, id: &str) {
        lock(&self.live).remove(id);
        lock(&self.by_player).retain(|_, i| i != id);
    }

    /// One instance.
    pub fn get(&self, id: &str) -> Option<H> {
        lock(&self.live).get(id).cloned()
    }

    /// Every instance.
    pub fn all(&self) -> Vec<H> {
        lock(&self.live).values().cloned().collect()
    }

    /// How many are live.
    pub fn count(&self) -> usize {
        lock(&self.live).len()
    }

    /// The instance a player is in.
    pub fn current(&self, player_id: &str) -> Option<H> {
        let id = lock(&self.by_player).get(player_id).cloned()?;
        self.get(&id)
    }

    /// Records that a player is in instance `id`.
    pub fn bind(&self, player_id: &str, id: &str) {
        lock(&self.by_player).insert(player_id.to_owned(), id.to_owned());
    }

    /// Forgets a player's membership, if it is still instance `id`.
    pub fn forget(&self, player_id: &str, id: &str) {
        let mut by_player = lock(&self.by_player);
        if by_player.get(player_id).is_some_and(|i| i == id) {
            by_player.remove(player_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_follows_the_instance() {
        let i: Instances<u32> = Instances::default();
        i.insert("m1".into(), 1);
        i.insert("m2".into(), 2);
        i.bind("p", "m1");
        assert_eq!(i.current("p"), Some(1));
        i.forget("p", "m2");
        assert_eq!(
            i.current("p"),
            Some(1),
            "only the instance the player is in can forget them"
        );
        i.bind("q", "m1");
        i.remove("m1");
        assert_eq!((i.current("p"), i.current("q"), i.count()), (None, None, 1));
    }
}
