//! The render's budget, charged before anything is allocated, and its cancellation.
//!
//! minijinja's fuel bounds the steps of a render and the values its operators produce,
//! and its byte budget (one unit a byte, 64 units a step: 64 MB for [`RENDER_FUEL`]) is
//! checked before most allocations. Four built-in filters build their whole output first:
//! `join` with no joiner, `pprint` and `string` format a value of any size, and `sum` of
//! strings copies its growing total at every item. They are replaced here by versions
//! that measure what they would produce against the bytes the fuel can still pay for, and
//! refuse before allocating. Each also checks whether the render was cancelled (its
//! request timed out), as the printing of every value does, so that a render whose answer
//! nobody waits for stops at its next print or filter and frees its slot.
//!
//! [`RENDER_FUEL`]: super::RENDER_FUEL

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

/// Bytes one unit of minijinja's fuel pays for: its byte cost is one unit, a step 64.
const BYTES_PER_FUEL: u64 = 64;

/// The detail of the error a render stops with past its budget.
pub(super) const OVER_BUDGET: &str = "the render would use more memory than its budget";
/// The detail of the error a cancelled render stops with.
pub(super) const CANCELLED: &str = "the render was cancelled: its request timed out";

thread_local! {
    /// The cancel flag of the render running on this thread, if it can be cancelled.
    static CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Runs `render` so that setting `cancel` stops it at its next print or filter.
pub fn cancellable<T>(cancel: &Arc<AtomicBool>, render: impl FnOnce() -> T) -> T {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CANCEL.with(|slot| slot.borrow_mut().take());
        }
    }
    CANCEL.with(|slot| *slot.borrow_mut() = Some(Arc::clone(cancel)));
    let _clear = Clear;
    render()
}

/// Fails when the render on this thread was cancelled.
pub(super) fn check_cancelled() -> Result<(), Error> {
    let cancelled = CANCEL.with(|slot| {
        slot.borrow()
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    });
    if cancelled {
        Err(Error::new(ErrorKind::InvalidOperation, CANCELLED))
    } else {
        Ok(())
    }
}

/// Puts the bounded filters in place of the built-in ones.
pub(super) fn install(env: &mut Environment<'_>) {
    env.add_filter("join", join);
    env.add_filter("pprint", pprint);
    env.add_filter("string", string);
    env.add_filter("sum", sum);
}

/// The bytes the render's fuel can still pay for.
fn room(state: &State) -> usize {
    state.fuel_levels().map_or(usize::MAX, |(_, remaining)| {
        usize::try_from(remaining.saturating_mul(BYTES_PER_FUEL)).unwrap_or(usize::MAX)
    })
}

fn over_budget() -> Error {
    Error::new(ErrorKind::InvalidOperation, OVER_BUDGET)
}

/// A string that refuses to grow past `room` bytes.
struct Capped {
    text: String,
    room: usize,
}

impl Capped {
    fn new(room: usize) -> Self {
        Capped {
            text: String::new(),
            room,
        }
    }

    /// Appends `value` as it prints (a string as itself), or fails past the room.
    fn push_value(&mut self, value: &Value) -> Result<(), Error> {
        match value.as_str() {
            Some(text) => self.write_str(text),
            None => write!(self, "{value}"),
        }
        .map_err(|_| over_budget())
    }
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if s.len() > self.room - self.text.len() {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// The items of a value, one step of fuel (and a look at the cancel flag) each, as they
/// are read: nothing is gathered before it is measured.
fn items<'a>(
    state: &'a State,
    value: &Value,
    what: &str,
) -> Result<impl Iterator<Item = Result<Value, Error>> + 'a, Error> {
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
    }
    let iter = value.try_iter().map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot {what} value of type {}", value.kind()),
        )
        .with_source(e)
    })?;
    Ok(iter.map(move |item| {
        state.consume_fuel(1)?;
        check_cancelled()?;
        Ok(item)
    }))
}

/// An item's attribute, by a dotted path (`user.name`, `0.title`), as the built-ins read it.
fn attribute_of(item: Value, path: Option<&str>) -> Value {
    let Some(path) = path else { return item };
    let mut value = item;
    for part in path.split('.') {
        let next = match part.parse::<usize>() {
            Ok(index) => value.get_item_by_index(index),
            Err(_) => value.get_attr(part),
        };
        value = match next {
            Ok(next) if !next.is_undefined() => next,
            _ => return Value::UNDEFINED,
        };
    }
    value
}

/// `join(joiner="", attribute=None)`: the items as text, with the joiner between them.
fn join(
    state: &State,
    value: &Value,
    joiner: Option<String>,
    attribute: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let joiner = match joiner {
        Some(joiner) => Some(joiner),
        None => kwargs.get::<Option<String>>("d")?,
    }
    .unwrap_or_default();
    let attribute = match attribute {
        Some(attribute) => Some(attribute),
        None => kwargs.get::<Option<String>>("attribute")?,
    };
    kwargs.assert_all_used()?;
    let mut out = Capped::new(room(state));
    for (index, item) in items(state, value, "join")?.enumerate() {
        let item = attribute_of(item?, attribute.as_deref());
        if item.is_undefined() {
            return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
        }
        if index > 0 {
            out.write_str(&joiner).map_err(|_| over_budget())?;
        }
        out.push_value(&item)?;
    }
    Ok(Value::from(out.text))
}

/// `pprint`: the value as its debug form, measured before it is kept.
fn pprint(state: &State, value: &Value) -> Result<String, Error> {
    check_cancelled()?;
    let mut out = Capped::new(room(state));
    write!(out, "{value:#?}").map_err(|_| over_budget())?;
    Ok(out.text)
}

/// `string`: the value as text; a string as itself.
fn string(state: &State, value: &Value) -> Result<Value, Error> {
    check_cancelled()?;
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
    }
    if value.kind() == ValueKind::String {
        return Ok(value.clone());
    }
    let mut out = Capped::new(room(state));
    out.push_value(value)?;
    Ok(Value::from(out.text))
}

/// `sum(attribute=None, start=0)`: numbers added by the built-in; strings joined into one
/// buffer, in linear time, within the budget (the built-in copies its total at each item).
fn sum(
    state: &State,
    values: Value,
    attribute: Option<String>,
    start: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    check_cancelled()?;
    let positional = start.is_some();
    let start = match start {
        Some(start) => Some(start),
        None => kwargs.peek::<Option<Value>>("start")?,
    };
    let first_is_text = values
        .try_iter()
        .ok()
        .and_then(|mut items| items.next())
        .is_some_and(|item| item.kind() == ValueKind::String);
    let start_is_text = start
        .as_ref()
        .is_some_and(|s| s.kind() == ValueKind::String);
    if !first_is_text && !start_is_text {
        // The built-in reads `start` from the keywords itself when it was given there.
        let start = start.filter(|_| positional);
        return minijinja::filters::sum(state, values, attribute.as_deref(), start, kwargs);
    }
    let attribute = match attribute {
        Some(attribute) => Some(attribute),
        None => kwargs.get::<Option<String>>("attribute")?,
    };
    let _ = kwargs.get::<Option<Value>>("start")?;
    kwargs.assert_all_used()?;
    let mut out = Capped::new(room(state));
    match &start {
        Some(start) if start.kind() == ValueKind::String => out.push_value(start)?,
        Some(start) if start.as_i64() != Some(0) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "cannot add strings to a number",
            ));
        }
        _ => {}
    }
    for item in items(state, &values, "sum")? {
        let item = attribute_of(item?, attribute.as_deref());
        if item.is_undefined() {
            continue;
        }
        if item.kind() != ValueKind::String {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot add {} to a string", item.kind()),
            ));
        }
        out.push_value(&item)?;
    }
    Ok(Value::from(out.text))
}
