//! The versions an action releases: read from a revision, the working tree, or a version
//! stored in the release branch, and checked before they are released.

use std::collections::BTreeMap;

use super::{ActionKind, ActionRequest};
use crate::project::Project;
use crate::prompt::{Prompt, PromptError, PromptName};
use crate::release::ReleaseError;
use crate::source;
use crate::source::RevisionSpec;
use crate::store::{Store, StoreError};

/// The versions an action may release, read from a source.
pub(super) struct Source {
    pub(super) spec: String,
    pub(super) commit: Option<String>,
    pub(super) prompts: BTreeMap<PromptName, Result<Prompt, PromptError>>,
    pub(super) problems: Vec<PromptError>,
}

pub(super) fn parse_names(names: &[String]) -> Result<Vec<PromptName>, ReleaseError> {
    names
        .iter()
        .map(|name| {
            PromptName::parse(name).map_err(|reason| {
                ReleaseError::refused(
                    format!("`{name}` is not a prompt name: {reason}"),
                    "name prompts as in `promptctl list`, like `support/triage`",
                )
            })
        })
        .collect()
}

/// Reads the versions an action releases, for the actions that release new versions.
pub(super) fn load_source(
    project: &Project,
    store: &Store,
    request: &ActionRequest,
    names: &[PromptName],
) -> Result<Option<Source>, ReleaseError> {
    let spec_text = match (request.kind, &request.version) {
        (ActionKind::Publish | ActionKind::Canary, None) => "HEAD",
        (_, Some(spec)) => spec.as_str(),
        _ => return Ok(None),
    };
    let spec = source::parse_spec(spec_text)?;
    if spec == RevisionSpec::Worktree && !request.allow_dirty {
        // `revert` names its version with --to; the other actions with --version.
        let flag = if request.kind == ActionKind::Revert {
            "--to"
        } else {
            "--version"
        };
        return Err(ReleaseError::refused(
            format!(
                "`{flag} worktree` would {} text that no commit holds: nobody could see later what was released",
                request.kind.as_str()
            ),
            "commit the change first, or pass --allow-dirty to release the working tree on purpose",
        ));
    }
    if let RevisionSpec::Version(prefix) = &spec {
        // A stored version has no name of its own: it is released under the names given.
        if names.is_empty() {
            return Err(ReleaseError::refused(
                format!("`{spec_text}` is one version: name the prompts to release it as"),
                format!(
                    "promptctl {} NAME --version {spec_text}",
                    request.kind.as_str()
                ),
            ));
        }
        let commit = store.tip()?.ok_or_else(|| StoreError::VersionPrefix {
            message: format!(
                "`{spec_text}`: nothing was ever released to `{}`",
                store.env()
            ),
        })?;
        let version = store.find_version(commit, prefix)?;
        if request.kind == ActionKind::Revert {
            for name in names {
                refuse_a_stranger(store, name, version, spec_text)?;
            }
        }
        let tree = store.tree(commit)?;
        let prompts = names
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    tree.prompt(name, version).map_err(to_prompt_error),
                )
            })
            .collect();
        return Ok(Some(Source {
            spec: spec_text.to_owned(),
            commit: None,
            prompts,
            problems: Vec::new(),
        }));
    }
    let set = if names.is_empty() {
        source::load(project, &spec)?
    } else {
        source::load_named(project, &spec, names)?
    };
    Ok(Some(Source {
        spec: spec_text.to_owned(),
        commit: set.commit.clone(),
        prompts: set
            .entries()
            .map(|(name, parsed)| (name.clone(), parsed.clone()))
            .collect(),
        problems: set.problems().to_vec(),
    }))
}

/// A stored version has no name of its own; reverting to one this prompt never had in the
/// environment would put another prompt's text under its name. (A git revision is this
/// prompt's own text at that revision.)
fn refuse_a_stranger(
    store: &Store,
    name: &PromptName,
    version: crate::prompt::Version,
    spec_text: &str,
) -> Result<(), ReleaseError> {
    let history = crate::release::history(store, Some(name.as_str()), usize::MAX)?;
    let had_it = history.iter().any(|entry| {
        entry
            .record
            .prompts
            .iter()
            .any(|p| &p.name == name && p.version == version)
    });
    if had_it {
        return Ok(());
    }
    Err(ReleaseError::refused(
        format!(
            "`{}` was never a version of `{name}` in `{}`: revert goes back to one of its own",
            version.short(),
            store.env()
        ),
        format!(
            "see its versions with `promptctl log {name}`; to release another text under this name, publish it: promptctl publish {name} --version {spec_text}"
        ),
    ))
}

pub(super) fn to_prompt_error(error: StoreError) -> PromptError {
    match error {
        StoreError::CorruptObject(e) => e,
        other => PromptError::Invalid {
            location: crate::base::location::Location::file("release store"),
            message: other.to_string(),
        },
    }
}

pub(super) fn expect_source(source: Option<&Source>) -> Result<&Source, ReleaseError> {
    source.ok_or(ReleaseError::NoSource)
}

/// Gets the valid prompt `name` from a source, or says why it cannot be released. Valid
/// means what `check` means: it parses, its templates compile within the limits, and it
/// renders with its defaults and sample values, so that no server or client is ever
/// handed a version it cannot load or render.
pub(super) fn source_prompt<'a>(
    source: &'a Source,
    name: &PromptName,
) -> Result<&'a Prompt, ReleaseError> {
    match source.prompts.get(name) {
        Some(Ok(prompt)) => match prompt.compile().and_then(|compiled| {
            compiled.render(&crate::prompt::sample_values(&prompt.spec.variables))
        }) {
            Ok(_) => Ok(prompt),
            Err(error) => Err(ReleaseError::Source(Box::new(source::SourceError::Prompt(
                error,
            )))),
        },
        Some(Err(error)) => Err(ReleaseError::Source(Box::new(source::SourceError::Prompt(
            error.clone(),
        )))),
        None => Err(ReleaseError::Source(Box::new(
            source::SourceError::UnknownPrompt {
                name: name.to_string(),
                spec: source.spec.clone(),
                similar: Vec::new(),
            },
        ))),
    }
}

/// Refuses to act on "every prompt" of a source that has broken prompts: their versions
/// cannot be known.
pub(super) fn require_all_valid(source: &Source, kind: ActionKind) -> Result<(), ReleaseError> {
    let broken = source
        .problems
        .iter()
        .chain(source.prompts.values().filter_map(|p| p.as_ref().err()))
        .next();
    match broken {
        Some(error) => Err(ReleaseError::refused(
            format!(
                "cannot {} every prompt of `{}`: {error}",
                kind.as_str(),
                source.spec
            ),
            format!(
                "fix it (see `promptctl check`), or name the prompts: promptctl {} NAME",
                kind.as_str()
            ),
        )),
        None => Ok(()),
    }
}
