//! The game modes a service offers, by name: the Rust modes registered at start, which never
//! change, and the script modes, which a re-read of the game directory replaces as a whole.
//! A Rust mode wins over a script mode of the same name. New matches and worlds look their
//! mode up here; running ones keep the mode they started with.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// A mode with a name.
pub trait Named {
    /// The mode's name.
    fn name(&self) -> &str;
}

/// Modes by name.
#[derive(Debug)]
pub struct Registry<M> {
    /// Names of the Rust modes.
    fixed: HashSet<String>,
    modes: RwLock<HashMap<String, Arc<M>>>,
}

impl<M: Named> Registry<M> {
    /// A registry of the Rust modes.
    pub fn new(fixed: Vec<M>) -> Self {
        let modes: HashMap<String, Arc<M>> = fixed
            .into_iter()
            .map(|m| (m.name().to_owned(), Arc::new(m)))
            .collect();
        Registry {
            fixed: modes.keys().cloned().collect(),
            modes: RwLock::new(modes),
        }
    }

    /// A mode by name.
    pub fn get(&self, name: &str) -> Option<Arc<M>> {
        self.modes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Replaces every script mode with `scripts`; Rust modes are kept.
    pub fn set_scripts(&self, scripts: Vec<M>) {
        let mut modes = self.modes.write().unwrap_or_else(|p| p.into_inner());
        modes.retain(|name, _| self.fixed.contains(name));
        for m in scripts {
            if self.fixed.contains(m.name()) {
                tracing::warn!(mode = %m.name(), "a Rust mode of the same name wins over the script");
            } else {
                modes.insert(m.name().to_owned(), Arc::new(m));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Mode(&'static str, u32);

    impl Named for Mode {
        fn name(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn scripts_are_replaced_as_a_whole_and_never_shadow_rust_modes() {
        let r = Registry::new(vec![Mode("arena", 1)]);
        r.set_scripts(vec![Mode("arena", 2), Mode("race", 1), Mode("old", 1)]);
        assert_eq!(r.get("arena").as_deref(), Some(&Mode("arena", 1)));
        assert_eq!(r.get("race").as_deref(), Some(&Mode("race", 1)));
        r.set_scripts(vec![Mode("race", 2)]);
        assert_eq!(r.get("race").as_deref(), Some(&Mode("race", 2)));
        assert!(
            r.get("old").is_none(),
            "a mode the new scripts lack is gone"
        );
        assert!(r.get("arena").is_some());
    }
}
