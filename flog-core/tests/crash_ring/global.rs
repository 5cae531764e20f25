//! The process-wide logger with a crash ring: how the process ends decides
//! whether the next start reports a crash. Returning from `main` with the
//! install guard alive is a clean close; `std::process::exit` skips the
//! guard's drop, and a kill skips everything: both are crashes.

use super::*;

/// The child's side for the `global-*` modes: installs the process-wide
/// logger with the crash ring, logs, then ends as `mode` says.
pub(super) fn child(mode: &str, dir: &Path) {
    let logger = Logger::builder()
        .logdir(dir)
        .crash_ring(true)
        .memory_budget(BUDGET)
        .max_buffers(MAX_BUFFERS)
        .trailing(false)
        .version("ring-child", "1.2.3")
        .install()
        .unwrap();
    println!("READY");
    log_from_threads(&logger, Some(50));
    match mode {
        // The guard drops as the entry point returns, as at the end of main.
        "clean" => {}
        "exit" => std::process::exit(0),
        "stop" => {
            println!("STOPPED");
            std::thread::park();
        }
        other => panic!("unknown mode global-{other}"),
    }
}

#[test]
fn returning_from_main_with_the_global_logger_leaves_no_crash_report() {
    exits_cleanly_and_leaves_no_crash_report("global-clean");
}

/// The child in `dir` ended without its guard dropping: the next start
/// reports the newest events it logged as a crash.
fn ended_without_the_guard(dir: &Path, pid: u32, reported: &Reported) {
    assert_eq!(reported.logged.values().map(Vec::len).sum::<usize>(), 200);
    let ring = read_ring_file(&dir.join(RING_FILE)).unwrap();
    assert_eq!(ring.state, RingState::Live);
    let caps = capacities(dir);
    drop(logger(dir, false));
    let report = only_crash_report(dir);
    check_header(&report, pid);
    check_newest(&report, reported, &caps);
}

#[test]
fn std_process_exit_with_the_global_logger_is_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start("global-exit", dir.path());
    let pid = service.child.id();
    let mut reported = Reported::default();
    service.finish(&mut reported);
    assert!(service.child.wait().unwrap().success());
    ended_without_the_guard(dir.path(), pid, &reported);
}

#[test]
fn killed_with_the_global_logger_is_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start("global-stop", dir.path());
    let pid = service.child.id();
    let mut reported = Reported::default();
    service.read_until(|line| line == "STOPPED", &mut reported);
    service.child.kill().unwrap();
    service.child.wait().unwrap();
    ended_without_the_guard(dir.path(), pid, &reported);
}
