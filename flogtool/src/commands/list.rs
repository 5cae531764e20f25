//! `flogtool list LOGPORT`: a publisher's incidents, one per line.

use std::io::{self, BufWriter, Write};

use anyhow::Context as _;
use clap::Args;
use flog_core::{Level, Timestamp};
use flog_wire::{IncidentInfo, ListQuery};
use serde_json::json;

use crate::filter::parse_time;
use crate::{json, logport};

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The publisher: a flogs:// URL, a logport file, or the service's log
    /// directory.
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
