/* Identify and verify on images through the C ABI (facecore_pipeline_identify,
 * facecore_pipeline_verify): the cascade's decisions equal the full fusion's as a C caller
 * computes it (facecore_pipeline_analyze + facecore_gallery_identify / facecore_verify) on the
 * fixtures, names come out right, and every bad argument is a status and a message.
 * c-tests/src/lib.rs also compares the results with the Rust API's, field for field
 * (fc_identify_file, fc_verify_files). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecore.h"

static int failures;

#include "check.h"

#define MAX_FACES 16
#define DIM_MAX 256

static char dir[1024];

static const char *path_of(const char *name) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static const char *const FIXTURES[] = {"obama.jpg",      "obama2.jpg",   "biden.jpg", "obama_small.jpg",
                                       "two_people.jpg", "astronaut.png", "camera.png"};
#define N_FIXTURES (sizeof FIXTURES / sizeof FIXTURES[0])

static const uint32_t OPS[] = {FACECORE_OPERATING_POINT_FMR1E3, FACECORE_OPERATING_POINT_FMR1E4,
                               FACECORE_OPERATING_POINT_BEST_ACCURACY};

static facecore_pipeline *pipeline_of(uint32_t preset) {
    static facecore_pipeline *p[4];
    if (preset >= 4) return NULL;
    if (!p[preset]) OK(facecore_pipeline_new(preset, NULL, &p[preset]));
    return p[preset];
}

/* A decoded fixture (or any file) and its view; free with facecore_decoded_image_free. */
static facecore_decoded_image *open_image(const char *path, facecore_image *view) {
    facecore_decoded_image *img = NULL;
    OK(facecore_decoded_image_new_from_file(path, &img));
    if (img) OK(facecore_decoded_image_view(img, view));
    return img;
}

/* The most confident face's full embedding (the pipeline's), into emb; 0 when none. */
static size_t best_embedding(facecore_pipeline *p, const facecore_image *view, float *emb) {
    facecore_face faces[MAX_FACES];
    static float all[MAX_FACES * DIM_MAX];
    size_t n = 0, dim = facecore_pipeline_dim(p);
    OK(facecore_pipeline_analyze(p, view, faces, MAX_FACES, all, MAX_FACES * DIM_MAX, &n));
    if (n == 0) return 0;
    memcpy(emb, all, dim * sizeof(float));
    return n;
}

/* Obama and Biden enrolled from their portraits with the full embedding of `p`. */
static facecore_gallery *portrait_gallery(facecore_pipeline *p, uint64_t ids[2]) {
    facecore_gallery *g = NULL;
    OK(facecore_gallery_new(&g));
    const char *names[] = {"obama", "biden"}, *files[] = {"obama.jpg", "biden.jpg"};
    for (int i = 0; i < 2; i++) {
        facecore_image view;
        facecore_decoded_image *img = open_image(path_of(files[i]), &view);
        float emb[DIM_MAX];
        if (img && best_embedding(p, &view, emb) > 0)
            OK(facecore_gallery_enroll(g, names[i], facecore_pipeline_space(p), emb, facecore_pipeline_dim(p), &ids[i]));
        facecore_decoded_image_free(img);
    }
    return g;
}

static int name_is(const facecore_gallery *g, uint64_t id, const char *want) {
    char name[64];
    size_t size = 0;
    if (facecore_gallery_person_name(g, id, name, sizeof name, &size) != FACECORE_STATUS_OK) return 0;
    return strcmp(name, want) == 0;
}

static int valid_stage(uint32_t s) {
    return s == FACECORE_STAGE_FIRST || s == FACECORE_STAGE_SECOND || s == FACECORE_STAGE_FULL;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- for c-tests/src/lib.rs: identify a file against a saved gallery, verify two files ---- */

int fc_identify_file(const char *path, const char *gallery_path, uint32_t preset, uint32_t op, facecore_identified *out,
                     size_t capacity, size_t *count) {
    failures = 0;
    facecore_gallery *g = NULL;
    facecore_image view;
    OK(facecore_gallery_load(gallery_path, &g));
    facecore_decoded_image *img = open_image(path, &view);
    OK(facecore_pipeline_identify(pipeline_of(preset), &view, g, op, out, capacity, count));
    facecore_decoded_image_free(img);
    facecore_gallery_free(g);
    return failures;
}

int fc_verify_files(const char *path_a, const char *path_b, uint32_t preset, uint32_t op, facecore_verified *out) {
    failures = 0;
    facecore_image a, b;
    facecore_decoded_image *ia = open_image(path_a, &a), *ib = open_image(path_b, &b);
    OK(facecore_pipeline_verify(pipeline_of(preset), &a, &b, op, out));
    facecore_decoded_image_free(ia);
    facecore_decoded_image_free(ib);
    return failures;
}

/* ---- the cascade decides like the full fusion; names ---- */

/* For every fixture and operating point: the same faces as facecore_pipeline_analyze, the same
 * known/unknown decision and person as facecore_gallery_identify on the full embedding at the
 * calibrated threshold, and at the full stage the same score bit for bit. */
static void check_identify_against_full(facecore_pipeline *p, const facecore_gallery *g, size_t stages[4]) {
    const char *space = facecore_pipeline_space(p);
    size_t dim = facecore_pipeline_dim(p);
    for (size_t k = 0; k < N_FIXTURES; k++) {
        facecore_image view;
        facecore_decoded_image *img = open_image(path_of(FIXTURES[k]), &view);
        if (!img) continue;
        facecore_face faces[MAX_FACES];
        static float emb[MAX_FACES * DIM_MAX];
        size_t n_full = 0;
        OK(facecore_pipeline_analyze(p, &view, faces, MAX_FACES, emb, MAX_FACES * DIM_MAX, &n_full));
        for (size_t o = 0; o < sizeof OPS / sizeof OPS[0]; o++) {
            float t = NAN;
            OK(facecore_threshold(space, OPS[o], &t));
            facecore_identified r[MAX_FACES];
            size_t n = 0;
            OK(facecore_pipeline_identify(p, &view, g, OPS[o], r, MAX_FACES, &n));
            CHECK(n == n_full);
            for (size_t i = 0; i < n && i < n_full; i++) {
                facecore_match best;
                bool known = false;
                OK(facecore_gallery_identify(g, space, emb + i * dim, dim, t, &best, &known));
                CHECK(memcmp(&r[i].face, &faces[i], sizeof faces[i]) == 0);
                CHECK(valid_stage(r[i].stage));
                if (r[i].known != known || (known && r[i].best.id != best.id)) {
                    fprintf(stderr, "%s face %zu op %u: cascade known=%d id=%llu (stage %u, score %f) vs full known=%d id=%llu\n",
                            FIXTURES[k], i, OPS[o], r[i].known, (unsigned long long)r[i].best.id, r[i].stage,
                            (double)r[i].best.score, known, (unsigned long long)best.id);
                    failures++;
                }
                CHECK(r[i].known == (r[i].best.score >= r[i].threshold));
                CHECK(r[i].quality >= 0.0f && r[i].quality <= 1.0f);
                CHECK(isnan(r[i].live) && r[i].liveness == FACECORE_LIVENESS_DECISION_UNKNOWN);
                if (r[i].stage == FACECORE_STAGE_FULL) {
                    CHECK(same_bits(r[i].best.score, best.score) && same_bits(r[i].threshold, t));
                    CHECK(r[i].best.id == best.id);
                }
                if (valid_stage(r[i].stage)) stages[r[i].stage]++;
            }
        }
        facecore_decoded_image_free(img);
    }
}

/* Pairs of one-face fixtures: the same decision as facecore_verify on the full embeddings. */
static void check_verify_against_full(facecore_pipeline *p, size_t stages[4]) {
    const char *files[] = {"obama.jpg", "obama2.jpg", "biden.jpg", "obama_small.jpg", "astronaut.png"};
    enum { N = sizeof files / sizeof files[0] };
    facecore_decoded_image *imgs[N];
    facecore_image views[N];
    static float emb[N][DIM_MAX];
    size_t dim = facecore_pipeline_dim(p);
    for (int i = 0; i < N; i++) {
        imgs[i] = open_image(path_of(files[i]), &views[i]);
        CHECK(imgs[i] && best_embedding(p, &views[i], emb[i]) >= 1);
    }
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            /* Every operating point for the two portraits of Obama and against Biden, FMR 1e-3 for the rest. */
            size_t ops = (i == 0 && j <= 2) ? sizeof OPS / sizeof OPS[0] : 1;
            for (size_t o = 0; o < ops; o++) {
                facecore_verified v;
                float sim = NAN, t = NAN;
                bool same = false;
                OK(facecore_pipeline_verify(p, &views[i], &views[j], OPS[o], &v));
                OK(facecore_verify(facecore_pipeline_space(p), emb[i], emb[j], dim, OPS[o], &sim, &same));
                OK(facecore_threshold(facecore_pipeline_space(p), OPS[o], &t));
                if (v.same_person != same) {
                    fprintf(stderr, "%s / %s op %u: cascade %d (stage %u, %f) vs full %d (%f)\n", files[i], files[j], OPS[o],
                            v.same_person, v.stage, (double)v.similarity, same, (double)sim);
                    failures++;
                }
                CHECK(valid_stage(v.stage));
                CHECK(v.same_person == (v.similarity >= v.threshold));
                if (v.stage == FACECORE_STAGE_FULL) CHECK(same_bits(v.similarity, sim) && same_bits(v.threshold, t));
                if (valid_stage(v.stage)) stages[v.stage]++;
            }
        }
    }
    facecore_verified v;
    OK(facecore_pipeline_verify(p, &views[0], &views[1], FACECORE_OPERATING_POINT_FMR1E3, &v));
    CHECK(v.same_person);
    OK(facecore_pipeline_verify(p, &views[0], &views[2], FACECORE_OPERATING_POINT_FMR1E3, &v));
    CHECK(!v.same_person);
    CHECK(v.faces[0].width > 50.0f && v.faces[1].width > 50.0f && v.faces[0].score > 0.6f);
    for (int i = 0; i < N; i++) facecore_decoded_image_free(imgs[i]);
}

/* ---- bad arguments: a status and a message, out-parameters untouched ---- */

static void check_errors(facecore_pipeline *accurate, facecore_gallery *g) {
    facecore_image two, grey;
    facecore_decoded_image *img = open_image(path_of("two_people.jpg"), &two);
    static unsigned char px[64 * 64 * 3];
    memset(px, 128, sizeof px);
    grey = (facecore_image){px, sizeof px, 64, 64, 64 * 3, FACECORE_PIXEL_FORMAT_RGB};
    facecore_identified r[MAX_FACES], sentinel;
    memset(&sentinel, 0xAB, sizeof sentinel);
    for (int i = 0; i < MAX_FACES; i++) r[i] = sentinel;
    size_t n = 12345;
    facecore_verified v, vs;
    memset(&vs, 0xAB, sizeof vs);
    v = vs;
    uint32_t fmr = FACECORE_OPERATING_POINT_FMR1E3;

    /* NULLs, wrong handles, unknown operating points. */
    CHECK_STATUS(facecore_pipeline_identify(NULL, &two, g, fmr, r, MAX_FACES, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_identify(accurate, NULL, g, fmr, r, MAX_FACES, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, NULL, fmr, r, MAX_FACES, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, g, fmr, NULL, MAX_FACES, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, g, fmr, r, MAX_FACES, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    /* Not a handle (zeros, larger than any handle, so the tag check reads inside it). */
    static uint64_t junk[512];
    CHECK_STATUS(facecore_pipeline_identify((const facecore_pipeline *)(const void *)junk, &two, g, fmr, r, MAX_FACES, &n),
                 FACECORE_STATUS_WRONG_HANDLE);
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, (const facecore_gallery *)(const void *)junk, fmr, r, MAX_FACES, &n),
                 FACECORE_STATUS_WRONG_HANDLE);
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, g, 3, r, MAX_FACES, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    facecore_image bad = two;
    bad.stride = 1;
    CHECK_STATUS(facecore_pipeline_identify(accurate, &bad, g, fmr, r, MAX_FACES, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(n == 12345 && memcmp(&r[0], &sentinel, sizeof sentinel) == 0);

    CHECK_STATUS(facecore_pipeline_verify(NULL, &two, &two, fmr, &v), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_verify(accurate, NULL, &two, fmr, &v), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_verify(accurate, &two, NULL, fmr, &v), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_verify(accurate, &two, &two, fmr, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_verify((const facecore_pipeline *)(const void *)junk, &two, &two, fmr, &v),
                 FACECORE_STATUS_WRONG_HANDLE);
    CHECK_STATUS(facecore_pipeline_verify(accurate, &two, &two, 99, &v), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_verify(accurate, &two, &bad, fmr, &v), FACECORE_STATUS_INVALID_ARGUMENT);

    /* No face: identify finds nobody; verify names the image without one. */
    OK(facecore_pipeline_identify(accurate, &grey, g, fmr, r, MAX_FACES, &n));
    CHECK(n == 0);
    CHECK_STATUS(facecore_pipeline_verify(accurate, &two, &grey, fmr, &v), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(facecore_last_error_message() && strstr(facecore_last_error_message(), "second image"));
    CHECK_STATUS(facecore_pipeline_verify(accurate, &grey, &two, fmr, &v), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(facecore_last_error_message() && strstr(facecore_last_error_message(), "first image"));
    CHECK(memcmp(&v, &vs, sizeof v) == 0);

    /* Too small a result array: the number of faces, nothing written. */
    n = 0;
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, g, fmr, r, 1, &n), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 2 && memcmp(&r[0], &sentinel, sizeof sentinel) == 0);
    n = 0;
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, g, fmr, NULL, 0, &n), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 2);
    OK(facecore_pipeline_identify(accurate, &two, g, fmr, r, 2, &n));
    CHECK(n == 2);

    /* An empty gallery: nobody known, no candidate. */
    facecore_gallery *empty = NULL;
    OK(facecore_gallery_new(&empty));
    OK(facecore_pipeline_identify(accurate, &two, empty, fmr, r, MAX_FACES, &n));
    CHECK(n == 2);
    for (size_t i = 0; i < n && i < 2; i++) {
        CHECK(!r[i].known && r[i].best.id == FACECORE_NO_PERSON && r[i].best.score == -INFINITY);
        CHECK(r[i].stage == FACECORE_STAGE_FULL);
    }
    facecore_gallery_free(empty);

    /* A gallery of another space (the fast preset's) is refused before any network runs. */
    uint64_t ids[2] = {0, 0};
    facecore_gallery *fast_g = portrait_gallery(pipeline_of(FACECORE_PRESET_FAST), ids);
    for (int i = 0; i < MAX_FACES; i++) r[i] = sentinel;
    n = 12345;
    CHECK_STATUS(facecore_pipeline_identify(accurate, &two, fast_g, fmr, r, MAX_FACES, &n), FACECORE_STATUS_MODEL_MISMATCH);
    CHECK(n == 12345 && memcmp(&r[0], &sentinel, sizeof sentinel) == 0);

    /* The fast preset has no cascade: every face at the full stage, named as by gallery_identify. */
    OK(facecore_pipeline_identify(pipeline_of(FACECORE_PRESET_FAST), &two, fast_g, fmr, r, MAX_FACES, &n));
    CHECK(n == 2);
    int obama = 0, biden = 0;
    for (size_t i = 0; i < n && i < 2; i++) {
        CHECK(r[i].stage == FACECORE_STAGE_FULL && r[i].known);
        obama += r[i].best.id == ids[0] && name_is(fast_g, r[i].best.id, "obama");
        biden += r[i].best.id == ids[1] && name_is(fast_g, r[i].best.id, "biden");
    }
    CHECK(obama == 1 && biden == 1);
    OK(facecore_pipeline_verify(pipeline_of(FACECORE_PRESET_FAST), &two, &two, fmr, &v));
    CHECK(v.stage == FACECORE_STAGE_FULL && v.same_person);
    facecore_gallery_free(fast_g);

    /* A fusion with weights nobody calibrated has no threshold. */
    facecore_embedder *e[2] = {NULL, NULL};
    facecore_recognizer *rec = NULL;
    facecore_detector *det = NULL;
    facecore_pipeline *odd = NULL;
    OK(facecore_embedder_new(FACECORE_EMBED_MODEL_SFACE, &e[0]));
    OK(facecore_embedder_new(FACECORE_EMBED_MODEL_DLIB_RESNET, &e[1]));
    float weights[2] = {0.5f, 0.5f};
    OK(facecore_recognizer_new_from_embedders((const facecore_embedder *const *)e, weights, 2, false, &rec));
    OK(facecore_detector_new(NULL, &det));
    OK(facecore_pipeline_new_from_parts(det, rec, &odd));
    CHECK_STATUS(facecore_pipeline_identify(odd, &two, g, fmr, r, MAX_FACES, &n), FACECORE_STATUS_NO_THRESHOLD);
    CHECK_STATUS(facecore_pipeline_verify(odd, &two, &two, fmr, &v), FACECORE_STATUS_NO_THRESHOLD);
    facecore_pipeline_free(odd);
    facecore_detector_free(det);
    facecore_recognizer_free(rec);
    facecore_embedder_free(e[0]);
    facecore_embedder_free(e[1]);
    facecore_decoded_image_free(img);
}

int fc_test_identify(const char *fixtures_dir) {
    failures = 0;
    snprintf(dir, sizeof dir, "%s", fixtures_dir);
    facecore_pipeline *p = pipeline_of(FACECORE_PRESET_ACCURATE);
    if (!p) return failures + 1;
    uint64_t ids[2] = {0, 0};
    facecore_gallery *g = portrait_gallery(p, ids);

    /* Both people of two_people.jpg are named. */
    facecore_image two;
    facecore_decoded_image *img = open_image(path_of("two_people.jpg"), &two);
    facecore_identified r[MAX_FACES];
    size_t n = 0;
    OK(facecore_pipeline_identify(p, &two, g, FACECORE_OPERATING_POINT_FMR1E3, r, MAX_FACES, &n));
    CHECK(n == 2);
    int obama = 0, biden = 0;
    for (size_t i = 0; i < n && i < 2; i++) {
        CHECK(r[i].known && r[i].best.score >= r[i].threshold && valid_stage(r[i].stage));
        obama += r[i].best.id == ids[0] && name_is(g, r[i].best.id, "obama");
        biden += r[i].best.id == ids[1] && name_is(g, r[i].best.id, "biden");
    }
    CHECK(obama == 1 && biden == 1);
    facecore_decoded_image_free(img);

    size_t identify_stages[4] = {0, 0, 0, 0}, verify_stages[4] = {0, 0, 0, 0};
    check_identify_against_full(p, g, identify_stages);
    check_verify_against_full(p, verify_stages);
    /* The cascade did stop early for some faces and pairs (else it would not be tested). */
    CHECK(identify_stages[FACECORE_STAGE_FIRST] > 0);
    CHECK(verify_stages[FACECORE_STAGE_FIRST] > 0);
    fprintf(stderr, "C cascade: identify stages first/second/full %zu/%zu/%zu, verify %zu/%zu/%zu\n",
            identify_stages[1], identify_stages[2], identify_stages[3], verify_stages[1], verify_stages[2], verify_stages[3]);

    check_errors(p, g);
    facecore_gallery_free(g);
    return failures;
}
