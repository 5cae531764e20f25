use super::*;

fn spec(file_bytes: usize) -> RingSpec {
    RingSpec {
        file_bytes,
        units: 4,
        max_segments: 8,
        dict_bytes: 1024,
        pid: 4242,
        started: 1_700_000_000_000_000,
        meta: b"about the writer".to_vec(),
    }
}

fn record(n: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (n as usize + i) as u8).collect()
}

fn nums(segment: &MappedSegment) -> Vec<u64> {
    segment.records.iter().map(|r| r.num).collect()
}

/// A copy of the words, to damage.
fn image(ring: &RingFile) -> Vec<AtomicU64> {
    ring.words()
        .iter()
        .map(|w| AtomicU64::new(w.load(Ordering::Relaxed)))
        .collect()
}

/// Recomputes the header's checksum after a test changed a fixed word.
fn reseal(w: &[AtomicU64]) {
    let fixed: Vec<u64> = (0..FIXED_WORDS)
        .map(|i| w[i].load(Ordering::Relaxed))
        .collect();
    let len = fixed[W_META_LEN] as usize;
    let meta = bytes_of((META_OFF..).map(|i| w[i].load(Ordering::Relaxed)), len);
    w[W_HEADER_CRC].store(crc(&fixed, &meta), Ordering::Relaxed);
}

fn two_segments() -> Arc<RingFile> {
    let ring = Arc::new(RingFile::in_memory(&spec(64 * 1024)).unwrap());
    let a = ring.segment("app.db", 20, 1, false).unwrap();
    let b = ring.segment("", 30, 2, true).unwrap();
    for n in 0..200 {
        a.push(n, &record(n, 40 + n as usize % 50));
        b.push(1000 + n, &record(n, 300));
    }
    ring
}

#[test]
fn segments_keep_their_newest_records_and_the_header_reads_back() {
    let ring = two_segments();
    ring.mark_recorded(7);
    ring.mark_recorded(3);
    let c = ring.contents().unwrap();
    assert_eq!((c.pid, c.started), (4242, 1_700_000_000_000_000));
    assert_eq!(c.meta, b"about the writer");
    assert_eq!(c.state, RingState::Live);
    assert_eq!(c.recorded_through, Some(7));
    assert_eq!(c.warnings, vec![]);
    let [a, b] = &c.segments[..] else {
        panic!("{:?}", c.segments.len())
    };
    assert_eq!(
        (a.facility.as_str(), a.level, a.overflow),
        ("app.db", 20, false)
    );
    assert_eq!((b.level, b.overflow), (30, true));
    // Each the newest, in order, up to what its slots hold.
    let got = nums(a);
    assert_eq!(got, (200 - got.len() as u64..200).collect::<Vec<_>>());
    assert!(got.len() > 5, "{got:?}");
    for r in &a.records {
        assert_eq!(r.bytes, record(r.num, 40 + r.num as usize % 50));
    }
    let got = nums(b);
    assert_eq!(got.last(), Some(&1199));
    assert_eq!(got.len(), b.slots / 2, "records of two slots each");
    ring.mark_closed();
    assert_eq!(ring.contents().unwrap().state, RingState::Closed);
}

#[test]
fn the_dictionary_keeps_entries_in_order_until_full() {
    let ring = RingFile::in_memory(&spec(64 * 1024)).unwrap();
    let mut added = Vec::new();
    while let Some(at) = ring.append_dict(&record(added.len() as u64, 13)) {
        assert_eq!(at, added.len() * 3);
        added.push(record(added.len() as u64, 13));
    }
    assert_eq!(added.len(), 1024 / 8 / 3);
    assert_eq!(ring.contents().unwrap().dictionary, added);
}

#[test]
fn a_file_too_small_for_a_slot_per_share_is_refused() {
    let mut s = spec(4096);
    s.units = 1000;
    assert!(RingFile::in_memory(&s).is_err());
}

#[test]
fn headers_that_cannot_be_trusted_are_errors() {
    let ring = two_segments();
    let w = image(&ring);
    assert!(matches!(
        read_ring_words(&w[..100]),
        Err(RingError::TooShort { bytes: 800 })
    ));
    let damaged = |word: usize, value: u64, seal: bool| {
        let w = image(&ring);
        w[word].store(value, Ordering::Relaxed);
        if seal {
            reseal(&w);
        }
        read_ring_words(&w).map(|_| ())
    };
    assert!(matches!(
        damaged(W_MAGIC, 1, false),
        Err(RingError::NotRing)
    ));
    assert!(matches!(
        damaged(W_VERSION, 9, false),
        Err(RingError::Version { found: 9 })
    ));
    assert!(matches!(
        damaged(W_DATA_OFF, 5, false),
        Err(RingError::HeaderChecksum)
    ));
    assert!(matches!(
        damaged(META_OFF, 5, false),
        Err(RingError::HeaderChecksum)
    ));
    assert!(matches!(
        damaged(W_META_LEN, u64::MAX, false),
        Err(RingError::HeaderChecksum)
    ));
    for (word, field) in [
        (W_TABLE_CAP, "the segment table's size"),
        (W_DICT_CAP, "the dictionary's size"),
        (W_DATA_OFF, "the data"),
    ] {
        match damaged(word, u64::MAX / 2, true) {
            Err(RingError::Layout { field: f }) => assert_eq!(f, field),
            other => panic!("{word}: {other:?}"),
        }
    }
}

#[test]
fn damage_past_the_header_is_warned_about_and_the_rest_read() {
    let ring = two_segments();
    let clean = ring.contents().unwrap();
    let first = TABLE_OFF;

    // A corrupt table entry loses its segment only.
    let w = image(&ring);
    w[first].fetch_add(8, Ordering::Relaxed);
    let c = read_ring_words(&w).unwrap();
    assert_eq!(c.warnings, vec![RingWarning::SegmentEntry { segment: 0 }]);
    assert_eq!(c.segments, clean.segments[1..]);

    // So does a corrupt descriptor.
    let w = image(&ring);
    let at = w[first].load(Ordering::Relaxed) as usize;
    w[at + SEG_HEAD].fetch_xor(1, Ordering::Relaxed);
    let c = read_ring_words(&w).unwrap();
    assert_eq!(
        c.warnings,
        vec![RingWarning::SegmentDescriptor { segment: 0 }]
    );

    // A corrupt slot loses its record.
    let w = image(&ring);
    let slot = at + SEG_HEAD + 1 + 5 * SLOT_WORDS + super::slots::SLOT_HEAD;
    w[slot].fetch_xor(1 << 9, Ordering::Relaxed);
    let c = read_ring_words(&w).unwrap();
    assert_eq!(
        c.warnings,
        vec![RingWarning::CorruptSlots {
            segment: 0,
            slots: 1
        }]
    );
    assert_eq!(
        c.segments[0].records.len() + 1,
        clean.segments[0].records.len()
    );

    // An absurd segment count is capped at the table.
    let w = image(&ring);
    w[W_SEGMENTS].store(u64::MAX, Ordering::Relaxed);
    let c = read_ring_words(&w).unwrap();
    assert_eq!(
        c.warnings[0],
        RingWarning::SegmentCount { claimed: u64::MAX }
    );
    assert_eq!(c.segments, clean.segments);

    // A truncated file keeps the segments it still holds whole.
    let w = image(&ring);
    let second = w[first + ENTRY_WORDS].load(Ordering::Relaxed) as usize;
    let c = read_ring_words(&w[..second + 10]).unwrap();
    assert_eq!(c.segments, clean.segments[..1]);
    assert!(matches!(c.warnings[0], RingWarning::Truncated { .. }));
    assert_eq!(c.warnings[1], RingWarning::SegmentEntry { segment: 1 });

    // A dictionary entry claiming more than is used ends the dictionary.
    let w = image(&ring);
    let off = w[W_DICT_OFF].load(Ordering::Relaxed) as usize;
    w[W_DICT_LEN].store(3, Ordering::Relaxed);
    w[off].store(100, Ordering::Relaxed);
    let c = read_ring_words(&w).unwrap();
    assert_eq!(c.warnings, vec![RingWarning::DictionaryEntry { index: 0 }]);
}

#[test]
fn junk_after_a_sound_header_reads_as_warnings_without_a_panic() {
    let ring = two_segments();
    let w = image(&ring);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let live = W_STATE..META_OFF;
    for word in w[live].iter().chain(&w[TABLE_OFF..]) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        word.store(x, Ordering::Relaxed);
    }
    let c = read_ring_words(&w).unwrap();
    assert!(!c.warnings.is_empty());
    assert!(c.segments.iter().all(|s| s.records.is_empty()));
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot map files")]
fn a_mapped_file_reads_back_from_disk_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring");
    let ring = Arc::new(RingFile::create(&path, &spec(64 * 1024)).unwrap());
    let seg = ring.segment("app", 20, 1, false).unwrap();
    for n in 0..10 {
        seg.push(n, &record(n, 100));
    }
    let peeked = peek_ring_file(&path).unwrap();
    assert_eq!(nums(&peeked.segments[0]), (0..10).collect::<Vec<_>>());
    // The pages are the file's: what a later process reads after a death.
    let read = read_ring_file(&path).unwrap();
    assert_eq!(read, peeked);
    ring.flush().unwrap();
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left");
    fs::write(&path, b"short").unwrap();
    assert!(matches!(
        read_ring_file(&path),
        Err(RingError::TooShort { .. })
    ));
    assert!(matches!(
        read_ring_file(&dir.path().join("none")),
        Err(RingError::Io { .. })
    ));
}

/// Writes the fuzz seed for the ring reader (`fuzz/seeds/ring`): a 16 KiB
/// ring as the buffers write it, in the current format: a segment per
/// buffer (one of them wrapped) and the overflow one, compact records of a
/// `msg!`-like call site with its entry in the dictionary, and whole records
/// of events from no call site.
#[test]
#[ignore = "writes fuzz/seeds/ring; run by hand"]
fn write_the_fuzz_seed() {
    use std::borrow::Cow;

    use crate::buffer::{BudgetSplit, Buffers};
    use crate::callsite::Callsite;
    use crate::flogfile::RingMeta;
    use crate::{Event, Incarnation, Level, Text};

    let incarnation = Incarnation::default();
    let mut s = spec(16 * 1024);
    // As the builder asks, for two buffers: a share each, ten for overflow.
    s.units = 2 + crate::buffer::OVERFLOW_SHARES;
    s.max_segments = 3;
    s.dict_bytes = 256;
    s.meta = RingMeta {
        pid: Some(4242),
        incarnation: Some(incarnation),
        ..RingMeta::default()
    }
    .encode();
    let ring = Arc::new(RingFile::in_memory(&s).unwrap());
    let split = BudgetSplit::new(1 << 20, 2).unwrap();
    let buffers = Buffers::with_crash_ring(2, 8, split, incarnation, Some(Arc::clone(&ring)));
    let site: &'static Callsite = Box::leak(Box::new(Callsite::new(true)));
    for n in 0..40u64 {
        let mut event = Event {
            num: n,
            level: Level::OPERATIONAL,
            incarnation,
            ..Event::default()
        };
        if n % 3 == 0 {
            event.facility = Some(Cow::Owned(format!("app.t{}", n % 2)));
            event.text = Text::Message(format!("event {n}").into());
            buffers.push(event, None, |_| {});
        } else {
            event.facility = Some(Cow::Borrowed("app.db"));
            event.text = Text::Format(Cow::Borrowed("query {i} took {ms} ms"));
            event.fields.push((Cow::Borrowed("i"), n.into()));
            event
                .fields
                .push((Cow::Borrowed("ms"), (n * 7 % 13).into()));
            buffers.push(event, Some(site), |_| {});
        }
    }
    let contents = ring.contents().unwrap();
    assert!(!contents.dictionary.is_empty(), "the call site's entry");
    let events = crate::ring_events(&contents, None);
    assert!(events.warnings.is_empty(), "{:?}", events.warnings);
    assert!(events
        .events
        .iter()
        .any(|e| e.render().starts_with("query ")));
    let bytes: Vec<u8> = ring
        .words()
        .iter()
        .flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes())
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/ring");
    fs::create_dir_all(dir).unwrap();
    fs::write(format!("{dir}/ring-16k"), bytes).unwrap();
}
