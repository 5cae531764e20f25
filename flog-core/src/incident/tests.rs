//! The logdir's parts together, where a test must reach inside: a crash
//! ring whose flushes fail (as on a disk that has gone bad).

use std::time::Instant;

use super::*;
use crate::time::{ManualClock, Timestamp};

fn ring_spec() -> RingSpec {
    RingSpec {
        file_bytes: 64 * 1024,
        units: 4,
        max_segments: 8,
        dict_bytes: 1024,
        pid: std::process::id(),
        started: 0,
        meta: Vec::new(),
    }
}

/// Failed flushes of the crash ring reach the error hook through the
/// keeper, once for a run of them, naming the ring file and the cause;
/// each is counted; no incident counts as failed.
#[test]
fn failed_ring_flushes_are_reported_once_through_the_error_hook() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000_000)));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let incidents = Incidents::new(
        IncidentConfig::default(),
        clock.clone(),
        Incarnation::random(),
        Arc::new(move |e: &IncidentError| seen.lock().unwrap().push(e.to_string())),
    );
    let period = Duration::from_secs(1);
    let ring = incidents
        .set_logdir(dir.path(), Some(&ring_spec()), Some(period))
        .unwrap()
        .unwrap();
    ring.fail_flushes(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 1..=3 {
        clock.advance(period);
        while incidents.ring_stats().unwrap().failed_flushes < n {
            assert!(Instant::now() < deadline, "no failed flush {n}");
            std::thread::yield_now();
        }
    }
    // Everything sent to the keeper before is settled by now.
    incidents.finish_all();
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let ring_path = dir.path().join(crate::flogfile::RING_FILE);
    assert!(
        errors[0].contains(&format!(
            "cannot flush the crash ring {}",
            ring_path.display()
        )),
        "{errors:?}"
    );
    assert!(errors[0].contains("os error 5"), "{errors:?}");
    assert_eq!(incidents.stats().failed, 0);
    incidents.close();
    assert_eq!(incidents.ring_stats(), None);
}
