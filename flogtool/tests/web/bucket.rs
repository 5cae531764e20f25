//! `flogtool web s3://...` over HTTP against a real S3 server (moto;
//! `.ci/run` installs it): the incidents under a prefix listed and shown as
//! local files are, a damaged object an error page, wrong credentials a
//! clear error at start.

use std::path::Path;
use std::process::Command;

use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY};
use test_browser::http;

use crate::util::{request_incident, WebServer};

fn env(moto: &Moto, key_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", key_id.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", MOTO_SECRET_ACCESS_KEY.to_owned()),
    ]
}

#[test]
fn web_serves_the_incidents_under_a_prefix_and_an_error_page_for_a_damaged_one() {
    let Some(moto) = Moto::start("flog-web") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    let name = incident.file_name().unwrap().to_str().unwrap();
    let key = format!("fleet/incidents/web-1/{name}");
    moto.put(&key, std::fs::read(&incident).unwrap());
    let broken = "fleet/incidents/web-2/incident-2026-01-01T00-00-00.000000Z-0001.flog.bz2";
    moto.put(broken, b"BZh9 not really bzip2".to_vec());
    moto.put("fleet/incidents/web-1/latest", b"x\n".to_vec());

    let env = env(&moto, MOTO_ACCESS_KEY_ID);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let local = WebServer::start(&[&incident], &[]);
    let server = WebServer::start_with_env(&[Path::new("s3://flog-web/fleet")], &[], &env);

    // The index lists both objects by URL, in key order: the incident with
    // its events, the damaged one with its error.
    let index = http::get(&server.url).unwrap();
    assert_eq!(index.status, 200);
    let html = index.text();
    let good = format!("s3://flog-web/{key}");
    let bad = format!("s3://flog-web/{broken}");
    let (at_good, at_bad) = (html.find(&good), html.find(&bad));
    assert!(at_good.is_some() && at_bad.is_some(), "{html}");
    assert!(at_good < at_bad, "{html}");
    assert!(!html.contains("latest"), "{html}");

    // The incident's summary and rows are the local file's.
    let summary = http::get(&server.at("files/0")).unwrap();
    assert_eq!(summary.status, 200);
    let summary = summary.text();
    assert!(
        summary.contains("6 events covering 0.300000 seconds"),
        "{summary}"
    );
    assert!(summary.contains(&good), "{summary}");
    let rows = http::get(&server.at("files/0/events.json")).unwrap().text();
    let local_rows = http::get(&local.at("files/0/events.json")).unwrap().text();
    assert_eq!(rows, local_rows);

    // The damaged object: an error page naming it, and the server goes on.
    let page = http::get(&server.at("files/1")).unwrap();
    assert_eq!(page.status, 500);
    let text = page.text();
    assert!(
        text.contains("Cannot read the file") && text.contains(&bad),
        "{text}"
    );
    assert_eq!(http::get(&server.at("files/0")).unwrap().status, 200);
    let (code, stderr) = server.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(MOTO_SECRET_ACCESS_KEY), "{stderr}");
}

#[test]
fn web_of_a_bucket_that_refuses_the_credentials_fails_at_start() {
    let Some(moto) = Moto::start("flog-web-refused") else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_flogtool"))
        .args(["web", "s3://flog-web-refused/fleet"])
        .envs(env(&moto, "WRONGKEY"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr.trim(),
        "flogtool: error: s3://flog-web-refused refused the credentials (403 Forbidden): check \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, if any) in the \
         environment, and that the key may read the bucket (GetObject, ListBucket)"
    );
}
