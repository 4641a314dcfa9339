/* Face streams through the C ABI: synthetic camera frames (a fixture moved across a grey
 * canvas, built here from a decoded fixture), events (compared with the Rust API's by
 * c-tests/src/lib.rs through fc_stream_events), an event array too small (nothing lost), NV12
 * frames, bad frames and timestamps (errors after which the stream goes on), options, galleries
 * of another space, NULLs and wrong handles. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecore.h"

static int failures;

#include "check.h"

#define FW 640
#define FH 360
#define FRAMES 16
#define MAX_EVENTS 256

static char dir[1024];

static const char *path_of(const char *name) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static facecore_pipeline *fast_pipeline(void) {
    static facecore_pipeline *p;
    if (!p) OK(facecore_pipeline_new(FACECORE_PRESET_FAST, NULL, &p));
    return p;
}

/* Frame i: a grey (90) 640x360 RGB canvas with obama_small.jpg (320x240) at x = 10 i, y = 60.
 * c-tests/src/lib.rs builds the same frames in Rust. */
static void make_frame(const facecore_image *sprite, int i, unsigned char *rgb) {
    memset(rgb, 90, (size_t)FW * FH * 3);
    size_t x0 = (size_t)(10 * i), y0 = 60;
    for (size_t y = 0; y < sprite->height && y0 + y < FH; y++) {
        size_t w = sprite->width;
        if (x0 + w > FW) w = FW - x0;
        memcpy(rgb + ((y0 + y) * FW + x0) * 3, sprite->data + y * sprite->stride, w * 3);
    }
}

static unsigned char clamp8(double v) {
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

/* Packed RGB to NV12 (BT.601, limited range), chroma from the top-left pixel of each block. */
static void rgb_to_nv12(const unsigned char *rgb, unsigned char *nv12) {
    unsigned char *uv = nv12 + FW * FH;
    for (size_t y = 0; y < FH; y++) {
        for (size_t x = 0; x < FW; x++) {
            const unsigned char *p = rgb + (y * FW + x) * 3;
            double r = p[0], g = p[1], b = p[2];
            nv12[y * FW + x] = clamp8(16 + 0.256788 * r + 0.504129 * g + 0.097906 * b);
            if (y % 2 == 0 && x % 2 == 0) {
                uv[(y / 2) * FW + x] = clamp8(128 - 0.148223 * r - 0.290993 * g + 0.439216 * b);
                uv[(y / 2) * FW + x + 1] = clamp8(128 + 0.439216 * r - 0.367788 * g - 0.071427 * b);
            }
        }
    }
}

static int same_float(float a, float b) {
    return a == b || (isnan(a) && isnan(b));
}

static int same_event(const facecore_stream_event *a, const facecore_stream_event *b) {
    return a->kind == b->kind && a->track == b->track && a->timestamp == b->timestamp && a->frame == b->frame &&
           a->x == b->x && a->y == b->y && a->width == b->width && a->height == b->height &&
           same_float(a->quality, b->quality) && a->person == b->person && same_float(a->score, b->score) &&
           a->previous == b->previous && a->duration == b->duration && same_float(a->live, b->live) &&
           a->liveness == b->liveness;
}

/* Runs the FRAMES synthetic frames (RGB, or NV12 when `nv12`) through a new stream with the
 * default options and `capacity` events per call, draining whatever did not fit; then
 * finish(). All events go to out[0..*count). */
static void run_frames(facecore_gallery *g, int nv12, size_t capacity, facecore_stream_event *out, size_t *count) {
    *count = 0;
    facecore_decoded_image *img = NULL;
    facecore_image sprite;
    facecore_stream *s = NULL;
    OK(facecore_decoded_image_new_from_file(path_of("obama_small.jpg"), &img));
    OK(facecore_decoded_image_view(img, &sprite));
    OK(facecore_stream_new(fast_pipeline(), g, NULL, &s));
    unsigned char *rgb = malloc((size_t)FW * FH * 3), *yuv = malloc((size_t)FW * FH * 3 / 2);
    facecore_stream_event *ev = capacity ? malloc(capacity * sizeof *ev) : NULL;
    if (!s || !img || !rgb || !yuv || (capacity && !ev)) {
        CHECK(0);
        goto out;
    }
    for (int i = 0; i <= FRAMES; i++) {
        size_t n = 0;
        facecore_status st;
        if (i < FRAMES) {
            make_frame(&sprite, i, rgb);
            facecore_image frame = {rgb, (size_t)FW * FH * 3, FW, FH, FW * 3, FACECORE_PIXEL_FORMAT_RGB};
            if (nv12) {
                rgb_to_nv12(rgb, yuv);
                frame = (facecore_image){yuv, (size_t)FW * FH * 3 / 2, FW, FH, FW, FACECORE_PIXEL_FORMAT_NV12};
            }
            st = facecore_stream_push(s, &frame, i / 25.0, ev, capacity, &n);
        } else {
            st = facecore_stream_finish(s, ev, capacity, &n);
        }
        if (st == FACECORE_STATUS_BUFFER_TOO_SMALL) {
            /* The frame was processed; its n events wait in the stream. */
            CHECK(n > capacity && facecore_stream_pending(s) == n);
            size_t got = 0, k = 0;
            do {
                OK(facecore_stream_drain(s, ev, capacity, &k));
                CHECK(k <= capacity);
                for (size_t j = 0; j < k && *count < MAX_EVENTS; j++) out[(*count)++] = ev[j];
                got += k;
            } while (k > 0 && capacity > 0);
            if (capacity == 0) { /* nothing can be drained into no array: take them with a real one */
                facecore_stream_event big[64];
                OK(facecore_stream_drain(s, big, 64, &k));
                for (size_t j = 0; j < k && *count < MAX_EVENTS; j++) out[(*count)++] = big[j];
                got += k;
            }
            CHECK(got == n && facecore_stream_pending(s) == 0);
        } else {
            OK(st);
            CHECK(n <= capacity);
            for (size_t j = 0; j < n && *count < MAX_EVENTS; j++) out[(*count)++] = ev[j];
        }
    }
    facecore_stream_counters stats;
    OK(facecore_stream_stats(s, &stats));
    CHECK(stats.frames == FRAMES && stats.detection_frames == FRAMES);
    CHECK(stats.tracks_started == 1 && stats.tracks_ended == 1);
    CHECK(stats.embeddings > 0 && stats.embeddings < stats.detections);
out:
    free(ev);
    free(rgb);
    free(yuv);
    facecore_stream_free(s);
    facecore_decoded_image_free(img);
}

/* Events of the synthetic frames with the gallery at `gallery_path` (RGB frames, default
 * options, a large array): compared with the Rust API by c-tests/src/lib.rs. */
int fc_stream_events(const char *fixtures_dir, const char *gallery_path, facecore_stream_event *out, size_t capacity,
                     size_t *count) {
    failures = 0;
    snprintf(dir, sizeof dir, "%s", fixtures_dir);
    facecore_gallery *g = NULL;
    OK(facecore_gallery_load(gallery_path, &g));
    facecore_stream_event all[MAX_EVENTS];
    size_t n = 0;
    run_frames(g, 0, MAX_EVENTS, all, &n);
    *count = n;
    for (size_t i = 0; i < n && i < capacity; i++) out[i] = all[i];
    facecore_gallery_free(g);
    return failures;
}

/* Obama and Biden enrolled from their portraits (first face of each, fast preset). */
static facecore_gallery *portrait_gallery(void) {
    facecore_gallery *g = NULL;
    OK(facecore_gallery_new(&g));
    const char *names[] = {"obama", "biden"}, *files[] = {"obama.jpg", "biden.jpg"};
    for (int i = 0; i < 2; i++) {
        facecore_decoded_image *img = NULL;
        facecore_image view;
        facecore_face faces[8];
        float emb[8 * 128];
        size_t n = 0;
        uint64_t id = 0;
        OK(facecore_decoded_image_new_from_file(path_of(files[i]), &img));
        OK(facecore_decoded_image_view(img, &view));
        OK(facecore_pipeline_analyze(fast_pipeline(), &view, faces, 8, emb, 8 * 128, &n));
        CHECK(n >= 1);
        if (n >= 1) OK(facecore_gallery_enroll(g, names[i], facecore_pipeline_space(fast_pipeline()), emb, 128, &id));
        facecore_decoded_image_free(img);
    }
    return g;
}

static size_t count_kind(const facecore_stream_event *e, size_t n, facecore_stream_event_kind kind) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += e[i].kind == kind;
    return c;
}

static void check_events_and_capacities(facecore_gallery *g) {
    static facecore_stream_event full[MAX_EVENTS], small[MAX_EVENTS], none[MAX_EVENTS], nv12[MAX_EVENTS];
    size_t nf = 0, ns = 0, nn = 0, nv = 0;
    run_frames(g, 0, MAX_EVENTS, full, &nf);
    /* started, identified (obama), ended. */
    CHECK(nf == 3);
    CHECK(count_kind(full, nf, FACECORE_STREAM_EVENT_KIND_STARTED) == 1);
    CHECK(count_kind(full, nf, FACECORE_STREAM_EVENT_KIND_IDENTIFIED) == 1);
    CHECK(count_kind(full, nf, FACECORE_STREAM_EVENT_KIND_ENDED) == 1);
    CHECK(count_kind(full, nf, FACECORE_STREAM_EVENT_KIND_CHANGED) == 0);
    for (size_t i = 0; i < nf; i++) {
        CHECK(full[i].track == 1);
        CHECK(full[i].liveness == FACECORE_LIVENESS_DECISION_UNKNOWN && isnan(full[i].live));
        if (full[i].kind == FACECORE_STREAM_EVENT_KIND_STARTED) CHECK(full[i].person == FACECORE_NO_PERSON && isnan(full[i].score));
        if (full[i].kind == FACECORE_STREAM_EVENT_KIND_IDENTIFIED) CHECK(full[i].person != FACECORE_NO_PERSON && full[i].score > 0.5f);
        if (full[i].kind == FACECORE_STREAM_EVENT_KIND_ENDED) CHECK(full[i].duration > 0.4 && full[i].frame == FRAMES - 1);
    }
    /* One event per call, or none (everything drained): the same events, in the same order. */
    run_frames(g, 0, 1, small, &ns);
    run_frames(g, 0, 0, none, &nn);
    CHECK(ns == nf && nn == nf);
    for (size_t i = 0; i < nf && i < ns && i < nn; i++) {
        CHECK(same_event(&full[i], &small[i]));
        CHECK(same_event(&full[i], &none[i]));
    }
    /* NV12 frames converted from the RGB ones: the same story, boxes within a few pixels. */
    run_frames(g, 1, 4, nv12, &nv);
    CHECK(nv == nf);
    for (size_t i = 0; i < nf && i < nv; i++) {
        CHECK(nv12[i].kind == full[i].kind && nv12[i].track == full[i].track && nv12[i].person == full[i].person);
        CHECK(fabsf(nv12[i].x - full[i].x) < 4 && fabsf(nv12[i].width - full[i].width) < 4);
    }
}

/* Bad frames, timestamps, options and galleries: errors with messages, and the stream goes on. */
static void check_errors(facecore_gallery *g) {
    static unsigned char rgb[FW * FH * 3], yuv[FW * FH * 3 / 2];
    facecore_decoded_image *img = NULL;
    facecore_image sprite;
    OK(facecore_decoded_image_new_from_file(path_of("obama_small.jpg"), &img));
    OK(facecore_decoded_image_view(img, &sprite));
    facecore_stream *s = NULL;
    facecore_stream_options *o = facecore_stream_options_new();
    CHECK(o != NULL);
    OK(facecore_stream_options_set_min_hits(o, 1));
    OK(facecore_stream_options_set_threshold(o, NAN));
    OK(facecore_stream_options_set_operating_point(o, FACECORE_OPERATING_POINT_FMR1E3));
    OK(facecore_stream_new(fast_pipeline(), g, o, &s));
    float t = 0, want = 0;
    OK(facecore_stream_threshold(s, &t));
    OK(facecore_threshold(facecore_pipeline_space(fast_pipeline()), FACECORE_OPERATING_POINT_FMR1E3, &want));
    CHECK(t == want);
    facecore_stream_event ev[8];
    size_t n = 99;
    make_frame(&sprite, 3, rgb);
    facecore_image frame = {rgb, sizeof rgb, FW, FH, FW * 3, FACECORE_PIXEL_FORMAT_RGB};
    OK(facecore_stream_push(s, &frame, 1.0, ev, 8, &n));
    CHECK(n == 1 && ev[0].kind == FACECORE_STREAM_EVENT_KIND_STARTED && ev[0].frame == 0); /* min_hits 1 */

    /* Another size, time going backwards or not a number, an empty buffer, a truncated NV12
     * chroma plane, an unknown format: errors; n untouched; nothing counted. */
    facecore_image small = {rgb, 320 * 180 * 3, 320, 180, 320 * 3, FACECORE_PIXEL_FORMAT_RGB};
    n = 99;
    CHECK_STATUS(facecore_stream_push(s, &small, 1.1, ev, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(facecore_last_error_message(), "320x180") != NULL);
    CHECK_STATUS(facecore_stream_push(s, &frame, 0.5, ev, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(facecore_last_error_message(), "timestamp") != NULL);
    CHECK_STATUS(facecore_stream_push(s, &frame, NAN, ev, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_push(s, &frame, INFINITY, ev, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    facecore_image empty = frame;
    empty.len = 0;
    CHECK_STATUS(facecore_stream_push(s, &empty, 1.1, ev, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    rgb_to_nv12(rgb, yuv);
    facecore_image cut = {yuv, sizeof yuv - 1, FW, FH, FW, FACECORE_PIXEL_FORMAT_NV12};
    CHECK_STATUS(facecore_stream_push(s, &cut, 1.1, ev, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    facecore_image odd = frame;
    odd.format = 42;
    CHECK_STATUS(facecore_stream_push(s, &odd, 1.1, ev, 8, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK(n == 99);
    facecore_stream_counters st;
    OK(facecore_stream_stats(s, &st));
    CHECK(st.frames == 1);
    /* Still usable: the whole NV12 frame at the same time (equal timestamps are fine). */
    facecore_image whole = cut;
    whole.len = sizeof yuv;
    OK(facecore_stream_push(s, &whole, 1.0, ev, 8, &n));
    CHECK(n == 0);
    OK(facecore_stream_stats(s, &st));
    CHECK(st.frames == 2);

    /* Live tracks for drawing; too small an array reports the count and writes nothing. */
    facecore_stream_track tr[4];
    memset(tr, 0, sizeof tr);
    n = 0;
    CHECK_STATUS(facecore_stream_tracks(s, NULL, 0, &n), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 1);
    OK(facecore_stream_tracks(s, tr, 4, &n));
    CHECK(n == 1 && tr[0].id == 1 && tr[0].detected && tr[0].width > 40 && tr[0].embeddings >= 1);

    /* A gallery of another embedding space: refused by new and set_gallery (the old stays). */
    facecore_gallery *other = NULL;
    float v[128] = {1.0f};
    uint64_t id = 0;
    OK(facecore_gallery_new(&other));
    OK(facecore_gallery_enroll(other, "x", "some-other-space", v, 128, &id));
    facecore_stream *s2 = NULL;
    CHECK_STATUS(facecore_stream_new(fast_pipeline(), other, NULL, &s2), FACECORE_STATUS_MODEL_MISMATCH);
    CHECK(s2 == NULL);
    CHECK_STATUS(facecore_stream_set_gallery(s, other), FACECORE_STATUS_MODEL_MISMATCH);
    OK(facecore_stream_set_gallery(s, g));
    OK(facecore_stream_set_gallery(s, NULL));
    OK(facecore_stream_set_gallery(s, g));
    facecore_gallery_free(other);

    /* Names: by id, through the stream; FACECORE_NO_PERSON is nobody. */
    uint64_t obama = 0;
    OK(facecore_gallery_person_id(g, "obama", &obama));
    char name[16];
    size_t size = 0;
    OK(facecore_stream_person_name(s, obama, name, sizeof name, &size));
    CHECK(strcmp(name, "obama") == 0 && size == 6);
    CHECK_STATUS(facecore_stream_person_name(s, obama, name, 3, &size), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(size == 6);
    CHECK_STATUS(facecore_stream_person_name(s, FACECORE_NO_PERSON, name, sizeof name, &size), FACECORE_STATUS_NO_SUCH_PERSON);
    CHECK(strcmp(facecore_stream_event_kind_name(FACECORE_STREAM_EVENT_KIND_IDENTIFIED), "identified") == 0);
    CHECK(strcmp(facecore_stream_event_kind_name(FACECORE_STREAM_EVENT_KIND_LIVENESS), "liveness") == 0);
    CHECK(facecore_stream_event_kind_name(0) == NULL && facecore_stream_event_kind_name(7) == NULL);

    /* finish() with no room: the tracks end all the same, their events wait. */
    n = 0;
    CHECK_STATUS(facecore_stream_finish(s, NULL, 0, &n), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 1 && facecore_stream_pending(s) == 1);
    OK(facecore_stream_drain(s, ev, 8, &n));
    CHECK(n == 1 && ev[0].kind == FACECORE_STREAM_EVENT_KIND_ENDED && ev[0].track == 1);
    OK(facecore_stream_drain(s, ev, 8, &n));
    CHECK(n == 0);
    /* After finish(), another size is fine; ids keep counting. */
    OK(facecore_stream_push(s, &small, 2.0, ev, 8, &n));

    /* Options: bad values are refused and change nothing. */
    CHECK_STATUS(facecore_stream_options_set_detect_every(o, 0), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_iou_threshold(o, 1.5f), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_iou_threshold(o, NAN), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_threshold(o, INFINITY), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_threshold(o, 1.5f), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_confident_threshold(o, -2.0f), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_operating_point(o, 9), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_min_embed_quality(o, 2.0f), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_reembed_gain(o, -1.0f), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_min_evidence(o, 0), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_unknown_evidence(o, 0), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_reembed_every(o, 0), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_aggregate_top(o, 0), FACECORE_STATUS_INVALID_ARGUMENT);
    OK(facecore_stream_options_set_detect_every(o, 3));
    OK(facecore_stream_options_set_max_embeddings_per_frame(o, 0));
    OK(facecore_stream_options_set_max_embeddings_per_track(o, 4));
    OK(facecore_stream_options_set_max_missed(o, 2));
    OK(facecore_stream_options_set_min_embed_quality(o, 0.5f));
    OK(facecore_stream_options_set_reembed_gain(o, 0.2f));
    OK(facecore_stream_options_set_reembed_every(o, 3));
    OK(facecore_stream_options_set_aggregate_top(o, 2));
    OK(facecore_stream_options_set_threshold(o, 0.9f));
    OK(facecore_stream_options_set_confident_threshold(o, NAN));
    OK(facecore_stream_options_set_min_evidence(o, 1));
    OK(facecore_stream_options_set_unknown_evidence(o, 1));
    OK(facecore_stream_new(fast_pipeline(), NULL, o, &s2));
    OK(facecore_stream_threshold(s2, &t));
    CHECK(t == 0.9f);
    /* No embeddings allowed: tracked, never named. */
    for (int i = 0; i < 4; i++) OK(facecore_stream_push(s2, &frame, i / 25.0, ev, 8, &n));
    OK(facecore_stream_stats(s2, &st));
    CHECK(st.frames == 4 && st.detection_frames == 2 && st.embeddings == 0 && st.tracks_started == 1);

    /* NULLs and wrong handles. */
    facecore_stream_free(NULL);
    facecore_stream_options_free(NULL);
    CHECK_STATUS(facecore_stream_new(NULL, g, NULL, &s2), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_new(fast_pipeline(), g, NULL, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_push(NULL, &frame, 3.0, ev, 8, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_push(s, NULL, 3.0, ev, 8, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_push(s, &frame, 3.0, NULL, 8, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_push(s, &frame, 3.0, ev, 8, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_drain(s, ev, 8, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_finish(NULL, ev, 8, &n), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_stats(s, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_options_set_min_hits(NULL, 1), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_stream_push((const facecore_stream *)g, &frame, 3.0, ev, 8, &n), FACECORE_STATUS_WRONG_HANDLE);
    CHECK_STATUS(facecore_stream_new(fast_pipeline(), (const facecore_gallery *)s, NULL, &s2), FACECORE_STATUS_WRONG_HANDLE);
    CHECK_STATUS(facecore_stream_new(fast_pipeline(), g, (const facecore_stream_options *)g, &s2), FACECORE_STATUS_WRONG_HANDLE);
    CHECK(facecore_stream_pending(NULL) == 0);

    facecore_stream_free(s2);
    facecore_stream_free(s);
    facecore_stream_options_free(o);
    facecore_decoded_image_free(img);
}

int fc_test_stream(const char *fixtures_dir) {
    failures = 0;
    snprintf(dir, sizeof dir, "%s", fixtures_dir);
    facecore_gallery *g = portrait_gallery();
    check_events_and_capacities(g);
    check_errors(g);
    facecore_gallery_free(g);
    return failures;
}
