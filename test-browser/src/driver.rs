//! Finding the browser and its driver, and running the driver.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::BrowserError;

/// Where tests save screenshots: `target/browser-artifacts` of the workspace
/// (or of `CARGO_TARGET_DIR`).
pub fn artifacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-browser sits in the workspace");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("browser-artifacts")
}

/// The first of `names` that is an executable file: an absolute path as it
/// is, a bare name looked up in `PATH`.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        let name = Path::new(name);
        if name.is_absolute() {
            return name.is_file().then(|| name.to_owned());
        }
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// A running chromedriver, in a process group of its own so that stopping it
/// also stops the browser it started (which would otherwise be left behind).
#[derive(Debug)]
pub(crate) struct Driver {
    child: Child,
    pub(crate) port: u16,
}

impl Driver {
    /// Starts `program` on a port of its choosing, with `env` added to its
    /// environment (the browser inherits it), and waits for it to say which.
    pub(crate) fn start(
        program: &Path,
        env: &[(String, String)],
        deadline: Duration,
    ) -> Result<Driver, BrowserError> {
        let mut command = Command::new(program);
        command
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .envs(env.iter().map(|(k, v)| (k, v)));
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            command.process_group(0);
        }
        let mut child = command.spawn().map_err(|source| BrowserError::Spawn {
            program: program.to_owned(),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        // The port line comes on stdout; a thread reads it so that a driver
        // that never says it is bounded by the deadline.
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("chromedriver-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = port_in(&line) {
                        let _ = tx.send(port);
                    }
                }
            })
            .map_err(|source| BrowserError::Spawn {
                program: program.to_owned(),
                source,
            })?;
        let mut driver = Driver { child, port: 0 };
        match rx.recv_timeout(deadline) {
            Ok(port) => {
                driver.port = port;
                Ok(driver)
            }
            Err(_) => {
                driver.stop();
                Err(BrowserError::DriverSilent {
                    program: program.to_owned(),
                })
            }
        }
    }

    /// Stops the driver and everything it started.
    pub(crate) fn stop(&mut self) {
        #[cfg(unix)]
        {
            if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `... started successfully on port 44823.` -> 44823.
fn port_in(line: &str) -> Option<u16> {
    let rest = line.split("started successfully on port ").nth(1)?;
    rest.trim_end_matches(['.', ' ', '\r']).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_line() {
        assert_eq!(
            port_in("ChromeDriver was started successfully on port 44823."),
            Some(44823)
        );
        assert_eq!(port_in("Starting ChromeDriver 156.0 on port 0"), None);
    }
}
