//! Input that tries to reach outside what it names, or to pass for something it is not:
//! case files linked out of the project, metric answers that are not counts, and the
//! smaller edges of the last attack. Each test drives the real binary.

mod common;

#[test]
fn a_case_file_linked_out_of_the_project_is_refused_at_its_line() {
    // Seen: `cases/out.csv` linking to a file outside the project was read by check and
    // eval, and its rows reached every report.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.csv");
    std::fs::write(&secret, "name,ticket\nleak,top secret row\n").unwrap();
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\ncases = \"cases/out.csv\"\n",
    );
    std::fs::create_dir_all(repo.path().join("evals/cases")).unwrap();
    std::os::unix::fs::symlink(&secret, repo.path().join("evals/cases/out.csv")).unwrap();
    repo.commit("a linked case file");
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("evals/triage.toml:2") && run.stdout.contains("outside the project"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("top secret row"), "{}", run.stdout);
    let run = repo.run(&["eval", "--format", "json"]).expect(2);
    assert!(!run.stdout.contains("top secret row"), "{}", run.stdout);
    assert!(run.stderr.contains("outside the project"), "{}", run.stderr);
    // A link that stays inside the project is read.
    std::fs::create_dir_all(repo.path().join("data")).unwrap();
    std::fs::write(repo.path().join("data/rows.csv"), "name,ticket\nok,fine\n").unwrap();
    std::fs::remove_file(repo.path().join("evals/cases/out.csv")).unwrap();
    std::os::unix::fs::symlink(
        repo.path().join("data/rows.csv"),
        repo.path().join("evals/cases/out.csv"),
    )
    .unwrap();
    let run = repo.run(&["check"]);
    assert!(
        !run.stdout.contains("outside the project"),
        "{}",
        run.stdout
    );
}
