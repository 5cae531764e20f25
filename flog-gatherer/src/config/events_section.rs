//! The `[events]` section of `gatherer.toml`: event gathering (docs/gatherer.md,
//! "Gathering events").

use std::time::Duration;

use flog_core::{facility_has_prefix, Level};
use serde::Deserialize;
use toml::Spanned;

use crate::classify::RawLevel;
use crate::error::{ConfigError, ConfigProblem, Source};
use crate::units::{RawDuration, RawSize};

/// How events are gathered: from which publishers, at which levels, into
/// which files. Present when `gatherer.toml` has an `[events]` section.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventsConfig {
    /// Ids of the publishers to gather events from (the id of each logport
    /// URL); empty, the default, means every publisher.
    pub publishers: Vec<String>,
    /// Events below this level are not stored, unless a [`LevelRule`]
    /// says otherwise. Default: every level.
    pub min_level: Level,
    /// Minimum levels for some publishers and facilities; the most specific
    /// rule that matches an event decides (see [`EventsConfig::min_level_for`]).
    pub levels: Vec<LevelRule>,
    /// Close the current file after it has been open this long. Default 1 h.
    pub rotate: Option<Duration>,
    /// Close the current file once it holds this many bytes. Default: no
    /// size limit.
    pub rotate_size: Option<u64>,
    /// Compress closed files with bzip2 (on a thread of its own). Default true.
    pub compress: bool,
    /// Keep at most this many closed files, removing the oldest. Default: all.
    pub keep_files: Option<usize>,
    /// Keep at most this many bytes of closed files, removing the oldest.
    /// Default: all.
    pub keep_bytes: Option<u64>,
    /// Remove closed files that closed longer than this ago (by the close
    /// time in their names). Default: keep them, whatever their age.
    pub keep_age: Option<Duration>,
    /// Bytes of one publisher's events that may wait for the disk; beyond
    /// that its events are counted as a gap (`not_written`) rather than
    /// held. Default 16 MiB.
    pub queue_memory: u64,
    /// With `storage = "s3"`: bytes of closed files that may wait on the
    /// local disk for the bucket; past that the spool is full and events
    /// are not written (but counted as `not_written` gaps) until uploads
    /// make room. Default 4 GiB.
    pub spool_bytes: u64,
    /// With `storage = "s3"`: closed files larger than this are uploaded
    /// in parts of this size (S3's minimum part is 5 MiB). Default 8 MiB.
    pub upload_part_size: u64,
}

/// S3's smallest part of a multipart upload (but the last).
const MIN_PART: u64 = 5 * 1024 * 1024;

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            publishers: Vec::new(),
            min_level: Level(0),
            levels: Vec::new(),
            rotate: Some(Duration::from_secs(3600)),
            rotate_size: None,
            compress: true,
            keep_files: None,
            keep_bytes: None,
            keep_age: None,
            queue_memory: 16 * 1024 * 1024,
            spool_bytes: 4 * 1024 * 1024 * 1024,
            upload_part_size: 8 * 1024 * 1024,
        }
    }
}

/// A minimum level for the events of one publisher, of one facility (and
/// its dotted children), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelRule {
    /// The publisher's id; `None` for every publisher.
    pub publisher: Option<String>,
    /// The facility prefix; `None` for every facility.
    pub facility: Option<String>,
    /// Events below this level are not stored.
    pub min_level: Level,
}

impl EventsConfig {
    /// Whether events of publisher `id` are gathered.
    pub fn gathers(&self, id: &str) -> bool {
        self.publishers.is_empty() || self.publishers.iter().any(|p| p == id)
    }

    /// The minimum level for an event of `facility` from `publisher`: that
    /// of the most specific matching rule (a rule naming the publisher beats
    /// one that does not; then the longer facility prefix wins), else
    /// [`min_level`](Self::min_level).
    pub fn min_level_for(&self, publisher: &str, facility: Option<&str>) -> Level {
        let facility = facility.unwrap_or("");
        self.levels
            .iter()
            .filter(|r| r.publisher.as_deref().is_none_or(|p| p == publisher))
            .filter(|r| {
                r.facility
                    .as_deref()
                    .is_none_or(|f| facility_has_prefix(facility, f))
            })
            .max_by_key(|r| {
                let prefix = r.facility.as_deref().map_or(0, |f| f.len() + 1);
                (r.publisher.is_some(), prefix)
            })
            .map_or(self.min_level, |r| r.min_level)
    }
}

/// `[events]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvents {
    #[serde(default)]
    publishers: Vec<String>,
    min_level: Option<Spanned<RawLevel>>,
    #[serde(default)]
    level: Vec<RawLevelRule>,
    rotate: Option<Spanned<RawRotate>>,
    rotate_size: Option<Spanned<RawSize>>,
    compress: Option<bool>,
    keep_files: Option<Spanned<i64>>,
    keep_bytes: Option<Spanned<RawSize>>,
    keep_age: Option<Spanned<RawDuration>>,
    queue_memory: Option<Spanned<RawSize>>,
    spool_bytes: Option<Spanned<RawSize>>,
    upload_part_size: Option<Spanned<RawSize>>,
}

/// `rotate`: a duration, or `false` for no rotation by time.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRotate {
    Off(bool),
    Every(RawDuration),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevelRule {
    publisher: Option<String>,
    facility: Option<String>,
    min_level: Spanned<RawLevel>,
}

fn level(raw: &Spanned<RawLevel>, source: &Source<'_>) -> Result<Level, ConfigError> {
    raw.get_ref()
        .level()
        .ok_or_else(|| source.error_at(raw.span(), ConfigProblem::Level))
}

impl RawEvents {
    pub(crate) fn compile(self, source: &Source<'_>) -> Result<EventsConfig, ConfigError> {
        let mut config = EventsConfig {
            publishers: self.publishers,
            ..EventsConfig::default()
        };
        if let Some(raw) = &self.min_level {
            config.min_level = level(raw, source)?;
        }
        for rule in &self.level {
            config.levels.push(LevelRule {
                publisher: rule.publisher.clone(),
                facility: rule.facility.clone(),
                min_level: level(&rule.min_level, source)?,
            });
        }
        if let Some(compress) = self.compress {
            config.compress = compress;
        }
        let size = |value: &Spanned<RawSize>, key| {
            let bytes = value.get_ref().parse().map_err(|e| {
                source.error_at(value.span(), ConfigProblem::Unit { key, source: e })
            })?;
            match bytes {
                0 => Err(source.error_at(value.span(), ConfigProblem::Zero { key })),
                n => Ok(n),
            }
        };
        if let Some(raw) = &self.rotate {
            config.rotate = match raw.get_ref() {
                RawRotate::Off(false) => None,
                RawRotate::Off(true) => config.rotate,
                RawRotate::Every(every) => {
                    let key = "rotate";
                    let every = every.parse().map_err(|e| {
                        source.error_at(raw.span(), ConfigProblem::Unit { key, source: e })
                    })?;
                    if every.is_zero() {
                        return Err(source.error_at(raw.span(), ConfigProblem::Zero { key }));
                    }
                    Some(every)
                }
            };
        }
        if let Some(raw) = &self.rotate_size {
            config.rotate_size = Some(size(raw, "rotate_size")?);
        }
        if let Some(raw) = &self.keep_bytes {
            config.keep_bytes = Some(size(raw, "keep_bytes")?);
        }
        if let Some(raw) = &self.keep_age {
            let key = "keep_age";
            let age = raw
                .get_ref()
                .parse()
                .map_err(|e| source.error_at(raw.span(), ConfigProblem::Unit { key, source: e }))?;
            if age.is_zero() {
                return Err(source.error_at(raw.span(), ConfigProblem::Zero { key }));
            }
            config.keep_age = Some(age);
        }
        if let Some(raw) = &self.queue_memory {
            config.queue_memory = size(raw, "queue_memory")?;
        }
        if let Some(raw) = &self.spool_bytes {
            config.spool_bytes = size(raw, "spool_bytes")?;
        }
        if let Some(raw) = &self.upload_part_size {
            let part = size(raw, "upload_part_size")?;
            if part < MIN_PART {
                let key = "upload_part_size";
                let range = "5 MiB up";
                return Err(source.error_at(raw.span(), ConfigProblem::OutOfRange { key, range }));
            }
            config.upload_part_size = part;
        }
        if let Some(raw) = &self.keep_files {
            let files = usize::try_from(*raw.get_ref()).ok().filter(|n| *n >= 1);
            let range = |span| {
                let key = "keep_files";
                source.error_at(span, ConfigProblem::OutOfRange { key, range: "1 up" })
            };
            config.keep_files = Some(files.ok_or_else(|| range(raw.span()))?);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use flog_core::Level;
    use std::time::Duration;

    #[test]
    fn the_events_section_reads_with_its_defaults() {
        let config = Config::from_toml("", "g.toml").unwrap();
        assert!(config.events.is_none(), "off without the section");
        let config = Config::from_toml("[events]\n", "g.toml").unwrap();
        let events = config.events.unwrap();
        assert_eq!(events.rotate, Some(Duration::from_secs(3600)));
        assert!(events.compress);
        assert!(events.gathers("anyone"));
        assert_eq!(events.min_level_for("a", Some("app")), Level(0));
    }

    #[test]
    fn the_most_specific_level_rule_decides() {
        let text = r#"
[events]
publishers = ["web-1", "db-1"]
min_level = "OPERATIONAL"
rotate = "10m"
rotate_size = "64 MiB"
keep_files = 48
[[events.level]]
facility = "app.db"
min_level = "WEIRD"
[[events.level]]
publisher = "db-1"
min_level = "NOISY"
[[events.level]]
publisher = "db-1"
facility = "app.db.pool"
min_level = 35
"#;
        let events = Config::from_toml(text, "g.toml").unwrap().events.unwrap();
        assert!(events.gathers("web-1") && !events.gathers("web-2"));
        assert_eq!(events.rotate, Some(Duration::from_secs(600)));
        assert_eq!(events.rotate_size, Some(64 * 1024 * 1024));
        assert_eq!(events.keep_files, Some(48));
        let at = |p, f| events.min_level_for(p, f);
        assert_eq!(at("web-1", Some("app.web")), Level::OPERATIONAL);
        assert_eq!(at("web-1", Some("app.db.x")), Level::WEIRD);
        assert_eq!(at("web-1", Some("app.dbx")), Level::OPERATIONAL);
        assert_eq!(at("db-1", Some("app.db")), Level::NOISY, "publisher first");
        assert_eq!(at("db-1", Some("app.db.pool.a")), Level::SCARY);
        assert_eq!(at("db-1", None), Level::NOISY);
    }

    #[test]
    fn the_worked_example_in_the_docs_reads_as_it_says() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/gatherer.md");
        let text = std::fs::read_to_string(path).unwrap();
        let section = &text[text.find("## Gathering events").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + section[start..].find("\n```").unwrap();
        let events = Config::from_toml(&section[start..end], "docs/gatherer.md")
            .unwrap()
            .events
            .unwrap();
        assert_eq!(
            events.min_level_for("web-1", Some("app.web")),
            Level::OPERATIONAL
        );
        assert_eq!(
            events.min_level_for("web-1", Some("app.db.pool")),
            Level::WEIRD
        );
        assert_eq!(events.min_level_for("db-1", Some("app.db")), Level::NOISY);
        assert_eq!(events.keep_files, Some(168));
        assert_eq!(events.rotate_size, Some(256 * 1024 * 1024));
        // And the template's section, uncommented, is the same.
        let template: String = crate::CONFIG_TEMPLATE
            .lines()
            .skip_while(|l| !l.starts_with("# [events]"))
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .collect::<Vec<_>>()
            .join("\n");
        let from_template = Config::from_toml(&template, "template").unwrap();
        assert!(from_template.events.is_some());
    }

    #[test]
    fn bad_values_name_their_line() {
        for (text, line) in [
            ("[events]\nmin_level = \"LOUD\"\n", 2),
            ("[events]\nrotate = \"0s\"\n", 2),
            ("[events]\n\nrotate_size = \"lots\"\n", 3),
            ("[events]\nkeep_files = 0\n", 2),
            ("[events]\nrotation = \"1h\"\n", 2),
            ("[events]\nkeep_files = 3\nkeep_age = \"0d\"\n", 3),
            ("[events]\nkeep_age = \"a week\"\n", 2),
            ("[events]\n\nkeep_age = -7\n", 3),
            ("[events]\nkeep_age = \"400d\"\n", 2),
            ("[events]\n\nupload_part_size = \"1 MiB\"\n", 3),
            ("[events]\nspool_bytes = 0\n", 2),
        ] {
            let e = Config::from_toml(text, "g.toml").unwrap_err();
            assert_eq!(e.line(), Some(line), "{text}: {e}");
        }
        let e = Config::from_toml("[events]\nkeep_age = \"0s\"\n", "g.toml").unwrap_err();
        assert!(e.to_string().contains("keep_age"), "{e}");
        let e = Config::from_toml("[events]\nkeep_age = \"a week\"\n", "g.toml").unwrap_err();
        assert!(e.to_string().contains("invalid duration \"a week\""), "{e}");
        let week = Config::from_toml("[events]\nkeep_age = \"7d\"\n", "g.toml").unwrap();
        assert_eq!(
            week.events.unwrap().keep_age,
            Some(Duration::from_secs(7 * 86_400))
        );
        let spool = "[events]\nspool_bytes = \"1 GiB\"\nupload_part_size = \"5 MiB\"\n";
        let spool = Config::from_toml(spool, "g.toml").unwrap().events.unwrap();
        assert_eq!(spool.spool_bytes, 1 << 30);
        assert_eq!(spool.upload_part_size, 5 << 20);
        let off = Config::from_toml("[events]\nrotate = false\n", "g.toml").unwrap();
        assert_eq!(off.events.unwrap().rotate, None);
    }
}
