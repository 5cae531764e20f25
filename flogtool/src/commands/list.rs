//! `flogtool list LOGPORT`: a publisher's incidents, one per line; or
//! `flogtool list s3://BUCKET/PREFIX`: the flogfiles stored under a prefix.

use std::io::{self, BufWriter, Write};

use anyhow::Context as _;
use clap::Args;
use flog_core::flogfile::{parse_incident_name, FINISHED_SUFFIX, RECORDING_SUFFIX};
use flog_core::{Level, Timestamp};
use flog_gatherer::BucketLocation;
use flog_wire::{IncidentInfo, ListQuery};
use serde_json::json;

use crate::filter::parse_time;
use crate::{json, logport};

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The publisher: a flogs:// URL, a logport file, or the service's log
    /// directory. Or `s3://BUCKET/PREFIX`: the flogfiles gatherers stored
    /// under that prefix of their bucket, one `URL TIME SIZE` line each
    /// (TIME from the incident's name), by key.
    #[arg(value_name = "LOGPORT")]
    target: String,

    /// Only incidents named after NAME (names sort in time order), e.g. the last
    /// one seen.
    #[arg(long, value_name = "NAME")]
    since: Option<String>,

    /// Only incidents triggered at or after TIME (RFC 3339 UTC, a date, or
    /// seconds since the epoch).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    after: Option<Timestamp>,

    /// One JSON object per incident, with its decoded trigger.
    #[arg(long)]
    json: bool,
}

/// Lists every matching incident, following the publisher's pages.
pub(crate) async fn run(args: ListArgs) -> anyhow::Result<()> {
    if BucketLocation::is_bucket_url(&args.target) {
        return list_bucket(&args).await;
    }
    let url = logport::resolve_url(&args.target)?;
    let client = logport::connect(&url).await?;
    let query = ListQuery {
        since_name: args.since,
        since_time: args.after.map(Timestamp::as_micros),
        limit: None,
    };
    let incidents = client
        .list_all_incidents(query)
        .await
        .with_context(|| format!("cannot list the incidents of {}", url.redacted()))?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for incident in &incidents {
        if args.json {
            writeln!(out, "{}", incident_json(incident))?;
        } else {
            writeln!(out, "{}", incident_line(incident))?;
        }
    }
    out.flush()?;
    if incidents.is_empty() && !args.json {
        eprintln!("flogtool: no incidents");
    }
    Ok(())
}

/// `NAME  TIME  SIZE  LEVEL  facility: trigger message`.
pub(crate) fn incident_line(incident: &IncidentInfo) -> String {
    let trigger = match logport::decode_event(incident.trigger.as_bytes()) {
        Ok(event) if event.facility.is_some() => {
            format!("{}: {}", event.facility(), event.render())
        }
        Ok(event) => event.render().into_owned(),
        Err(error) => format!("<undecodable trigger: {error}>"),
    };
    format!(
        "{}  {}  {:>9}  {:<11}  {trigger}",
        incident.name,
        Timestamp(incident.time),
        incident.size,
        Level(incident.level),
    )
}

fn incident_json(incident: &IncidentInfo) -> serde_json::Value {
    let trigger = logport::decode_event(incident.trigger.as_bytes())
        .map(|e| json::event_object(&e))
        .unwrap_or(serde_json::Value::Null);
    json!({
        "record": "incident",
        "name": incident.name,
        "time": Timestamp(incident.time).to_string(),
        "time_us": incident.time,
        "size": incident.size,
        "level": incident.level,
        "level_name": Level(incident.level).to_string(),
        "trigger": trigger,
    })
}

/// `flogtool list s3://BUCKET/PREFIX`: the flogfiles stored under a prefix
/// of a bucket, by key, read from the listing alone (no object is fetched).
async fn list_bucket(args: &ListArgs) -> anyhow::Result<()> {
    let (location, _, listing) = crate::inputs::listing(&args.target).await?;
    let after = args.after.map(Timestamp::as_micros);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut listed = 0;
    for object in &listing.objects {
        let name = object_name(&object.key);
        let time = parse_incident_name(name).map(|(time, _)| time);
        let too_early = args.since.as_deref().is_some_and(|since| name <= since)
            || after.is_some_and(|after| time.is_none_or(|t| t.as_micros() < after));
        if too_early {
            continue;
        }
        listed += 1;
        if args.json {
            let line = json!({
                "record": "object",
                "name": name,
                "url": object.url,
                "key": object.key,
                "size": object.size,
                "time": time.map(|t| t.to_string()),
                "time_us": time.map(Timestamp::as_micros),
            });
            writeln!(out, "{line}")?;
        } else {
            let time = time.map_or_else(|| "-".to_owned(), |t| t.to_string());
            writeln!(out, "{}  {time}  {:>9}", object.url, object.size)?;
        }
    }
    out.flush()?;
    if listed == 0 && !args.json {
        eprintln!("flogtool: no flogfiles under {location}");
    }
    Ok(())
}

/// The file name of `key` without its `.flog.bz2` or `.flog`.
fn object_name(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.strip_suffix(FINISHED_SUFFIX)
        .or_else(|| name.strip_suffix(RECORDING_SUFFIX))
        .unwrap_or(name)
}
