//! The release branch `promptctl/<env>` in git: reading states and frozen versions at a
//! commit, and writing a new state as one commit by compare-and-swap.

use std::path::Path;

use super::error::StoreError;
use super::history::Record;
use super::object_index::ObjectIndex;
use super::resolver::Resolver;
use super::state::{ReadState, STATE_FILE, State, cache};
use crate::prompt::{Prompt, PromptName, Version, VersionPrefix};

pub use super::object_index::OBJECTS_DIR;

/// The release branch of one environment.
pub struct Store {
    repo: git2::Repository,
    env: String,
    folder: String,
}

/// A state as read from the branch: the commit it is at (none before the first action).
#[derive(Debug, Clone)]
pub struct Release {
    pub commit: Option<git2::Oid>,
    pub state: State,
}

/// Why a write did not land.
#[derive(Debug)]
pub enum WriteError {
    /// The branch moved since it was read, or another writer holds its lock: read again.
    Moved,
    /// Anything else.
    Failed(StoreError),
}

impl From<git2::Error> for WriteError {
    fn from(error: git2::Error) -> Self {
        WriteError::Failed(error.into())
    }
}

/// Returns the branch name of an environment's release history.
pub fn branch_name(env: &str) -> String {
    format!("promptctl/{env}")
}

/// Returns where a version is filed inside a release commit.
pub fn object_path(version: &Version) -> String {
    let hex = version.hex();
    format!("{OBJECTS_DIR}/{}/{}.json", &hex[..2], &hex[2..])
}

impl Store {
    /// Opens the release branch of `env` in `repo`; `folder` is the prompts folder partials
    /// are shown under. (A project opens its own with `Project::store`, which checks that
    /// the environment is declared.)
    pub fn open_repo(repo: git2::Repository, env: &str, folder: &str) -> Store {
        crate::gitio::options::init();
        Store {
            repo,
            env: env.to_owned(),
            folder: folder.to_owned(),
        }
    }

    /// Returns the environment's name.
    pub fn env(&self) -> &str {
        &self.env
    }

    /// Returns the repository the branch lives in.
    pub fn repo(&self) -> &git2::Repository {
        &self.repo
    }

    /// Returns the full reference name of the branch.
    pub fn reference(&self) -> String {
        format!("refs/heads/{}", branch_name(&self.env))
    }

    /// Returns the commit the branch points to, if anything was ever released.
    pub fn tip(&self) -> Result<Option<git2::Oid>, StoreError> {
        match self.repo.refname_to_id(&self.reference()) {
            Ok(id) => Ok(Some(id)),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the state at the tip of the branch.
    pub fn read(&self) -> Result<Release, StoreError> {
        self.read_at(self.tip()?)
    }

    /// Reads the state at the tip of the branch with only the prompts `names`, for a view of
    /// a few: a state read before decodes only theirs.
    pub fn read_named(&self, names: &[PromptName]) -> Result<Release, StoreError> {
        let commit = self.tip()?;
        let keep = |name: &str| names.iter().any(|n| n.as_str() == name);
        let state = match commit {
            None => State::default(),
            Some(id) => match cache::read_only(&self.state_cache(), id, &keep) {
                Some(state) => state,
                None => {
                    let mut state = self.tree(id)?.state()?;
                    state.prompts.retain(|name, _| keep(name.as_str()));
                    state
                }
            },
        };
        Ok(Release { commit, state })
    }

    /// Reads the state at a release commit (`None`: the empty state before the first).
    pub fn read_at(&self, commit: Option<git2::Oid>) -> Result<Release, StoreError> {
        Ok(Release {
            commit,
            state: match commit {
                Some(id) => self.state_at(id)?,
                None => State::default(),
            },
        })
    }

    /// How the state a write starts from is named in messages.
    fn shown_state(&self, parent: Option<git2::Oid>) -> String {
        match parent {
            Some(id) => self.shown(id, STATE_FILE),
            None => format!("{}:{STATE_FILE}", branch_name(&self.env)),
        }
    }

    /// Returns a resolver over the state at the tip of the branch.
    pub fn resolver(&self) -> Result<Resolver, StoreError> {
        Ok(Resolver::new(self.read()?.state))
    }

    /// Shows a file of a release commit in messages: `promptctl/production@1a2b3c4:state.toml`.
    pub fn shown(&self, commit: git2::Oid, path: &str) -> String {
        let id = commit.to_string();
        format!(
            "{}@{}:{path}",
            branch_name(&self.env),
            crate::base::shortid::commit(&id)
        )
    }

    /// Reads and validates the state of a release commit: the file parses, and the active
    /// and canary version of every prompt have their object in the commit.
    ///
    /// A commit read before comes from the parsed-state cache (`store/state/cache.rs`).
    pub fn state_at(&self, commit: git2::Oid) -> Result<State, StoreError> {
        match cache::read(&self.state_cache(), commit) {
            Some(state) => Ok(state),
            None => self.tree(commit)?.state(),
        }
    }

    /// Where the parsed-state cache of this environment is.
    fn state_cache(&self) -> std::path::PathBuf {
        self.repo
            .path()
            .join(format!("promptctl-state-{}", self.env))
    }

    /// Opens a release commit's tree once, to read many frozen versions from it.
    pub fn tree(&self, commit: git2::Oid) -> Result<ReleaseTree<'_>, StoreError> {
        self.tree_since(commit, None)
    }

    /// [`Store::tree`], reading only the `objects/` folders that `since` (the index of an
    /// earlier commit's tree) does not already hold.
    pub fn tree_since(
        &self,
        commit: git2::Oid,
        since: Option<&ObjectIndex>,
    ) -> Result<ReleaseTree<'_>, StoreError> {
        let tree = self.repo.find_commit(commit)?.tree()?;
        let objects = ObjectIndex::read(&self.repo, &tree, since)?;
        Ok(ReleaseTree {
            store: self,
            commit,
            tree,
            objects,
        })
    }

    /// Reads the frozen version `version` of prompt `name` from a release commit. To read
    /// many, open the commit once with [`Store::tree`].
    pub fn prompt(
        &self,
        commit: git2::Oid,
        name: &PromptName,
        version: Version,
    ) -> Result<Prompt, StoreError> {
        self.tree(commit)?.prompt(name, version)
    }

    /// Finds the one stored version that starts with `prefix`.
    pub fn find_version(
        &self,
        commit: git2::Oid,
        prefix: &VersionPrefix,
    ) -> Result<Version, StoreError> {
        let hex = prefix.hex();
        let tree = self.repo.find_commit(commit)?.tree()?;
        let folder = format!("{OBJECTS_DIR}/{}", &hex[..2]);
        let mut found = Vec::new();
        if let Ok(entry) = tree.get_path(Path::new(&folder)) {
            let subtree = entry.to_object(&self.repo)?.peel_to_tree()?;
            for object in subtree.iter() {
                let Some(rest) = object.name().ok().and_then(|n| n.strip_suffix(".json")) else {
                    continue;
                };
                let full = format!("{}{rest}", &hex[..2]);
                if full.starts_with(hex)
                    && let Ok(version) = format!("sha256:{full}").parse::<Version>()
                {
                    found.push(version);
                }
            }
        }
        match found.as_slice() {
            [version] => Ok(*version),
            [] => Err(StoreError::VersionPrefix {
                message: format!(
                    "no version starting with `sha256:{hex}` was ever released to `{}`",
                    self.env
                ),
            }),
            many => Err(StoreError::VersionPrefix {
                message: format!(
                    "`sha256:{hex}` is ambiguous in `{}`: {} versions start with it; give more digits",
                    self.env,
                    many.len()
                ),
            }),
        }
    }

    /// Writes `state` as a new commit on top of `parent` and moves the branch to it, only
    /// if the branch still points to `parent` (compare-and-swap). `objects` are the frozen
    /// versions the new state adds.
    ///
    /// Objects, tree and commit are written before the branch moves, and the branch moves by
    /// an atomic rename of its lock file, so a process killed at any point leaves the branch
    /// at the old or the new commit.
    pub fn write(
        &self,
        parent: Option<git2::Oid>,
        state: &State,
        objects: &[(Version, &[u8])],
        record: &Record,
        author: &git2::Signature<'_>,
    ) -> Result<git2::Oid, WriteError> {
        let commit = self
            .commit_on(parent, state, objects, record, author)
            .map_err(WriteError::Failed)?;
        self.advance(commit, parent, &format!("promptctl: {}", record.summary))?;
        Ok(commit)
    }

    /// Writes `state` as a commit on top of `parent` without moving any branch: an action
    /// pushed to a remote is made this way, and the local branch follows once the remote
    /// has it.
    pub fn commit_on(
        &self,
        parent: Option<git2::Oid>,
        state: &State,
        objects: &[(Version, &[u8])],
        record: &Record,
        author: &git2::Signature<'_>,
    ) -> Result<git2::Oid, StoreError> {
        let repo = &self.repo;
        let (baseline, stored) = match parent {
            Some(id) => {
                let parent_tree = self.tree(id)?;
                (parent_tree.tree, parent_tree.objects)
            }
            None => (
                repo.find_tree(repo.treebuilder(None)?.write()?)?,
                ObjectIndex::default(),
            ),
        };
        refuse_missing_objects(state, &stored, objects, &self.shown_state(parent))?;
        let mut update = git2::build::TreeUpdateBuilder::new();
        // Two prompts with the same text share a version, and libgit2 refuses a path
        // given twice ("duplicate entries given for update"): each object is written once.
        let mut written = std::collections::HashSet::new();
        for (version, bytes) in objects {
            if stored.get(version).is_none() && written.insert(version) {
                update.upsert(
                    object_path(version),
                    repo.blob(bytes)?,
                    git2::FileMode::Blob,
                );
            }
        }
        let state_blob = repo.blob(state.to_toml().as_bytes())?;
        update.upsert(STATE_FILE, state_blob, git2::FileMode::Blob);
        let tree = repo.find_tree(update.create_updated(repo, &baseline)?)?;
        let parents = match parent {
            Some(id) => vec![repo.find_commit(id)?],
            None => Vec::new(),
        };
        let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        Ok(repo.commit(
            None,
            author,
            author,
            &record.to_message(),
            &tree,
            &parent_refs,
        )?)
    }

    /// Moves the branch from `parent` to `commit` by compare-and-swap.
    pub fn advance(
        &self,
        commit: git2::Oid,
        parent: Option<git2::Oid>,
        log: &str,
    ) -> Result<(), WriteError> {
        match self.move_branch(commit, parent, log) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
                ) =>
            {
                Err(WriteError::Moved)
            }
            Err(e) => Err(WriteError::Failed(e.into())),
        }
    }

    /// Moves the branch to `new` if it is still at `old` (`None`: if it does not exist yet).
    ///
    /// git takes a `.lock` file beside the ref while it moves it; a process killed at that
    /// moment leaves the file behind, and every later move would fail on it. So moves are
    /// also made under an advisory lock of the operating system (`promptctl-<env>.lock` in
    /// the git folder), which dies with its process: whoever holds it knows that a ref lock
    /// it finds was left by a promptctl that was killed, and removes it.
    pub fn move_branch(
        &self,
        new: git2::Oid,
        old: Option<git2::Oid>,
        log: &str,
    ) -> Result<(), git2::Error> {
        let guard_path = self
            .repo
            .path()
            .join(format!("promptctl-{}.lock", self.env));
        let guard = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&guard_path)
            .map_err(|e| {
                git2::Error::from_str(&format!("cannot open `{}`: {e}", guard_path.display()))
            })?;
        guard.lock().map_err(|e| {
            git2::Error::from_str(&format!("cannot lock `{}`: {e}", guard_path.display()))
        })?;
        let stale = self.repo.path().join(format!("{}.lock", self.reference()));
        if stale.exists() {
            tracing::warn!(lock = %stale.display(), "removing a ref lock left by a killed promptctl");
            let _ = std::fs::remove_file(&stale);
        }
        match old {
            Some(old) => self
                .repo
                .reference_matching(&self.reference(), new, true, old, log)
                .map(drop),
            None => self
                .repo
                .reference(&self.reference(), new, false, log)
                .map(drop),
        }
        // The advisory lock is released when `guard` is dropped, or when the process dies.
    }

    /// Reads the record of a release commit.
    pub fn record(&self, commit: git2::Oid) -> Result<Option<Record>, StoreError> {
        let commit = self.repo.find_commit(commit)?;
        Ok(Record::parse(&String::from_utf8_lossy(
            commit.message_bytes(),
        )))
    }
}

/// Refuses to commit a state whose active or canary version has no object in the commit it
/// would make: its own readers (`status`, `serve`) would refuse it, and the environment would
/// stay unreadable until someone moved the branch by hand. A hand-edited `previous` list is
/// how such a version can reach `revert`.
fn refuse_missing_objects(
    state: &State,
    stored: &ObjectIndex,
    objects: &[(Version, &[u8])],
    shown: &str,
) -> Result<(), StoreError> {
    for prompt in state.prompts.values() {
        let serving =
            std::iter::once(prompt.active).chain(prompt.canary.as_ref().map(|c| c.version));
        for version in serving {
            if stored.get(&version).is_none() && !objects.iter().any(|(v, _)| *v == version) {
                return Err(StoreError::MissingObject {
                    shown: shown.to_owned(),
                    version: version.to_string(),
                    path: object_path(&version),
                });
            }
        }
    }
    Ok(())
}

/// The tree of one release commit, found once, with an index of the versions it stores:
/// reading a version is then one blob lookup, not a walk from the commit (whose message
/// lists every prompt a publish touched, 1.27 MB for 10,000 prompts) nor from the root tree
/// (whose `objects/` folder of 256 entries is larger than libgit2 caches, so every path
/// lookup read and inflated it again: 69% of a one-prompt action on 10,000 prompts).
pub struct ReleaseTree<'s> {
    store: &'s Store,
    commit: git2::Oid,
    tree: git2::Tree<'s>,
    objects: ObjectIndex,
}

impl ReleaseTree<'_> {
    /// The index of the versions the commit stores, for reading a later commit's tree.
    pub fn index(&self) -> &ObjectIndex {
        &self.objects
    }

    /// Returns the commit.
    pub fn commit(&self) -> git2::Oid {
        self.commit
    }

    /// Returns the id of the blob a version is stored in, if the commit has it.
    pub fn object_id(&self, version: &Version) -> Option<git2::Oid> {
        self.objects.get(version)
    }

    /// Returns every version the commit stores.
    pub fn versions(&self) -> impl Iterator<Item = &Version> {
        self.objects.versions()
    }

    /// Reads and validates the commit's state: the file parses, and the active and canary
    /// version of every prompt have their object in the commit.
    pub fn state(&self) -> Result<State, StoreError> {
        let path = self.store.state_cache();
        if let Some(state) = cache::read(&path, self.commit) {
            return Ok(state);
        }
        let (state, _) = self.state_and_text()?;
        cache::write(&path, self.commit, &state);
        Ok(state)
    }

    /// Like [`ReleaseTree::state`], with the text of `state.toml` as stored.
    pub fn state_and_text(&self) -> Result<(State, String), StoreError> {
        let (read, text) = self.state_since(None)?;
        Ok((read.state, text))
    }

    /// Like [`ReleaseTree::state_and_text`], reusing the prompts of a `previous` state (and
    /// the text it was read from) whose tables did not change: see `State::parse_since`.
    pub fn state_since(
        &self,
        previous: Option<(&str, &ReadState)>,
    ) -> Result<(ReadState, String), StoreError> {
        let store = self.store;
        let shown = store.shown(self.commit, STATE_FILE);
        let entry = self
            .tree
            .get_name(STATE_FILE)
            .ok_or_else(|| StoreError::NotAState {
                message: format!("{shown} is missing: this commit is not a release state"),
            })?;
        let blob = entry.to_object(&store.repo)?.peel_to_blob()?;
        let text = std::str::from_utf8(blob.content()).map_err(|_| StoreError::NotAState {
            message: format!("{shown} is not UTF-8 text"),
        })?;
        let read = State::parse_since(&shown, text, previous)?;
        let text = text.to_owned();
        for prompt in read.state.prompts.values() {
            let serving =
                std::iter::once(prompt.active).chain(prompt.canary.as_ref().map(|c| c.version));
            for version in serving {
                if self.objects.get(&version).is_none() {
                    return Err(StoreError::MissingObject {
                        shown: shown.clone(),
                        version: version.to_string(),
                        path: object_path(&version),
                    });
                }
            }
        }
        Ok((read, text))
    }

    /// Returns the stored bytes of each of `versions` as text, in order, unchecked: the
    /// caller checks them against the versions (as [`Prompt::from_frozen`] does). They are
    /// read at once: loose objects straight from their files across the cores, the rest
    /// through libgit2. One by one through libgit2, the 10,000 objects of a fresh `serve`
    /// were a fifth of its start.
    pub fn objects_text(&self, versions: &[Version]) -> Result<Vec<String>, StoreError> {
        let ids = versions
            .iter()
            .map(|version| self.stored_id(version))
            .collect::<Result<Vec<_>, _>>()?;
        let blobs = crate::gitio::loose::read_blobs(&self.store.repo, &ids)?;
        Ok(blobs
            .into_iter()
            .map(|bytes| {
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            })
            .collect())
    }

    /// The blob of `version` in this commit, or the error that names what is missing.
    fn stored_id(&self, version: &Version) -> Result<git2::Oid, StoreError> {
        self.object_id(version)
            .ok_or_else(|| StoreError::MissingObject {
                shown: self.store.shown(self.commit, STATE_FILE),
                version: version.to_string(),
                path: object_path(version),
            })
    }

    /// Reads the frozen version `version` of prompt `name`.
    pub fn prompt(&self, name: &PromptName, version: Version) -> Result<Prompt, StoreError> {
        let path = object_path(&version);
        let store = self.store;
        let id = self.stored_id(&version)?;
        let blob = store.repo.find_blob(id)?;
        let shown = store.shown(self.commit, &path);
        Prompt::from_frozen(name.clone(), &shown, &store.folder, blob.content(), version)
            .map_err(StoreError::CorruptObject)
    }
}
