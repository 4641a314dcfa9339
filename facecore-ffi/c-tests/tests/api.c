/* C tests of facecore.h, compiled by build.rs (C99, -Wall -Wextra -Werror) and run by
 * src/lib.rs under `cargo test`. Each fc_test_* function returns its number of failures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecore.h"

static int failures;

#include "check.h"

static char fixtures[1024];

static const char *fixture(const char *name) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", fixtures, name);
    return path;
}

/* ---- shared handles: loaded once per test binary ---- */

static facecore_detector *shared_detector(void) {
    static facecore_detector *d;
    if (!d) OK(facecore_detector_new(NULL, &d));
    return d;
}

static facecore_recognizer *shared_fast(void) {
    static facecore_recognizer *r;
    if (!r) OK(facecore_recognizer_new(FACECORE_PRESET_FAST, &r));
    return r;
}


/* ---- version ---- */

int fc_test_version(void) {
    failures = 0;
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", FACECORE_VERSION_MAJOR, FACECORE_VERSION_MINOR, FACECORE_VERSION_PATCH);
    CHECK(strcmp(facecore_version(), expect) == 0);
    CHECK(strcmp(facecore_version(), FACECORE_VERSION_STRING) == 0);
    CHECK(FACECORE_VERSION_NUMBER == FACECORE_VERSION_MAJOR * 10000 + FACECORE_VERSION_MINOR * 100 + FACECORE_VERSION_PATCH);
    /* Stable status values (append-only). */
    CHECK(FACECORE_STATUS_OK == 0 && FACECORE_STATUS_NULL_ARGUMENT == 1 && FACECORE_STATUS_BUFFER_TOO_SMALL == 5);
    CHECK(FACECORE_STATUS_PANIC == 100);
    return failures;
}

/* ---- NULL arguments: a status and a message, never a crash ---- */

int fc_test_nulls(void) {
    failures = 0;
    facecore_detector *d = NULL;
    facecore_recognizer *r = NULL;
    facecore_pipeline *p = NULL;
    facecore_gallery *g = NULL;
    facecore_embedder *e = NULL;
    facecore_decoded_image *img = NULL;
    facecore_face faces[4];
    facecore_match m;
    size_t n = 0;
    float v[256] = {1.0f}, sim = 0.0f;
    bool flag = false;
    unsigned char px[3] = {0, 0, 0};
    facecore_image image = {px, 3, 1, 1, 3, FACECORE_PIXEL_FORMAT_RGB};

    /* free(NULL) is a no-op */
    facecore_detector_free(NULL);
    facecore_detector_options_free(NULL);
    facecore_recognizer_free(NULL);
    facecore_embedder_free(NULL);
    facecore_pipeline_free(NULL);
    facecore_gallery_free(NULL);
    facecore_decoded_image_free(NULL);

    CHECK_STATUS(facecore_detector_new(NULL, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_detector_new_from_file(NULL, NULL, &d), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_detector_new_from_memory(NULL, 10, NULL, &d), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(d == NULL);
    CHECK_STATUS(facecore_detect(NULL, &image, faces, 4, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_detect(shared_detector(), NULL, faces, 4, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_detect(shared_detector(), &image, NULL, 4, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_detect(shared_detector(), &image, faces, 4, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    facecore_image nodata = image;
    nodata.data = NULL;
    CHECK_STATUS(facecore_detect(shared_detector(), &nodata, faces, 4, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_detector_options_set_score_threshold(NULL, 0.5f), FACECORE_STATUS_NULL_ARGUMENT);

    CHECK_STATUS(facecore_embedder_new(FACECORE_EMBED_MODEL_SFACE, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_embedder_new_from_memory(FACECORE_EMBED_MODEL_SFACE, NULL, 0, &e), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_embedder_embed_chip(NULL, &image, v, 256), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_recognizer_new(FACECORE_PRESET_FAST, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_recognizer_new_from_embedders(NULL, NULL, 1, false, &r), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_recognizer_embed(NULL, &image, faces, v, 256), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_recognizer_embed(shared_fast(), &image, NULL, v, 256), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_align(shared_fast(), &image, NULL, 0, px, 3, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(facecore_recognizer_dim(NULL) == 0);
    CHECK(facecore_recognizer_space(NULL) == NULL);

    CHECK_STATUS(facecore_pipeline_new(FACECORE_PRESET_FAST, NULL, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_new_from_parts(NULL, shared_fast(), &p), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_analyze(NULL, &image, faces, 4, v, 256, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(facecore_pipeline_dim(NULL) == 0);
    CHECK(facecore_pipeline_space(NULL) == NULL);
    CHECK(p == NULL);

    CHECK_STATUS(facecore_gallery_new(NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_load(NULL, &g), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_load_from_memory(NULL, 4, &g), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(g == NULL);
    OK(facecore_gallery_new(&g));
    CHECK_STATUS(facecore_gallery_save(g, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_save(NULL, "x"), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_enroll(g, NULL, "s", v, 128, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_enroll(g, "a", NULL, v, 128, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_enroll(g, "a", "s", NULL, 128, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_remove(g, "a", NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_search(g, "s", v, 128, NULL, 3, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_identify(g, "s", v, 128, 0.5f, &m, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_identify(g, "s", v, 128, 0.5f, NULL, &flag), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_gallery_person_name(g, 0, NULL, 0, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(facecore_gallery_len(NULL) == 0);
    facecore_gallery_free(g);

    CHECK_STATUS(facecore_similarity(NULL, v, 128, &sim), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_similarity(v, v, 128, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_threshold(NULL, FACECORE_OPERATING_POINT_FMR1E3, &sim), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_verify("s", v, NULL, 128, FACECORE_OPERATING_POINT_FMR1E3, &sim, &flag), FACECORE_STATUS_NULL_ARGUMENT);

    CHECK_STATUS(facecore_decoded_image_new_from_file(NULL, &img), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_decoded_image_new_from_memory(NULL, 3, &img), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_decoded_image_view(NULL, &image), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(img == NULL);

    /* A success clears the message. */
    OK(facecore_similarity(v, v, 128, &sim));
    CHECK(facecore_last_error_message() == NULL);
    CHECK(fabsf(sim - 1.0f) < 1e-6f);
    return failures;
}

/* ---- garbage arguments ---- */

int fc_test_garbage(void) {
    failures = 0;
    facecore_detector *d = NULL;
    facecore_embedder *e = NULL;
    facecore_recognizer *r = NULL;
    facecore_pipeline *p = NULL;
    facecore_decoded_image *img = NULL;
    facecore_gallery *g = NULL;
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 7919u >> 3);
    float sim = 0.0f, v[128];
    bool same = false;
    for (int i = 0; i < 128; i++) v[i] = (float)(i % 7) - 3.0f;

    CHECK_STATUS(facecore_detector_new_from_memory(junk, sizeof junk, NULL, &d), FACECORE_STATUS_MODEL_LOAD);
    CHECK_STATUS(facecore_detector_new_from_memory(junk, 0, NULL, &d), FACECORE_STATUS_MODEL_LOAD);
    CHECK_STATUS(facecore_detector_new_from_file("/definitely/not/here.onnx", NULL, &d), FACECORE_STATUS_NOT_FOUND);
    CHECK_STATUS(facecore_embedder_new_from_memory(FACECORE_EMBED_MODEL_DLIB_RESNET, junk, sizeof junk, &e), FACECORE_STATUS_MODEL_LOAD);
    CHECK_STATUS(facecore_embedder_new(7, &e), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_recognizer_new(42, &r), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_new(0xFFFFFFFFu, NULL, &p), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(d == NULL && e == NULL && r == NULL && p == NULL);

    /* Truncated model bytes are refused at load time. (A whole network of the wrong kind is
     * refused too, see the core's tests, but tract takes seconds to find out.) */
    size_t yl = 0;
    unsigned char *yunet = read_all(fixture("../../facecore/models/yunet_2023mar.onnx"), &yl);
    CHECK(yunet != NULL);
    if (yunet) {
        CHECK_STATUS(facecore_detector_new_from_memory(yunet, yl / 2, NULL, &d), FACECORE_STATUS_MODEL_LOAD);
        CHECK_STATUS(facecore_embedder_new_from_memory(FACECORE_EMBED_MODEL_SFACE, yunet, yl / 2, &e), FACECORE_STATUS_MODEL_LOAD);
        /* ...and the same bytes make a detector, from memory and from the file. */
        OK(facecore_detector_new_from_memory(yunet, yl, NULL, &d));
        facecore_detector_free(d);
        d = NULL;
        OK(facecore_detector_new_from_file(fixture("../../facecore/models/yunet_2023mar.onnx"), NULL, &d));
        facecore_detector_free(d);
        d = NULL;
        free(yunet);
    }

    /* Options: out-of-range values are refused and leave the options unchanged. */
    facecore_detector_options *o = facecore_detector_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(facecore_detector_options_set_score_threshold(o, 1.5f), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_detector_options_set_score_threshold(o, NAN), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_detector_options_set_nms_iou(o, -0.1f), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_detector_options_set_min_face_size(o, INFINITY), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_detector_options_set_input_size(o, 5), FACECORE_STATUS_INVALID_ARGUMENT);
    OK(facecore_detector_options_set_input_size(o, 320));
    OK(facecore_detector_options_set_score_threshold(o, 0.7f));
    OK(facecore_detector_options_set_max_faces(o, 1));
    facecore_detector_options_free(o);

    /* Images: undecodable bytes, empty buffers. */
    CHECK_STATUS(facecore_decoded_image_new_from_memory(junk, sizeof junk, &img), FACECORE_STATUS_IMAGE_DECODE);
    CHECK_STATUS(facecore_decoded_image_new_from_memory(junk, 0, &img), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_decoded_image_new_from_file(fixture("nope.jpg"), &img), FACECORE_STATUS_NOT_FOUND);
    CHECK_STATUS(facecore_decoded_image_new_from_file("", &img), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(img == NULL);

    /* Embeddings: all-zero or non-finite vectors, zero or absurd dimensions, mismatches. */
    float zero[128] = {0};
    float nan[128];
    for (int i = 0; i < 128; i++) nan[i] = NAN;
    CHECK_STATUS(facecore_similarity(zero, v, 128, &sim), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_similarity(nan, v, 128, &sim), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_similarity(v, v, 0, &sim), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_similarity(v, v, (size_t)-1, &sim), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_threshold("no-such-space", FACECORE_OPERATING_POINT_FMR1E3, &sim), FACECORE_STATUS_NO_THRESHOLD);
    CHECK_STATUS(facecore_threshold("dlib-resnet-v1", 9, &sim), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_verify("no-such-space", v, v, 128, FACECORE_OPERATING_POINT_FMR1E4, &sim, &same), FACECORE_STATUS_NO_THRESHOLD);
    CHECK_STATUS(facecore_recognizer_new_from_embedders((const facecore_embedder *const *)&e, NULL, 0, false, &r), FACECORE_STATUS_INVALID_ARGUMENT);

    /* A handle of another type is reported, not misused. */
    OK(facecore_gallery_new(&g));
    facecore_face faces[2];
    size_t n = 0;
    unsigned char px[3] = {0};
    facecore_image image = {px, 3, 1, 1, 3, FACECORE_PIXEL_FORMAT_RGB};
    CHECK_STATUS(facecore_detect((const facecore_detector *)(const void *)g, &image, faces, 2, &n), FACECORE_STATUS_WRONG_HANDLE);
    CHECK_STATUS(facecore_gallery_enroll(g, "", "s", v, 128, NULL), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_gallery_enroll(g, "   ", "s", v, 128, NULL), FACECORE_STATUS_INVALID_ARGUMENT);
    OK(facecore_gallery_enroll(g, "a", "space-a", v, 128, NULL));
    CHECK_STATUS(facecore_gallery_enroll(g, "b", "space-b", v, 128, NULL), FACECORE_STATUS_MODEL_MISMATCH);
    CHECK_STATUS(facecore_gallery_enroll(g, "b", "space-a", v, 64, NULL), FACECORE_STATUS_MODEL_MISMATCH);
    CHECK_STATUS(facecore_gallery_set_metadata(g, "zz", "{}"), FACECORE_STATUS_INVALID_ARGUMENT);
    facecore_match m;
    CHECK_STATUS(facecore_gallery_identify(g, "space-a", v, 128, NAN, &m, &same), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_gallery_person_name(g, 5, NULL, 0, &n), FACECORE_STATUS_NO_SUCH_PERSON);
    /* Invalid UTF-8 names. */
    CHECK_STATUS(facecore_gallery_enroll(g, "\xff\xfe", "space-a", v, 128, NULL), FACECORE_STATUS_INVALID_ARGUMENT);
    facecore_gallery_free(g);
    return failures;
}

/* ---- images: strides, formats, geometry ---- */

int fc_test_images(void) {
    failures = 0;
    facecore_decoded_image *img = NULL;
    facecore_image view;
    facecore_face ref[8], faces[8];
    size_t nref = 0, n = 0;
    OK(facecore_decoded_image_new_from_file(fixture("obama.jpg"), &img));
    OK(facecore_decoded_image_view(img, &view));
    CHECK(view.format == FACECORE_PIXEL_FORMAT_RGB && view.stride == (size_t)view.width * 3);
    OK(facecore_detect(shared_detector(), &view, ref, 8, &nref));
    CHECK(nref == 1);

    /* The same pixels as padded BGRA rows and as padded BGR rows give the same faces. */
    uint32_t w = view.width, h = view.height;
    size_t stride4 = (size_t)w * 4 + 12, stride3 = (size_t)w * 3 + 5;
    unsigned char *bgra = malloc(stride4 * h), *bgr = malloc(stride3 * h);
    CHECK(bgra && bgr);
    if (!bgra || !bgr) return failures;
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            const unsigned char *s = view.data + (size_t)y * view.stride + (size_t)x * 3;
            unsigned char *d4 = bgra + (size_t)y * stride4 + (size_t)x * 4;
            unsigned char *d3 = bgr + (size_t)y * stride3 + (size_t)x * 3;
            d4[0] = s[2]; d4[1] = s[1]; d4[2] = s[0]; d4[3] = 255;
            d3[0] = s[2]; d3[1] = s[1]; d3[2] = s[0];
        }
    }
    facecore_image as_bgra = {bgra, stride4 * h, w, h, stride4, FACECORE_PIXEL_FORMAT_BGRA};
    facecore_image as_bgr = {bgr, stride3 * h, w, h, stride3, FACECORE_PIXEL_FORMAT_BGR};
    OK(facecore_detect(shared_detector(), &as_bgra, faces, 8, &n));
    CHECK(n == nref && memcmp(faces, ref, sizeof ref[0] * n) == 0);
    OK(facecore_detect(shared_detector(), &as_bgr, faces, 8, &n));
    CHECK(n == nref && memcmp(faces, ref, sizeof ref[0] * n) == 0);

    /* Wrong geometry: each gives INVALID_ARGUMENT and leaves the outputs alone. */
    facecore_image bad = as_bgr;
    n = 77;
    bad.stride = (size_t)w * 3 - 1; /* shorter than a row */
    CHECK_STATUS(facecore_detect(shared_detector(), &bad, faces, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = as_bgr;
    bad.stride = stride3 + 1; /* the buffer is too short for this stride */
    CHECK_STATUS(facecore_detect(shared_detector(), &bad, faces, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = as_bgr;
    bad.len = stride3 * (h - 1); /* last row missing */
    CHECK_STATUS(facecore_detect(shared_detector(), &bad, faces, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = as_bgr;
    bad.width = 0;
    CHECK_STATUS(facecore_detect(shared_detector(), &bad, faces, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = as_bgr;
    bad.stride = (size_t)-1;
    CHECK_STATUS(facecore_detect(shared_detector(), &bad, faces, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = as_bgr;
    bad.width = 100000;
    bad.height = 100000;
    CHECK_STATUS(facecore_detect(shared_detector(), &bad, faces, 8, &n), FACECORE_STATUS_LIMIT_EXCEEDED);
    bad = as_bgr;
    bad.format = 99; /* not a format (5..8 are the YUV formats, see pixel_formats.c) */
    CHECK_STATUS(facecore_detect(shared_detector(), &bad, faces, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(n == 77);

    /* Grey input is accepted. */
    unsigned char *gray = malloc((size_t)w * h);
    if (gray) {
        for (size_t i = 0; i < (size_t)w * h; i++) gray[i] = view.data[i * 3 + 1];
        facecore_image g = {gray, (size_t)w * h, w, h, w, FACECORE_PIXEL_FORMAT_GRAY};
        OK(facecore_detect(shared_detector(), &g, faces, 8, &n));
        CHECK(n == 1);
        free(gray);
    }
    free(bgra);
    free(bgr);
    facecore_decoded_image_free(img);
    return failures;
}

/* ---- too-small buffers ---- */

int fc_test_buffers(void) {
    failures = 0;
    facecore_decoded_image *img = NULL;
    facecore_image view;
    facecore_face faces[4], sentinel;
    size_t n = 0;
    memset(&sentinel, 0x5a, sizeof sentinel);
    OK(facecore_decoded_image_new_from_file(fixture("two_people.jpg"), &img));
    OK(facecore_decoded_image_view(img, &view));

    /* capacity 0 with NULL: the count query. */
    CHECK_STATUS(facecore_detect(shared_detector(), &view, NULL, 0, &n), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 2);
    faces[0] = sentinel;
    n = 0;
    CHECK_STATUS(facecore_detect(shared_detector(), &view, faces, 1, &n), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 2);
    CHECK(memcmp(&faces[0], &sentinel, sizeof sentinel) == 0); /* untouched */
    OK(facecore_detect(shared_detector(), &view, faces, 2, &n));
    CHECK(n == 2 && faces[0].score >= faces[1].score);

    /* Align: the side is reported, the buffer untouched. */
    unsigned char small[16] = {0};
    uint32_t side = 0;
    CHECK_STATUS(facecore_align(shared_fast(), &view, &faces[0], 0, small, sizeof small, &side), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(side == 150);
    CHECK(small[0] == 0 && small[15] == 0);
    unsigned char *chip = malloc(FACECORE_CHIP_MAX_BYTES);
    if (chip) {
        OK(facecore_align(shared_fast(), &view, &faces[0], 0, chip, FACECORE_CHIP_MAX_BYTES, &side));
        CHECK(side == 150);
        CHECK_STATUS(facecore_align(shared_fast(), &view, &faces[0], 1, chip, FACECORE_CHIP_MAX_BYTES, &side), FACECORE_STATUS_INVALID_ARGUMENT);
        free(chip);
    }

    /* Embed: too small an output, then exactly the right size. */
    size_t dim = facecore_recognizer_dim(shared_fast());
    CHECK(dim == 128);
    float emb[256], emb2[256];
    emb[0] = 42.0f;
    CHECK_STATUS(facecore_recognizer_embed(shared_fast(), &view, &faces[0], emb, dim - 1), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(emb[0] == 42.0f);
    OK(facecore_recognizer_embed(shared_fast(), &view, &faces[0], emb, dim));
    OK(facecore_recognizer_embed(shared_fast(), &view, &faces[1], emb2, dim));
    float sim = 0.0f;
    OK(facecore_similarity(emb, emb2, dim, &sim));
    CHECK(sim < 0.9f && sim > -1.0f);

    /* Non-finite face coordinates are refused. */
    facecore_face bad = faces[0];
    bad.landmarks[3] = NAN;
    CHECK_STATUS(facecore_recognizer_embed(shared_fast(), &view, &bad, emb, dim), FACECORE_STATUS_INVALID_ARGUMENT);

    /* Gallery names and serialisation: sizes are reported. */
    facecore_gallery *g = NULL;
    OK(facecore_gallery_new(&g));
    const char *space = facecore_recognizer_space(shared_fast());
    uint64_t left_id = 0;
    OK(facecore_gallery_enroll(g, "left person", space, emb, dim, &left_id));
    CHECK(left_id == 1);
    char name[4] = "zzz";
    size_t size = 0;
    CHECK_STATUS(facecore_gallery_person_name(g, left_id, name, sizeof name, &size), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(size == strlen("left person") + 1 && strcmp(name, "zzz") == 0);
    char full[32];
    OK(facecore_gallery_person_name(g, left_id, full, size, &size));
    CHECK(strcmp(full, "left person") == 0);
    size_t bytes = 0;
    CHECK_STATUS(facecore_gallery_save_to_memory(g, NULL, 0, &bytes), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(bytes > 128 * 4);
    unsigned char *buf = malloc(bytes);
    if (buf) {
        OK(facecore_gallery_save_to_memory(g, buf, bytes, &bytes));
        facecore_gallery *g2 = NULL;
        OK(facecore_gallery_load_from_memory(buf, bytes, &g2));
        CHECK(facecore_gallery_len(g2) == 1);
        facecore_gallery_free(g2);
        free(buf);
    }
    facecore_gallery_free(g);

    /* Pipeline: faces fit but the embeddings buffer does not. */
    facecore_pipeline *p = NULL;
    OK(facecore_pipeline_new_from_parts(shared_detector(), shared_fast(), &p));
    float embs[2 * 128];
    n = 0;
    CHECK_STATUS(facecore_pipeline_analyze(p, &view, faces, 4, embs, 128, &n), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 2);
    OK(facecore_pipeline_analyze(p, &view, faces, 4, embs, 2 * 128, &n));
    CHECK(n == 2 && memcmp(embs, emb, sizeof(float) * 128) == 0 && memcmp(embs + 128, emb2, sizeof(float) * 128) == 0);

    /* The same pipeline on 2 threads: bit-identical faces and embeddings. */
    facecore_pipeline *p2 = NULL;
    CHECK(facecore_pipeline_threads(p) == 1 && facecore_pipeline_threads(NULL) == 0);
    CHECK_STATUS(facecore_pipeline_with_threads(p, 0, &p2), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_with_threads(NULL, 2, &p2), FACECORE_STATUS_NULL_ARGUMENT);
    OK(facecore_pipeline_with_threads(p, 2, &p2));
    CHECK(facecore_pipeline_threads(p2) == 2);
    facecore_face faces2[4];
    float embs2[2 * 128];
    OK(facecore_pipeline_analyze(p2, &view, faces2, 4, embs2, 2 * 128, &n));
    CHECK(n == 2 && memcmp(embs2, embs, sizeof embs) == 0 && memcmp(faces2, faces, 2 * sizeof(facecore_face)) == 0);
    facecore_pipeline_free(p2);
    facecore_pipeline_free(p);
    facecore_decoded_image_free(img);
    return failures;
}

/* ---- gallery files: round trip, damaged, foreign, missing ---- */

int fc_test_gallery_files(const char *tmpdir) {
    failures = 0;
    char path[1200], bad[1200];
    snprintf(path, sizeof path, "%s/people.gallery", tmpdir);
    snprintf(bad, sizeof bad, "%s/damaged.gallery", tmpdir);
    float a[128], b[128];
    for (int i = 0; i < 128; i++) {
        a[i] = (float)(i % 5) - 2.0f;
        b[i] = (float)(i % 3) - 1.0f;
    }
    facecore_gallery *g = NULL, *g2 = NULL;
    OK(facecore_gallery_new(&g));
    uint64_t alice = 0, bob = 0, again = 0;
    OK(facecore_gallery_enroll(g, "alice", "dlib-resnet-v1", a, 128, &alice));
    OK(facecore_gallery_enroll(g, "bob", "dlib-resnet-v1", b, 128, &bob));
    OK(facecore_gallery_enroll(g, "alice", "dlib-resnet-v1", b, 128, &again));
    CHECK(alice == 1 && bob == 2 && again == alice);
    OK(facecore_gallery_set_metadata(g, "bob", "{\"badge\": 7}"));
    CHECK(facecore_gallery_len(g) == 2);
    OK(facecore_gallery_save(g, path));
    OK(facecore_gallery_load(path, &g2));
    CHECK(facecore_gallery_len(g2) == 2);

    facecore_match top[3];
    size_t n = 0;
    OK(facecore_gallery_search(g2, "dlib-resnet-v1", a, 128, top, 3, &n));
    CHECK(n == 2 && top[0].id == alice && top[1].id == bob && fabsf(top[0].score - 1.0f) < 1e-5f);
    OK(facecore_gallery_search(g2, "dlib-resnet-v1", a, 128, top, 1, &n));
    CHECK(n == 1);
    CHECK_STATUS(facecore_gallery_search(g2, "sface-2021dec", a, 128, top, 3, &n), FACECORE_STATUS_MODEL_MISMATCH);
    facecore_match best;
    bool known = true;
    OK(facecore_gallery_identify(g2, "dlib-resnet-v1", a, 128, 0.99f, &best, &known));
    CHECK(known && best.id == alice);
    bool removed = false;
    OK(facecore_gallery_remove(g2, "alice", &removed));
    CHECK(removed && facecore_gallery_len(g2) == 1);
    OK(facecore_gallery_remove(g2, "alice", &removed));
    CHECK(!removed);
    OK(facecore_gallery_identify(g2, "dlib-resnet-v1", a, 128, 0.99f, &best, &known));
    CHECK(!known && best.id == bob);
    OK(facecore_gallery_remove(g2, "bob", &removed));
    OK(facecore_gallery_identify(g2, "dlib-resnet-v1", a, 128, 0.5f, &best, &known));
    CHECK(!known && best.id == FACECORE_NO_PERSON);
    facecore_gallery_free(g2);
    g2 = NULL;

    /* Damaged: one flipped byte in the middle. */
    size_t len = 0;
    unsigned char *bytes = read_all(path, &len);
    CHECK(bytes != NULL && len > 64);
    if (bytes) {
        bytes[len / 2] ^= 0x40;
        FILE *f = fopen(bad, "wb");
        if (f) {
            fwrite(bytes, 1, len, f);
            fclose(f);
        }
        CHECK_STATUS(facecore_gallery_load(bad, &g2), FACECORE_STATUS_GALLERY);
        CHECK_STATUS(facecore_gallery_load_from_memory(bytes, len, &g2), FACECORE_STATUS_GALLERY);
        bytes[len / 2] ^= 0x40;
        CHECK_STATUS(facecore_gallery_load_from_memory(bytes, len - 1, &g2), FACECORE_STATUS_GALLERY); /* truncated */
        CHECK_STATUS(facecore_gallery_load_from_memory(bytes, 10, &g2), FACECORE_STATUS_GALLERY);
        free(bytes);
    }
    /* Foreign: a JPEG is not a gallery. */
    CHECK_STATUS(facecore_gallery_load(fixture("obama.jpg"), &g2), FACECORE_STATUS_GALLERY);
    CHECK_STATUS(facecore_gallery_load(fixture("no-such.gallery"), &g2), FACECORE_STATUS_NOT_FOUND);
    CHECK_STATUS(facecore_gallery_load(tmpdir, &g2), FACECORE_STATUS_IO); /* a directory */
    CHECK(g2 == NULL);
    /* Saving into a missing directory fails cleanly. */
    CHECK(facecore_gallery_save(g, "/definitely/not/here/x.gallery") != FACECORE_STATUS_OK);
    facecore_gallery_free(g);
    return failures;
}

/* ---- parity with the Rust API: analyse a file with a preset's pipeline ---- */

int fc_analyze_file(const char *path, uint32_t preset, facecore_face *faces, size_t capacity, float *embeddings,
                    size_t embeddings_len, size_t *count, size_t *dim) {
    static facecore_pipeline *pipelines[4];
    failures = 0;
    if (preset >= 4) return 1;
    if (!pipelines[preset]) OK(facecore_pipeline_new(preset, NULL, &pipelines[preset]));
    facecore_decoded_image *img = NULL;
    facecore_image view;
    OK(facecore_decoded_image_new_from_file(path, &img));
    OK(facecore_decoded_image_view(img, &view));
    OK(facecore_pipeline_analyze(pipelines[preset], &view, faces, capacity, embeddings, embeddings_len, count));
    *dim = facecore_pipeline_dim(pipelines[preset]);
    facecore_decoded_image_free(img);
    return failures;
}

/* ---- model sets: a directory and memory buffers give the bundled models' results ---- */

static int analyze_obama(facecore_pipeline *p, float *emb, size_t emb_len, size_t *count) {
    facecore_decoded_image *img = NULL;
    facecore_image view;
    facecore_face faces[4];
    int before = failures;
    OK(facecore_decoded_image_new_from_file(fixture("obama.jpg"), &img));
    OK(facecore_decoded_image_view(img, &view));
    OK(facecore_pipeline_analyze(p, &view, faces, 4, emb, emb_len, count));
    facecore_decoded_image_free(img);
    return failures - before;
}

int fc_test_models(const char *models_dir) {
    failures = 0;
    CHECK(facecore_model_file_count() == 6);
    CHECK(facecore_model_file_name(6) == NULL);
    CHECK(strcmp(facecore_model_file_name(4), "minifasnet_v2.onnx") == 0);
    CHECK(strcmp(facecore_model_file_name(1), "sface_2021dec.onnx") == 0);

    /* Reference: the default models (bundled in this build). */
    facecore_pipeline *ref = NULL;
    float want[512], got[512];
    size_t n_want = 0, n_got = 0;
    OK(facecore_pipeline_new_with_models(FACECORE_PRESET_FAST, NULL, NULL, &ref));
    if (!ref) return failures;
    analyze_obama(ref, want, 512, &n_want);
    CHECK(n_want == 1);

    /* From a directory (as written by `facecore models export`). */
    facecore_models *dir = NULL;
    facecore_pipeline *p = NULL;
    OK(facecore_models_new_from_dir(models_dir, &dir));
    OK(facecore_pipeline_new_with_models(FACECORE_PRESET_FAST, NULL, dir, &p));
    facecore_models_free(dir);
    if (p) {
        analyze_obama(p, got, 512, &n_got);
        CHECK(n_got == n_want && memcmp(got, want, 128 * sizeof(float)) == 0);
        facecore_pipeline_free(p);
        p = NULL;
    }

    /* From memory: only the files the preset needs (YuNet + dlib ResNet for `fast`). */
    size_t yl = 0, rl = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/yunet_2023mar.onnx", models_dir);
    unsigned char *yunet = read_all(path, &yl);
    snprintf(path, sizeof path, "%s/dlib_resnet_v1.onnx", models_dir);
    unsigned char *resnet = read_all(path, &rl);
    CHECK(yunet != NULL && resnet != NULL);
    if (yunet && resnet) {
        facecore_model_buffer files[2] = {{"yunet_2023mar.onnx", yunet, yl}, {"dlib_resnet_v1.onnx", resnet, rl}};
        facecore_models *mem = NULL;
        OK(facecore_models_new_from_memory(files, 2, &mem));
        free(resnet); /* copied: the buffers may go */
        resnet = NULL;
        OK(facecore_pipeline_new_with_models(FACECORE_PRESET_FAST, NULL, mem, &p));
        if (p) {
            n_got = 0;
            analyze_obama(p, got, 512, &n_got);
            CHECK(n_got == n_want && memcmp(got, want, 128 * sizeof(float)) == 0);
            facecore_pipeline_free(p);
            p = NULL;
        }
        /* The `accurate` preset also needs SFace, which this set lacks: a clear error. */
        CHECK_STATUS(facecore_pipeline_new_with_models(FACECORE_PRESET_ACCURATE, NULL, mem, &p), FACECORE_STATUS_MODEL_LOAD);
        CHECK(p == NULL && strstr(facecore_last_error_message(), "sface_2021dec.onnx") != NULL);
        facecore_models_free(mem);

        /* Damaged bytes, a wrong name, a file given twice, NULLs. */
        facecore_models *bad = NULL;
        yunet[yl / 2] ^= 1;
        facecore_model_buffer damaged = {"yunet_2023mar.onnx", yunet, yl};
        CHECK_STATUS(facecore_models_new_from_memory(&damaged, 1, &bad), FACECORE_STATUS_MODEL_LOAD);
        yunet[yl / 2] ^= 1;
        facecore_model_buffer renamed = {"sface_2021dec.onnx", yunet, yl};
        CHECK_STATUS(facecore_models_new_from_memory(&renamed, 1, &bad), FACECORE_STATUS_MODEL_LOAD);
        facecore_model_buffer unknown = {"shape_predictor_68_face_landmarks.dat", yunet, yl};
        CHECK_STATUS(facecore_models_new_from_memory(&unknown, 1, &bad), FACECORE_STATUS_INVALID_ARGUMENT);
        facecore_model_buffer twice[2] = {{"yunet_2023mar.onnx", yunet, yl}, {"yunet_2023mar.onnx", yunet, yl}};
        CHECK_STATUS(facecore_models_new_from_memory(twice, 2, &bad), FACECORE_STATUS_INVALID_ARGUMENT);
        facecore_model_buffer null_data = {"yunet_2023mar.onnx", NULL, yl};
        CHECK_STATUS(facecore_models_new_from_memory(&null_data, 1, &bad), FACECORE_STATUS_NULL_ARGUMENT);
        CHECK_STATUS(facecore_models_new_from_memory(NULL, 1, &bad), FACECORE_STATUS_NULL_ARGUMENT);
        CHECK_STATUS(facecore_models_new_from_dir(NULL, &bad), FACECORE_STATUS_NULL_ARGUMENT);
        CHECK(bad == NULL);
    }
    free(yunet);
    free(resnet);

    /* A directory without the files: the error names the file and says how to get it. */
    facecore_models *empty = NULL;
    OK(facecore_models_new_from_dir(fixtures, &empty));
    CHECK_STATUS(facecore_pipeline_new_with_models(FACECORE_PRESET_FAST, NULL, empty, &p), FACECORE_STATUS_MODEL_LOAD);
    CHECK(strstr(facecore_last_error_message(), "facecore models export") != NULL);
    CHECK_STATUS(facecore_pipeline_new_with_models(FACECORE_PRESET_FAST, NULL, (facecore_models *)ref, &p), FACECORE_STATUS_WRONG_HANDLE);
    facecore_models_free(empty);
    facecore_models_free(NULL);
    facecore_pipeline_free(ref);
    return failures;
}

void fc_set_fixtures(const char *dir) {
    snprintf(fixtures, sizeof fixtures, "%s", dir);
}
