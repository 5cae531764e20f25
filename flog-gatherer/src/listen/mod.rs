//! Listening for publishers that dial out to the gatherer
//! (`docs/protocol.md` §12.6): mutual TLS with the gatherer's key, the
//! publisher's `register` checked (secret, versions, the key first seen for
//! its id), then the gatherer is the client of an ordinary logport session
//! on that connection. Each registered publisher is handed to the gatherer
//! over a channel, as a client like any it connects to itself.
//!
//! The leaves below: `identity` (the gatherer's key, id and secret) and
//! `keys` (the publishers' keys).

mod identity;
mod keys;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flog_wire::{
    Acceptor, ClientOptions, Connection, ErrorCode, ErrorMessage, KeyFingerprint, LogportClient,
    LogportUrl, Message, Register, Registered, ServerTls, Stream, SUPPORTED_VERSIONS,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use self::identity::{logport_secret, secrets_match, write_url_file, Identity};
pub use self::identity::{
    GATHERER_ID_FILE, GATHERER_KEY_FILE, GATHERER_LOGPORT_FILE, GATHERER_URL_FILE,
    LOGPORT_SECRET_FILE, REGISTRATION_SECRET_FILE,
};
pub use self::keys::{accept_key, ACCEPTED_KEYS_DIR, PUBLISHER_KEYS_FILE};

use self::keys::{KnownKeys, Verdict};
use crate::contain::blocking;
use crate::error::GatherError;
use crate::observer::{GatherEvent, GatherObserver};

/// Handshakes and registrations in progress at once; sessions, once
/// registered, are the publisher tasks' and not counted here.
const MAX_REGISTERING: usize = 64;

/// A publisher that dialed in and registered: the client of its session.
pub(crate) struct DialIn {
    pub(crate) publisher_id: String,
    pub(crate) client: LogportClient,
}

/// What the accept loop needs.
pub(crate) struct Listening {
    listener: TcpListener,
    acceptor: Acceptor,
    cx: Arc<ListenContext>,
}

struct ListenContext {
    identity: Identity,
    keys: Arc<Mutex<KnownKeys>>,
    options: ClientOptions,
    /// How long a handshake, and then the `register`, may take.
    patience: Duration,
    observer: Option<Arc<dyn GatherObserver>>,
    /// The last refusal told for each publisher id, so that a publisher
    /// retrying the same mistake is reported once per run of them.
    refused: Mutex<HashMap<String, String>>,
}

/// Why a dial-in was refused, as told to the publisher and the operator.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("wrong registration secret")]
    WrongSecret,
    #[error("no protocol version in common (offered {0:?})")]
    NoVersion(Vec<u32>),
    #[error("invalid publisher id")]
    BadId,
    #[error("cannot check the publisher's key: {0}")]
    KeyCheck(String),
    #[error(
        "publisher {id} dialed in with key {key}, but it first dialed in with {first}: \
         an impostor, or a rotated key (accept it with `flog-gatherer accept-key BASEDIR {id} {key}`)"
    )]
    Impostor {
        id: String,
        key: KeyFingerprint,
        first: KeyFingerprint,
    },
}

/// Binds `addr`, loads or creates the gatherer's identity and writes its
/// URL to `BASEDIR/gatherer-url`. Returns the listener, ready to run, and
/// the URL.
pub(crate) async fn bind(
    basedir: &Path,
    addr: SocketAddr,
    advertise: Option<&str>,
    options: ClientOptions,
    patience: Duration,
    observer: Option<Arc<dyn GatherObserver>>,
) -> Result<(Listening, LogportUrl), GatherError> {
    let dir = basedir.to_owned();
    let (identity, keys) = blocking("load the gatherer's identity", move || {
        Ok::<_, GatherError>((Identity::load_or_create(&dir)?, KnownKeys::load(&dir)?))
    })
    .await??;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| GatherError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| GatherError::Listen { addr, source })?;
    let host = advertise.map_or_else(
        || match local.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip => ip.to_string(),
        },
        str::to_owned,
    );
    let url = identity
        .url(&host, local.port())
        .map_err(|source| GatherError::Advertise { host, source })?;
    write_url_file(basedir, GATHERER_URL_FILE, &url)?;
    let tls = ServerTls::requiring_client_keys(&identity.key)
        .map_err(|e| GatherError::Tls(flog_wire::TransportError::Config(e)))?;
    let acceptor = Acceptor::tls(tls).handshake_timeout(patience);
    let cx = Arc::new(ListenContext {
        identity,
        keys: Arc::new(Mutex::new(keys)),
        options,
        patience,
        observer,
        refused: Mutex::new(HashMap::new()),
    });
    Ok((
        Listening {
            listener,
            acceptor,
            cx,
        },
        url,
    ))
}

/// Accepts publishers until `shutdown`, each registration on its own task,
/// and sends every registered one to `dial_ins`.
pub(crate) async fn accept_loop(
    listening: Listening,
    dial_ins: mpsc::Sender<DialIn>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let Listening {
        listener,
        acceptor,
        cx,
    } = listening;
    let permits = Arc::new(Semaphore::new(MAX_REGISTERING));
    loop {
        let Some((tcp, peer)) = accept(&listener, &shutdown, "a publisher").await else {
            return;
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(%peer, "too many publishers registering at once; closing");
            continue;
        };
        let (acceptor, cx, dial_ins) = (acceptor.clone(), Arc::clone(&cx), dial_ins.clone());
        tracker.spawn(async move {
            let registered = match acceptor.accept(tcp).await {
                Ok(stream) => register(&cx, stream).await,
                Err(error) => {
                    tracing::debug!(%peer, %error, "a dial-in failed its handshake: {error}");
                    None
                }
            };
            drop(permit);
            if let Some(dial_in) = registered {
                let _ = dial_ins.send(dial_in).await;
            }
        });
    }
}

/// The next connection on `listener` (of `what`, for the log); `None` once
/// `shutdown` is cancelled. A failed accept (out of file descriptors and
/// the like) is logged and retried after a pause, rather than spinning.
pub(crate) async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    what: &str,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(error) => {
                    tracing::warn!(%error, "accepting {what} failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            },
        }
    }
}

/// Reads and checks the `register`, answers it, and starts the session as
/// its client. `None` when refused or failed (each said where it happens).
async fn register(cx: &ListenContext, stream: Stream) -> Option<DialIn> {
    // Mutual TLS: the acceptor let no one in without a key.
    let key = stream.peer_key()?;
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let mut conn = Connection::with_codec(stream, cx.options.codec());
    let patience = cx.patience;
    let register = match tokio::time::timeout(patience, conn.read_message()).await {
        Ok(Ok(Some(Message::Register(register)))) => register,
        Ok(Ok(other)) => {
            let got = other.as_ref().map_or("nothing", Message::name);
            tracing::debug!(%peer, "a dial-in sent {got} instead of register");
            return None;
        }
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "a dial-in's register is unreadable: {error}");
            return None;
        }
        Err(_) => {
            tracing::debug!(%peer, "a dial-in sent no register within {patience:?}");
            return None;
        }
    };
    let id = register.publisher_id.clone();
    let version = match check(cx, &register, key).await {
        Ok(version) => version,
        Err(refusal) => {
            cx.report_refusal(&id, &peer, &refusal);
            let code = match refusal {
                Refusal::NoVersion(_) => ErrorCode::VersionMismatch,
                _ => ErrorCode::Unauthorized,
            };
            let message = match refusal {
                // The publisher is told no more than it needs.
                Refusal::Impostor { .. } => "this publisher id dialed in with another key".into(),
                Refusal::KeyCheck(_) => "the gatherer cannot check keys now".into(),
                other => other.to_string(),
            };
            let error = ErrorMessage {
                id: None,
                code,
                message,
            };
            let _ = conn.write_message(&error.into()).await;
            return None;
        }
    };
    let registered = Registered {
        version,
        gatherer_id: cx.identity.gatherer_id.clone(),
        server: concat!("flog-gatherer/", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    if let Err(error) = conn.write_message(&registered.into()).await {
        tracing::debug!(%peer, %error, "a dial-in went away after registering: {error}");
        return None;
    }
    // The publisher serves us without the logport secret: it chose to dial
    // this gatherer, whose key it checked.
    match LogportClient::over_connection(conn, &id, "-", cx.options.clone()).await {
        Ok(client) => {
            cx.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            Some(DialIn {
                publisher_id: id,
                client,
            })
        }
        Err(error) => {
            tracing::info!(publisher = %id, %peer, %error, "{id} registered but its session failed: {error}");
            None
        }
    }
}

/// The version to speak, or why the publisher is refused. The secret
/// first: an unauthorized peer learns nothing else.
async fn check(
    cx: &ListenContext,
    register: &Register,
    key: KeyFingerprint,
) -> Result<u32, Refusal> {
    if !cx.identity.secret_matches(&register.secret) {
        return Err(Refusal::WrongSecret);
    }
    let id = &register.publisher_id;
    if !flog_wire::is_valid_publisher_id(id) {
        return Err(Refusal::BadId);
    }
    let version = register
        .versions
        .iter()
        .copied()
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .max()
        .ok_or_else(|| Refusal::NoVersion(register.versions.clone()))?;
    let (keys, checked) = (Arc::clone(&cx.keys), id.clone());
    // File I/O (a new id, an accepted key), so on a blocking thread.
    let verdict = blocking("check a publisher's key", move || {
        keys.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(&checked, key)
    })
    .await;
    match verdict {
        Ok(Ok(Verdict::Known)) => Ok(version),
        Ok(Ok(Verdict::Impostor { first })) => Err(Refusal::Impostor {
            id: id.clone(),
            key,
            first,
        }),
        Ok(Err(error)) => Err(Refusal::KeyCheck(error.to_string())),
        Err(panicked) => Err(Refusal::KeyCheck(panicked.to_string())),
    }
}

impl ListenContext {
    /// Tells the operator of a refusal once per run of the same one.
    fn report_refusal(&self, id: &str, peer: &str, refusal: &Refusal) {
        let message = refusal.to_string();
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.get(id) == Some(&message) {
            tracing::debug!(publisher = %id, %peer, "{id} still refused: {message}");
            return;
        }
        refused.insert(id.to_owned(), message.clone());
        drop(refused);
        tracing::warn!(publisher = %id, %peer, "refused publisher {id:?} dialing in from {peer}: {message}");
        if let Some(observer) = &self.observer {
            observer.on_event(&GatherEvent::DialInRefused {
                publisher_id: id.to_owned(),
                error: message,
            });
        }
    }
}
