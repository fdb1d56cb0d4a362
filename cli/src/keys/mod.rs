//! `kubeseal keys ...`: the controller's key inventory (`list`, `dependents`), a key's
//! retirement with a dry run of what would stop opening (`retire`), and `backup` /
//! `restore` of the key Secrets.
//!
//! The connection flags are the usual ones (the kubectl client flags,
//! `--controller-name`, `--controller-namespace`), accepted before `keys` as well as
//! after the verb; after the verb wins.

mod api;
mod backup;
mod inventory;
mod report;

pub use backup::{backup, restore};
pub use report::{Output, dependents, list, retire};
