//! The bounded output of a render: how values are printed into a message, and the cap on
//! a message's size.
//!
//! Fuel bounds the steps of a render and charges what operators allocate, but printing a
//! value (`{{ some_list }}`) formats the whole value before its bytes are charged: a list
//! repeated 100,000,000 times became a 1 GB string first. Here every printed value is
//! written through a writer that stops at the message's remaining budget, so printing
//! costs at most what it may print. Containers are measured first, by a walk that stops as
//! soon as they cannot fit: the formatter of a list keeps iterating after its writer
//! refuses, and a list repeated lazily has a hundred million items to iterate.

use std::fmt::Write as _;

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Output, State, Value};

/// The most bytes one rendered message may have (4 MiB): more than any model's context.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The detail of the error a render stops with when a message would pass the cap.
pub(super) const TOO_LONG: &str = "the message would be longer than the output limit";

/// Where a render keeps how many bytes printed values have written so far.
const PRINTED: &str = "promptctl.printed";

/// Prints a value into the message, refusing output past [`MAX_MESSAGE_BYTES`].
pub(super) fn bounded_formatter(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    super::budget::check_cancelled()?;
    let printed = state
        .get_temp(PRINTED)
        .and_then(|v| u64::try_from(v).ok())
        .map_or(0, |n| n as usize);
    let room = MAX_MESSAGE_BYTES.saturating_sub(printed);
    // Text, the most printed value, prints as itself: no copy to measure it.
    if let Some(text) = value.as_str() {
        if text.len() > room {
            return Err(too_long());
        }
        state.set_temp(PRINTED, Value::from(printed + text.len()));
        return out.write_str(text).map_err(Error::from);
    }
    if least_printed(value, room) > room {
        return Err(too_long());
    }
    let mut writer = Bounded {
        text: String::new(),
        room,
    };
    if write!(writer, "{value}").is_err() {
        return Err(too_long());
    }
    state.set_temp(PRINTED, Value::from(printed + writer.text.len()));
    out.write_str(&writer.text).map_err(Error::from)
}

/// A lower bound of the bytes a value prints as, counted only until it passes `room`: a
/// container prints its brackets and at least one byte and a separator per item. Every
/// item visited adds to the bound, so the walk visits at most `room` items.
fn least_printed(value: &Value, room: usize) -> usize {
    if !matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    ) {
        return 0;
    }
    // Without a length, minijinja prints a placeholder rather than iterate.
    let Some(len) = value.len() else {
        return 0;
    };
    let mut least = len.saturating_mul(3).saturating_add(2);
    if least > room {
        return least;
    }
    let Ok(items) = value.try_iter() else {
        return least;
    };
    for item in items {
        let nested = match value.kind() {
            ValueKind::Map => value.get_item(&item).unwrap_or_default(),
            _ => item,
        };
        least = least.saturating_add(least_printed(&nested, room - least.min(room)));
        if least > room {
            break;
        }
    }
    least
}

/// The error a render stops with at the output limit.
pub(super) fn too_long() -> Error {
    Error::new(ErrorKind::InvalidOperation, TOO_LONG)
}

/// A string that refuses to grow past `room` bytes: formatting stops at the first write
/// that would pass it.
struct Bounded {
    text: String,
    room: usize,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if s.len() > self.room - self.text.len() {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_measured_without_iterating_past_the_room() {
        let small = Value::from(vec![1, 2, 3]);
        assert_eq!(least_printed(&small, 100), 11);
        let huge = Value::from(vec![Value::from(1); 10]);
        assert!(least_printed(&huge, 20) > 20);
        let nested = Value::from(vec![huge.clone(), huge]);
        assert!(least_printed(&nested, 50) > 50);
        assert_eq!(least_printed(&Value::from("text"), 1), 0);
    }

    #[test]
    fn a_writer_stops_at_its_room() {
        let mut writer = Bounded {
            text: String::new(),
            room: 5,
        };
        assert!(write!(writer, "abc").is_ok());
        assert!(write!(writer, "de").is_ok());
        assert!(write!(writer, "f").is_err());
        assert_eq!(writer.text, "abcde");
    }
}
