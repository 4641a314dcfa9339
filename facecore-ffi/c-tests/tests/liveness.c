/* Liveness through the C ABI: scores and decisions on the fixtures' faces (compared with the
 * Rust API bit for bit by c-tests/src/lib.rs through fc_liveness_file), operating points,
 * faces too small or cut by the edge (UNKNOWN with NAN), configs, model sets, NULLs, bad enum
 * values and thresholds (errors that leave the output alone). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecore.h"

static int failures;

#include "check.h"

static char dir[1024];

static const char *path_of(const char *name) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* A result no call writes: checks that failed calls leave the output alone. */
static facecore_liveness_result sentinel(void) {
    facecore_liveness_result r;
    r.score = -7.0f, r.decision = 77, r.unknown_reason = 77;
    return r;
}

static int untouched(const facecore_liveness_result *r) {
    return r->score == -7.0f && r->decision == 77 && r->unknown_reason == 77;
}

static int same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Detects the faces of `path` (default detector options) and judges each at the default
 * operating point. Returns the number of failed checks. */
int fc_liveness_file(const char *path, facecore_face *faces, size_t capacity, facecore_liveness_result *results,
                     size_t *count) {
    static facecore_detector *det;
    static facecore_liveness *live;
    failures = 0;
    if (!det) OK(facecore_detector_new(NULL, &det));
    if (!live) OK(facecore_liveness_new(&live));
    facecore_decoded_image *img = NULL;
    facecore_image view;
    OK(facecore_decoded_image_new_from_file(path, &img));
    OK(facecore_decoded_image_view(img, &view));
    *count = 0;
    OK(facecore_detect(det, &view, faces, capacity, count));
    for (size_t i = 0; i < *count && i < capacity; i++)
        OK(facecore_liveness_check(live, &view, &faces[i], FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &results[i]));
    facecore_decoded_image_free(img);
    return failures;
}

/* Networks from memory buffers (the model files of the repository) give the bundled scores. */
static void check_model_sets(const facecore_image *view, const facecore_face *face, float bundled_score) {
    char p2[1200], p1[1200], py[1200];
    snprintf(p2, sizeof p2, "%s/../../facecore/models/minifasnet_v2.onnx", dir);
    snprintf(p1, sizeof p1, "%s/../../facecore/models/minifasnet_v1se.onnx", dir);
    snprintf(py, sizeof py, "%s/../../facecore/models/yunet_2023mar.onnx", dir);
    size_t n2 = 0, n1 = 0, ny = 0;
    unsigned char *b2 = read_all(p2, &n2), *b1 = read_all(p1, &n1), *by = read_all(py, &ny);
    CHECK(b2 && b1 && by);
    if (b2 && b1 && by) {
        CHECK(strcmp(facecore_model_file_name(4), "minifasnet_v2.onnx") == 0);
        CHECK(strcmp(facecore_model_file_name(5), "minifasnet_v1se.onnx") == 0);
        facecore_model_buffer files[2] = {{facecore_model_file_name(4), b2, n2}, {facecore_model_file_name(5), b1, n1}};
        facecore_models *models = NULL;
        OK(facecore_models_new_from_memory(files, 2, &models));
        facecore_liveness *l = NULL;
        OK(facecore_liveness_new_with_models(models, &l));
        facecore_models_free(models); /* the handle keeps the networks */
        facecore_liveness_result r = sentinel();
        OK(facecore_liveness_check(l, view, face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
        CHECK(same_bits(r.score, bundled_score));
        facecore_liveness_free(l);

        /* A set without the liveness networks: MODEL_LOAD, nothing written. */
        facecore_model_buffer yunet_only[1] = {{"yunet_2023mar.onnx", by, ny}};
        OK(facecore_models_new_from_memory(yunet_only, 1, &models));
        l = NULL;
        CHECK_STATUS(facecore_liveness_new_with_models(models, &l), FACECORE_STATUS_MODEL_LOAD);
        CHECK(l == NULL);
        facecore_models_free(models);

        /* NULL models: the default source. */
        OK(facecore_liveness_new_with_models(NULL, &l));
        r = sentinel();
        OK(facecore_liveness_check(l, view, face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
        CHECK(same_bits(r.score, bundled_score));
        facecore_liveness_free(l);
    }
    free(b2);
    free(b1);
    free(by);
}

int fc_test_liveness(const char *fixtures_dir) {
    failures = 0;
    snprintf(dir, sizeof dir, "%s", fixtures_dir);
    CHECK(FACECORE_LIVENESS_DEFAULT_THRESHOLD > 0.0 && FACECORE_LIVENESS_DEFAULT_THRESHOLD < FACECORE_LIVENESS_STRICT_THRESHOLD);
    CHECK(FACECORE_LIVENESS_STRICT_THRESHOLD < 1.0);

    facecore_liveness *live = NULL;
    CHECK_STATUS(facecore_liveness_new(NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_new_with_models(NULL, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    OK(facecore_liveness_new(&live));
    if (!live) return failures;
    facecore_liveness_config cfg = {-1.0f, -1.0f};
    OK(facecore_liveness_get_config(live, &cfg));
    CHECK(cfg.min_face_px == 40.0f && cfg.max_outside == 0.1f);

    facecore_detector *det = NULL;
    OK(facecore_detector_new(NULL, &det));
    facecore_decoded_image *img = NULL;
    facecore_image view;
    OK(facecore_decoded_image_new_from_file(path_of("obama.jpg"), &img));
    OK(facecore_decoded_image_view(img, &view));
    facecore_face faces[4];
    size_t n = 0;
    OK(facecore_detect(det, &view, faces, 4, &n));
    CHECK(n == 1);
    if (n < 1) goto done;
    facecore_face face = faces[0];

    /* The default operating point: a live photo of a live person. */
    facecore_liveness_result r = sentinel(), r2;
    OK(facecore_liveness_check(live, &view, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
    CHECK(r.score >= 0.0f && r.score <= 1.0f);
    CHECK(r.decision == FACECORE_LIVENESS_DECISION_LIVE && r.unknown_reason == FACECORE_LIVENESS_UNKNOWN_REASON_NONE);
    float score = r.score;

    /* Every operating point computes the same score; the decision is score >= threshold. The
     * threshold argument is ignored by DEFAULT and STRICT. */
    r2 = sentinel();
    OK(facecore_liveness_check(live, &view, &face, FACECORE_LIVENESS_OP_STRICT, -5.0f, &r2));
    CHECK(same_bits(r2.score, score));
    CHECK(r2.decision == (score >= (float)FACECORE_LIVENESS_STRICT_THRESHOLD ? FACECORE_LIVENESS_DECISION_LIVE
                                                                              : FACECORE_LIVENESS_DECISION_SPOOF));
    r2 = sentinel();
    OK(facecore_liveness_check(live, &view, &face, FACECORE_LIVENESS_OP_THRESHOLD, score, &r2));
    CHECK(same_bits(r2.score, score) && r2.decision == FACECORE_LIVENESS_DECISION_LIVE);
    if (score < 1.0f) {
        OK(facecore_liveness_check(live, &view, &face, FACECORE_LIVENESS_OP_THRESHOLD, 1.0f, &r2));
        CHECK(r2.decision == FACECORE_LIVENESS_DECISION_SPOOF && r2.unknown_reason == FACECORE_LIVENESS_UNKNOWN_REASON_NONE);
    }
    OK(facecore_liveness_check(live, &view, &face, FACECORE_LIVENESS_OP_THRESHOLD, 0.0f, &r2));
    CHECK(r2.decision == FACECORE_LIVENESS_DECISION_LIVE);

    /* A 10 px face: not judged, NAN score, whatever the operating point. */
    facecore_face tiny = face;
    tiny.width = 10.0f, tiny.height = 10.0f;
    r = sentinel();
    OK(facecore_liveness_check(live, &view, &tiny, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
    CHECK(r.decision == FACECORE_LIVENESS_DECISION_UNKNOWN && r.unknown_reason == FACECORE_LIVENESS_UNKNOWN_REASON_TOO_SMALL);
    CHECK(isnan(r.score));
    r = sentinel();
    OK(facecore_liveness_check(live, &view, &tiny, FACECORE_LIVENESS_OP_THRESHOLD, 0.0f, &r));
    CHECK(r.decision == FACECORE_LIVENESS_DECISION_UNKNOWN && isnan(r.score));

    /* Half of the face outside the frame: CUT_BY_EDGE. */
    facecore_face cut = face;
    cut.x = -cut.width / 2.0f;
    r = sentinel();
    OK(facecore_liveness_check(live, &view, &cut, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
    CHECK(r.decision == FACECORE_LIVENESS_DECISION_UNKNOWN && r.unknown_reason == FACECORE_LIVENESS_UNKNOWN_REASON_CUT_BY_EDGE);
    CHECK(isnan(r.score));

    /* Another config: the 10 px face and the cut face are judged; the original is unchanged. */
    facecore_liveness *lax = NULL;
    facecore_liveness_config any = {0.0f, 1.0f};
    OK(facecore_liveness_with_config(live, &any, &lax));
    if (lax) {
        OK(facecore_liveness_get_config(lax, &cfg));
        CHECK(cfg.min_face_px == 0.0f && cfg.max_outside == 1.0f);
        r = sentinel();
        OK(facecore_liveness_check(lax, &view, &tiny, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
        CHECK(r.score >= 0.0f && r.score <= 1.0f && r.decision != FACECORE_LIVENESS_DECISION_UNKNOWN);
        r = sentinel();
        OK(facecore_liveness_check(lax, &view, &cut, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
        CHECK(r.score >= 0.0f && r.score <= 1.0f && r.unknown_reason == FACECORE_LIVENESS_UNKNOWN_REASON_NONE);
        r = sentinel();
        OK(facecore_liveness_check(lax, &view, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
        CHECK(same_bits(r.score, score));
    }
    OK(facecore_liveness_get_config(live, &cfg));
    CHECK(cfg.min_face_px == 40.0f && cfg.max_outside == 0.1f);

    /* Bad configs: INVALID_ARGUMENT, nothing written. */
    facecore_liveness_config bad[] = {{-1.0f, 0.1f}, {NAN, 0.1f}, {INFINITY, 0.1f}, {40.0f, -0.1f}, {40.0f, 1.5f}, {40.0f, NAN}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        facecore_liveness *l = NULL;
        CHECK_STATUS(facecore_liveness_with_config(live, &bad[i], &l), FACECORE_STATUS_INVALID_ARGUMENT);
        CHECK(l == NULL);
    }

    /* A grey frame with a made-up face box: judged (some score in 0..1), no failure. */
    {
        static unsigned char grey[200 * 200];
        memset(grey, 128, sizeof grey);
        facecore_image g = {grey, sizeof grey, 200, 200, 200, FACECORE_PIXEL_FORMAT_GRAY};
        facecore_face box;
        memset(&box, 0, sizeof box);
        box.x = 60.0f, box.y = 60.0f, box.width = 80.0f, box.height = 80.0f, box.score = 0.9f;
        r = sentinel();
        OK(facecore_liveness_check(live, &g, &box, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
        CHECK(r.score >= 0.0f && r.score <= 1.0f && r.decision != FACECORE_LIVENESS_DECISION_UNKNOWN);
    }

    /* NULLs: NULL_ARGUMENT, nothing written. */
    r = sentinel();
    CHECK_STATUS(facecore_liveness_check(NULL, &view, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_check(live, NULL, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_check(live, &view, NULL, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(untouched(&r));
    CHECK_STATUS(facecore_liveness_check(live, &view, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_get_config(NULL, &cfg), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_get_config(live, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_with_config(NULL, &any, &lax), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_with_config(live, NULL, &lax), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_liveness_with_config(live, &any, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    facecore_image no_data = view;
    no_data.data = NULL;
    CHECK_STATUS(facecore_liveness_check(live, &no_data, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r), FACECORE_STATUS_NULL_ARGUMENT);

    /* Bad operating points and thresholds: INVALID_ARGUMENT, nothing written. */
    const uint32_t bad_ops[] = {3, 99, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_ops / sizeof bad_ops[0]; i++)
        CHECK_STATUS(facecore_liveness_check(live, &view, &face, bad_ops[i], 0.5f, &r), FACECORE_STATUS_INVALID_ARGUMENT);
    const float bad_thresholds[] = {-0.01f, 1.01f, -INFINITY, INFINITY, NAN, 2.0f};
    for (size_t i = 0; i < sizeof bad_thresholds / sizeof bad_thresholds[0]; i++)
        CHECK_STATUS(facecore_liveness_check(live, &view, &face, FACECORE_LIVENESS_OP_THRESHOLD, bad_thresholds[i], &r),
                     FACECORE_STATUS_INVALID_ARGUMENT);
    /* A face with a non-finite coordinate, an image with a bad format. */
    facecore_face nan_face = face;
    nan_face.landmarks[3] = NAN;
    CHECK_STATUS(facecore_liveness_check(live, &view, &nan_face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r), FACECORE_STATUS_INVALID_ARGUMENT);
    facecore_image bad_format = view;
    bad_format.format = 42;
    CHECK_STATUS(facecore_liveness_check(live, &bad_format, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r), FACECORE_STATUS_INVALID_ARGUMENT);
    facecore_image short_buf = view;
    short_buf.len = view.len - 1;
    CHECK_STATUS(facecore_liveness_check(live, &short_buf, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(untouched(&r));

    /* A handle of another type. */
    CHECK_STATUS(facecore_liveness_check((const facecore_liveness *)(const void *)det, &view, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r),
                 FACECORE_STATUS_WRONG_HANDLE);
    CHECK(untouched(&r));

    check_model_sets(&view, &face, score);

    /* Freeing the original keeps the derived handle working. */
    facecore_liveness_free(live);
    live = NULL;
    if (lax) {
        r = sentinel();
        OK(facecore_liveness_check(lax, &view, &face, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &r));
        CHECK(same_bits(r.score, score));
        facecore_liveness_free(lax);
    }

done:
    facecore_liveness_free(live);
    facecore_liveness_free(NULL);
    facecore_decoded_image_free(img);
    facecore_detector_free(det);
    return failures;
}

/* A pipeline that checks liveness: a stream made from it decides a still face's liveness
 * once, from five frames, with the median score; bad arguments leave the output alone. */
int fc_test_pipeline_liveness(const char *fixtures_dir) {
    failures = 0;
    snprintf(dir, sizeof dir, "%s", fixtures_dir);
    facecore_pipeline *fast = NULL, *checked = NULL;
    facecore_liveness *live = NULL;
    facecore_stream *s = NULL;
    facecore_decoded_image *img = NULL;
    facecore_image view;
    OK(facecore_pipeline_new(FACECORE_PRESET_FAST, NULL, &fast));
    OK(facecore_liveness_new(&live));
    CHECK_STATUS(facecore_pipeline_with_liveness(fast, live, 9, 0.0f, &checked), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_with_liveness(fast, live, FACECORE_LIVENESS_OP_THRESHOLD, 2.0f, &checked),
                 FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_pipeline_with_liveness(fast, NULL, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &checked),
                 FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(checked == NULL);
    OK(facecore_pipeline_with_liveness(fast, live, FACECORE_LIVENESS_OP_DEFAULT, 0.0f, &checked));
    facecore_liveness_free(live); /* shared, not copied */
    OK(facecore_decoded_image_new_from_file(path_of("obama.jpg"), &img));
    OK(facecore_decoded_image_view(img, &view));
    OK(facecore_stream_new(checked, NULL, NULL, &s));
    int decided = 0;
    float live_score = NAN;
    for (int i = 0; s && i < 8; i++) {
        facecore_stream_event ev[8];
        size_t n = 0;
        OK(facecore_stream_push(s, &view, i / 25.0, ev, 8, &n));
        for (size_t k = 0; k < n; k++) {
            if (ev[k].kind == FACECORE_STREAM_EVENT_KIND_LIVENESS) {
                decided++;
                live_score = ev[k].live;
                CHECK(ev[k].liveness == FACECORE_LIVENESS_DECISION_LIVE || ev[k].liveness == FACECORE_LIVENESS_DECISION_SPOOF);
                CHECK((ev[k].liveness == FACECORE_LIVENESS_DECISION_LIVE) == (ev[k].live >= FACECORE_LIVENESS_DEFAULT_THRESHOLD));
            }
        }
    }
    CHECK(decided == 1 && live_score >= 0.0f && live_score <= 1.0f);
    facecore_stream_free(s);
    facecore_decoded_image_free(img);
    facecore_pipeline_free(checked);
    facecore_pipeline_free(fast);
    return failures;
}
