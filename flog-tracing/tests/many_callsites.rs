//! More tracing callsites than the layer gives a flog call site of its own
//! (4096): the events of those past the bound take the general path and are
//! stored just the same. A test binary of its own, as the bound is the
//! process's: here no other test's callsites take places in the table.

use std::sync::OnceLock;

use flog_core::{Level, Logger, Value};
use flog_tracing::FlogLayer;
use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value as TracingValue};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::prelude::*;

/// A callsite made at run time (tracing's macros make one per call in the
/// program's text; these tests need thousands).
struct MadeCallsite(OnceLock<&'static Metadata<'static>>);

impl Callsite for MadeCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.0.get().expect("set before it is registered")
    }
}

fn made_callsite(target: &'static str) -> &'static Metadata<'static> {
    let callsite: &'static MadeCallsite = Box::leak(Box::new(MadeCallsite(OnceLock::new())));
    let fields = FieldSet::new(&["n", "message"], Identifier(callsite));
    let metadata = Box::leak(Box::new(Metadata::new(
        "event",
        target,
        tracing::Level::INFO,
        None,
        None,
        None,
        fields,
        Kind::EVENT,
    )));
    callsite.0.set(metadata).expect("set once");
    tracing::callsite::register(callsite);
    metadata
}

fn log(metadata: &'static Metadata<'static>, n: u64, text: &str) {
    let fields = metadata.fields();
    let (n_field, message) = (fields.field("n").unwrap(), fields.field("message").unwrap());
    let text = tracing::field::display(text);
    let values: [(_, Option<&dyn TracingValue>); 2] =
        [(&n_field, Some(&n)), (&message, Some(&text))];
    tracing::Event::dispatch(metadata, &fields.value_set(&values));
}

#[test]
fn callsites_past_the_bound_are_recorded_as_the_others() {
    const CALLSITES: u64 = 4096 + 300;
    let logger = Logger::builder()
        .buffer_size(Level::OPERATIONAL, 3 * CALLSITES as usize)
        .build()
        .unwrap();
    let targets = ["gen::a", "gen::b::c", "plain"];
    let sites: Vec<_> = (0..CALLSITES)
        .map(|i| made_callsite(targets[i as usize % 3]))
        .collect();
    let layer = tracing_subscriber::registry().with(FlogLayer::new(logger.clone()));
    tracing::subscriber::with_default(layer, || {
        // Twice with the callsite's first text, once with another: after
        // the first event, a callsite with a flog call site stores the
        // second compactly and the third whole.
        for round in 0..3 {
            for (i, site) in sites.iter().enumerate() {
                let text = match round {
                    2 => format!("other {i}"),
                    _ => format!("site {i}"),
                };
                log(site, i as u64, &text);
            }
        }
    });
    let events = logger.buffered_events();
    assert_eq!(events.len() as u64, 3 * CALLSITES);
    for (k, e) in events.iter().enumerate() {
        let (round, i) = (k as u64 / CALLSITES, k as u64 % CALLSITES);
        let text = match round {
            2 => format!("other {i}"),
            _ => format!("site {i}"),
        };
        assert_eq!(e.render(), text, "{e:?}");
        assert_eq!(e.field("n"), Some(&Value::Int(i as i64)), "{e:?}");
        assert_eq!(e.fields.len(), 1, "{e:?}");
        let facility = ["gen.a", "gen.b.c", "plain"][i as usize % 3];
        assert_eq!(e.facility(), facility, "{e:?}");
        assert_eq!(e.level, Level::OPERATIONAL);
    }
}
