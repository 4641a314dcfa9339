//! The OpenAPI 3 document, served at `GET /v1/openapi.json` and committed as
//! `docs/openapi.json` (a test checks that the two agree and that every route is in it).

use serde_json::{Value, json};

fn err(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

/// The error answers every inference route can give.
fn image_errors(mut responses: Value) -> Value {
    for (code, d) in [
        ("400", "Malformed request: empty body, corrupt image (`bad_image`), bad JSON or multipart, bad parameter"),
        ("401", "Missing or unknown API key (`unauthorized`)"),
        ("413", "Body over the size limit, or an image over the pixel limit (`too_large`)"),
        ("415", "Content type not accepted, or a body that is not JPEG/PNG (`unsupported_media_type`)"),
        (
            "422",
            "No face (`no_face`), face below the quality floor (`low_quality`), embeddings of another space (`foreign_embedding_space`)",
        ),
        ("429", "The work queue is full (`queue_full`); see Retry-After"),
        ("503", "Timed out (`timeout`) or shutting down (`shutting_down`); see Retry-After"),
    ] {
        responses[code] = err(d);
    }
    responses
}

fn image_body(embeddings: Option<&str>) -> Value {
    let mut content = json!({
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "description": "Image parts (any field names), in order",
            "additionalProperties": {"type": "string", "format": "binary"}}}
    });
    if let Some(schema) = embeddings {
        content["application/json"] = json!({"schema": {"$ref": format!("#/components/schemas/{schema}")}});
    }
    json!({"required": true, "content": content})
}

fn person_param() -> Value {
    json!([
        {"name": "person", "in": "path", "required": true, "schema": {"type": "string"},
         "description": "A person id (all digits) or a name"},
        {"name": "by", "in": "query", "required": false, "schema": {"type": "string", "enum": ["id", "name"]},
         "description": "Read the path segment as an id or as a name (an all-digit name needs by=name)"}
    ])
}

fn op_param() -> Value {
    json!([{"name": "op", "in": "query", "required": false,
        "schema": {"type": "string", "enum": ["fmr1e-3", "fmr1e-4", "best-accuracy"]},
        "description": "Operating point (default: the server's --op)"}])
}

/// The document.
pub fn document() -> Value {
    let box_schema = json!({"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
        "description": "x, y, width, height in image pixels"});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "facecore serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Face detection, identification, verification and a gallery of people over HTTP. \
                Every error answer is {\"error\": {\"code\", \"message\"}}. With API keys configured, every \
                route but /healthz needs Authorization: Bearer KEY.",
            "license": {"name": "MIT OR Apache-2.0"}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "enum": ["bad_request", "invalid_input", "bad_image", "unauthorized",
                            "not_found", "method_not_allowed", "conflict", "too_large", "unsupported_media_type", "no_face",
                            "low_quality", "degenerate_face", "foreign_embedding_space", "queue_full", "timeout",
                            "shutting_down", "store", "inference", "internal"]},
                        "message": {"type": "string"}}}}},
                "Embeddings": {"type": "object", "required": ["space", "embeddings"], "properties": {
                    "space": {"type": "string", "description": "Embedding space id (GET /healthz gives the server's)"},
                    "embeddings": {"type": "array", "minItems": 1, "maxItems": crate::MAX_ITEMS,
                        "items": {"type": "array", "items": {"type": "number"}}},
                    "name": {"type": "string", "description": "POST /v1/people only: who to enrol"},
                    "metadata": {"description": "Enrolment only: stored as text (a JSON value is serialised)"}}},
                "DetectedFace": {"type": "object", "properties": {
                    "box": box_schema, "score": {"type": "number"},
                    "landmarks": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}},
                "Detections": {"type": "object", "properties": {
                    "width": {"type": "integer"}, "height": {"type": "integer"},
                    "faces": {"type": "array", "items": {"$ref": "#/components/schemas/DetectedFace"}}}},
                "IdentifiedFace": {"type": "object", "required": ["name", "score"], "properties": {
                    "box": box_schema, "name": {"type": "string", "nullable": true},
                    "id": {"type": "integer", "nullable": true},
                    "score": {"type": "number", "nullable": true,
                        "description": "Similarity to the best person (null: empty gallery)"},
                    "detection_score": {"type": "number"}, "quality": {"type": "number"}}},
                "Identifications": {"type": "object", "required": ["faces"], "properties": {
                    "faces": {"type": "array", "items": {"$ref": "#/components/schemas/IdentifiedFace"},
                        "description": "One per face found (image) or per embedding sent, in order; no box for embeddings"},
                    "threshold": {"type": "number"}}},
                "Verification": {"type": "object", "properties": {
                    "same_person": {"type": "boolean"}, "similarity": {"type": "number"}, "threshold": {"type": "number"},
                    "faces": {"type": "array", "items": {"$ref": "#/components/schemas/DetectedFace"}}}},
                "Person": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"}, "embeddings": {"type": "integer"},
                    "metadata": {"type": "string"}}},
                "Enrolled": {"allOf": [{"$ref": "#/components/schemas/Person"}, {"type": "object", "properties": {
                    "enrolled": {"type": "integer", "description": "Embeddings added by this request"},
                    "faces": {"type": "array", "items": {"$ref": "#/components/schemas/DetectedFace"}}}}]},
                "People": {"type": "object", "properties": {
                    "people": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}},
                    "total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"},
                    "next_offset": {"type": "integer", "nullable": true}}}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"summary": "Liveness probe (no API key needed)", "security": [],
                "responses": {"200": {"description": "Serving", "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"status": {"type": "string"}, "space": {"type": "string"}, "store": {"type": "string"}}}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics: requests, errors and latency per endpoint and API key id, queue depth, faces processed",
                "responses": {"200": {"description": "Text exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": err("Missing or unknown API key")}}},
            "/v1/openapi.json": {"get": {"summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "401": err("Missing or unknown API key")}}},
            "/v1/detect": {"post": {"summary": "Detect faces in an image", "requestBody": image_body(None),
                "responses": image_errors(json!({"200": ok("Faces, most confident first", "Detections")}))}},
            "/v1/identify": {"post": {"summary": "Name every face of an image, or embeddings from a device that runs facecore",
                "parameters": op_param(), "requestBody": image_body(Some("Embeddings")),
                "responses": image_errors(json!({"200": ok("One entry per face", "Identifications")}))}},
            "/v1/verify": {"post": {"summary": "Are two faces the same person? Two images (multipart) or two embeddings (JSON)",
                "parameters": op_param(), "requestBody": image_body(Some("Embeddings")),
                "responses": image_errors(json!({"200": ok("Decision", "Verification")}))}},
            "/v1/people": {
                "get": {"summary": "List people in enrolment order",
                    "parameters": [
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": crate::MAX_PAGE, "default": 100}}],
                    "responses": {"200": ok("A page of people", "People"), "400": err("Bad offset or limit"), "401": err("Missing or unknown API key")}},
                "post": {"summary": "Enrol embeddings under a name given in the body",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Embeddings"}}}},
                    "responses": image_errors(json!({"201": ok("Enrolled", "Enrolled")}))}},
            "/v1/people/{person}": {
                "parameters": person_param(),
                "get": {"summary": "One person", "responses": {"200": ok("The person", "Person"), "404": err("Not enrolled"),
                    "401": err("Missing or unknown API key")}},
                "post": {"summary": "Enrol the most confident face of each image (or embeddings) under the name in the path",
                    "parameters": [{"name": "quality", "in": "query", "schema": {"type": "string", "enum": ["on", "off"]},
                        "description": "off: skip the quality floor"}],
                    "requestBody": image_body(Some("Embeddings")),
                    "responses": image_errors(json!({"201": ok("Enrolled (Location: /v1/people/ID)", "Enrolled"),
                        "409": err("The person was removed while being enrolled")}))},
                "patch": {"summary": "Set metadata",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                        "required": ["metadata"], "properties": {"metadata": {"description": "A string, or any JSON value (stored serialised)"}}}}}},
                    "responses": {"200": ok("The person", "Person"), "400": err("Bad JSON"), "401": err("Missing or unknown API key"),
                        "404": err("Not enrolled"), "415": err("Not application/json")}},
                "delete": {"summary": "Remove a person and all their embeddings",
                    "responses": {"204": {"description": "Removed"}, "404": err("Not enrolled"), "401": err("Missing or unknown API key")}}},
            "/v1/people/{person}/metadata": {
                "parameters": person_param(),
                "put": {"summary": "Replace metadata with the body (UTF-8 text, at most 1 MiB)",
                    "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "responses": {"200": ok("The person", "Person"), "400": err("Not UTF-8, or over 1 MiB"),
                        "401": err("Missing or unknown API key"), "404": err("Not enrolled")}}}
        }
    })
}
