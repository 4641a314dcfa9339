/* Camera pixel formats through the C ABI: NV12, NV21, I420 and YUYV frames (limited and full
 * range) built in C from the RGB fixtures, passed as one buffer (facecore_image) and as
 * separate planes (facecore_image_planes), find the same faces as the RGB image; truncated
 * planes, bad strides and bad formats are errors that leave the outputs alone. */
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

/* ---- reference RGB -> YUV (BT.601, Kr = 0.299, Kb = 0.114) ---- */

static unsigned char code(double v) {
    if (v <= 0.0) return 0;
    if (v >= 255.0) return 255;
    return (unsigned char)(v + 0.5);
}

static void rgb_to_yuv(const unsigned char *p, int full, double *y, double *u, double *v) {
    double l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    double cb = (p[2] - l) / 1.772, cr = (p[0] - l) / 1.402;
    if (full) {
        *y = l, *u = 128.0 + cb, *v = 128.0 + cr;
    } else {
        *y = 16.0 + l * 219.0 / 255.0, *u = 128.0 + cb * 224.0 / 255.0, *v = 128.0 + cr * 224.0 / 255.0;
    }
}

/* Planes of a frame: Y (w x h), U and V (cw x ch), packed; chroma the mean of each block
 * (2x2, or 2x1 when `rows_per_block` is 1 for 4:2:2). */
typedef struct {
    uint32_t w, h, cw, ch;
    unsigned char *y, *u, *v;
} yuv_planes;

static int to_yuv(const facecore_image *rgb, int full, uint32_t rows_per_block, yuv_planes *out) {
    uint32_t w = rgb->width, h = rgb->height, cw = (w + 1) / 2, ch = (h + rows_per_block - 1) / rows_per_block;
    out->w = w, out->h = h, out->cw = cw, out->ch = ch;
    out->y = malloc((size_t)w * h);
    out->u = malloc((size_t)cw * ch);
    out->v = malloc((size_t)cw * ch);
    if (!out->y || !out->u || !out->v) return 0;
    double yy, uu, vv;
    for (uint32_t r = 0; r < h; r++)
        for (uint32_t c = 0; c < w; c++) {
            rgb_to_yuv(rgb->data + (size_t)r * rgb->stride + (size_t)c * 3, full, &yy, &uu, &vv);
            out->y[(size_t)r * w + c] = code(yy);
        }
    for (uint32_t br = 0; br < ch; br++)
        for (uint32_t bc = 0; bc < cw; bc++) {
            double su = 0, sv = 0, n = 0;
            for (uint32_t r = br * rows_per_block; r < (br + 1) * rows_per_block && r < h; r++)
                for (uint32_t c = bc * 2; c < bc * 2 + 2 && c < w; c++) {
                    rgb_to_yuv(rgb->data + (size_t)r * rgb->stride + (size_t)c * 3, full, &yy, &uu, &vv);
                    su += uu, sv += vv, n += 1;
                }
            out->u[(size_t)br * cw + bc] = code(su / n);
            out->v[(size_t)br * cw + bc] = code(sv / n);
        }
    return 1;
}

static void free_yuv(yuv_planes *p) {
    free(p->y);
    free(p->u);
    free(p->v);
}

/* Copies `rows` rows of `row` bytes (packed in src) into dst at `stride`. */
static void put_rows(unsigned char *dst, size_t stride, const unsigned char *src, size_t row, size_t rows) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * stride, src + r * row, row);
}

/* Interleaves a and b (n samples each): a0 b0 a1 b1 ... */
static unsigned char *interleave(const unsigned char *a, const unsigned char *b, size_t n) {
    unsigned char *out = malloc(2 * n);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) out[2 * i] = a[i], out[2 * i + 1] = b[i];
    return out;
}

static float absf(float x) { return x < 0 ? -x : x; }

/* Same count; boxes and landmarks within 2 px. */
static int same_faces(const facecore_face *a, size_t na, const facecore_face *b, size_t nb) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++) {
        float d[] = {a[i].x - b[i].x, a[i].y - b[i].y, a[i].width - b[i].width, a[i].height - b[i].height};
        for (size_t k = 0; k < 4; k++)
            if (absf(d[k]) > 2.0f) return 0;
        for (size_t k = 0; k < 10; k++)
            if (absf(a[i].landmarks[k] - b[i].landmarks[k]) > 2.0f) return 0;
    }
    return 1;
}

static const uint32_t formats[] = {FACECORE_PIXEL_FORMAT_NV12, FACECORE_PIXEL_FORMAT_NV21, FACECORE_PIXEL_FORMAT_I420,
                                   FACECORE_PIXEL_FORMAT_YUYV};
static const char *format_names[] = {"NV12", "NV21", "I420", "YUYV"};

/* One photo in every format and range, as one buffer and as separate planes. */
static void check_photo(facecore_detector *det, const char *name, size_t expected) {
    facecore_decoded_image *img = NULL;
    facecore_image rgb;
    facecore_face ref[8], faces[8], faces2[8];
    size_t nref = 0, n = 0, n2 = 0;
    OK(facecore_decoded_image_new_from_file(path_of(name), &img));
    if (!img) return;
    OK(facecore_decoded_image_view(img, &rgb));
    OK(facecore_detect(det, &rgb, ref, 8, &nref));
    CHECK(nref == expected);
    uint32_t w = rgb.width, h = rgb.height;
    unsigned char *out_rgb = malloc((size_t)w * h * 3);
    CHECK(out_rgb != NULL);
    for (size_t f = 0; f < 4 && out_rgb; f++) {
        for (int full = 0; full <= 1; full++) {
            uint32_t format = formats[f] | (full ? FACECORE_COLOR_RANGE_FULL : FACECORE_COLOR_RANGE_LIMITED);
            int is_yuyv = formats[f] == FACECORE_PIXEL_FORMAT_YUYV;
            yuv_planes p;
            if (!to_yuv(&rgb, full, is_yuyv ? 1 : 2, &p)) {
                CHECK(!"out of memory");
                free_yuv(&p);
                continue;
            }
            size_t cw = p.cw, ch = p.ch;
            unsigned char *buf = NULL, *chroma = NULL, *planes_buf[3] = {NULL, NULL, NULL};
            facecore_image_planes planes;
            memset(&planes, 0, sizeof planes);
            planes.width = w, planes.height = h, planes.format = format;
            facecore_image one = {NULL, 0, w, h, 0, format};
            if (is_yuyv) {
                /* Packed quads, rows padded to a multiple of 32 bytes. */
                size_t row = 4 * cw, stride = (row + 31) / 32 * 32;
                buf = calloc(stride * h, 1);
                if (buf)
                    for (size_t r = 0; r < h; r++)
                        for (size_t c = 0; c < cw; c++) {
                            unsigned char *q = buf + r * stride + 4 * c;
                            size_t x1 = 2 * c + 1 < w ? 2 * c + 1 : 2 * c;
                            q[0] = p.y[r * w + 2 * c], q[1] = p.u[r * cw + c], q[2] = p.y[r * w + x1], q[3] = p.v[r * cw + c];
                        }
                one.data = buf, one.len = stride * h, one.stride = stride;
                planes.planes[0].data = buf, planes.planes[0].len = stride * h, planes.planes[0].stride = stride;
            } else {
                /* One buffer: Y rows padded to 64 bytes, then the chroma (see facecore.h). */
                size_t stride = ((size_t)w + 63) / 64 * 64;
                size_t cstride = formats[f] == FACECORE_PIXEL_FORMAT_I420 ? (stride + 1) / 2 : stride;
                size_t chroma_bytes = formats[f] == FACECORE_PIXEL_FORMAT_I420 ? 2 * cstride * ch : cstride * ch;
                buf = calloc(stride * h + chroma_bytes, 1);
                if (formats[f] == FACECORE_PIXEL_FORMAT_I420) {
                    if (buf) {
                        put_rows(buf, stride, p.y, w, h);
                        put_rows(buf + stride * h, cstride, p.u, cw, ch);
                        put_rows(buf + stride * h + cstride * ch, cstride, p.v, cw, ch);
                    }
                    /* Separate planes, each with its own stride. */
                    size_t s[3] = {(size_t)w + 3, cw + 1, cw + 7}, rows[3] = {h, ch, ch}, rowb[3] = {w, cw, cw};
                    const unsigned char *src[3] = {p.y, p.u, p.v};
                    for (size_t i = 0; i < 3; i++) {
                        planes_buf[i] = calloc(s[i] * rows[i], 1);
                        if (!planes_buf[i]) continue;
                        put_rows(planes_buf[i], s[i], src[i], rowb[i], rows[i]);
                        planes.planes[i].data = planes_buf[i];
                        planes.planes[i].len = s[i] * (rows[i] - 1) + rowb[i]; /* no padding after the last row */
                        planes.planes[i].stride = s[i];
                    }
                } else {
                    chroma = formats[f] == FACECORE_PIXEL_FORMAT_NV12 ? interleave(p.u, p.v, cw * ch) : interleave(p.v, p.u, cw * ch);
                    if (buf && chroma) {
                        put_rows(buf, stride, p.y, w, h);
                        put_rows(buf + stride * h, cstride, chroma, 2 * cw, ch);
                    }
                    size_t s[2] = {(size_t)w + 5, 2 * cw + 2}, rows[2] = {h, ch}, rowb[2] = {w, 2 * cw};
                    const unsigned char *src[2] = {p.y, chroma};
                    for (size_t i = 0; i < 2 && chroma; i++) {
                        planes_buf[i] = calloc(s[i] * rows[i], 1);
                        if (!planes_buf[i]) continue;
                        put_rows(planes_buf[i], s[i], src[i], rowb[i], rows[i]);
                        planes.planes[i].data = planes_buf[i];
                        planes.planes[i].len = s[i] * (rows[i] - 1) + rowb[i];
                        planes.planes[i].stride = s[i];
                    }
                }
                one.data = buf, one.len = stride * h + chroma_bytes, one.stride = stride;
            }
            /* As one buffer. */
            n = 0;
            OK(facecore_detect(det, &one, faces, 8, &n));
            if (!same_faces(faces, n, ref, nref)) {
                fprintf(stderr, "%s %s %s (one buffer): %zu faces, not those of the RGB image (%zu)\n", name, format_names[f],
                        full ? "full" : "limited", n, nref);
                failures++;
            }
            /* As separate planes, converted into our RGB buffer: the same pixels, so exactly
             * the same faces as the one-buffer frame. */
            facecore_image conv;
            memset(&conv, 0, sizeof conv);
            OK(facecore_image_planes_to_rgb(&planes, out_rgb, (size_t)w * h * 3, &conv));
            CHECK(conv.data == out_rgb && conv.width == w && conv.height == h && conv.stride == (size_t)w * 3 &&
                  conv.len == (size_t)w * h * 3 && conv.format == FACECORE_PIXEL_FORMAT_RGB);
            n2 = 0;
            OK(facecore_detect(det, &conv, faces2, 8, &n2));
            if (n2 != n || memcmp(faces, faces2, sizeof faces[0] * n) != 0) {
                fprintf(stderr, "%s %s %s: separate planes gave other faces than one buffer\n", name, format_names[f], full ? "full" : "limited");
                failures++;
            }
            free(buf);
            free(chroma);
            for (size_t i = 0; i < 3; i++) free(planes_buf[i]);
            free_yuv(&p);
        }
    }
    free(out_rgb);
    facecore_decoded_image_free(img);
}

/* Known values: black, white and a saturated red in both ranges. */
static void check_values(void) {
    /* 2x2 NV12, all four pixels share one chroma sample. */
    unsigned char px[12];
    facecore_image_planes planes;
    facecore_image out;
    /* Limited: Y 16 / 235 with neutral chroma are black / white. */
    unsigned char y[4] = {16, 16, 235, 235}, uv[2] = {128, 128};
    memset(&planes, 0, sizeof planes);
    planes.width = 2, planes.height = 2, planes.format = FACECORE_PIXEL_FORMAT_NV12;
    planes.planes[0].data = y, planes.planes[0].len = 4, planes.planes[0].stride = 2;
    planes.planes[1].data = uv, planes.planes[1].len = 2, planes.planes[1].stride = 2;
    OK(facecore_image_planes_to_rgb(&planes, px, sizeof px, &out));
    const unsigned char bw[12] = {0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255};
    CHECK(memcmp(px, bw, 12) == 0);
    /* Full range: Y 0 / 255 are black / white. */
    y[0] = y[1] = 0, y[2] = y[3] = 255;
    planes.format = FACECORE_PIXEL_FORMAT_NV12 | FACECORE_COLOR_RANGE_FULL;
    OK(facecore_image_planes_to_rgb(&planes, px, sizeof px, &out));
    CHECK(memcmp(px, bw, 12) == 0);
    /* Red (255, 0, 0) in full range: Y 76, U 85, V 255 -> (254..255, 0..1, 0..1). */
    y[0] = y[1] = y[2] = y[3] = 76, uv[0] = 85, uv[1] = 255;
    OK(facecore_image_planes_to_rgb(&planes, px, sizeof px, &out));
    CHECK(px[0] >= 254 && px[1] <= 1 && px[2] <= 1);
    /* The same in NV21 order, in one buffer through a detector-free path: I420 of 2x2. */
    unsigned char i420[6] = {76, 76, 76, 76, 85, 255};
    facecore_image_planes p3;
    memset(&p3, 0, sizeof p3);
    p3.width = 2, p3.height = 2, p3.format = FACECORE_PIXEL_FORMAT_I420 | FACECORE_COLOR_RANGE_FULL;
    p3.planes[0].data = i420, p3.planes[0].len = 4, p3.planes[0].stride = 2;
    p3.planes[1].data = i420 + 4, p3.planes[1].len = 1, p3.planes[1].stride = 1;
    p3.planes[2].data = i420 + 5, p3.planes[2].len = 1, p3.planes[2].stride = 1;
    unsigned char px2[12];
    OK(facecore_image_planes_to_rgb(&p3, px2, sizeof px2, &out));
    CHECK(memcmp(px, px2, 12) == 0);
}

/* Bad frames: each a status and a message, outputs untouched. */
static void check_errors(facecore_detector *det) {
    enum { W = 64, H = 48 };
    static unsigned char frame[W * H * 3 / 2];
    memset(frame, 128, sizeof frame);
    facecore_face faces[4];
    size_t n = 77;
    facecore_image good = {frame, sizeof frame, W, H, W, FACECORE_PIXEL_FORMAT_NV12};
    OK(facecore_detect(det, &good, faces, 4, &n));
    CHECK(n == 0);

    /* One buffer: truncated, bad strides, bad sizes, bad formats. */
    n = 77;
    facecore_image bad = good;
    bad.len = sizeof frame - 1; /* the last chroma byte missing */
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.len = W * H; /* the Y plane only */
    bad.format = FACECORE_PIXEL_FORMAT_I420;
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.stride = W - 1;
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.stride = W + 1; /* the frame is too short for this stride */
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.stride = (size_t)-1;
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.width = 0;
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.height = 0;
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.format = FACECORE_PIXEL_FORMAT_YUYV;
    bad.width = 5, bad.height = 1, bad.stride = 10; /* an odd width needs whole quads: 12 bytes */
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.format = 9; /* not a format */
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad.format = FACECORE_PIXEL_FORMAT_NV12 | 0x200; /* an unknown flag */
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad.format = FACECORE_PIXEL_FORMAT_GRAY | FACECORE_COLOR_RANGE_FULL; /* range of a non-YUV format */
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_INVALID_ARGUMENT);
    bad = good;
    bad.width = 20000, bad.stride = 20000;
    CHECK_STATUS(facecore_detect(det, &bad, faces, 4, &n), FACECORE_STATUS_LIMIT_EXCEEDED);
    CHECK(n == 77);

    /* Separate planes. */
    unsigned char rgb[W * H * 3];
    facecore_image out = {NULL, 12345, 1, 1, 1, 1}, untouched = out;
    facecore_image_planes p;
    memset(&p, 0, sizeof p);
    p.width = W, p.height = H, p.format = FACECORE_PIXEL_FORMAT_NV12;
    p.planes[0].data = frame, p.planes[0].len = W * H, p.planes[0].stride = W;
    p.planes[1].data = frame + W * H, p.planes[1].len = W * H / 2, p.planes[1].stride = W;
    facecore_image_planes q = p;
    q.planes[1].len -= 1; /* truncated UV plane */
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_INVALID_ARGUMENT);
    const char *m = facecore_last_error_message();
    CHECK(m && strstr(m, "UV plane") != NULL);
    q = p;
    q.planes[0].len = W * H / 2; /* truncated Y plane */
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_INVALID_ARGUMENT);
    q = p;
    q.planes[1].stride = W - 2; /* chroma stride shorter than its row */
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_INVALID_ARGUMENT);
    q = p;
    q.planes[0].stride = (size_t)-1;
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_INVALID_ARGUMENT);
    q = p;
    q.planes[1].data = NULL; /* a plane the format uses */
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_NULL_ARGUMENT);
    q = p;
    q.planes[2] = q.planes[1]; /* a plane NV12 does not have: I420 planes given as NV12? */
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_INVALID_ARGUMENT);
    q = p;
    q.format = FACECORE_PIXEL_FORMAT_I420; /* the V plane is missing */
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_NULL_ARGUMENT);
    q = p;
    q.width = 0;
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_INVALID_ARGUMENT);
    q = p;
    q.format = 42;
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_INVALID_ARGUMENT);
    q = p;
    q.width = 30000, q.height = 30000;
    CHECK_STATUS(facecore_image_planes_to_rgb(&q, rgb, sizeof rgb, &out), FACECORE_STATUS_LIMIT_EXCEEDED);
    CHECK_STATUS(facecore_image_planes_to_rgb(&p, rgb, sizeof rgb - 1, &out), FACECORE_STATUS_BUFFER_TOO_SMALL);
    CHECK_STATUS(facecore_image_planes_to_rgb(NULL, rgb, sizeof rgb, &out), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_image_planes_to_rgb(&p, NULL, sizeof rgb, &out), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(facecore_image_planes_to_rgb(&p, rgb, sizeof rgb, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    CHECK(memcmp(&out, &untouched, sizeof out) == 0);
    OK(facecore_image_planes_to_rgb(&p, rgb, sizeof rgb, &out));
    CHECK(out.data == rgb && out.format == FACECORE_PIXEL_FORMAT_RGB);
}

int fc_test_pixel_formats(const char *fixtures_dir) {
    failures = 0;
    snprintf(dir, sizeof dir, "%s", fixtures_dir);
    CHECK(FACECORE_PIXEL_FORMAT_GRAY == 4 && FACECORE_PIXEL_FORMAT_NV12 == 5 && FACECORE_PIXEL_FORMAT_YUYV == 8);
    facecore_detector *det = NULL;
    OK(facecore_detector_new(NULL, &det));
    if (!det) return failures;
    check_values();
    check_errors(det);
    check_photo(det, "obama.jpg", 1);
    check_photo(det, "two_people.jpg", 2);
    facecore_detector_free(det);
    return failures;
}
