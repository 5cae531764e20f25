//! The values of a header's `type` and a trailer's `end`: enums that read any
//! text, so a file from a newer writer still reads (its value as `Unknown`).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Defines an enum of known texts plus `Unknown(String)`, with `as_str`,
/// `From<&str>`, `Display` and serde as the text; one definition for every
/// such value of the format.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this reader does not know (a newer writer's), as written.
            Unknown(String),
        }

        impl $name {
            /// The value as written in a file.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                match text {
                    $( $text => $name::$variant, )*
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                Ok($name::from(Cow::<'de, str>::deserialize(d)?.as_ref()))
            }
        }
    };
}

text_enum! {
    /// What a flogfile is: its header's `type`.
    ///
    /// New kinds of file (each with keys of its own in the header) come as
    /// new values; a reader that does not know one keeps it as `Unknown` and
    /// still reads the file's events.
    pub enum HeaderKind {
        /// An incident report written by a logger's reporter.
        Incident => "incident",
        /// Events saved from a live tail of one publisher.
        Tail => "tail",
        /// Events gathered from several sources into one file (foolscap's
        /// gatherer files convert to this kind).
        Gathered => "gathered",
        /// A crash report: the last events of a process that died without
        /// closing its crash ring, written by the next logger to take its
        /// logdir (or `flogtool rescue`).
        Crash => "crash",
    }
}

text_enum! {
    /// Why a file stopped recording: its trailer's `end`.
    pub enum EndReason {
        /// The trailing-event limit was reached.
        EventLimit => "event_limit",
        /// The trailing delay ran out.
        Delay => "delay",
        /// No trailing events were asked for.
        Immediate => "immediate",
        /// The logger (or an event gatherer) shut down while recording.
        Shutdown => "shutdown",
        /// An event gatherer closed the file to open the next (rotation).
        Rotated => "rotated",
        /// The process died while recording; a later start finished the file.
        Recovered => "recovered",
        /// A crash report: the process ended without closing its crash
        /// ring (killed, aborted, crashed), and a later start wrote what the
        /// ring held.
        Killed => "killed",
        /// Recording failed part way. flog does not write it (a report it
        /// could not write has no trailer), but the reporter's capture ends
        /// with it.
        Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_read_as_themselves_and_others_as_unknown() {
        for kind in [
            HeaderKind::Incident,
            HeaderKind::Tail,
            HeaderKind::Gathered,
            HeaderKind::Crash,
        ] {
            assert_eq!(HeaderKind::from(kind.as_str()), kind);
        }
        for end in [
            EndReason::EventLimit,
            EndReason::Delay,
            EndReason::Immediate,
            EndReason::Shutdown,
            EndReason::Rotated,
            EndReason::Recovered,
            EndReason::Killed,
            EndReason::Failed,
        ] {
            assert_eq!(EndReason::from(end.as_str()), end);
        }
        assert_eq!(
            HeaderKind::from("events"),
            HeaderKind::Unknown("events".into())
        );
        assert_eq!(EndReason::from("cut").to_string(), "cut");

        let mut cbor = Vec::new();
        ciborium::into_writer(&EndReason::EventLimit, &mut cbor).unwrap();
        let text: String = ciborium::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(text, "event_limit");
        let mut cbor = Vec::new();
        ciborium::into_writer("archived", &mut cbor).unwrap();
        let kind: HeaderKind = ciborium::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(kind, HeaderKind::Unknown("archived".into()));
    }
}
