//! The cost of `tracing::info!` with four fields through the flog layer, compared
//! in the same run with the same call through tracing-subscriber's fmt layer
//! writing to a sink and through `tracing-flight-recorder`, another in-memory
//! flight-recorder layer (its default 1000-event ring, span capture on, as its
//! documentation sets it up). `noop_layer` is a layer that does nothing, on
//! the same registry: what tracing's own dispatch costs, the floor of any layer.
//!
//! Run with `cargo bench -p flog-tracing --bench layer`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use flog_core::{Level, Logger};
use flog_tracing::FlogLayer;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn log_one(i: u64) {
    tracing::info!(
        target: "app::db::pool",
        conn = i,
        waited_us = 17u32,
        pool = "main",
        ok = true,
        "checked out a connection"
    );
}

fn bench(c: &mut Criterion, name: &str, dispatch: Dispatch) {
    let mut i = 0u64;
    tracing::dispatcher::with_default(&dispatch, || {
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                log_one(black_box(i));
            })
        });
    });
}

fn in_span(c: &mut Criterion, name: &str, dispatch: Dispatch) {
    let mut i = 0u64;
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!(target: "app::db", "request", id = 7u64);
        let _entered = span.enter();
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                log_one(black_box(i));
            })
        });
    });
}

fn flog(logger: &Logger) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(FlogLayer::new(logger.clone())))
}

fn fmt() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::io::sink),
        ),
    )
}

fn flight_recorder() -> Dispatch {
    let recorder = tracing_flight_recorder::FlightRecorder::with_default_capacity();
    Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_flight_recorder::FlightRecorderLayer::new(recorder)),
    )
}

/// A layer with no work of its own: every call of `tracing::info!` still
/// goes through the callsite's interest, the registry and `Layer::on_event`.
struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        black_box(event);
    }
}

fn noop() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(NoopLayer))
}

fn layers(c: &mut Criterion) {
    bench(c, "noop_layer/info_4_fields", noop());
    bench(c, "flog_layer/info_4_fields", flog(&Logger::new()));
    bench(c, "flight_recorder/info_4_fields", flight_recorder());
    bench(c, "fmt_layer_sink/info_4_fields", fmt());
    in_span(c, "flog_layer/info_4_fields_in_span", flog(&Logger::new()));
    in_span(
        c,
        "flight_recorder/info_4_fields_in_span",
        flight_recorder(),
    );
    in_span(c, "fmt_layer_sink/info_4_fields_in_span", fmt());
    let quiet = Logger::builder().threshold(Level::UNUSUAL).build().unwrap();
    bench(c, "flog_layer/info_below_flog_threshold", flog(&quiet));
}

criterion_group!(benches, layers);
criterion_main!(benches);
