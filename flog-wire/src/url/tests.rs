use proptest::prelude::*;

use super::*;
use crate::fingerprint::FingerprintError;

#[test]
fn parses_host_names_and_addresses() {
    let url = LogportUrl::parse("flog+insecure://logs.example.com:4817/web-1/abc_DEF-123")
        .expect("valid");
    assert_eq!(url.host(), "logs.example.com");
    assert_eq!(url.port(), 4817);
    assert_eq!(url.publisher_id(), "web-1");
    assert_eq!(url.secret(), "abc_DEF-123");
    assert_eq!(url.authority(), "logs.example.com:4817");

    let url = LogportUrl::parse("flog+insecure://127.0.0.1:1/p/s").expect("valid");
    assert_eq!(url.host(), "127.0.0.1");

    let url = LogportUrl::parse("flog+insecure://[fe80::1:2]:65535/p/s").expect("valid");
    assert_eq!(url.host(), "fe80::1:2");
    assert_eq!(url.port(), 65535);
    assert_eq!(url.authority(), "[fe80::1:2]:65535");
    assert_eq!(url.to_string(), "flog+insecure://[fe80::1:2]:65535/p/s");
}

#[test]
fn secret_stays_out_of_debug_and_redacted() {
    let url = LogportUrl::parse("flog+insecure://h:1/pub/TOPSECRET").expect("valid");
    assert!(!format!("{url:?}").contains("TOPSECRET"));
    assert_eq!(
        url.redacted().to_string(),
        "flog+insecure://h:1/pub/<secret>"
    );
    assert_eq!(url.to_string(), "flog+insecure://h:1/pub/TOPSECRET");
}

#[test]
fn hostile_urls_are_rejected() {
    let cases: &[(&str, UrlError)] = &[
        ("", UrlError::BadScheme),
        ("http://h:1/p/s", UrlError::BadScheme),
        ("FLOG://h:1/p/s", UrlError::BadScheme),
        (" flog+insecure://h:1/p/s", UrlError::BadScheme),
        ("flog+insecure://h:1", UrlError::BadPath),
        ("flog+insecure://h:1/p", UrlError::BadPath),
        ("flog+insecure://h:1/p/", UrlError::BadPath),
        ("flog+insecure://h:1//s", UrlError::BadPath),
        ("flog+insecure://h:1/p/s/", UrlError::BadPath),
        ("flog+insecure://h:1/p/s/extra", UrlError::BadPath),
        ("flog+insecure://h/p/s", UrlError::MissingPort),
        ("flog+insecure://[::1]/p/s", UrlError::MissingPort),
        ("flog+insecure://h:0/p/s", UrlError::BadPort("0".into())),
        (
            "flog+insecure://h:65536/p/s",
            UrlError::BadPort("65536".into()),
        ),
        ("flog+insecure://h:+80/p/s", UrlError::BadPort("+80".into())),
        ("flog+insecure://h:/p/s", UrlError::BadPort(String::new())),
        (
            "flog+insecure://h:0080800/p/s",
            UrlError::BadPort("0080800".into()),
        ),
        ("flog+insecure://h:080/p/s", UrlError::BadPort("080".into())),
        ("flog+insecure://h:1/p.x/s", UrlError::BadPublisherId),
        ("flog+insecure://h:1/p/s%2F", UrlError::BadSecret),
        ("flog+insecure://h:1/p/s?x=1", UrlError::BadSecret),
        ("flog+insecure://h:1/p/s#frag", UrlError::BadSecret),
        ("flog+insecure://h:1/p/sé", UrlError::BadSecret),
        ("flog+insecure://h:1/p/s\n", UrlError::BadSecret),
    ];
    for (text, expected) in cases {
        assert_eq!(LogportUrl::parse(text).as_ref(), Err(expected), "{text:?}");
    }
    let bad_hosts = [
        "flog+insecure://:1/p/s",
        "flog+insecure://h_x:1/p/s",
        "flog+insecure://-h:1/p/s",
        "flog+insecure://h..x:1/p/s",
        "flog+insecure://h.:1/p/s",
        "flog+insecure://999.1.1.1:1/p/s",
        "flog+insecure://127.1:1/p/s",
        "flog+insecure://::1:1/p/s",
        "flog+insecure://[::1:1/p/s",
        "flog+insecure://[::1]x:1/p/s",
        "flog+insecure://[not-v6]:1/p/s",
        "flog+insecure://[fe80::1%eth0]:1/p/s",
        "flog+insecure://h x:1/p/s",
    ];
    for text in bad_hosts {
        assert!(
            matches!(LogportUrl::parse(text), Err(UrlError::BadHost { .. })),
            "{text:?}: {:?}",
            LogportUrl::parse(text)
        );
    }
    let long_label = format!("flog+insecure://{}:1/p/s", "a".repeat(64));
    assert!(matches!(
        LogportUrl::parse(&long_label),
        Err(UrlError::BadHost { .. })
    ));
    let long_id = format!(
        "flog+insecure://h:1/{}/s",
        "p".repeat(MAX_PUBLISHER_ID_LEN + 1)
    );
    assert_eq!(LogportUrl::parse(&long_id), Err(UrlError::BadPublisherId));
    let long_secret = format!("flog+insecure://h:1/p/{}", "s".repeat(MAX_SECRET_LEN + 1));
    assert_eq!(LogportUrl::parse(&long_secret), Err(UrlError::BadSecret));
}

#[test]
fn errors_do_not_quote_the_secret() {
    for text in [
        "flog+insecure://h:1/p/TOP.SECRET",
        "flog+insecure://h:1/p.x/TOPSECRET",
    ] {
        let error = LogportUrl::parse(text).expect_err("invalid");
        assert!(!error.to_string().contains("SECRET"), "{error}");
    }
}

#[test]
fn insecure_validates_like_parse() {
    assert!(LogportUrl::insecure("::1", 5, "p", "s").is_ok());
    assert!(matches!(
        LogportUrl::insecure("[::1]", 5, "p", "s"),
        Err(UrlError::BadHost { .. })
    ));
    assert!(matches!(
        LogportUrl::insecure("h", 0, "p", "s"),
        Err(UrlError::BadPort(_))
    ));
    assert_eq!(
        LogportUrl::insecure("h", 1, "", "s"),
        Err(UrlError::BadPublisherId)
    );
    assert_eq!(
        LogportUrl::insecure("h", 1, "p", "a/b"),
        Err(UrlError::BadSecret)
    );
}

const KEY: &str = "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq";

fn key() -> KeyFingerprint {
    KEY.parse().expect("valid fingerprint")
}

#[test]
fn parses_the_tls_and_the_insecure_form() {
    let url =
        LogportUrl::parse(&format!("flogs://{KEY}@logs.example.com:4817/web-1/s3")).expect("valid");
    assert_eq!(url.security(), Security::Tls(key()));
    assert_eq!(url.key(), Some(key()));
    assert_eq!(url.host(), "logs.example.com");
    assert_eq!(url.port(), 4817);
    assert_eq!(url.publisher_id(), "web-1");
    assert_eq!(url.secret(), "s3");
    assert_eq!(url.authority(), "logs.example.com:4817");

    let url = LogportUrl::parse(&format!("flogs://{KEY}@[fe80::1]:1/p/s")).expect("valid");
    assert_eq!(url.host(), "fe80::1");
    assert_eq!(url.to_string(), format!("flogs://{KEY}@[fe80::1]:1/p/s"));

    let url = LogportUrl::parse("flog+insecure://127.0.0.1:9/p/s").expect("valid");
    assert_eq!(url.security(), Security::Insecure);
    assert_eq!(url.key(), None);
    assert_eq!(url.to_string(), "flog+insecure://127.0.0.1:9/p/s");
}

#[test]
fn constructors_validate_like_parse() {
    let url = LogportUrl::tls(key(), "::1", 5, "p", "s").expect("valid");
    assert_eq!(url.to_string(), format!("flogs://{KEY}@[::1]:5/p/s"));
    assert_eq!(LogportUrl::parse(&url.to_string()), Ok(url));
    assert_eq!(
        LogportUrl::insecure("h", 5, "p", "s").map(|u| u.to_string()),
        Ok("flog+insecure://h:5/p/s".to_string())
    );
    assert!(matches!(
        LogportUrl::tls(key(), "a@b", 5, "p", "s"),
        Err(UrlError::BadHost { .. })
    ));
    assert_eq!(
        LogportUrl::insecure("h", 1, "p", "a/b"),
        Err(UrlError::BadSecret)
    );
}

#[test]
fn parse_refuses_pre_tls_urls_and_says_where_the_new_one_is() {
    let error = LogportUrl::parse("flog://h:1/p/TOPSECRET").expect_err("pre-TLS");
    assert_eq!(error, UrlError::PreTlsUrl);
    let message = error.to_string();
    assert!(message.contains("flogs://"), "{message}");
    assert!(message.contains("logport file"), "{message}");
    assert!(!message.contains("TOPSECRET"), "{message}");
    assert!(LogportUrl::parse(&format!("flogs://{KEY}@h:1/p/s")).is_ok());
    assert!(LogportUrl::parse("flog+insecure://h:1/p/s").is_ok());
    assert_eq!(
        LogportUrl::parse("http://h:1/p/s"),
        Err(UrlError::BadScheme)
    );
}

#[test]
fn hostile_tls_and_insecure_urls_are_rejected() {
    let upper = KEY.to_ascii_uppercase();
    let short = &KEY[1..];
    let cases: Vec<(String, UrlError)> = vec![
        ("FLOGS://h:1/p/s".into(), UrlError::BadScheme),
        ("flogs:/h:1/p/s".into(), UrlError::BadScheme),
        ("flog+INSECURE://h:1/p/s".into(), UrlError::BadScheme),
        ("flog+tls://h:1/p/s".into(), UrlError::BadScheme),
        ("flogs://h:1/p/s".into(), UrlError::MissingKey),
        ("flogs://".into(), UrlError::MissingKey),
        ("flogs://h:1/p@x/s".into(), UrlError::MissingKey),
        (
            format!("flogs://{upper}@h:1/p/s"),
            UrlError::BadKey(FingerprintError),
        ),
        (
            format!("flogs://{short}@h:1/p/s"),
            UrlError::BadKey(FingerprintError),
        ),
        (
            format!("flogs://{KEY}=@h:1/p/s"),
            UrlError::BadKey(FingerprintError),
        ),
        (
            "flogs://@h:1/p/s".into(),
            UrlError::BadKey(FingerprintError),
        ),
        (format!("flogs://{KEY}@h:1"), UrlError::BadPath),
        (format!("flogs://{KEY}@h:1/p"), UrlError::BadPath),
        (format!("flogs://{KEY}@h:1/p/s/"), UrlError::BadPath),
        (format!("flogs://{KEY}@h/p/s"), UrlError::MissingPort),
        (
            format!("flogs://{KEY}@h:0/p/s"),
            UrlError::BadPort("0".into()),
        ),
        (format!("flogs://{KEY}@h:1/p.x/s"), UrlError::BadPublisherId),
        (format!("flogs://{KEY}@h:1/p/s?x"), UrlError::BadSecret),
        (
            format!("flog+insecure://{KEY}@h:1/p/s"),
            UrlError::KeyInInsecureUrl,
        ),
        (
            "flog+insecure://u@h:1/p/s".into(),
            UrlError::KeyInInsecureUrl,
        ),
        ("flog+insecure://h:1/p".into(), UrlError::BadPath),
        ("flog+insecure://h/p/s".into(), UrlError::MissingPort),
    ];
    for (text, expected) in &cases {
        assert_eq!(LogportUrl::parse(text).as_ref(), Err(expected), "{text:?}");
    }
    for text in [
        format!("flogs://{KEY}@{KEY}@h:1/p/s"),
        format!("flogs://{KEY}@:1/p/s"),
        format!("flogs://{KEY}@[::1:1/p/s"),
    ] {
        assert!(
            matches!(LogportUrl::parse(&text), Err(UrlError::BadHost { .. })),
            "{text:?}: {:?}",
            LogportUrl::parse(&text)
        );
    }
}

#[test]
fn every_form_keeps_its_secret_out_of_logs_and_errors() {
    let texts = [
        format!("flogs://{KEY}@h:1/pub/TOPSECRET"),
        "flog+insecure://h:1/pub/TOPSECRET".to_string(),
    ];
    for text in &texts {
        let url = LogportUrl::parse(text).expect("valid");
        assert!(!format!("{url:?}").contains("TOPSECRET"));
        assert_eq!(
            url.redacted().to_string(),
            text.replace("TOPSECRET", "<secret>")
        );
        assert_eq!(&url.to_string(), text);
    }
    for text in [
        format!("flogs://{KEY}@h:1/p/hunter2.hunter2"),
        "flogs://h:1/p/hunter2".to_string(),
        "flogs://x@h:1/p/hunter2".to_string(),
        "flog+insecure://k@h:1/p/hunter2".to_string(),
    ] {
        let error = LogportUrl::parse(&text).expect_err("invalid");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}

#[test]
fn incident_names() {
    let good = [
        "incident-1",
        "incident-2024-05-01--12-00-00Z-x7.flog.bz2",
        "incident-a_b-C.d",
    ];
    for name in good {
        assert!(is_valid_incident_name(name), "{name:?}");
    }
    let long = format!("incident-{}", "x".repeat(MAX_INCIDENT_NAME_LEN - 8));
    let longest = &long[..MAX_INCIDENT_NAME_LEN];
    assert!(is_valid_incident_name(longest));
    let bad = [
        "",
        "incident-",
        "incident",
        "Incident-1",
        ".incident-1",
        "x-incident-1",
        "incident-..",
        "incident-a..b",
        "incident-../secret",
        "incident-a/b",
        "incident-a\\b",
        "incident-a b",
        "incident-a\0",
        "incident-é",
        "incident-1\n",
        "/incident-1",
        &long,
    ];
    for name in bad {
        assert!(!is_valid_incident_name(name), "{name:?}");
    }
}

#[test]
fn publisher_ids() {
    assert!(is_valid_publisher_id("web-1_A"));
    assert!(!is_valid_publisher_id(""));
    assert!(!is_valid_publisher_id("a.b"));
    assert!(!is_valid_publisher_id(
        &"p".repeat(MAX_PUBLISHER_ID_LEN + 1)
    ));
}

fn arb_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z][a-z0-9]{0,5}){0,3}",
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string()),
    ]
}

fn arb_security() -> impl Strategy<Value = Security> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(|d| Security::Tls(KeyFingerprint::from_bytes(d))),
        Just(Security::Insecure),
    ]
}

proptest! {
    #[test]
    fn every_form_round_trips(
        security in arb_security(),
        host in arb_host(),
        port in 1..=u16::MAX,
        id in "[A-Za-z0-9_-]{1,64}",
        secret in "[A-Za-z0-9_-]{1,128}",
    ) {
        let url = LogportUrl::new(security, host, port, id, secret)
            .expect("generated parts are valid");
        let text = url.to_string();
        prop_assert_eq!(LogportUrl::parse(&text), Ok(url.clone()));
        let without_secret = text.strip_suffix(url.secret()).expect("secret is last");
        prop_assert_eq!(url.redacted().to_string(), format!("{without_secret}<secret>"));
    }

    #[test]
    fn parse_of_new_schemes_never_panics(
        text in "(flogs://|flog\\+insecure://)[a-z2-7@:/\\[\\]0-9.]{0,80}"
    ) {
        let _ = LogportUrl::parse(&text);
    }

    #[test]
    fn display_parse_round_trip(
        host in arb_host(),
        port in 1..=u16::MAX,
        id in "[A-Za-z0-9_-]{1,64}",
        secret in "[A-Za-z0-9_-]{1,128}",
    ) {
        let url = LogportUrl::insecure(host, port, id, secret).expect("generated parts are valid");
        let text = url.to_string();
        prop_assert_eq!(LogportUrl::parse(&text), Ok(url));
    }

    #[test]
    fn parse_never_panics(text in "flog(\\+insecure)?://.{0,40}") {
        let _ = LogportUrl::parse(&text);
    }

    #[test]
    fn valid_incident_names_have_no_path_tricks(name in "incident-[A-Za-z0-9._/\\\\-]{0,20}") {
        if is_valid_incident_name(&name) {
            let path = std::path::Path::new(&name);
            prop_assert_eq!(path.components().count(), 1);
            prop_assert!(!name.contains(".."));
        }
    }
}
