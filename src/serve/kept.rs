//! The copy of the last good state kept in `--state-dir`: written after every swap,
//! touched by every confirmed read (its file time is its age), and served at once when a
//! server starts while its source does not answer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::kept_pack::Pack;
use super::{ServeError, ServeOptions, ServerState};
use crate::served::{Snapshot, SnapshotData};

/// Installs the copy kept in the state folder, marked stale until the source confirms it;
/// `false` when there is no usable copy.
pub(super) fn start_from_kept_copy(
    options: &ServeOptions,
    state: &Arc<ServerState>,
    folder: &str,
) -> bool {
    let kept = options
        .state_dir
        .as_ref()
        .and_then(|dir| read_persisted(dir, &options.env));
    let (Some(dir), Some((data, pack))) = (&options.state_dir, kept) else {
        return false;
    };
    // The copy is as fresh as the last time the source confirmed it: its file's time, which
    // every confirmed read refreshes. So a restarted replica still says how old it is.
    let file = match pack {
        Some(_) => persisted_path(dir, &options.env),
        None => old_copy_path(dir, &options.env),
    };
    let confirmed = std::fs::metadata(file).and_then(|m| m.modified()).ok();
    let Ok(snapshot) = Snapshot::build(Arc::new(data), folder, &state.counters, None) else {
        return false;
    };
    let upgrade = pack.is_none();
    *state.kept_pack.lock().unwrap_or_else(|e| e.into_inner()) = pack;
    if upgrade {
        // An earlier build's copy is kept again in today's form at once, with its age, so
        // that confirmed reads refresh it.
        let compiled = snapshot.problems.is_empty();
        let kept = persist(options, &snapshot.data, &state.kept_pack, compiled);
        if let (Ok(()), Some(when)) = (kept, confirmed) {
            let file = std::fs::File::options()
                .write(true)
                .open(persisted_path(dir, &options.env));
            let _ = file.and_then(|file| file.set_modified(when));
        }
    }
    tracing::info!(
        commit = %snapshot.commit,
        "serving the copy kept in the state folder until the source answers"
    );
    state.install(snapshot);
    state.health().confirmed_at = confirmed;
    state.mark_failed("not yet confirmed: the source has not been read since the start".into());
    true
}

/// Marks the kept copy as confirmed now (its file's modification time), for a restart to
/// know how old it is.
pub(super) fn touch_kept_copy(options: &ServeOptions) {
    let Some(dir) = &options.state_dir else {
        return;
    };
    let touched = std::fs::File::options()
        .write(true)
        .open(persisted_path(dir, &options.env))
        .and_then(|file| file.set_modified(SystemTime::now()));
    if let Err(error) = touched {
        tracing::debug!(%error, "cannot mark the kept copy as confirmed");
    }
}

/// The manifest of the kept copy: the commit and state text, and how much of the pack of
/// versions beside it is whole ([`Pack`]). Its file time is the copy's age.
pub(super) fn persisted_path(dir: &std::path::Path, env: &str) -> PathBuf {
    dir.join(format!("kept-{env}.json"))
}

/// The whole copy as earlier versions kept it, every version inside (19 MB at 10,000
/// prompts, rewritten at every swap): read when there is no manifest, removed once one is
/// written.
fn old_copy_path(dir: &std::path::Path, env: &str) -> PathBuf {
    dir.join(format!("snapshot-{env}.json"))
}

/// The mark beside the manifest that says this very build compiled every version of the
/// copy's commit: its text is the cache header of this build (`base/cachefile.rs`) and the
/// commit. A build reading a copy marked by itself leaves each version to compile on its
/// first render (compiling is a function of the text and the build); any other build, or a
/// mark of another commit (a write cut between the manifest and the mark), compiles them
/// all before serving, as from git. A copy whose snapshot had a problem is not marked.
fn compiled_mark(dir: &std::path::Path, env: &str) -> PathBuf {
    dir.join(format!("compiled-{env}"))
}

/// The text of the mark for `commit`, in this build.
fn mark_text(commit: &str) -> String {
    format!(
        "{}\n{commit}\n",
        crate::base::cachefile::header("compiled", 1)
    )
}

/// What the manifest holds.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest<'a> {
    format: u32,
    env: std::borrow::Cow<'a, str>,
    commit: std::borrow::Cow<'a, str>,
    state: std::borrow::Cow<'a, str>,
    /// The bytes of the pack that are whole records.
    pack_length: u64,
}

/// The manifest's format.
const MANIFEST_FORMAT: u32 = 2;

/// A state folder the server cannot write is refused at the start: a kept copy that is
/// never written would leave a restart with nothing, or with an old copy.
pub(super) fn check_state_dir(dir: &std::path::Path) -> Result<(), ServeError> {
    let probe = dir.join(".promptctl-write-check");
    std::fs::create_dir_all(dir)
        .and_then(|()| crate::base::fsutil::write_atomic(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| ServeError::StateDir {
            path: dir.to_path_buf(),
            source,
        })
}

/// Keeps the last good state in the state folder: the versions the pack lacks are
/// appended to it (synced), then the manifest is replaced atomically, so a copy is always
/// whole. A failure is logged and returned for `/healthz` to report: serving goes on, as it
/// matters more than the copy.
/// `compiled` says that every version of `data` compiled in this build (the snapshot has
/// no problem): the copy is then marked so ([`compiled_mark`]).
pub(super) fn persist(
    options: &ServeOptions,
    data: &SnapshotData,
    pack: &std::sync::Mutex<Option<Pack>>,
    compiled: bool,
) -> Result<(), KeepError> {
    let Some(dir) = &options.state_dir else {
        return Ok(());
    };
    let mut pack = pack.lock().unwrap_or_else(|e| e.into_inner());
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let pack = pack.get_or_insert_with(|| open_pack(dir, &options.env));
        pack.store(&data.objects)?;
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            env: data.env.as_str().into(),
            commit: data.commit.as_str().into(),
            state: data.state.as_str().into(),
            pack_length: pack.length(),
        };
        let bytes = serde_json::to_vec(&manifest).map_err(std::io::Error::other)?;
        crate::base::fsutil::write_atomic(&persisted_path(dir, &options.env), &bytes)?;
        let _ = std::fs::remove_file(old_copy_path(dir, &options.env));
        let mark = compiled_mark(dir, &options.env);
        match compiled {
            true => crate::base::fsutil::write_atomic(&mark, mark_text(&data.commit).as_bytes())?,
            false => crate::base::fsutil::remove_if_present(&mark)?,
        }
        Ok(())
    });
    if written.is_err() {
        // What the file holds is no longer known: the next write starts from the manifest.
        *pack = None;
    }
    written.map_err(|e| {
        tracing::warn!(
            dir = %dir.display(),
            error = %e,
            "cannot keep a copy of the state in the state folder"
        );
        KeepError {
            dir: dir.clone(),
            source: e,
        }
    })
}

/// The pack as the manifest vouches for it (its index read once), or a new one.
fn open_pack(dir: &std::path::Path, env: &str) -> Pack {
    let path = Pack::path(dir, env);
    read_manifest(dir, env)
        .and_then(|manifest| Pack::read(&path, manifest.pack_length))
        .map_or_else(|| Pack::empty(&path), |(pack, _)| pack)
}

fn read_manifest(dir: &std::path::Path, env: &str) -> Option<Manifest<'static>> {
    let bytes = std::fs::read(persisted_path(dir, env)).ok()?;
    // Without `#[serde(borrow)]`, a `Cow` field is read owned.
    let manifest: Manifest<'static> = serde_json::from_slice(&bytes).ok()?;
    (manifest.format == MANIFEST_FORMAT).then_some(manifest)
}

/// The kept copy could not be written (the server goes on serving).
#[derive(Debug, thiserror::Error)]
#[error("cannot keep a copy in `{}`: {source}", dir.display())]
pub(super) struct KeepError {
    dir: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The kept copy, with the versions its state serves; the whole copy of earlier versions
/// when there is no manifest. Returns the pack read, for the next write.
pub(super) fn read_persisted(
    dir: &std::path::Path,
    env: &str,
) -> Option<(SnapshotData, Option<Pack>)> {
    let Some(manifest) = read_manifest(dir, env) else {
        let bytes = std::fs::read(old_copy_path(dir, env)).ok()?;
        return Some((serde_json::from_slice(&bytes).ok()?, None));
    };
    let (pack, mut objects) = Pack::read(&Pack::path(dir, env), manifest.pack_length)?;
    let read = crate::store::State::parse_since("kept state.toml", &manifest.state, None).ok()?;
    let state = &read.state;
    let serving: std::collections::BTreeSet<_> = state
        .prompts
        .values()
        .flat_map(|pointers| pointers.serving())
        .collect();
    objects.retain(|version, _| serving.contains(version));
    let compiled = std::fs::read_to_string(compiled_mark(dir, env))
        .is_ok_and(|mark| mark == mark_text(&manifest.commit));
    let data = SnapshotData {
        format: crate::served::PERSISTED_FORMAT,
        env: manifest.env.into_owned(),
        commit: manifest.commit.into_owned(),
        state: manifest.state.into_owned(),
        objects,
        history: Vec::new(),
        parsed: Some(read),
        index: None,
        compiled,
    };
    Some((data, Some(pack)))
}
