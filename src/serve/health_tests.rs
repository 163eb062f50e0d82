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
        keep_error: None,
    };
    assert_eq!(failed.why_stale(overdue).as_deref(), Some("fetch failed"));
}

#[test]
fn stale_since_holds_its_first_sign_whatever_the_errors_say_after() {
    // Seen: `stale_since` moved when the error text changed.
    let overdue = Duration::from_secs(8);
    let mut health = Health {
        confirmed_at: Some(SystemTime::now() - Duration::from_secs(30)),
        ..Health::default()
    };
    let silent_since = health.stale_since(overdue).unwrap();
    health.fail("fetch timed out".into(), overdue);
    assert_eq!(health.stale_since(overdue), Some(silent_since));
    health.fail("connection refused".into(), overdue);
    assert_eq!(health.stale_since(overdue), Some(silent_since));
    assert_eq!(health.last_error.as_deref(), Some("connection refused"));
}
