//! The Events page's saved views: a named search any console user may save and every user of
//! the Events page sees and opens (a view is only a search: opening one shows what the
//! opener's own roles let them read, never what its author could). Kept in
//! `DIR/mgmt-event-views.json` beside `mgmt.toml`, written atomically by the serving user as
//! the manager pages write that file. Whoever saved a view may delete it, and so may a manager
//! (a `manage` rule on every host); nobody edits another's.
//!
//! Bounded: [`MAX_VIEWS`] views, names of [`MAX_NAME_CHARS`] characters, the search stored as
//! the checked parameters `event_search` reads back (never the text as typed), a file of at
//! most 512 KiB read at start.
//!
//! A configuration directory the serving user may not read or write (root's, mode 0700) does
//! not stop the console: it starts without the views it cannot read, says at start why views
//! cannot be saved, and refuses only saving and deleting ([`ViewError::CannotSave`]), as the
//! manager pages refuse only the edit in that case. A file that is there but not a list of
//! views still stops the start, as a bad `mgmt.toml` does.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use wsman_principal::Principal;

use crate::event_search::Search;

/// The views' file inside the config directory.
pub const FILE_NAME: &str = "mgmt-event-views.json";
/// Most views kept.
pub const MAX_VIEWS: usize = 200;
/// Longest view name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Largest views file read.
const MAX_FILE_BYTES: u64 = 512 * 1024;

/// One saved view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedView {
    /// Its name, unique.
    pub name: String,
    /// Who saved it: the principal (`console:NAME@managers`, `linux:NAME`), compared to allow
    /// deleting it.
    pub owner: String,
    /// Who saved it, as the audit names users (`NAME`, `os:NAME`).
    pub owner_label: String,
    /// The search, as a URL query of its checked parameters.
    pub query: String,
}

/// Why a view was not saved or deleted (shown on the page, 400 or 403).
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A name empty, too long or with control characters.
    #[error("a view's name is 1 to {MAX_NAME_CHARS} characters, without control characters")]
    BadName,
    /// A view of that name exists.
    #[error("a view named {0:?} exists already; choose another name or delete it first")]
    Taken(String),
    /// [`MAX_VIEWS`] are saved.
    #[error("{MAX_VIEWS} views are saved already; delete one first")]
    Full,
    /// No view of that name.
    #[error("there is no view named {0:?}")]
    NotFound(String),
    /// Not the view's author, nor a manager.
    #[error("only who saved the view {0:?}, or a manager, may delete it")]
    NotYours(String),
    /// The file or its directory is not the serving user's to read or write (said at start):
    /// shown on the page instead of the view saved or deleted.
    #[error("views cannot be saved on this console: {0}")]
    CannotSave(String),
    /// The file could not be read or written.
    #[error("the views file {}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: String,
    },
}

/// The saved views, in memory and in their file.
pub struct EventViews {
    path: Option<PathBuf>,
    views: Mutex<Vec<SavedView>>,
    /// Why views cannot be saved (found at start), when they cannot.
    unsaved: Option<String>,
}

impl Default for EventViews {
    /// No views and no file (a console without a config directory to write).
    fn default() -> Self {
        Self {
            path: None,
            views: Mutex::new(Vec::new()),
            unsaved: None,
        }
    }
}

fn file_error(path: &Path, error: impl std::fmt::Display) -> ViewError {
    ViewError::File {
        path: path.to_owned(),
        error: error.to_string(),
    }
}

impl EventViews {
    /// The views of `config_dir`'s file (none when it does not exist yet); a file that is too
    /// large or not a list of views is an error, as a bad `mgmt.toml` is. A file that cannot
    /// be read, or a directory the serving user cannot write, is no error: the views are then
    /// read-only or none, and [`Self::unsaved`] says why.
    pub fn load(config_dir: &Path) -> Result<Self, ViewError> {
        let path = config_dir.join(FILE_NAME);
        let views = match read_file(&path) {
            Ok(None) => Vec::new(),
            Ok(Some(bytes)) => {
                if bytes.len() as u64 > MAX_FILE_BYTES {
                    return Err(file_error(&path, "larger than 512 KiB"));
                }
                let views: Vec<SavedView> =
                    serde_json::from_slice(&bytes).map_err(|e| file_error(&path, e))?;
                views.into_iter().take(MAX_VIEWS).collect()
            }
            Err(error) => {
                // Saving would replace views this console cannot see: refused as well.
                let why = format!("the views file {} cannot be read: {error}", path.display());
                return Ok(Self {
                    path: Some(path),
                    views: Mutex::new(Vec::new()),
                    unsaved: Some(why),
                });
            }
        };
        Ok(Self {
            unsaved: unwritable(config_dir),
            path: Some(path),
            views: Mutex::new(views),
        })
    }

    /// Why views cannot be saved on this console (its start logs it), when they cannot.
    pub fn unsaved(&self) -> Option<&str> {
        self.unsaved.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SavedView>> {
        self.views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every view, by name.
    pub fn list(&self) -> Vec<SavedView> {
        let mut views = self.lock().clone();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views
    }

    /// The view called `name`.
    pub fn get(&self, name: &str) -> Option<SavedView> {
        self.lock().iter().find(|v| v.name == name).cloned()
    }

    /// Saves `search` as `name`, by `owner` (shown as `owner_label`).
    pub fn create(
        &self,
        owner: &Principal,
        owner_label: &str,
        name: &str,
        search: &Search,
    ) -> Result<SavedView, ViewError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ViewError::BadName);
        }
        let view = SavedView {
            name: name.to_owned(),
            owner: owner.to_string(),
            owner_label: owner_label.to_owned(),
            query: search.query_string(1),
        };
        let mut views = self.lock();
        if views.iter().any(|v| v.name == name) {
            return Err(ViewError::Taken(name.to_owned()));
        }
        if views.len() >= MAX_VIEWS {
            return Err(ViewError::Full);
        }
        let mut next = views.clone();
        next.push(view.clone());
        self.write(&next)?;
        *views = next;
        Ok(view)
    }

    /// Deletes the view `name`, if `who` saved it or `manager` (a manager may delete any).
    pub fn remove(&self, name: &str, who: &Principal, manager: bool) -> Result<(), ViewError> {
        let mut views = self.lock();
        let at = views
            .iter()
            .position(|v| v.name == name)
            .ok_or_else(|| ViewError::NotFound(name.to_owned()))?;
        if !manager && views[at].owner != who.to_string() {
            return Err(ViewError::NotYours(name.to_owned()));
        }
        let mut next = views.clone();
        next.remove(at);
        self.write(&next)?;
        *views = next;
        Ok(())
    }

    fn write(&self, views: &[SavedView]) -> Result<(), ViewError> {
        if let Some(why) = &self.unsaved {
            return Err(ViewError::CannotSave(why.clone()));
        }
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(views).map_err(|e| file_error(path, e))?;
        wsman_safe::write_atomic(path, &text, 0o600).map_err(|e| file_error(path, e))
    }
}

/// The bytes of the file at `path` (at most one past the bound, for the caller to refuse);
/// `None` when there is none.
fn read_file(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    read_bounded(path, MAX_FILE_BYTES)
}

/// The bytes of the file at `path`, at most `max` and one more (for the caller to refuse a
/// larger file); `None` when there is none.
pub(crate) fn read_bounded(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let file = match std::fs::File::open(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        opened => opened?,
    };
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Why the serving user cannot make the views file in `dir` (the atomic writer makes a file
/// beside it and renames it), when it cannot: said at start rather than at the first save.
fn unwritable(dir: &Path) -> Option<String> {
    use nix::unistd::{access, AccessFlags};
    access(dir, AccessFlags::W_OK | AccessFlags::X_OK)
        .err()
        .map(|errno| {
            format!(
                "the directory {} is not writable by the service's user: {}",
                dir.display(),
                std::io::Error::from(errno)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_saved_shared_and_deleted_only_by_their_author_or_a_manager() {
        let dir = tempfile::tempdir().expect("tempdir");
        let views = EventViews::load(dir.path()).expect("no file yet");
        let alice = Principal::linux_user("alice");
        let bob = Principal::linux_user("bob");
        let search = Search::parse("channel=Security&eventid=4625&text=%3Cscript%3E");
        views
            .create(&alice, "os:alice", "Failed logons", &search)
            .expect("saved");
        assert!(matches!(
            views.create(&bob, "os:bob", "Failed logons", &search),
            Err(ViewError::Taken(_))
        ));
        assert!(matches!(
            views.create(&bob, "os:bob", "a\u{7}b", &search),
            Err(ViewError::BadName)
        ));
        // Read back from the file by another console: shared, the search as checked.
        let again = EventViews::load(dir.path()).expect("the file");
        let view = again.get("Failed logons").expect("the view");
        assert_eq!(
            view.query,
            "channel=Security&eventid=4625&text=%3Cscript%3E"
        );
        assert_eq!(Search::parse(&view.query).parameters(), search.parameters());
        assert!(matches!(
            again.remove("Failed logons", &bob, false),
            Err(ViewError::NotYours(_))
        ));
        again
            .remove("Failed logons", &bob, true)
            .expect("a manager may");
        assert!(EventViews::load(dir.path())
            .expect("file")
            .list()
            .is_empty());
        views
            .create(&alice, "os:alice", "Mine", &search)
            .expect("saved");
        views.remove("Mine", &alice, false).expect("its author may");
    }

    #[test]
    fn a_bad_file_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), "{not json").expect("write");
        assert!(matches!(
            EventViews::load(dir.path()),
            Err(ViewError::File { .. })
        ));
    }
}
