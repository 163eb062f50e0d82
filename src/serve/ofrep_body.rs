//! An OFREP request body: read within the request timeout, as every route that reads a
//! body is, and its JSON read in one pass into what evaluation needs: the `context`
//! object's members in the order sent, every other member skipped unread. An evaluation
//! is a resolve, and the layers, copies and tree of maps built and dropped per request were
//! a third of its cost over `/v1/prompts`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::{Bytes, HttpBody};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::ServerState;
use super::deadline::{Deadline, TimedOut};
use super::reply::error;

/// A request's JSON body, and the one header the bulk evaluation reads.
pub(super) struct JsonBody {
    pub bytes: Bytes,
    pub if_none_match: Option<HeaderValue>,
}

impl FromRequest<Arc<ServerState>> for JsonBody {
    type Rejection = Response;

    async fn from_request(
        request: Request,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        read_json_body(request, state).await
    }
}

/// Reads an OFREP request's body, as the router's extractor.
async fn read_json_body<B>(
    request: axum::http::Request<B>,
    state: &ServerState,
) -> Result<JsonBody, Response>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: fmt::Display,
{
    if let Some(refused) = refused_before_reading(&request) {
        return Err(refused);
    }
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let bytes = read_outcome(reading(request.into_body(), state).await).map_err(refusal)?;
    Ok(JsonBody {
        bytes,
        if_none_match,
    })
}

/// The refusal, made before its body is read, of a request whose body is not JSON by its
/// `Content-Type` (a 415) or longer than the body limit by its `Content-Length` (a 413).
/// The length is the one hyper read from that header for its body's size (the least it
/// will be), not the header looked up again: a chunked body has none and is bounded as it
/// is read.
pub(super) fn refused_before_reading<B: HttpBody>(
    request: &axum::http::Request<B>,
) -> Option<Response> {
    if !super::reply::is_json_content_type(request.headers()) {
        return Some(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON: send `Content-Type: application/json`",
        ));
    }
    let declared = request.body().size_hint().lower();
    (declared > super::reply::BODY_LIMIT as u64).then(|| refusal(Unread::TooLarge))
}

/// Reads a body [`refused_before_reading`] let through, within the request timeout; what it
/// comes to is [`read_outcome`]'s to say.
pub(super) fn reading<B>(body: B, state: &ServerState) -> Deadline<ReadLimited<B>>
where
    B: HttpBody<Data = Bytes>,
    B::Error: fmt::Display,
{
    super::deadline::within(
        state.request_timeout,
        read_limited(body, super::reply::BODY_LIMIT),
    )
}

/// A body read by [`reading`], or why it was not.
pub(super) fn read_outcome(read: Result<Result<Bytes, Unread>, TimedOut>) -> Result<Bytes, Unread> {
    read.unwrap_or(Err(Unread::TimedOut))
}

/// The answer to a body that was not read: one that arrived over the limit is a 413 and
/// one that did not arrive within the request timeout a 408, as on every route.
pub(super) fn refusal(unread: Unread) -> Response {
    match unread {
        Unread::TimedOut => super::reply::timed_out(),
        Unread::TooLarge => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body is longer than the limit of {} bytes",
                super::reply::BODY_LIMIT
            ),
        ),
        Unread::Broken(why) => error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body could not be read: {why}"),
        ),
    }
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unread {
    /// Longer than the limit, by its `Content-Length` or by what arrived.
    TooLarge,
    /// The connection failed while it was read.
    Broken(String),
    /// It did not arrive within the request timeout.
    TimedOut,
}

/// Reads a body, at most `limit` bytes, frame by frame. A body that arrives in one frame
/// (a small one sent with its headers: nearly every evaluation) is that frame, not copied;
/// axum's `Bytes` extractor boxed a limited body around it and collected it into a buffer,
/// a tenth of an evaluation's cost.
fn read_limited<B>(body: B, limit: usize) -> ReadLimited<B> {
    ReadLimited {
        body,
        limit,
        only: None,
        joined: Vec::new(),
    }
}

pin_project_lite::pin_project! {
    /// [`read_limited`]'s reading: a future of its own type, so that the front holds it
    /// without a box.
    pub(super) struct ReadLimited<B> {
        #[pin]
        body: B,
        limit: usize,
        // The first frame, kept whole while it is the only one.
        only: Option<Bytes>,
        // Every frame, joined, once there is a second.
        joined: Vec<u8>,
    }
}

impl<B> Future for ReadLimited<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: fmt::Display,
{
    type Output = Result<Bytes, Unread>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        while let Some(frame) = ready!(this.body.as_mut().poll_frame(cx)) {
            let frame = frame.map_err(|e| Unread::Broken(e.to_string()))?;
            // Trailers carry nothing an evaluation reads.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let read = this.only.as_ref().map_or(this.joined.len(), Bytes::len);
            if read + data.len() > *this.limit {
                return Poll::Ready(Err(Unread::TooLarge));
            }
            match this.only.take() {
                None if this.joined.is_empty() => *this.only = Some(data),
                Some(first) => {
                    this.joined.extend_from_slice(&first);
                    this.joined.extend_from_slice(&data);
                }
                None => this.joined.extend_from_slice(&data),
            }
        }
        let joined = std::mem::take(this.joined);
        Poll::Ready(Ok(this.only.take().unwrap_or_else(|| Bytes::from(joined))))
    }
}

/// A JSON object's members in the order sent; of a repeated name the last wins, as in a
/// map. A name is borrowed from the body unless it was written with escapes.
#[derive(Debug, Default)]
pub(super) struct Members<'a>(Vec<(Cow<'a, str>, Value)>);

impl Members<'_> {
    pub(super) fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v))
    }

    /// The members as one JSON object, for a digest of the context.
    pub(super) fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::from(name.as_ref()).to_string());
            out.push(':');
            out.push_str(&value.to_string());
        }
        out.push('}');
        out
    }
}

/// A request body as OFREP reads it.
#[derive(Debug)]
pub(super) enum RequestBody<'a> {
    /// A JSON object, and its `context`.
    Object(ContextField<'a>),
    /// JSON, but not an object.
    NotObject,
}

/// The `context` member of a request body.
#[derive(Debug)]
pub(super) enum ContextField<'a> {
    /// Missing or `null`.
    Absent,
    Object(Members<'a>),
    /// Anything but an object.
    Other,
}

impl<'a> RequestBody<'a> {
    pub(super) fn parse(body: &'a [u8]) -> serde_json::Result<Self> {
        let mut reader = serde_json::Deserializer::from_slice(body);
        let parsed = reader.deserialize_any(BodyVisitor)?;
        reader.end()?;
        Ok(parsed)
    }
}

/// Calls `$make` for every kind of JSON value but the ones the visitor handles itself;
/// a list is read through so that the reader stays in step.
macro_rules! every_other_kind {
    ($make:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($make)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($make)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($make)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($make)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($make)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($make)
        }
    };
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = RequestBody<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RequestBody<'de>, A::Error> {
        let mut context = ContextField::Absent;
        while let Some(IsContext(is_context)) = map.next_key()? {
            if is_context {
                context = map.next_value_seed(FieldSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(RequestBody::Object(context))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RequestBody<'de>, E> {
        Ok(RequestBody::NotObject)
    }

    every_other_kind!(RequestBody::NotObject);
}

/// Whether a member's name is `context`, read without a copy of the name.
struct IsContext(bool);

impl<'de> de::Deserialize<'de> for IsContext {
    fn deserialize<D: Deserializer<'de>>(reader: D) -> Result<Self, D::Error> {
        reader.deserialize_str(IsContextVisitor)
    }
}

struct IsContextVisitor;

impl Visitor<'_> for IsContextVisitor {
    type Value = IsContext;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<IsContext, E> {
        Ok(IsContext(name == "context"))
    }
}

struct FieldSeed;

impl<'de> de::DeserializeSeed<'de> for FieldSeed {
    type Value = ContextField<'de>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<ContextField<'de>, D::Error> {
        reader.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = ContextField<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ContextField<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            members.push((name, map.next_value::<Value>()?));
        }
        Ok(ContextField::Object(Members(members)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<ContextField<'de>, E> {
        Ok(ContextField::Absent)
    }

    every_other_kind!(ContextField::Other);
}

/// A member's name, borrowed from the body when it has no escapes.
struct NameSeed;

impl<'de> de::DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Cow<'de, str>, D::Error> {
        reader.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(name))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(body: &str) -> ContextField<'_> {
        match RequestBody::parse(body.as_bytes()).unwrap() {
            RequestBody::Object(field) => field,
            RequestBody::NotObject => panic!("{body} is an object"),
        }
    }

    fn in_frames(frames: &[&'static str]) -> axum::body::Body {
        let frames: Vec<Result<Bytes, std::io::Error>> = frames
            .iter()
            .map(|f| Ok(Bytes::from_static(f.as_bytes())))
            .collect();
        axum::body::Body::from_stream(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_in_one_frame_is_that_frame_and_one_in_several_is_joined() {
        let sent = Bytes::from_static(br#"{"context":{"targetingKey":"u"}}"#);
        let read = read_limited(axum::body::Body::from(sent.clone()), 64).await;
        let read = read.unwrap();
        assert_eq!(read, sent);
        assert_eq!(read.as_ptr(), sent.as_ptr(), "not copied");
        let joined = read_limited(in_frames(&["{\"a\"", ":", "1}"]), 64).await;
        assert_eq!(joined.unwrap(), Bytes::from_static(b"{\"a\":1}"));
        let empty = read_limited(axum::body::Body::empty(), 64).await;
        assert_eq!(empty.unwrap(), Bytes::new());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_by_its_length_or_by_what_arrives() {
        let limit = super::super::reply::BODY_LIMIT;
        // A body of a known length, as hyper's is when it has a `Content-Length`.
        let declared = |length: usize| {
            let mut request = Request::new(axum::body::Body::from(vec![b' '; length]));
            let json = HeaderValue::from_static("application/json");
            request.headers_mut().insert(header::CONTENT_TYPE, json);
            request
        };
        let refused = refused_before_reading(&declared(limit + 1)).map(|r| r.status());
        assert_eq!(refused, Some(StatusCode::PAYLOAD_TOO_LARGE));
        assert!(refused_before_reading(&declared(limit)).is_none());
        let frames = in_frames(&["0123456789", "0123456789"]);
        assert_eq!(read_limited(frames, 19).await, Err(Unread::TooLarge));
        let exactly = in_frames(&["0123456789", "0123456789"]);
        assert_eq!(read_limited(exactly, 20).await.unwrap().len(), 20);
        let failing: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::other("reset")),
        ];
        let broken = axum::body::Body::from_stream(futures_util::stream::iter(failing));
        assert!(matches!(
            read_limited(broken, 64).await,
            Err(Unread::Broken(why)) if why.contains("reset")
        ));
    }

    #[test]
    fn reads_the_context_in_order_and_skips_the_rest() {
        let body = r#"{"flags":[1,{"a":[2]}],"context":{"targetingKey":"u","cohort":"beta","n":1.5,"variables":{"x":[1]}},"z":null}"#;
        let ContextField::Object(members) = context(body) else {
            panic!("an object")
        };
        let names: Vec<&str> = members.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["targetingKey", "cohort", "n", "variables"]);
        assert_eq!(members.get("n"), Some(&serde_json::json!(1.5)));
        assert_eq!(
            members.to_json(),
            r#"{"targetingKey":"u","cohort":"beta","n":1.5,"variables":{"x":[1]}}"#
        );
    }

    #[test]
    fn a_name_is_borrowed_from_the_body_unless_it_was_written_with_escapes() {
        let body = r#"{"context":{"targetingKey":"u","co\u0068ort":"beta"}}"#;
        let ContextField::Object(members) = context(body) else {
            panic!("an object")
        };
        assert!(matches!(members.0[0].0, Cow::Borrowed("targetingKey")));
        assert!(matches!(&members.0[1].0, Cow::Owned(name) if name == "cohort"));
        assert_eq!(members.get("cohort"), Some(&serde_json::json!("beta")));
    }

    #[test]
    fn the_last_of_a_repeated_member_wins_as_in_a_map() {
        let ContextField::Object(members) =
            context(r#"{"context":{"targetingKey":"a","targetingKey":"b"}}"#)
        else {
            panic!("an object")
        };
        assert_eq!(members.get("targetingKey"), Some(&serde_json::json!("b")));
        assert!(matches!(
            context(r#"{"context":{"targetingKey":"a"},"context":null}"#),
            ContextField::Absent
        ));
    }

    #[test]
    fn tells_a_missing_context_from_one_of_another_kind_and_json_from_not_json() {
        assert!(matches!(context("{}"), ContextField::Absent));
        assert!(matches!(
            context(r#"{"context":null}"#),
            ContextField::Absent
        ));
        for other in ["1", "\"x\"", "true", "[{\"a\":1}]", "-2.5"] {
            let body = format!(r#"{{"context":{other},"after":1}}"#);
            assert!(matches!(context(&body), ContextField::Other), "{body}");
        }
        for not_object in ["[]", "[1,[2]]", "null", "3", "\"t\"", "false"] {
            assert!(matches!(
                RequestBody::parse(not_object.as_bytes()),
                Ok(RequestBody::NotObject)
            ));
        }
        for not_json in ["{", "{\"context\":{}} x", "{\"context\":{\"a\":}}", "nul"] {
            assert!(
                RequestBody::parse(not_json.as_bytes()).is_err(),
                "{not_json}"
            );
        }
    }
}
