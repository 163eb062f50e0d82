//! Release actions and reads against a short and a long history, and in-process resolve.
//!
//! Run: `cargo bench --bench release`. `status`, `canary` and `revert` are measured on a
//! release branch with 10 actions and with 10,000 (made with the same library calls the
//! command line uses); the ratio between the two is the figure that matters: history length
//! must not cost anything. `resolve` is measured per key, beside SHA-256 of the same bytes
//! alone as its floor.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

use promptctl::project::Project;
use promptctl::release::{ActionKind, ActionRequest, run_action, status};
use promptctl::store::Weight;

const PROMPT: &str = "[variables.ticket]\ntype = \"string\"\nrequired = true\n\n[[messages]]\nrole = \"system\"\ncontent = \"Triage the ticket. VERSION\"\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{ ticket }}\"\n";

fn request(kind: ActionKind, weight: Option<u32>) -> ActionRequest {
    let mut request = ActionRequest::new(kind, vec!["support/triage".into()]);
    request.weight = weight.map(|w| Weight::from_hundredths(w).unwrap());
    request
}

fn commit_all(repo: &git2::Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = repo.signature().unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<_> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap();
}

/// A repository whose release branch holds `actions` actions: a publish, then canary
/// re-weights.
fn repo_with_history(actions: usize) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let mut config = repo.config().unwrap();
    config.set_str("user.name", "Bench").unwrap();
    config.set_str("user.email", "bench@example.com").unwrap();
    std::fs::write(
        dir.path().join("promptctl.toml"),
        "[defaults]\nmodel = \"m\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("prompts/support")).unwrap();
    let file = dir.path().join("prompts/support/triage.toml");
    std::fs::write(&file, PROMPT.replace("VERSION", "v1")).unwrap();
    commit_all(&repo, "v1");
    let project = Project::discover(dir.path()).unwrap();
    run_action(&project, "production", &request(ActionKind::Publish, None)).unwrap();
    std::fs::write(&file, PROMPT.replace("VERSION", "v2")).unwrap();
    commit_all(&repo, "v2");
    for i in 1..actions {
        let weight = 100 + (i as u32 % 9000);
        run_action(
            &project,
            "production",
            &request(ActionKind::Canary, Some(weight)),
        )
        .unwrap();
    }
    (dir, project)
}

fn history(c: &mut Criterion) {
    for actions in [10, 10_000] {
        let (_dir, project) = repo_with_history(actions);
        let mut group = c.benchmark_group(format!("history {actions}"));
        group.sample_size(30);
        group.bench_function("status", |b| {
            b.iter(|| black_box(status(&project, "production", &[]).unwrap()))
        });
        let mut weight = 100;
        group.bench_function("canary", |b| {
            b.iter(|| {
                weight = if weight == 100 { 200 } else { 100 };
                black_box(
                    run_action(
                        &project,
                        "production",
                        &request(ActionKind::Canary, Some(weight)),
                    )
                    .unwrap(),
                )
            })
        });
        group.bench_function("canary then revert", |b| {
            b.iter(|| {
                run_action(
                    &project,
                    "production",
                    &request(ActionKind::Canary, Some(300)),
                )
                .unwrap();
                black_box(
                    run_action(&project, "production", &request(ActionKind::Revert, None)).unwrap(),
                )
            })
        });
        group.finish();
    }
}

fn resolve(c: &mut Criterion) {
    let (_dir, project) = repo_with_history(2);
    let resolver = project.store("production").unwrap().resolver().unwrap();
    let keys: Vec<String> = (0..1024).map(|i| format!("user-{i}")).collect();
    let mut group = c.benchmark_group("resolve");
    let mut i = 0;
    group.bench_function("resolve one key", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(resolver.resolve("support/triage", Some(&keys[i])))
        })
    });
    let client = promptctl::client::Client::from_repo(&project.root)
        .build()
        .unwrap();
    group.bench_function("Client::resolve one key", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(client.resolve("support/triage", Some(&keys[i])).unwrap())
        })
    });
    group.bench_function("Client::resolve_with a cohort", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(
                client
                    .resolve_with("support/triage", Some(&keys[i]), &[("cohort", "beta")])
                    .unwrap(),
            )
        })
    });
    group.bench_function("baseline: sha256 of name and key", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let mut hasher = Sha256::new();
            hasher.update(b"support/triage\0");
            hasher.update(keys[i].as_bytes());
            black_box(hasher.finalize())
        })
    });
    group.finish();
}

/// Judging one rollout step (gates and decision) from a window of a thousand reports a side,
/// beside one resolve: the controller's cost per prompt per pass.
fn judge(c: &mut Criterion) {
    use promptctl::rollout::{Sample, Window, evaluate};
    use promptctl::store::{Canary, PromptState, Rollout, Stage};
    let version = |c: char| {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    };
    let rollout = Rollout {
        stages: ["cohort=internal", "5%", "25%", "100%"]
            .iter()
            .map(|s| Stage::parse(s).unwrap())
            .collect(),
        step: 1,
        every: 1800,
        step_started: 0,
        paused: false,
        gates: promptctl::store::Gates {
            max_latency_increase: Some(20.0),
            max_cost_increase: Some(20.0),
            max_score_drop: Some(0.1),
            ..Default::default()
        },
        alerted: Vec::new(),
    };
    let route = rollout.route_at(1);
    let mut pointers = PromptState::new(version('a'));
    pointers.canary = Some(Canary {
        version: version('c'),
        weight: route.weight,
        cohorts: route.cohorts,
        segment: None,
    });
    let mut window = Window::new(rollout.key(version('c')));
    pointers.rollout = Some(rollout);
    for i in 0..1000 {
        let sample = Sample {
            error: i % 50 == 0,
            latency_ms: Some(50.0 + f64::from(i % 200)),
            cost_usd: Some(0.001),
            score: Some(0.8),
            ..Sample::default()
        };
        window.active.add(&sample);
        window.canary.add(&sample);
    }
    let policy = promptctl::policy::RolloutPolicy::default();
    let (_dir, project) = repo_with_history(2);
    let resolver = project.store("production").unwrap().resolver().unwrap();
    let mut group = c.benchmark_group("rollout");
    group.bench_function("judge one rollout step", |b| {
        b.iter(|| black_box(evaluate(&pointers, Some(&window), 10_000, &policy)))
    });
    group.bench_function("baseline: resolve one key", |b| {
        b.iter(|| black_box(resolver.resolve("support/triage", Some("user-42"))))
    });
    group.finish();
}

criterion_group!(benches, history, resolve, judge);
criterion_main!(benches);
