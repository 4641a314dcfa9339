//! The routes and their handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use facecore::store::{GalleryStore, PersonRef};
use facecore::{Embedding, Face, FacePipeline, Identity, Image, OperatingPoint, Person, PersonId, QualityConfig};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::ApiKeys;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{Gauges, Metrics};
use crate::pool::Pool;

/// Every route: method and path template, as in the router and the OpenAPI document.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/detect"),
    ("POST", "/v1/identify"),
    ("POST", "/v1/verify"),
    ("GET", "/v1/people"),
    ("POST", "/v1/people"),
    ("GET", "/v1/people/{person}"),
    ("POST", "/v1/people/{person}"),
    ("PATCH", "/v1/people/{person}"),
    ("DELETE", "/v1/people/{person}"),
    ("PUT", "/v1/people/{person}/metadata"),
];

/// Most images in one multipart request, and most embeddings in one JSON request.
pub const MAX_ITEMS: usize = 64;
/// Most people in one page of `GET /v1/people`.
pub const MAX_PAGE: usize = 1000;

/// Server settings beyond the pipeline, the store and the keys.
#[derive(Debug, Clone)]
pub struct Options {
    /// Inference threads (each runs one request at a time).
    pub workers: usize,
    /// Requests that may wait for an inference thread; one more is answered 429.
    pub queue: usize,
    /// Largest request body, in bytes (413 above).
    pub body_limit: usize,
    /// Longest a request may wait for its answer (queue and inference); 503 after.
    pub timeout: Duration,
    /// The operating point names are decided at (`identify`, `verify`).
    pub op: OperatingPoint,
    /// The quality floor enrolment from images applies (`?quality=off` skips it).
    pub enroll_quality: QualityConfig,
}

impl Default for Options {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Options {
            workers,
            queue: 4 * workers,
            body_limit: 16 << 20,
            timeout: Duration::from_secs(30),
            op: OperatingPoint::Fmr1e3,
            enroll_quality: QualityConfig::default(),
        }
    }
}

pub(crate) struct AppState {
    pipeline: FacePipeline,
    store: Arc<dyn GalleryStore>,
    space: String,
    dim: Option<usize>,
    keys: Option<ApiKeys>,
    pub(crate) pool: Pool,
    metrics: Metrics,
    opts: Options,
    in_flight: AtomicUsize,
}

type St = State<Arc<AppState>>;

/// The embedding size of the pipeline, from one embedding of a synthetic face (which also
/// builds the networks' plans before the first request).
fn probe_dim(pipeline: &FacePipeline) -> Option<usize> {
    let off = 44.0;
    let rgb = facecore::image_crate::RgbImage::from_fn(200, 200, |x, y| {
        let v = (96 + (x * 7 + y * 13) % 64) as u8;
        facecore::image_crate::Rgb([v, v, v])
    });
    let img = Image::from_rgb(rgb).ok()?;
    let mut landmarks = [facecore::Point::default(); 5];
    for (p, (x, y)) in landmarks.iter_mut().zip(facecore::ARCFACE_112) {
        *p = facecore::Point { x: x + off, y: y + off };
    }
    let face = Face { bbox: facecore::Rect { x: off, y: off, width: 112.0, height: 112.0 }, score: 1.0, landmarks };
    pipeline.recognizer().embed(&img, &face).ok().map(|e| e.dim())
}

impl AppState {
    pub(crate) fn new(
        pipeline: FacePipeline,
        store: Arc<dyn GalleryStore>,
        keys: Option<ApiKeys>,
        opts: Options,
    ) -> Result<AppState, String> {
        let space = pipeline.recognizer().space().to_string();
        match store.space().map_err(|e| e.to_string())? {
            Some(s) if s != space => {
                return Err(format!("the gallery ({}) holds embeddings of space {s}; this preset makes {space}", store.describe()));
            }
            _ => {}
        }
        opts.op.threshold(&space).map_err(|e| e.to_string())?;
        let dim = probe_dim(&pipeline);
        let pool = Pool::new(opts.workers, opts.queue).map_err(|e| format!("cannot start inference threads: {e}"))?;
        Ok(AppState { pipeline, store, space, dim, keys, pool, metrics: Metrics::default(), opts, in_flight: AtomicUsize::new(0) })
    }

    /// Runs CPU work on the inference pool, within the request timeout.
    async fn infer<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&AppState, &crate::pool::Ticket) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let me = Arc::clone(self);
        self.pool.run(self.opts.timeout, move |t| f(&me, t)).await?
    }

    /// Runs a store call off the async runtime (the store may block on disk or a database).
    async fn store<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&dyn GalleryStore) -> facecore::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| ApiError::internal("the store call failed"))?
            .map_err(ApiError::from)
    }
}

/// Builds the router over a state.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/detect", post(detect))
        .route("/v1/identify", post(identify))
        .route("/v1/verify", post(verify))
        .route("/v1/people", get(list_people).post(enroll_json))
        .route("/v1/people/{person}", get(get_person).post(enroll).patch(patch_person).delete(delete_person))
        .route("/v1/people/{person}/metadata", put(put_metadata))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), meter))
        .fallback(|| async { ApiError::not_found("no such route (see GET /v1/openapi.json)") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .with_state(state)
}

/// How many faces a response reports, for the metrics.
#[derive(Clone, Copy)]
struct Faces(u64);

fn with_faces(mut r: Response, n: usize) -> Response {
    r.extensions_mut().insert(Faces(n as u64));
    r
}

/// Authentication and metering of every routed request.
async fn meter(State(st): St, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let endpoint = req.extensions().get::<MatchedPath>().map_or_else(|| req.uri().path().to_string(), |m| m.as_str().to_string());
    let mut key = "-".to_string();
    let mut refused = None;
    if let Some(keys) = st.keys.as_ref().filter(|_| endpoint != "/healthz") {
        let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        match presented {
            None => refused = Some(ApiError::unauthorized("an API key is required: Authorization: Bearer KEY")),
            Some(token) => match keys.id_of(token) {
                Some(id) => key = id.to_string(),
                None => refused = Some(ApiError::unauthorized("unknown API key")),
            },
        }
    }
    let response = match refused {
        Some(e) => {
            key = "unauthenticated".into();
            // Read the body (within the limit) so that the client, still sending, gets the 401.
            let _ = axum::body::to_bytes(req.into_body(), st.opts.body_limit).await;
            e.into_response()
        }
        // The whole body is read (within the limit) before the handler runs, so that an
        // answer given before the handler looks at the body (a bad parameter) never leaves
        // unread bytes that would cost the client its keep-alive connection.
        None => match read_body(&st, req).await {
            Err(e) => e.into_response(),
            Ok((parts, bytes)) => {
                st.in_flight.fetch_add(1, Ordering::Relaxed);
                let r = next.run(Request::from_parts(parts, Body::from(bytes))).await;
                st.in_flight.fetch_sub(1, Ordering::Relaxed);
                r
            }
        },
    };
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    let faces = response.extensions().get::<Faces>().map_or(0, |f| f.0);
    st.metrics.record(&endpoint, &key, response.status().as_u16(), code, t0.elapsed().as_secs_f64(), faces);
    response
}

async fn healthz(State(st): St) -> Response {
    axum::Json(json!({"status": "ok", "space": st.space, "store": st.store.describe()})).into_response()
}

async fn metrics(State(st): St) -> Response {
    let g = Gauges {
        queue_depth: st.pool.depth(),
        queue_capacity: st.pool.capacity(),
        workers: st.pool.workers(),
        in_flight: st.in_flight.load(Ordering::Relaxed),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.metrics.render(g)).into_response()
}

async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

/// Query parameters, with a JSON 400 when they do not parse.
struct Q<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| Q(q.0)).map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

// ---- request bodies ---------------------------------------------------------------------

/// What a request carries: encoded images, or embeddings with their space.
enum Input {
    Images(Vec<Bytes>),
    Embeddings(Vec<Embedding>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingsBody {
    space: String,
    embeddings: Vec<Vec<f32>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Reads the body within the limit. Over it, reads on (up to 4x the limit) so that the
/// client, still sending, receives the 413 rather than a reset connection.
async fn read_body(st: &AppState, req: Request) -> Result<(axum::http::request::Parts, Bytes), ApiError> {
    let limit = st.opts.body_limit;
    let (parts, body) = req.into_parts();
    let too_large = || ApiError::too_large(format!("the request body is over the limit of {limit} bytes"));
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut body = body;
    let mut buf: Vec<u8> = Vec::with_capacity(declared.map_or(0, |d| d.min(limit as u64) as usize));
    let mut over = declared.is_some_and(|d| d > limit as u64);
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > limit {
                over = true;
            }
            if over {
                buf = Vec::new();
                if seen > limit.saturating_mul(4) {
                    break;
                }
            } else {
                buf.extend_from_slice(&data);
            }
        }
    }
    if over {
        return Err(too_large());
    }
    Ok((parts, Bytes::from(buf)))
}

fn sniff_image(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request body is empty: send a JPEG or PNG image"));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type("the body is not a JPEG or PNG image"))
    }
}

/// Reads images (raw body or multipart) or, where `embeddings` allows, a JSON body of
/// embeddings. Returns the JSON's extra fields too.
async fn read_input(st: &AppState, req: Request, embeddings: bool) -> Result<(Input, Option<EmbeddingsBody>), ApiError> {
    let (parts, bytes) = read_body(st, req).await?;
    let media = media_type(&parts.headers);
    match media.as_deref() {
        None | Some("image/jpeg" | "image/jpg" | "image/png" | "application/octet-stream") => {
            sniff_image(&bytes)?;
            Ok((Input::Images(vec![bytes]), None))
        }
        Some("multipart/form-data") => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let mut mp = axum::extract::Multipart::from_request(req, &())
                .await
                .map_err(|e| ApiError::bad_request(format!("bad multipart body: {}", e.body_text())))?;
            let mut images = Vec::new();
            while let Some(field) =
                mp.next_field().await.map_err(|e| ApiError::bad_request(format!("bad multipart body: {}", e.body_text())))?
            {
                let data = field.bytes().await.map_err(|e| ApiError::bad_request(format!("bad multipart part: {}", e.body_text())))?;
                sniff_image(&data)?;
                images.push(data);
                if images.len() > MAX_ITEMS {
                    return Err(ApiError::bad_request(format!("at most {MAX_ITEMS} images per request")));
                }
            }
            if images.is_empty() {
                return Err(ApiError::bad_request("the multipart body holds no image"));
            }
            Ok((Input::Images(images), None))
        }
        Some("application/json") if embeddings => {
            let body: EmbeddingsBody = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request(format!("bad JSON body: {e} (expected {{\"space\": ..., \"embeddings\": [[...], ...]}})"))
            })?;
            let list = embeddings_of(st, &body)?;
            Ok((Input::Embeddings(list), Some(body)))
        }
        Some(other) => Err(ApiError::unsupported_media_type(format!(
            "content type {other:?} is not accepted here: send image/jpeg, image/png, multipart/form-data{}",
            if embeddings { " or application/json (embeddings)" } else { "" }
        ))),
    }
}

/// Checks embeddings against the server's space and size.
fn embeddings_of(st: &AppState, body: &EmbeddingsBody) -> Result<Vec<Embedding>, ApiError> {
    if body.space != st.space {
        return Err(ApiError::foreign_space(format!("embeddings of space {:?}; this server works in {:?}", body.space, st.space)));
    }
    if body.embeddings.is_empty() || body.embeddings.len() > MAX_ITEMS {
        return Err(ApiError::bad_request(format!("send 1 to {MAX_ITEMS} embeddings")));
    }
    body.embeddings
        .iter()
        .map(|v| {
            if let Some(d) = st.dim.filter(|d| *d != v.len()) {
                return Err(ApiError::bad_request(format!("an embedding of space {} has {d} values, not {}", st.space, v.len())));
            }
            Embedding::new(st.space.as_str(), v.clone()).map_err(ApiError::from)
        })
        .collect()
}

fn decode(bytes: &[u8]) -> Result<Image, ApiError> {
    Image::decode(bytes).map_err(ApiError::from)
}

fn face_box(f: &Face) -> [f32; 4] {
    [f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height]
}

fn op_of(q: &OpQuery, st: &AppState) -> Result<OperatingPoint, ApiError> {
    match &q.op {
        None => Ok(st.opts.op),
        Some(s) => s.parse().map_err(ApiError::from),
    }
}

#[derive(Deserialize, Default)]
struct OpQuery {
    op: Option<String>,
}

// ---- detect, identify, verify -----------------------------------------------------------

async fn detect(State(st): St, req: Request) -> Result<Response, ApiError> {
    let (input, _) = read_input(&st, req, false).await?;
    let Input::Images(images) = input else { return Err(ApiError::bad_request("detect takes an image")) };
    if images.len() != 1 {
        return Err(ApiError::bad_request("detect takes one image"));
    }
    let faces = st
        .infer(move |s, _| {
            let img = decode(&images[0])?;
            Ok((s.pipeline.detector().detect(&img)?, img.width(), img.height()))
        })
        .await?;
    let (faces, w, h) = faces;
    let list: Vec<Value> = faces
        .iter()
        .map(|f| json!({"box": face_box(f), "score": f.score, "landmarks": f.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>()}))
        .collect();
    Ok(with_faces(axum::Json(json!({"width": w, "height": h, "faces": list})).into_response(), faces.len()))
}

fn identity_json(identity: &Identity) -> Value {
    match identity {
        Identity::Known(m) => json!({"name": m.name, "id": m.id.0, "score": m.score}),
        Identity::Unknown(best) => json!({"name": null, "id": null, "score": best.as_ref().map(|m| m.score)}),
    }
}

async fn identify(State(st): St, Q(q): Q<OpQuery>, req: Request) -> Result<Response, ApiError> {
    let op = op_of(&q, &st)?;
    let threshold = op.threshold(&st.space)?;
    let (input, _) = read_input(&st, req, true).await?;
    match input {
        Input::Images(images) => {
            if images.len() != 1 {
                return Err(ApiError::bad_request("identify takes one image"));
            }
            let faces = st
                .infer(move |s, _| {
                    let img = decode(&images[0])?;
                    let mut out = Vec::new();
                    for f in s.pipeline.analyze(&img)? {
                        let who = s.store.identify(&f.embedding, threshold)?;
                        let mut v = identity_json(&who);
                        v["box"] = json!(face_box(&f.face));
                        v["detection_score"] = json!(f.face.score);
                        v["quality"] = json!(f.quality.score);
                        out.push(v);
                    }
                    Ok(out)
                })
                .await?;
            let n = faces.len();
            Ok(with_faces(axum::Json(json!({"faces": faces, "threshold": threshold})).into_response(), n))
        }
        Input::Embeddings(list) => {
            let faces = st
                .store(move |store| {
                    list.iter().map(|e| store.identify(e, threshold).map(|who| identity_json(&who))).collect::<facecore::Result<Vec<_>>>()
                })
                .await?;
            Ok(axum::Json(json!({"faces": faces, "threshold": threshold})).into_response())
        }
    }
}

async fn verify(State(st): St, Q(q): Q<OpQuery>, req: Request) -> Result<Response, ApiError> {
    let op = op_of(&q, &st)?;
    let threshold = op.threshold(&st.space)?;
    let (input, _) = read_input(&st, req, true).await?;
    let answer = |similarity: f32| json!({"same_person": similarity >= threshold, "similarity": similarity, "threshold": threshold});
    match input {
        Input::Images(images) => {
            if images.len() != 2 {
                return Err(ApiError::bad_request(format!(
                    "verify takes two images as multipart/form-data parts (got {}), or two embeddings as JSON",
                    images.len()
                )));
            }
            let (similarity, faces) = st
                .infer(move |s, _| {
                    let mut best = Vec::new();
                    for (i, bytes) in images.iter().enumerate() {
                        let img = decode(bytes)?;
                        let f =
                            s.pipeline.embed_best(&img)?.ok_or_else(|| ApiError::no_face(format!("no face found in image {}", i + 1)))?;
                        best.push(f);
                    }
                    let similarity = best[0].embedding.similarity(&best[1].embedding)?;
                    Ok((similarity, best.iter().map(|f| json!({"box": face_box(&f.face), "score": f.face.score})).collect::<Vec<_>>()))
                })
                .await?;
            let mut v = answer(similarity);
            v["faces"] = json!(faces);
            Ok(with_faces(axum::Json(v).into_response(), 2))
        }
        Input::Embeddings(list) => {
            let [a, b] = list.as_slice() else { return Err(ApiError::bad_request("verify takes exactly two embeddings")) };
            Ok(axum::Json(answer(a.similarity(b)?)).into_response())
        }
    }
}

// ---- people -----------------------------------------------------------------------------

fn person_json(p: &Person) -> Value {
    json!({"id": p.id.0, "name": p.name, "embeddings": p.embeddings, "metadata": p.metadata})
}

#[derive(Deserialize, Default)]
struct RefQuery {
    /// `name` to read an all-digit path segment as a name.
    by: Option<String>,
}

/// The person a path segment names: all digits = an id (unless `?by=name`), else a name.
fn person_ref(seg: String, q: &RefQuery) -> Result<OwnedRef, ApiError> {
    match q.by.as_deref() {
        Some("name") => Ok(OwnedRef::Name(seg)),
        Some("id") | None if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) => {
            seg.parse::<u64>().map(|n| OwnedRef::Id(PersonId(n))).map_err(|_| ApiError::bad_request("person id out of range"))
        }
        Some("id") => Err(ApiError::bad_request("?by=id needs a numeric person id")),
        None => Ok(OwnedRef::Name(seg)),
        Some(other) => Err(ApiError::bad_request(format!("by={other:?}: use id or name"))),
    }
}

#[derive(Clone)]
enum OwnedRef {
    Id(PersonId),
    Name(String),
}

impl OwnedRef {
    fn as_ref(&self) -> PersonRef<'_> {
        match self {
            OwnedRef::Id(id) => PersonRef::Id(*id),
            OwnedRef::Name(n) => PersonRef::Name(n),
        }
    }

    fn describe(&self) -> String {
        match self {
            OwnedRef::Id(id) => format!("person id {}", id.0),
            OwnedRef::Name(n) => format!("person {n:?}"),
        }
    }
}

#[derive(Deserialize, Default)]
struct PageQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn list_people(State(st): St, Q(q): Q<PageQuery>) -> Result<Response, ApiError> {
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!("limit must be in 1..={MAX_PAGE}")));
    }
    let (total, people) = st.store(move |s| Ok((s.len()?, s.people(offset, limit)?))).await?;
    let next = offset.saturating_add(people.len());
    let next = (next < total && !people.is_empty()).then_some(next);
    let list: Vec<Value> = people.iter().map(person_json).collect();
    Ok(axum::Json(json!({"people": list, "total": total, "offset": offset, "limit": limit, "next_offset": next})).into_response())
}

async fn get_person(State(st): St, Path(seg): Path<String>, Q(q): Q<RefQuery>) -> Result<Response, ApiError> {
    let who = person_ref(seg, &q)?;
    let w = who.clone();
    match st.store(move |s| s.person(w.as_ref())).await? {
        Some(p) => Ok(axum::Json(person_json(&p)).into_response()),
        None => Err(ApiError::not_found(format!("{} is not enrolled", who.describe()))),
    }
}

async fn delete_person(State(st): St, Path(seg): Path<String>, Q(q): Q<RefQuery>) -> Result<Response, ApiError> {
    let who = person_ref(seg, &q)?;
    let w = who.clone();
    if st.store(move |s| s.remove(w.as_ref())).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("{} is not enrolled", who.describe())))
    }
}

/// Sets metadata and answers the person.
async fn set_metadata(st: &Arc<AppState>, who: OwnedRef, metadata: String) -> Result<Response, ApiError> {
    let w = who.clone();
    let person = st
        .store(move |s| {
            if s.person(w.as_ref())?.is_none() {
                return Ok(None);
            }
            s.set_metadata(w.as_ref(), &metadata)?;
            s.person(w.as_ref())
        })
        .await?;
    match person {
        Some(p) => Ok(axum::Json(person_json(&p)).into_response()),
        None => Err(ApiError::not_found(format!("{} is not enrolled", who.describe()))),
    }
}

fn metadata_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

async fn put_metadata(State(st): St, Path(seg): Path<String>, Q(q): Q<RefQuery>, req: Request) -> Result<Response, ApiError> {
    let who = person_ref(seg, &q)?;
    let (_, bytes) = read_body(&st, req).await?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad_request("metadata must be UTF-8 text"))?;
    set_metadata(&st, who, text).await
}

async fn patch_person(State(st): St, Path(seg): Path<String>, Q(q): Q<RefQuery>, req: Request) -> Result<Response, ApiError> {
    let who = person_ref(seg, &q)?;
    let (parts, bytes) = read_body(&st, req).await?;
    if media_type(&parts.headers).as_deref() != Some("application/json") {
        return Err(ApiError::unsupported_media_type("PATCH takes application/json: {\"metadata\": ...}"));
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        metadata: Value,
    }
    let p: Patch = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e} (expected {{\"metadata\": ...}})")))?;
    set_metadata(&st, who, metadata_text(p.metadata)).await
}

#[derive(Deserialize, Default)]
struct EnrollQuery {
    /// `off` skips the quality floor.
    quality: Option<String>,
}

fn enrolled(person: Person, faces: Vec<Value>, added: usize) -> Response {
    let mut v = person_json(&person);
    v["enrolled"] = json!(added);
    if !faces.is_empty() {
        v["faces"] = json!(faces);
    }
    let mut r = (StatusCode::CREATED, axum::Json(v)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/people/{}", person.id.0)) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    r
}

/// Enrols embeddings under `name` (with optional metadata) and answers 201.
async fn enroll_embeddings(st: &Arc<AppState>, name: String, list: Vec<Embedding>, metadata: Option<String>) -> Result<Response, ApiError> {
    let n = list.len();
    let person = st
        .store(move |s| {
            let mut id = PersonId(0);
            for e in &list {
                id = s.enroll(&name, e)?;
            }
            if let Some(m) = metadata {
                s.set_metadata(PersonRef::Id(id), &m)?;
            }
            s.person(PersonRef::Id(id))
        })
        .await?
        .ok_or_else(|| ApiError::conflict("the person was removed while being enrolled"))?;
    Ok(enrolled(person, Vec::new(), n))
}

async fn enroll(State(st): St, Path(name): Path<String>, Q(q): Q<EnrollQuery>, req: Request) -> Result<Response, ApiError> {
    let floor = match q.quality.as_deref() {
        None | Some("on") => st.opts.enroll_quality,
        Some("off") => QualityConfig::NONE,
        Some(other) => return Err(ApiError::bad_request(format!("quality={other:?}: use on or off"))),
    };
    let (input, body) = read_input(&st, req, true).await?;
    let metadata = body.as_ref().and_then(|b| b.metadata.clone()).map(metadata_text);
    if body.as_ref().is_some_and(|b| b.name.as_ref().is_some_and(|n| *n != name)) {
        return Err(ApiError::bad_request("the body's name differs from the path's"));
    }
    match input {
        Input::Embeddings(list) => enroll_embeddings(&st, name, list, metadata).await,
        Input::Images(images) => {
            let n = images.len();
            let (person, faces) = st
                .infer(move |s, ticket| {
                    // Every image is checked and embedded before anything is enrolled.
                    let mut found = Vec::new();
                    for (i, bytes) in images.iter().enumerate() {
                        let img = decode(bytes)?;
                        let which = if n > 1 { format!(" in image {}", i + 1) } else { String::new() };
                        let face = s
                            .pipeline
                            .detector()
                            .detect(&img)?
                            .into_iter()
                            .next()
                            .ok_or_else(|| ApiError::no_face(format!("no face found{which}")))?;
                        let quality = facecore::Quality::measure(&img, &face);
                        floor.check(&quality).map_err(|e| {
                            let mut a = ApiError::from(e);
                            a.message.push_str(&which);
                            a
                        })?;
                        let embedding = s.pipeline.recognizer().embed(&img, &face)?;
                        found.push((face, quality, embedding));
                    }
                    if !ticket.commit() {
                        return Err(ApiError::unavailable("timeout", "timed out before enrolling; nothing was enrolled", 1));
                    }
                    let mut id = PersonId(0);
                    for (_, _, e) in &found {
                        id = s.store.enroll(&name, e)?;
                    }
                    let person = s
                        .store
                        .person(PersonRef::Id(id))?
                        .ok_or_else(|| ApiError::conflict("the person was removed while being enrolled"))?;
                    let faces =
                        found.iter().map(|(f, q, _)| json!({"box": face_box(f), "score": f.score, "quality": q.score})).collect::<Vec<_>>();
                    Ok((person, faces))
                })
                .await?;
            let nf = faces.len();
            Ok(with_faces(enrolled(person, faces, n), nf))
        }
    }
}

async fn enroll_json(State(st): St, req: Request) -> Result<Response, ApiError> {
    let (parts, bytes) = read_body(&st, req).await?;
    if media_type(&parts.headers).as_deref() != Some("application/json") {
        return Err(ApiError::unsupported_media_type(
            "POST /v1/people takes application/json {\"name\", \"space\", \"embeddings\"}; images go to POST /v1/people/{name}",
        ));
    }
    let body: EmbeddingsBody = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))?;
    let name = body.name.clone().ok_or_else(|| ApiError::bad_request("the body needs a \"name\""))?;
    let list = embeddings_of(&st, &body)?;
    enroll_embeddings(&st, name, list, body.metadata.map(metadata_text)).await
}
