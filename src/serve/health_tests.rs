//! Tests of when a server's state counts as stale.

use super::*;

#[test]
fn a_source_silent_past_the_overdue_time_is_stale_without_an_error() {
    let overdue = Duration::from_secs(8);
    let fresh = Health {
        confirmed_at: Some(SystemTime::now()),
        ..Health::default()
    };
    assert_eq!(fresh.stale_since(overdue), None);
    let silent = Health {
        confirmed_at: Some(SystemTime::now() - Duration::from_secs(20)),
        ..Health::default()
    };
    assert!(silent.stale_since(overdue).is_some());
    let why = silent.why_stale(overdue).unwrap();
    assert!(why.starts_with("no answer from the source for 2"), "{why}");
    assert!(silent.age().unwrap() >= 20.0);
    let failed = Health {
        stale_since: Some(SystemTime::now()),
        last_error: Some("fetch failed".into()),
        confirmed_at: Some(SystemTime::now()),
    };
    assert_eq!(failed.why_stale(overdue).as_deref(), Some("fetch failed"));
}
