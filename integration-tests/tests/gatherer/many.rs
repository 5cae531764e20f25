//! Many publishers at once: dead and silent ones do not hold up the rest.

use flog_core::Level;
use tokio::net::TcpListener;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_silent_publishers_do_not_stall_the_others() {
    let mut services = Vec::new();
    for _ in 0..3 {
        services.push(Service::start().await);
    }
    // A closed port: connections are refused at once.
    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // A port that accepts and then says nothing, ever: only timeouts end it.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            connections.push(stream);
        }
    });

    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut config = quick_config();
    // Two turns for five publishers, two of which hold theirs as long as
    // they can.
    config.concurrency = 2;
    config.connect_timeout = Duration::from_millis(300);
    config.request_timeout = Duration::from_millis(300);
    let dead: LogportUrl = format!("flog+insecure://127.0.0.1:{dead_port}/dead/s")
        .parse()
        .unwrap();
    let mute: LogportUrl = format!("flog+insecure://127.0.0.1:{silent_port}/silent/s")
        .parse()
        .unwrap();
    config.publishers.push(dead);
    drop_url_file(basedir, "silent", &mute);
    for (i, service) in services.iter().enumerate() {
        drop_url_file(basedir, &format!("service-{i}.url"), service.url());
    }
    let mut gatherer = Running::start(basedir, config);

    for round in 0..2 {
        let mut expected = Vec::new();
        for service in &mut services {
            let text = if round == 0 { "first" } else { "second" };
            expected.push((
                service.id(),
                service.incident("app", Level::WEIRD, text).await,
            ));
        }
        for (id, name) in &expected {
            gatherer.stored(id, name).await;
        }
    }
    for who in ["dead", "silent"] {
        let failed = |event: &GatherEvent| matches!(event, GatherEvent::Failed { publisher_id, .. } if publisher_id == who);
        gatherer
            .wait_for(&format!("a failure of {who}"), failed)
            .await;
    }
    let events = gatherer.stop().await;
    let failed = |who: &str| {
        events.iter().any(|event| {
            matches!(event, GatherEvent::Failed { publisher_id, .. } if publisher_id == who)
        })
    };
    assert!(failed("dead"), "the dead publisher's failures are reported");
    assert!(
        failed("silent"),
        "the silent publisher's timeouts are reported"
    );
    assert_eq!(stored_names(&events).len(), 6);
    for service in &mut services {
        service.stop().await;
    }
    held.abort();
}
