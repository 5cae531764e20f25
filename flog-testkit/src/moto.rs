//! A real S3 server for the tests of `storage = "s3"`: moto (installed from
//! PyPI by `.ci/run`), run by `fixtures/moto_s3.py` one request at a time,
//! as a child process on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the server may take to start or to answer a command.
const PATIENCE: Duration = Duration::from_secs(60);

/// The access key id the server accepts; any other is refused (403).
pub const MOTO_ACCESS_KEY_ID: &str = "FLOGTESTKEY";
/// A secret to go with it (moto checks no signature).
pub const MOTO_SECRET_ACCESS_KEY: &str = "flog-test-secret-3f9a";

/// An S3 server with one bucket, killed when dropped. It also exits by
/// itself when this process ends however it ends (its standard input, a
/// pipe from here, closes), so a failing test leaves no server behind.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: mpsc::Receiver<String>,
    port: u16,
    bucket: String,
}

impl Moto {
    /// Starts a server with bucket `bucket`. `None` when moto is not
    /// installed; under `CI` that fails the test instead (`.ci/run`
    /// installs it).
    pub fn start(bucket: &str) -> Option<Moto> {
        let installed = Command::new("python3")
            .args(["-c", "import moto.server, werkzeug"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "moto is not installed (python3 -m pip install \"moto[server]==5.2.1\"), and CI is set"
            );
            eprintln!("moto is not installed (python3 -m pip install \"moto[server]==5.2.1\"): skipping the S3 test");
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/moto_s3.py");
        let mut child = Command::new("python3")
            .args([script, bucket, MOTO_ACCESS_KEY_ID])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3");
        let stdout = child.stdout.take().expect("piped");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut moto = Moto {
            child,
            stdin,
            replies,
            port: 0,
            bucket: bucket.to_owned(),
        };
        let first = moto.reply();
        moto.port = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto_s3.py printed {first:?}, not its port"));
        Some(moto)
    }

    fn reply(&self) -> String {
        self.replies
            .recv_timeout(PATIENCE)
            .expect("moto_s3.py did not answer")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Stores `bytes` at `key` of the bucket, as a gatherer stores a file
    /// (with the accepted credentials). With the `s3` feature.
    #[cfg(feature = "s3")]
    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        use object_store::ObjectStoreExt as _;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(MOTO_ACCESS_KEY_ID)
            .with_secret_access_key(MOTO_SECRET_ACCESS_KEY)
            .build()
            .expect("a client of the test bucket");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let key = object_store::path::Path::from(key);
        runtime
            .block_on(store.put(&key, bytes.into()))
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    /// Stops listening (connections are refused), keeping what is stored;
    /// returns once the port is closed.
    pub fn down(&mut self) {
        self.command("down");
    }

    /// Listens again on the same port; returns once it does.
    pub fn up(&mut self) {
        self.command("up");
    }

    fn command(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("running");
        writeln!(stdin, "{command}").expect("write to moto_s3.py");
        stdin.flush().expect("write to moto_s3.py");
        assert_eq!(self.reply(), format!("ok {command}"));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing its input ends it; the kill is for one that hangs.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
