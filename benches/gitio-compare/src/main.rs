//! promptctl's hand-written git readers (`src/gitio/`) against gitoxide (`gix`) and libgit2 on
//! one repository, in one run: reading and parsing the index, reading every prompt's blob,
//! and walking the prompts folder with the stat data the index compares. Each task is run
//! RUNS times; the median is printed with its ratio to promptctl's own reader.
//!
//! Usage: gitio-compare REPO RUNS   (benches/gitio-compare.sh makes the repository)

use std::path::Path;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs `task` `runs` times (after one warm-up) and gives the median; `task` returns a count
/// that must be the same every time, so that no contender skips work.
fn measure(runs: usize, mut task: impl FnMut() -> usize) -> (Duration, usize) {
    let count = task();
    let samples = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let again = task();
            let took = started.elapsed();
            assert_eq!(again, count, "a contender gave a different count");
            took
        })
        .collect();
    (median(samples), count)
}

fn report(task: &str, contenders: &[(&str, (Duration, usize))]) {
    let ours = contenders[0].1.0.as_secs_f64();
    for (name, (took, count)) in contenders {
        println!(
            "{task:<8} {name:<34} {:>9.3} ms  {:>5.2}x promptctl's  ({count} items)",
            took.as_secs_f64() * 1e3,
            took.as_secs_f64() / ours
        );
    }
    let counts: Vec<usize> = contenders.iter().map(|(_, (_, c))| *c).collect();
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "{task}: the contenders saw different numbers of items: {counts:?}"
    );
}

fn is_prompt_file(relative: &str) -> bool {
    relative.ends_with(".toml") || relative.ends_with(".j2")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(&args[1]);
    let runs: usize = args[2].parse().expect("RUNS is a number");
    let git2_repo = git2::Repository::open(root).expect("a git repository");
    let gix_repo = gix::open(root).expect("gix opens it");

    // The index: read and parse it whole, checksum included.
    let index_path = git2_repo.path().join("index");
    report(
        "index",
        &[
            (
                "promptctl gitio::index",
                measure(runs, || {
                    let (bytes, _) = promptctl::gitio::index::read_file(&git2_repo).unwrap();
                    let index = promptctl::gitio::index::parse(&bytes).unwrap();
                    index.below("prompts/").count()
                }),
            ),
            (
                "gix open_index",
                measure(runs, || {
                    let index = gix_repo.open_index().unwrap();
                    index
                        .entries()
                        .iter()
                        .filter(|e| e.path(&index).starts_with(b"prompts/"))
                        .count()
                }),
            ),
            (
                "libgit2 Index::open",
                measure(runs, || {
                    let index = git2::Index::open(&index_path).unwrap();
                    index
                        .iter()
                        .filter(|e| e.path.starts_with(b"prompts/"))
                        .count()
                }),
            ),
        ],
    );

    // Every prompt's blob, as `check` and `eval` of a working tree read them.
    let index = git2_repo.index().unwrap();
    let ids: Vec<git2::Oid> = index
        .iter()
        .filter(|e| e.path.starts_with(b"prompts/"))
        .map(|e| e.id)
        .collect();
    let gix_ids: Vec<gix::ObjectId> = ids
        .iter()
        .map(|id| gix::ObjectId::from_bytes_or_panic(id.as_bytes()))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sync_repo = gix_repo.clone().into_sync();
    report(
        "blobs",
        &[
            (
                "promptctl gitio::loose (all cores)",
                measure(runs, || {
                    promptctl::gitio::loose::read_blobs(&git2_repo, &ids)
                        .unwrap()
                        .len()
                }),
            ),
            (
                "gix find_blob (all cores)",
                measure(runs, || {
                    let chunk = gix_ids.len().div_ceil(threads).max(1);
                    std::thread::scope(|scope| {
                        let handles: Vec<_> = gix_ids
                            .chunks(chunk)
                            .map(|part| {
                                let sync_repo = &sync_repo;
                                scope.spawn(move || {
                                    let repo = sync_repo.to_thread_local();
                                    part.iter()
                                        .map(|id| repo.find_blob(*id).unwrap().data.len())
                                        .filter(|_| true)
                                        .count()
                                })
                            })
                            .collect();
                        handles.into_iter().map(|h| h.join().unwrap()).sum()
                    })
                }),
            ),
            (
                "gix find_blob (one core)",
                measure(runs, || {
                    gix_ids
                        .iter()
                        .map(|id| gix_repo.find_blob(*id).unwrap().data.len())
                        .count()
                }),
            ),
            (
                "libgit2 find_blob (one core)",
                measure(runs, || {
                    ids.iter()
                        .map(|id| git2_repo.find_blob(*id).unwrap().content().len())
                        .count()
                }),
            ),
        ],
    );

    // The prompts folder, with what the index compares (size, times, inode).
    let prompts = root.join("prompts");
    report(
        "walk",
        &[
            (
                "promptctl gitio::walk (all cores)",
                measure(runs, || {
                    promptctl::gitio::walk::walk(&prompts, &is_prompt_file)
                        .unwrap()
                        .len()
                }),
            ),
            (
                "walkdir + symlink_metadata",
                measure(runs, || {
                    walkdir::WalkDir::new(&prompts)
                        .into_iter()
                        .filter_map(Result::ok)
                        .filter(|e| !e.file_type().is_dir())
                        .filter(|e| is_prompt_file(&e.path().to_string_lossy()))
                        .filter(|e| e.metadata().is_ok())
                        .count()
                }),
            ),
            (
                "std read_dir + symlink_metadata",
                measure(runs, || std_walk(&prompts)),
            ),
        ],
    );

    // Index against working tree, the whole question `status` answers: gitoxide's status
    // (index-worktree, every core) and libgit2's, both over the whole repository, which is
    // the prompts folder and two files here.
    report(
        "status",
        &[
            (
                "promptctl gitio::walk + index",
                measure(runs, || {
                    let (bytes, _) = promptctl::gitio::index::read_file(&git2_repo).unwrap();
                    let index = promptctl::gitio::index::parse(&bytes).unwrap();
                    let walked = promptctl::gitio::walk::walk(&prompts, &is_prompt_file).unwrap();
                    let tracked = index.below("prompts/").count();
                    assert_eq!(tracked, walked.len());
                    0
                }),
            ),
            (
                "gix status (index-worktree)",
                measure(runs, || {
                    gix_repo
                        .status(gix::progress::Discard)
                        .unwrap()
                        .untracked_files(gix::status::UntrackedFiles::None)
                        .into_index_worktree_iter(Vec::new())
                        .unwrap()
                        .filter_map(Result::ok)
                        .count()
                }),
            ),
            (
                "libgit2 statuses",
                measure(runs, || {
                    let mut options = git2::StatusOptions::new();
                    options.include_untracked(false);
                    git2_repo.statuses(Some(&mut options)).unwrap().len()
                }),
            ),
        ],
    );
}

fn std_walk(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            count += std_walk(&entry.path());
        } else if is_prompt_file(&entry.file_name().to_string_lossy())
            && std::fs::symlink_metadata(entry.path()).is_ok()
        {
            count += 1;
        }
    }
    count
}
