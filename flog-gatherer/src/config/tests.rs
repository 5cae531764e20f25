use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "/base/gatherer.toml")
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_template_parses_to_the_defaults() {
    let config = parse(CONFIG_TEMPLATE).unwrap();
    let defaults = Config::default();
    assert!(config.publishers.is_empty());
    assert_eq!(config.publishers_dir, defaults.publishers_dir);
    assert_eq!(config.poll_interval, defaults.poll_interval);
    assert_eq!(config.notice_interval, defaults.notice_interval);
    assert_eq!(config.concurrency, defaults.concurrency);
    assert_eq!(config.subscribe, defaults.subscribe);
    assert_eq!(config.connect_timeout, defaults.connect_timeout);
    assert_eq!(config.request_timeout, defaults.request_timeout);
    assert_eq!(config.fetch_timeout, defaults.fetch_timeout);
    assert_eq!(config.min_backoff, defaults.min_backoff);
    assert_eq!(config.max_backoff, defaults.max_backoff);
    assert_eq!(config.max_incident_size, defaults.max_incident_size);
    assert_eq!(config.page_size, defaults.page_size);
    assert!(config.classifier.rules().is_empty());
    // An empty file is all defaults too.
    assert_eq!(parse("").unwrap().poll_interval, Duration::from_secs(60));
}

#[test]
fn every_key_is_read() {
    let config = parse(
        r#"
publishers = ["flog+insecure://127.0.0.1:4817/web-1/s3cr3t", " flog+insecure://[::1]:9/db_2/x "]
publishers_dir = "/etc/flog/publishers.d"
poll_interval = "1.5s"
notice_interval = "250ms"
concurrency = 3
subscribe = false
connect_timeout = 2
request_timeout = "500ms"
fetch_timeout = "1h"
min_backoff = "100ms"
max_backoff = "10s"
max_incident_size = "1 MiB"
page_size = 20
chunk_size = "64 KiB"
listen = "0.0.0.0:4818"
advertise = "gatherer.example.com"

[[rule]]
category = "database"
facility = "app.db"
min_level = "weird"

[[rule]]
category = "panics"
message = "panicked at"
min_level = 35
fields = { kind = "panic", code = 7, fatal = true, ratio = 0.5 }
"#,
    )
    .unwrap();
    let ids: Vec<&str> = config.publishers.iter().map(|u| u.publisher_id()).collect();
    assert_eq!(ids, ["web-1", "db_2"]);
    assert_eq!(config.listen, Some("0.0.0.0:4818".parse().unwrap()));
    assert_eq!(config.advertise.as_deref(), Some("gatherer.example.com"));
    assert_eq!(
        config.publishers_dir,
        PathBuf::from("/etc/flog/publishers.d")
    );
    assert_eq!(
        config.publishers_dir_in(Path::new("/base")),
        PathBuf::from("/etc/flog/publishers.d")
    );
    assert_eq!(config.poll_interval, Duration::from_millis(1500));
    assert_eq!(config.notice_interval, Duration::from_millis(250));
    assert_eq!(config.concurrency, 3);
    assert!(!config.subscribe);
    assert_eq!(config.connect_timeout, Duration::from_secs(2));
    assert_eq!(config.request_timeout, Duration::from_millis(500));
    assert_eq!(config.fetch_timeout, Duration::from_secs(3600));
    assert_eq!(config.min_backoff, Duration::from_millis(100));
    assert_eq!(config.max_backoff, Duration::from_secs(10));
    assert_eq!(config.max_incident_size, 1 << 20);
    assert_eq!(config.page_size, 20);
    assert_eq!(config.chunk_size, Some(64 * 1024));
    assert_eq!(config.classifier.categories(), ["database", "panics"]);
}

#[test]
fn syntax_errors_point_at_their_line() {
    let message = error("poll_interval = \"5s\"\nconcurrency = = 3\n");
    assert!(message.starts_with("/base/gatherer.toml:2:"), "{message}");
}

#[test]
fn unknown_keys_and_wrong_types_point_at_their_line() {
    let message = error("\n\npol_interval = \"5s\"\n");
    assert!(
        message.starts_with("/base/gatherer.toml:3:1: "),
        "{message}"
    );
    assert!(
        message.contains("unknown field `pol_interval`"),
        "{message}"
    );

    let message = error("concurrency = \"many\"\n");
    assert!(
        message.starts_with("/base/gatherer.toml:1:15: "),
        "{message}"
    );

    let message = error("[[rule]]\nfacility = \"app\"\n");
    assert!(message.contains("missing field `category`"), "{message}");
    assert!(message.starts_with("/base/gatherer.toml:1:"), "{message}");
}

#[test]
fn bad_values_point_at_their_line() {
    let cases = [
        (
            "publishers = [\n  \"flog+insecure://127.0.0.1:4817/web-1/s3cr3t\",\n  \"http://example.com/\",\n]\n",
            "gatherer.toml:3:3: invalid logport URL",
        ),
        ("\npoll_interval = \"soon\"\n", "gatherer.toml:2:17: poll_interval: invalid duration \"soon\""),
        ("fetch_timeout = \"0s\"\n", "gatherer.toml:1:17: fetch_timeout must be more than zero"),
        ("concurrency = 0\n", "gatherer.toml:1:15: concurrency must be from 1 to 4096"),
        ("page_size = 100000\n", "gatherer.toml:1:13: page_size must be from 1"),
        ("chunk_size = 12\n", "gatherer.toml:1:14: chunk_size must be from 1 KiB to 8 MiB"),
        ("max_incident_size = \"huge\"\n", "gatherer.toml:1:21: max_incident_size: invalid size"),
        ("max_incident_size = 0\n", "gatherer.toml:1:21: max_incident_size must be more than zero"),
        (
            "min_backoff = \"1m\"\nmax_backoff = \"1s\"\n",
            "gatherer.toml:1:15: min_backoff is longer than max_backoff",
        ),
        (
            "[[rule]]\ncategory = \"ok\"\n\n[[rule]]\ncategory = \"../etc\"\n",
            "gatherer.toml:5:12: invalid category \"../etc\"",
        ),
        ("[[rule]]\ncategory = \"all\"\n", "gatherer.toml:2:12: invalid category \"all\""),
        (
            "[[rule]]\ncategory = \"x\"\nmessage = \"(unclosed\"\n",
            "gatherer.toml:3:11: invalid regular expression: regex parse error",
        ),
        (
            "[[rule]]\ncategory = \"x\"\nmin_level = \"LOUD\"\n",
            "gatherer.toml:3:13: invalid level",
        ),
        (
            "[[rule]]\ncategory = \"x\"\nfields = { a = [1, 2] }\n",
            "gatherer.toml:3:16: field \"a\": compare with text",
        ),
        (
            "[[rule]]\ncategory = \"x\"\nfacilty = \"a\"\n",
            "gatherer.toml:3:1: unknown field `facilty`",
        ),
    ];
    for (text, expected) in cases {
        let message = error(text);
        assert!(
            message.contains(expected),
            "{text:?}:\n got {message}\nwant {expected}"
        );
    }
    let err = parse("\npoll_interval = \"soon\"\n").unwrap_err();
    assert_eq!(err.line(), Some(2));
}

#[test]
fn secrets_never_appear_in_url_errors() {
    let message = error("publishers = [\"flog+insecure://bad host:1/web-1/topsecret\"]\n");
    assert!(!message.contains("topsecret"), "{message}");
}

#[test]
fn create_writes_the_template_once() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("gatherer");
    let path = create(&basedir).unwrap();
    assert_eq!(path, basedir.join(CONFIG_FILE));
    assert_eq!(fs::read_to_string(&path).unwrap(), CONFIG_TEMPLATE);
    assert!(basedir.join(PUBLISHERS_DIR).is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the config may hold secrets");
    }
    Config::load(&basedir).unwrap();
    assert!(matches!(
        create(&basedir),
        Err(GatherError::AlreadyExists { .. })
    ));

    let missing = Config::load(dir.path().join("nowhere")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
    assert!(
        missing.to_string().contains("nowhere/gatherer.toml"),
        "{missing}"
    );
}

#[test]
fn the_dashboard_is_off_unless_an_address_is_given() {
    assert_eq!(parse("").unwrap().http, None);
    let http = parse("http = \"127.0.0.1:8480\"\n").unwrap().http.unwrap();
    assert_eq!(http.bind, "127.0.0.1:8480".parse().unwrap());
    assert_eq!(http.token, None);
    let v6 = parse("http = \"[::1]:0\"\n").unwrap().http.unwrap();
    assert!(v6.bind.ip().is_loopback());
    let open = parse("http = \"0.0.0.0:8480\"\nhttp_token = \"abcdefghijklmnop-_.~\"\n")
        .unwrap()
        .http
        .unwrap();
    assert_eq!(open.token.as_deref(), Some("abcdefghijklmnop-_.~"));
    assert!(
        !format!("{open:?}").contains("abcdefghijklmnop"),
        "the token is never shown"
    );
}

#[test]
fn the_dashboard_needs_a_token_beyond_loopback() {
    for (text, message) in [
        (
            "http = \"0.0.0.0:8480\"\n",
            "http is not a loopback address: set http_token too",
        ),
        ("http = \"10.1.2.3:80\"\n", "http is not a loopback address"),
        (
            "http = \"localhost\"\n",
            "http must be an address with a port",
        ),
        (
            "http = \"127.0.0.1\"\n",
            "http must be an address with a port",
        ),
        (
            "http = \"127.0.0.1:1\"\nhttp_token = \"short\"\n",
            "http_token must be 16 or more",
        ),
        (
            "http = \"127.0.0.1:1\"\nhttp_token = \"has spaces; and=more 0123\"\n",
            "http_token must be 16 or more",
        ),
        (
            "http_token = \"abcdefghijklmnopq\"\n",
            "http_token is set but http",
        ),
    ] {
        let shown = error(text);
        assert!(shown.contains(message), "{text:?}: {shown}");
        assert!(shown.contains("gatherer.toml:"), "{text:?}: {shown}");
    }
}

#[test]
fn the_logport_is_off_by_default_and_needs_events() {
    assert!(parse(CONFIG_TEMPLATE).unwrap().logport.is_none());
    let config = parse("[events]\n[logport]\nlisten = \"127.0.0.1:4819\"\n").unwrap();
    let logport = config.logport.unwrap();
    assert_eq!(logport.listen, "127.0.0.1:4819".parse().unwrap());
    assert_eq!(logport.queue_memory, 4 * 1024 * 1024);
    assert_eq!(logport.max_connections, 64);
    let all = "[events]\n[logport]\nlisten = \"0.0.0.0:1\"\nadvertise = \"g.example\"\n\
               queue_memory = \"64 KiB\"\nmax_connections = 2\n";
    let logport = parse(all).unwrap().logport.unwrap();
    assert_eq!(logport.advertise.as_deref(), Some("g.example"));
    assert_eq!((logport.queue_memory, logport.max_connections), (65536, 2));
    let alone = error("[logport]\nlisten = \"127.0.0.1:4819\"\n");
    assert!(alone.contains("needs an [events] section"), "{alone}");
    let bad = error("[events]\n[logport]\nlisten = \"localhost\"\n");
    assert!(bad.contains(":3:") && bad.contains("ADDRESS:PORT"), "{bad}");
    let small = error("[events]\n[logport]\nlisten = \"127.0.0.1:1\"\nqueue_memory = 10\n");
    assert!(small.contains("queue_memory"), "{small}");
}

#[test]
fn storage_is_the_directory_unless_a_bucket_is_configured() {
    assert_eq!(parse(CONFIG_TEMPLATE).unwrap().storage, Storage::Dir);
    assert_eq!(parse("storage = \"dir\"\n").unwrap().storage, Storage::Dir);
    let text = "storage = \"s3\"\n[s3]\nbucket = \"flog-fleet\"\nprefix = \"/fleet-1/\"\n\
                endpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\n\
                access_key_id = \"AKIDEXAMPLE\"\nsecret_access_key = \"wJalrXUtnFEMI\"\n";
    let Storage::S3(s3) = parse(text).unwrap().storage else {
        panic!("not s3")
    };
    assert_eq!(s3.bucket, "flog-fleet");
    assert_eq!(s3.prefix, "fleet-1");
    assert_eq!(s3.shown(), "s3://flog-fleet/fleet-1");
    assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(s3.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s3.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
    assert_eq!(s3.secret_access_key.as_deref(), Some("wJalrXUtnFEMI"));
    // The secret never shows in a debug print (nor anywhere it is logged).
    let shown = format!("{s3:?}");
    assert!(
        !shown.contains("wJalrXUtnFEMI") && shown.contains("<redacted>"),
        "{shown}"
    );

    let missing = error("storage = \"s3\"\n");
    assert!(
        missing.contains(":1:") && missing.contains("needs an [s3]"),
        "{missing}"
    );
    let alone = error("[s3]\nbucket = \"flog\"\n");
    assert!(alone.contains("storage is not"), "{alone}");
    let other = error("storage = \"ftp\"\n");
    assert!(other.contains("\"ftp\" is not"), "{other}");
    let bucket = error("storage = \"s3\"\n[s3]\nbucket = \"Flog_Bucket\"\n");
    assert!(
        bucket.contains(":3:") && bucket.contains("bucket must be"),
        "{bucket}"
    );
    let prefix = error("storage = \"s3\"\n[s3]\nbucket = \"flog\"\nprefix = \"a/../b\"\n");
    assert!(
        prefix.contains(":4:") && prefix.contains("prefix must be"),
        "{prefix}"
    );
    assert_eq!(s3.lease, Duration::from_secs(30));
    let leased = parse("storage = \"s3\"\n[s3]\nbucket = \"flog\"\nlease = \"5s\"\n").unwrap();
    let Storage::S3(leased) = leased.storage else {
        panic!("not s3")
    };
    assert_eq!(leased.lease, Duration::from_secs(5));
    assert_eq!(leased.dashboard_refresh, Duration::from_secs(5));
    let refreshed =
        parse("storage = \"s3\"\n[s3]\nbucket = \"flog\"\ndashboard_refresh = \"1s\"\n").unwrap();
    let Storage::S3(refreshed) = refreshed.storage else {
        panic!("not s3");
    };
    assert_eq!(refreshed.dashboard_refresh, Duration::from_secs(1));
    let fast = error("storage = \"s3\"\n[s3]\nbucket = \"flog\"\ndashboard_refresh = \"1ms\"\n");
    assert!(fast.contains("dashboard_refresh must be"), "{fast}");
    let short = error("storage = \"s3\"\n[s3]\nbucket = \"flog\"\nlease = \"100ms\"\n");
    assert!(
        short.contains(":4:") && short.contains("lease must be"),
        "{short}"
    );
    let unknown = error("storage = \"s3\"\n[s3]\nbucket = \"flog\"\npassword = \"x\"\n");
    assert!(unknown.contains("password"), "{unknown}");
}
