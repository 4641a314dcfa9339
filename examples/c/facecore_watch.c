/*
 * facecore_watch: track and identify faces in raw camera frames read from stdin, as a camera
 * driver or a decoder hands them over, and print one line per event.
 *
 *   ffmpeg -i clip.mp4 -f rawvideo -pix_fmt nv12 - | facecore_watch --gallery g.fcg --size 640x360 --pixel-format nv12
 *
 * Options:
 *   --size WxH           frame size (required)
 *   --pixel-format F     bgr (default), rgb, rgba, bgra, gray, nv12, nv21, i420, yuyv; frames are
 *                        packed (planes back to back, rows without padding)
 *   --full-range         YUV frames use the full 0-255 range (default: limited, video range)
 *   --gallery FILE       gallery file (e.g. made by facecore_identify --enroll); default: none,
 *                        every face is unknown
 *   --preset NAME        accurate (default), fast, dlib or sface: the gallery's preset
 *   --fps F              frame rate, for timestamps (default 25)
 *   --every K            run the detector on every K-th frame (default 1)
 *   --threshold T        cosine threshold; default: the calibrated FMR 1e-3 threshold
 *
 * Events are taken in an array of 4: a frame with more events returns
 * FACECORE_STATUS_BUFFER_TOO_SMALL and the rest are drained, so none is lost.
 * Exit status: 0 on success, 1 on a facecore error (message printed), 2 on bad usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecore.h"

#define EVENTS 4

static int fail(const char *what, facecore_status status) {
    const char *msg = facecore_last_error_message();
    fprintf(stderr, "facecore_watch: %s failed (status %d): %s\n", what, (int)status, msg ? msg : "no message");
    return 1;
}

static int usage(void) {
    fprintf(stderr,
            "usage: facecore_watch --size WxH [--pixel-format F] [--full-range] [--gallery FILE] [--preset NAME]\n"
            "                      [--fps F] [--every K] [--threshold T] < frames\n");
    return 2;
}

static int parse_preset(const char *s, uint32_t *out) {
    static const struct { const char *name; facecore_preset value; } presets[] = {
        {"accurate", FACECORE_PRESET_ACCURATE}, {"fast", FACECORE_PRESET_FAST},
        {"dlib", FACECORE_PRESET_DLIB}, {"sface", FACECORE_PRESET_SFACE},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(s, presets[i].name) == 0) {
            *out = (uint32_t)presets[i].value;
            return 1;
        }
    }
    return 0;
}

/* The format value, and the frame's bytes and first-plane stride for a packed w x h frame. */
static int parse_format(const char *s, size_t w, size_t h, uint32_t *format, size_t *len, size_t *stride) {
    size_t cw = (w + 1) / 2, ch = (h + 1) / 2;
    static const struct { const char *name; facecore_pixel_format value; size_t bpp; } packed[] = {
        {"rgb", FACECORE_PIXEL_FORMAT_RGB, 3}, {"bgr", FACECORE_PIXEL_FORMAT_BGR, 3},
        {"rgba", FACECORE_PIXEL_FORMAT_RGBA, 4}, {"bgra", FACECORE_PIXEL_FORMAT_BGRA, 4},
        {"gray", FACECORE_PIXEL_FORMAT_GRAY, 1},
    };
    for (size_t i = 0; i < sizeof packed / sizeof packed[0]; i++) {
        if (strcmp(s, packed[i].name) == 0) {
            *format = (uint32_t)packed[i].value;
            *stride = w * packed[i].bpp;
            *len = *stride * h;
            return 1;
        }
    }
    /* 4:2:0: a Y plane, then chroma at half resolution (rounded up) in both directions. */
    if (strcmp(s, "nv12") == 0 || strcmp(s, "nv21") == 0 || strcmp(s, "i420") == 0) {
        *format = (uint32_t)(s[0] == 'i' ? FACECORE_PIXEL_FORMAT_I420
                             : s[3] == '2' ? FACECORE_PIXEL_FORMAT_NV12 : FACECORE_PIXEL_FORMAT_NV21);
        *stride = w;
        *len = w * h + 2 * cw * ch;
        return 1;
    }
    if (strcmp(s, "yuyv") == 0) {
        *format = (uint32_t)FACECORE_PIXEL_FORMAT_YUYV;
        *stride = 4 * cw;
        *len = *stride * h;
        return 1;
    }
    return 0;
}

/* Prints one event, with the person's name looked up through the stream. */
static void print_event(const facecore_stream *stream, const facecore_stream_event *e) {
    char name[256] = "-";
    size_t size = 0;
    if (e->person != FACECORE_NO_PERSON &&
        facecore_stream_person_name(stream, e->person, name, sizeof name, &size) != FACECORE_STATUS_OK)
        snprintf(name, sizeof name, "person %llu", (unsigned long long)e->person);
    printf("%8.3f s  %-10s track %-3llu %-20s", e->timestamp, facecore_stream_event_kind_name((uint32_t)e->kind),
           (unsigned long long)e->track, name);
    if (isnan(e->score))
        printf(" score     -");
    else
        printf(" score %5.3f", e->score);
    printf("  box %.0f %.0f %.0f %.0f", e->x, e->y, e->width, e->height);
    if (e->kind == FACECORE_STREAM_EVENT_KIND_ENDED) printf("  after %.2f s", e->duration);
    if (e->kind == FACECORE_STREAM_EVENT_KIND_CHANGED) printf("  (was person %llu)", (unsigned long long)e->previous);
    printf("\n");
}

/* Prints the n events in ev; after BUFFER_TOO_SMALL, drains the ones still waiting. Returns
 * the status of the push (or finish) and, when it was BUFFER_TOO_SMALL, of the drains. */
static facecore_status deliver(facecore_stream *stream, facecore_status status, facecore_stream_event *ev, size_t n) {
    if (status == FACECORE_STATUS_OK)
        for (size_t i = 0; i < n; i++) print_event(stream, &ev[i]);
    if (status != FACECORE_STATUS_BUFFER_TOO_SMALL) return status;
    /* The frame was processed and its events wait in the stream: take them EVENTS at a time. */
    for (;;) {
        facecore_status s = facecore_stream_drain(stream, ev, EVENTS, &n);
        if (s != FACECORE_STATUS_OK || n == 0) return s;
        for (size_t i = 0; i < n; i++) print_event(stream, &ev[i]);
    }
}

int main(int argc, char **argv) {
    const char *gallery_path = NULL, *format_name = "bgr";
    uint32_t preset = FACECORE_PRESET_ACCURATE, every = 1;
    unsigned width = 0, height = 0;
    double fps = 25.0;
    float threshold = NAN;
    int full_range = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--full-range") == 0) {
            full_range = 1;
            continue;
        }
        if (!v) return usage();
        i++;
        if (strcmp(a, "--size") == 0) {
            if (sscanf(v, "%ux%u", &width, &height) != 2 || width == 0 || height == 0) return usage();
        } else if (strcmp(a, "--pixel-format") == 0) {
            format_name = v;
        } else if (strcmp(a, "--gallery") == 0) {
            gallery_path = v;
        } else if (strcmp(a, "--preset") == 0) {
            if (!parse_preset(v, &preset)) return usage();
        } else if (strcmp(a, "--fps") == 0) {
            fps = atof(v);
            if (!(fps > 0)) return usage();
        } else if (strcmp(a, "--every") == 0) {
            every = (uint32_t)atoi(v);
        } else if (strcmp(a, "--threshold") == 0) {
            threshold = (float)atof(v);
        } else {
            return usage();
        }
    }
    uint32_t format = 0;
    size_t len = 0, stride = 0;
    if (width == 0 || !parse_format(format_name, width, height, &format, &len, &stride)) return usage();
    if (full_range) format |= FACECORE_COLOR_RANGE_FULL;

    int rc = 1;
    facecore_pipeline *pipeline = NULL;
    facecore_gallery *gallery = NULL;
    facecore_stream_options *options = NULL;
    facecore_stream *stream = NULL;
    unsigned char *buf = malloc(len);
    facecore_stream_event ev[EVENTS];
    size_t n = 0;
    facecore_status s;
    if (!buf) {
        fprintf(stderr, "facecore_watch: out of memory\n");
        return 1;
    }
    if ((s = facecore_pipeline_new(preset, NULL, &pipeline)) != FACECORE_STATUS_OK) {
        rc = fail("facecore_pipeline_new", s);
        goto out;
    }
    if (gallery_path && (s = facecore_gallery_load(gallery_path, &gallery)) != FACECORE_STATUS_OK) {
        rc = fail("facecore_gallery_load", s);
        goto out;
    }
    options = facecore_stream_options_new();
    if (!options) goto out;
    if ((s = facecore_stream_options_set_detect_every(options, every)) != FACECORE_STATUS_OK ||
        (s = facecore_stream_options_set_threshold(options, threshold)) != FACECORE_STATUS_OK) {
        rc = fail("stream options", s);
        goto out;
    }
    if ((s = facecore_stream_new(pipeline, gallery, options, &stream)) != FACECORE_STATUS_OK) {
        rc = fail("facecore_stream_new", s);
        goto out;
    }
    /* The stream shares the pipeline's models and holds a snapshot of the gallery. */
    facecore_pipeline_free(pipeline);
    pipeline = NULL;

    for (unsigned long long frame = 0;; frame++) {
        size_t got = fread(buf, 1, len, stdin);
        if (got == 0) break;
        if (got < len) {
            fprintf(stderr, "facecore_watch: the input ended inside frame %llu (%zu of %zu bytes)\n", frame, got, len);
            goto out;
        }
        facecore_image image = {buf, len, width, height, stride, format};
        s = facecore_stream_push(stream, &image, (double)frame / fps, ev, EVENTS, &n);
        s = deliver(stream, s, ev, n);
        if (s != FACECORE_STATUS_OK) {
            /* A bad frame leaves the stream usable; this example stops. */
            rc = fail("facecore_stream_push", s);
            goto out;
        }
    }
    s = facecore_stream_finish(stream, ev, EVENTS, &n);
    s = deliver(stream, s, ev, n);
    if (s != FACECORE_STATUS_OK) {
        rc = fail("facecore_stream_finish", s);
        goto out;
    }
    facecore_stream_counters c;
    if ((s = facecore_stream_stats(stream, &c)) != FACECORE_STATUS_OK) {
        rc = fail("facecore_stream_stats", s);
        goto out;
    }
    fprintf(stderr, "%llu frames, %llu faces detected, %llu embeddings computed, %llu tracks\n",
            (unsigned long long)c.frames, (unsigned long long)c.detections, (unsigned long long)c.embeddings,
            (unsigned long long)c.tracks_started);
    rc = 0;
out:
    facecore_stream_free(stream);
    facecore_stream_options_free(options);
    facecore_gallery_free(gallery);
    facecore_pipeline_free(pipeline);
    free(buf);
    return rc;
}
