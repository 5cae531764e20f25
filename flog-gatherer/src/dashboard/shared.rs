//! The whole fleet of a shared bucket (`storage = "s3"`), as the dashboard
//! shows it from any of its gatherers: every publisher under `incidents/`
//! (and `leases/`) with its `latest` marker and lease, the gatherers'
//! heartbeats, and the stored incidents of the `classified/` lists,
//! whichever gatherer stored them.
//!
//! The bucket is read on demand, not on a timer: a request finding the
//! last read older than `dashboard_refresh` starts one read (never two at
//! once: others wait for that one) and waits for it a bounded time, then
//! shows what there is. A failed read keeps the last good one, shown with
//! since when the bucket is unreachable. Everything kept is bounded in
//! count (so in bytes: names are short and checked), and the reads are the
//! async client's: no tokio worker waits on blocking I/O.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use flog_core::flogfile::parse_incident_name;
use flog_core::{Clock, Timestamp};
use flog_web::{
    BucketUnreachable, GathererStatus, IncidentEntry, LeaseStatus, NotShown, SharedBucket,
};
use futures::StreamExt as _;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bucket::{Bucket, BucketError};
use crate::classified::CLASSIFIED_DIR;
use crate::classify::{CATEGORY_ALL, CATEGORY_UNKNOWN};
use crate::leases::{heartbeat_expiry, Lease, GATHERERS_DIR, LEASES_DIR};
use crate::store::{parse_relative_path, INCIDENTS_DIR};

/// The most gatherers kept of a read.
pub const MAX_SHOWN_GATHERERS: usize = 64;
/// The most publishers kept of a read (each costs two small reads).
pub const MAX_SHOWN_PUBLISHERS: usize = 1000;
/// The most incidents kept of a read: the newest listed.
pub const MAX_SHOWN_INCIDENTS: usize = 10_000;
/// Names beyond those kept are counted up to this many per folder.
const COUNT_TO: usize = 100_000;
/// The most category lists read.
const MAX_LISTS: usize = 256;
/// The most bytes read of one list, and of one of its lines.
const MAX_LIST_BYTES: u64 = 64 << 20;
const MAX_LINE: usize = 512;
/// The most bytes read of a lease, heartbeat or marker.
const MAX_SMALL: u64 = 4096;
/// The longest one read of the bucket may take: past it the read is given
/// up and counted as the bucket being unreachable, so that a hung server
/// never stops the refreshes.
const READ_DEADLINE: Duration = Duration::from_secs(120);
/// Reads of small objects in flight at once.
const IN_FLIGHT: usize = 16;
/// How long a request waits for a read it started or found running.
pub const BUCKET_WAIT: Duration = Duration::from_secs(2);

/// One publisher as the bucket tells of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BucketPublisher {
    pub(super) id: String,
    pub(super) latest: Option<String>,
    pub(super) lease: Option<LeaseStatus>,
}

/// One good read of the bucket.
#[derive(Debug, Default)]
pub(super) struct BucketRead {
    pub(super) publishers: Vec<BucketPublisher>,
    gatherers: Vec<(String, Option<Timestamp>)>,
    /// The incidents listed, oldest first.
    pub(super) incidents: Arc<Vec<IncidentEntry>>,
    not_shown: NotShown,
    /// When it was read (expiries are judged against this).
    at: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct State {
    read: Arc<BucketRead>,
    unreachable: Option<BucketUnreachable>,
    started: Option<Instant>,
    /// The read in progress: `true` is sent when it ends.
    running: Option<watch::Receiver<bool>>,
}

/// How much of the bucket a read keeps.
#[derive(Debug, Clone, Copy)]
struct Limits {
    gatherers: usize,
    publishers: usize,
    incidents: usize,
    deadline: Duration,
}

const LIMITS: Limits = Limits {
    gatherers: MAX_SHOWN_GATHERERS,
    publishers: MAX_SHOWN_PUBLISHERS,
    incidents: MAX_SHOWN_INCIDENTS,
    deadline: READ_DEADLINE,
};

/// The shared bucket as the dashboard last read it.
#[derive(Debug)]
pub(super) struct SharedView {
    bucket: Bucket,
    me: String,
    refresh: Duration,
    clock: Arc<dyn Clock>,
    limits: Limits,
    /// Reads started (for the tests of one read at a time).
    reads: std::sync::atomic::AtomicU64,
    state: Mutex<State>,
}

impl SharedView {
    pub(super) fn new(
        bucket: Bucket,
        me: String,
        refresh: Duration,
        clock: Arc<dyn Clock>,
    ) -> SharedView {
        SharedView {
            bucket,
            me,
            refresh,
            clock,
            limits: LIMITS,
            reads: std::sync::atomic::AtomicU64::new(0),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last good read.
    pub(super) fn read(&self) -> Arc<BucketRead> {
        self.lock().read.clone()
    }

    /// Reads the bucket again if the last read started `refresh` ago or
    /// more, waiting up to `wait` for it (or for the one running).
    pub(super) async fn refresh(self: Arc<Self>, wait: Duration) {
        let mut done = {
            let mut state = self.lock();
            match &state.running {
                Some(running) => running.clone(),
                None if state
                    .started
                    .is_some_and(|started| started.elapsed() < self.refresh) =>
                {
                    return;
                }
                None => {
                    let (tell, done) = watch::channel(false);
                    state.running = Some(done.clone());
                    state.started = Some(Instant::now());
                    // Its own task: a request that stops waiting (or is
                    // dropped) does not cut the read short.
                    let view = self.clone();
                    tokio::spawn(async move {
                        // The read in a task of its own, so that a panic in
                        // it (a bug) or a hung server still ends in
                        // `finish`, and later reads are started.
                        let reader = view.clone();
                        let deadline = view.limits.deadline;
                        let mut read = tokio::spawn(async move { reader.read_bucket().await });
                        let outcome = match tokio::time::timeout(deadline, &mut read).await {
                            Ok(Ok(outcome)) => outcome.map_err(|e| e.to_string()),
                            Ok(Err(_)) => Err("the read failed unexpectedly".to_owned()),
                            Err(_) => {
                                read.abort();
                                Err(format!("no answer in {deadline:?}"))
                            }
                        };
                        view.finish(outcome);
                        let _ = tell.send(true);
                    });
                    done
                }
            }
        };
        let _ = tokio::time::timeout(wait, done.wait_for(|done| *done)).await;
    }

    fn finish(&self, outcome: Result<BucketRead, String>) {
        let now = self.clock.now();
        let mut state = self.lock();
        state.running = None;
        match outcome {
            Ok(read) => {
                if state.unreachable.take().is_some() {
                    tracing::info!(bucket = %self.bucket.shown(), "the dashboard reads {} again", self.bucket.shown());
                }
                state.read = Arc::new(read);
            }
            Err(error) => {
                if state.unreachable.is_none() {
                    tracing::warn!(bucket = %self.bucket.shown(), %error, "the dashboard cannot read {}: {error}; it shows its last read", self.bucket.shown());
                }
                let since = state.unreachable.as_ref().map_or(now, |u| u.since);
                state.unreachable = Some(BucketUnreachable { since, error });
            }
        }
    }

    /// What the pages show of the bucket beside its publishers and
    /// incidents.
    pub(super) fn shared_bucket(&self) -> SharedBucket {
        let state = self.lock();
        let read = &state.read;
        let at = read.at.unwrap_or_default();
        SharedBucket {
            bucket: self.bucket.shown().to_owned(),
            this_gatherer: Some(self.me.clone()),
            read_at: read.at,
            unreachable: state.unreachable.clone(),
            gatherers: read
                .gatherers
                .iter()
                .map(|(id, expires)| GathererStatus {
                    live: expires.is_some_and(|e| e > at),
                    this: *id == self.me,
                    expires: *expires,
                    id: id.clone(),
                })
                .collect(),
            not_shown: read.not_shown,
        }
    }

    /// One whole read: gatherers, publishers, incidents.
    async fn read_bucket(&self) -> Result<BucketRead, BucketError> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let limits = self.limits;
        let now = self.clock.now();
        let bucket = &self.bucket;
        let mut not_shown = NotShown::default();
        let listed = bucket
            .list_bounded(GATHERERS_DIR, false, limits.gatherers, COUNT_TO)
            .await?;
        not_shown.gatherers = listed.more;
        let gatherers = small_reads(listed.names, |id| async move {
            let bytes = bucket
                .read_bounded(&format!("{GATHERERS_DIR}/{id}"), MAX_SMALL)
                .await?;
            let expires = bytes.and_then(|b| heartbeat_expiry(&String::from_utf8_lossy(&b)));
            Ok((id, expires))
        })
        .await?;

        let stored = bucket
            .list_bounded(INCIDENTS_DIR, true, limits.publishers, COUNT_TO)
            .await?;
        // A publisher leased but with nothing stored yet is one too.
        let leased = bucket
            .list_bounded(LEASES_DIR, false, limits.publishers, COUNT_TO)
            .await?;
        // Those left out of one listing may be in the other: the larger
        // count is the least left out.
        not_shown.publishers = stored.more.max(leased.more);
        let mut ids = stored.names;
        ids.extend(leased.names);
        ids.retain(|id| flog_wire::is_valid_publisher_id(id));
        ids.sort();
        ids.dedup();
        if ids.len() > limits.publishers {
            not_shown.publishers += ids.len() - limits.publishers;
            ids.truncate(limits.publishers);
        }
        let publishers = small_reads(ids, |id| async move {
            // A marker that is not a name is the gatherers' to report.
            let latest = match bucket.latest(&id).await {
                Ok(latest) => latest,
                Err(BucketError::BadLatest { .. }) => None,
                Err(error) => return Err(error),
            };
            let lease = bucket
                .read_bounded(&format!("{LEASES_DIR}/{id}"), MAX_SMALL)
                .await?
                .and_then(|b| Lease::parse(&String::from_utf8_lossy(&b)))
                .map(|lease| LeaseStatus {
                    expired: lease.expires <= now,
                    holder: lease.holder,
                    expires: lease.expires,
                });
            Ok(BucketPublisher { id, latest, lease })
        })
        .await?;

        let (incidents, more) = self.read_incidents().await?;
        not_shown.incidents = more;
        Ok(BucketRead {
            publishers,
            gatherers,
            incidents: Arc::new(incidents),
            not_shown,
            at: Some(now),
        })
    }

    /// The newest (at most [`MAX_SHOWN_INCIDENTS`]) of `classified/all` with their
    /// categories, and how many more are listed.
    async fn read_incidents(&self) -> Result<(Vec<IncidentEntry>, usize), BucketError> {
        let bucket = &self.bucket;
        let mut kept: VecDeque<String> = VecDeque::new();
        let mut more = 0;
        bucket
            .read_lines(
                &format!("{CLASSIFIED_DIR}/{CATEGORY_ALL}"),
                MAX_LIST_BYTES,
                MAX_LINE,
                |line| {
                    if parse_relative_path(line).is_none() {
                        return;
                    }
                    if kept.len() == self.limits.incidents {
                        kept.pop_front();
                        more += 1;
                    }
                    kept.push_back(line.to_owned());
                },
            )
            .await?;
        let mut categories: HashMap<String, Vec<String>> =
            kept.iter().map(|line| (line.clone(), Vec::new())).collect();
        let lists = bucket
            .list_bounded(CLASSIFIED_DIR, false, MAX_LISTS, MAX_LISTS)
            .await?;
        for list in lists.names {
            if list == CATEGORY_ALL || !crate::classify::is_valid_category(&list) {
                continue;
            }
            let relative = format!("{CLASSIFIED_DIR}/{list}");
            bucket
                .read_lines(&relative, MAX_LIST_BYTES, MAX_LINE, |line| {
                    if let Some(of) = categories.get_mut(line) {
                        if !of.contains(&list) {
                            of.push(list.clone());
                        }
                    }
                })
                .await?;
        }
        let incidents = kept
            .iter()
            .filter_map(|line| {
                let (publisher, name) = parse_relative_path(line)?;
                let mut listed = categories.remove(line.as_str()).unwrap_or_default();
                listed.sort();
                if listed.is_empty() {
                    listed.push(CATEGORY_UNKNOWN.to_owned());
                }
                Some(IncidentEntry {
                    publisher: publisher.to_owned(),
                    name: name.to_owned(),
                    path: PathBuf::from(bucket.url_of(line)),
                    time: parse_incident_name(name)
                        .map(|(time, _)| time)
                        .unwrap_or_default(),
                    categories: listed,
                    // The trigger is inside the object: not read for a
                    // listing.
                    level: None,
                    facility: String::new(),
                    trigger: String::new(),
                })
            })
            .collect();
        Ok((incidents, more))
    }
}

/// `read` of each of `names`, a few at a time, in their order; the first
/// error ends it.
async fn small_reads<T, F, Fut>(names: Vec<String>, read: F) -> Result<Vec<T>, BucketError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, BucketError>>,
{
    let mut reads = futures::stream::iter(names.into_iter().map(read)).buffered(IN_FLIGHT);
    let mut found = Vec::new();
    while let Some(one) = reads.next().await {
        found.push(one?);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::S3Config;
    use flog_core::ManualClock;
    use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY};
    use std::sync::atomic::Ordering;

    fn bucket(moto: &Moto) -> Bucket {
        let mut config = S3Config::new(moto.bucket());
        config.prefix = "fleet".to_owned();
        config.endpoint = Some(moto.endpoint());
        config.region = Some("us-east-1".to_owned());
        config.access_key_id = Some(MOTO_ACCESS_KEY_ID.to_owned());
        config.secret_access_key = Some(MOTO_SECRET_ACCESS_KEY.to_owned());
        Bucket::open(&config).unwrap()
    }

    fn name(i: usize) -> String {
        format!("incident-2026-01-01T00-00-{i:02}.000000Z-{i:04}")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_keeps_a_bounded_fleet_says_what_it_left_out_and_runs_once_at_a_time() {
        let Some(mut moto) = Moto::start("flog-shared") else {
            return;
        };
        let bucket = bucket(&moto);
        let clock = Arc::new(ManualClock::new(Timestamp(1_000_000_000)));
        let mut all = String::new();
        for (i, id) in ["web-1", "web-2", "web-3"].iter().enumerate() {
            let path = crate::store::relative_path(id, &name(i));
            bucket.write(&path, b"x".to_vec()).await.unwrap();
            all.push_str(&format!("{path}\n"));
        }
        all.push_str("../../etc/passwd\n");
        bucket
            .write("classified/all", all.clone().into_bytes())
            .await
            .unwrap();
        let db = crate::store::relative_path("web-3", &name(2));
        bucket
            .write("classified/database", format!("{db}\n").into_bytes())
            .await
            .unwrap();
        let lease = "holder=g-2\nexpires=2000000000\n";
        bucket.write("leases/web-1", lease.into()).await.unwrap();
        bucket
            .write("gatherers/g-1", b"expires=999\n".to_vec())
            .await
            .unwrap();
        bucket
            .write("gatherers/g-2", b"expires=2000000000\n".to_vec())
            .await
            .unwrap();

        let mut view = SharedView::new(bucket, "g-2".into(), Duration::from_secs(3600), clock);
        view.limits = Limits {
            gatherers: 1,
            publishers: 2,
            incidents: 2,
            deadline: READ_DEADLINE,
        };
        let view = Arc::new(view);
        // Ten requests at once: one read.
        let waits: Vec<_> = (0..10)
            .map(|_| tokio::spawn(view.clone().refresh(Duration::from_secs(30))))
            .collect();
        for wait in waits {
            wait.await.unwrap();
        }
        assert_eq!(view.reads.load(Ordering::Relaxed), 1);
        let read = view.read();
        let shown = view.shared_bucket();
        assert_eq!(
            shown.not_shown,
            NotShown {
                gatherers: 1,
                publishers: 1,
                incidents: 1
            }
        );
        assert_eq!(shown.gatherers.len(), 1);
        assert_eq!(shown.gatherers[0].id, "g-1");
        assert!(!shown.gatherers[0].live, "its heartbeat ran out");
        let ids: Vec<&str> = read.publishers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["web-1", "web-2"]);
        let lease = read.publishers[0].lease.as_ref().unwrap();
        assert_eq!((lease.holder.as_str(), lease.expired), ("g-2", false));
        // The newest two listed, the hostile line left out.
        let names: Vec<(&str, &[String])> = read
            .incidents
            .iter()
            .map(|e| (e.publisher.as_str(), &e.categories[..]))
            .collect();
        assert_eq!(
            names,
            [
                ("web-2", &["unknown".to_owned()][..]),
                ("web-3", &["database".to_owned()][..])
            ]
        );
        // Fresh: no second read within the refresh.
        view.clone().refresh(Duration::from_secs(30)).await;
        assert_eq!(view.reads.load(Ordering::Relaxed), 1);

        // The server gone: the last read stays, with since when.
        moto.down();
        let view = {
            let mut again = SharedView::new(
                view.bucket.clone(),
                "g-2".into(),
                Duration::ZERO,
                view.clock.clone(),
            );
            again.state = Mutex::new(State {
                read: view.read(),
                ..State::default()
            });
            Arc::new(again)
        };
        view.clone().refresh(Duration::from_secs(30)).await;
        let shown = view.shared_bucket();
        let unreachable = shown.unreachable.expect("a notice");
        assert_eq!(unreachable.since, Timestamp(1_000_000_000));
        assert_eq!(view.read().incidents.len(), 2);
        moto.up();
    }

    /// A server that takes connections and never answers: the read is given
    /// up at the deadline, the page says the bucket is unreachable, and the
    /// next refresh reads again (a hung read once stopped every later one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_never_answers_ends_the_read_at_its_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts, keeps and never answers.
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            for stream in listener.incoming() {
                kept.push(stream);
            }
        });
        let mut config = S3Config::new("flog-hung");
        config.endpoint = Some(format!("http://127.0.0.1:{port}"));
        config.region = Some("us-east-1".to_owned());
        config.access_key_id = Some(MOTO_ACCESS_KEY_ID.to_owned());
        config.secret_access_key = Some(MOTO_SECRET_ACCESS_KEY.to_owned());
        let bucket = Bucket::open(&config).unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(1_000_000_000)));
        let mut view = SharedView::new(bucket, "g-1".into(), Duration::ZERO, clock);
        view.limits.deadline = Duration::from_millis(500);
        let view = Arc::new(view);
        view.clone().refresh(Duration::from_secs(30)).await;
        let shown = view.shared_bucket();
        let unreachable = shown
            .unreachable
            .expect("the hung read counted as unreachable");
        assert!(
            unreachable.error.contains("no answer in"),
            "{}",
            unreachable.error
        );
        view.clone().refresh(Duration::from_secs(30)).await;
        assert_eq!(view.reads.load(Ordering::Relaxed), 2, "read again");
    }
}
