//! One incident-name grammar seen from both sides. flog-core writes the names
//! (`flogfile::incident_name`) and flog-wire checks the ones peers send
//! (`is_valid_incident_name`, which accepts any safe file name); the two crates
//! know no other flog crate, so this test, which sees both, keeps them agreeing.

use flog_core::flogfile::{incident_name, parse_incident_name, INCIDENT_PREFIX};
use flog_core::Timestamp;
use flog_wire::is_valid_incident_name;

#[test]
fn every_name_flog_core_writes_is_one_flog_wire_accepts() {
    let times = [
        Timestamp(0),
        Timestamp(1_796_127_019_601_688),
        Timestamp::from_civil(9999, 12, 31, 23, 59, 59, 999_999).unwrap(),
    ];
    for time in times {
        for seq in [0, 1, 42, 9999] {
            let name = incident_name(time, seq);
            assert!(name.starts_with(INCIDENT_PREFIX), "{name}");
            assert_eq!(parse_incident_name(&name), Some((time, seq)), "{name}");
            assert!(is_valid_incident_name(&name), "{name}");
        }
    }
    // The prefix is the same on both sides: nothing else is a name to either.
    for other in ["incidents-x", "Incident-x", "x-incident-y"] {
        assert!(!is_valid_incident_name(other), "{other}");
        assert_eq!(parse_incident_name(other), None, "{other}");
    }
    assert!(is_valid_incident_name(&format!("{INCIDENT_PREFIX}x")));
}
