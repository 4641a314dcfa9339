/*
 * facecore_identify: detect and identify the faces in an image file or a raw camera frame.
 *
 *   facecore_identify [options] --enroll NAME IMAGE   enrol the best face of IMAGE as NAME
 *   facecore_identify [options] IMAGE                 print every face's box and identity
 *
 * Options:
 *   --gallery FILE     gallery file (default facecore.gallery; created by --enroll)
 *   --preset NAME      accurate (default), fast, dlib or sface
 *   --threshold T      cosine threshold (then every face gets the full embedding and a gallery
 *                      search); default: facecore_pipeline_identify at the calibrated FMR 1e-3
 *                      operating point, which with the accurate preset runs the cascade (most
 *                      faces decided by one or two of the four network runs)
 *   --raw W H FORMAT   IMAGE is a raw frame: W x H pixels, packed rows, FORMAT one of
 *                      rgb, bgr, rgba, bgra, gray
 *   --models DIR       model files from DIR (`facecore models export DIR`), for a library
 *                      built without bundled models; default: the bundled models, else the
 *                      FACECORE_MODELS_DIR environment variable
 *
 * Exit status: 0 on success, 1 on a facecore error (message printed), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecore.h"

#define MAX_FACES 64

static int fail(const char *what, facecore_status status) {
    const char *msg = facecore_last_error_message();
    fprintf(stderr, "facecore_identify: %s failed (status %d): %s\n", what, (int)status, msg ? msg : "no message");
    return 1;
}

static int usage(void) {
    fprintf(stderr,
            "usage: facecore_identify [--gallery FILE] [--preset NAME] [--threshold T] [--raw W H FORMAT] [--models DIR]\n"
            "                         [--enroll NAME] IMAGE\n");
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

static int parse_format(const char *s, uint32_t *format, size_t *bpp) {
    static const struct { const char *name; facecore_pixel_format value; size_t bpp; } formats[] = {
        {"rgb", FACECORE_PIXEL_FORMAT_RGB, 3}, {"bgr", FACECORE_PIXEL_FORMAT_BGR, 3},
        {"rgba", FACECORE_PIXEL_FORMAT_RGBA, 4}, {"bgra", FACECORE_PIXEL_FORMAT_BGRA, 4},
        {"gray", FACECORE_PIXEL_FORMAT_GRAY, 1},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(s, formats[i].name) == 0) {
            *format = (uint32_t)formats[i].value;
            *bpp = formats[i].bpp;
            return 1;
        }
    }
    return 0;
}

/* Reads a whole file into a malloc'ed buffer. */
static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *nbuf = realloc(buf, ncap);
            if (!nbuf) { free(buf); fclose(f); return NULL; }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    const char *gallery_path = "facecore.gallery", *enroll_name = NULL, *image_path = NULL;
    uint32_t preset = FACECORE_PRESET_ACCURATE, raw_format = 0;
    unsigned long raw_w = 0, raw_h = 0;
    size_t raw_bpp = 0;
    float threshold = 0.0f;
    int have_threshold = 0, raw = 0;
    const char *models_dir = NULL;
    facecore_models *models = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--gallery") == 0 && i + 1 < argc) gallery_path = argv[++i];
        else if (strcmp(a, "--enroll") == 0 && i + 1 < argc) enroll_name = argv[++i];
        else if (strcmp(a, "--preset") == 0 && i + 1 < argc) { if (!parse_preset(argv[++i], &preset)) return usage(); }
        else if (strcmp(a, "--models") == 0 && i + 1 < argc) models_dir = argv[++i];
        else if (strcmp(a, "--threshold") == 0 && i + 1 < argc) { threshold = strtof(argv[++i], NULL); have_threshold = 1; }
        else if (strcmp(a, "--raw") == 0 && i + 3 < argc) {
            raw_w = strtoul(argv[++i], NULL, 10);
            raw_h = strtoul(argv[++i], NULL, 10);
            if (!parse_format(argv[++i], &raw_format, &raw_bpp)) return usage();
            raw = 1;
        } else if (a[0] == '-' || image_path) return usage();
        else image_path = a;
    }
    if (!image_path) return usage();
    printf("facecore %s (header %s)\n", facecore_version(), FACECORE_VERSION_STRING);

    int rc = 1;
    facecore_status s;
    facecore_decoded_image *decoded = NULL;
    facecore_pipeline *pipeline = NULL;
    facecore_gallery *gallery = NULL;
    unsigned char *frame = NULL;
    float *embeddings = NULL;
    facecore_image image;

    /* The image: a file decoded by facecore, or a raw frame as a camera driver delivers it. */
    if (raw) {
        size_t len = 0;
        frame = read_all(image_path, &len);
        if (!frame) { perror(image_path); goto out; }
        image.data = frame;
        image.len = len;
        image.width = (uint32_t)raw_w;
        image.height = (uint32_t)raw_h;
        image.stride = (size_t)raw_w * raw_bpp;
        image.format = raw_format;
    } else {
        if ((s = facecore_decoded_image_new_from_file(image_path, &decoded)) != FACECORE_STATUS_OK) { rc = fail("decoding the image", s); goto out; }
        if ((s = facecore_decoded_image_view(decoded, &image)) != FACECORE_STATUS_OK) { rc = fail("viewing the image", s); goto out; }
    }

    if (models_dir && (s = facecore_models_new_from_dir(models_dir, &models)) != FACECORE_STATUS_OK) { rc = fail("opening the model directory", s); goto out; }
    /* models == NULL: the bundled models (or FACECORE_MODELS_DIR in a build without them). */
    s = facecore_pipeline_new_with_models(preset, NULL, models, &pipeline);
    facecore_models_free(models); /* the pipeline keeps what it loaded */
    if (s != FACECORE_STATUS_OK) { rc = fail("loading the models", s); goto out; }
    const char *space = facecore_pipeline_space(pipeline);
    size_t dim = facecore_pipeline_dim(pipeline);

    s = facecore_gallery_load(gallery_path, &gallery);
    if (s == FACECORE_STATUS_NOT_FOUND && enroll_name) s = facecore_gallery_new(&gallery);
    if (s != FACECORE_STATUS_OK) { rc = fail("loading the gallery", s); goto out; }

    if (!enroll_name && !have_threshold) {
        /* Identify at the operating point: the pipeline detects, embeds (with the cascade for
         * the accurate preset) and searches the gallery in one call. */
        facecore_identified found[MAX_FACES];
        size_t count = 0;
        s = facecore_pipeline_identify(pipeline, &image, gallery, FACECORE_OPERATING_POINT_FMR1E3, found, MAX_FACES, &count);
        if (s == FACECORE_STATUS_BUFFER_TOO_SMALL) {
            fprintf(stderr, "facecore_identify: %zu faces, only %d handled\n", count, MAX_FACES);
            rc = 1;
            goto out;
        }
        if (s != FACECORE_STATUS_OK) { rc = fail("identifying", s); goto out; }
        printf("%zu face(s) in %s, %zu people in %s, operating point FMR 1e-3\n", count, image_path, facecore_gallery_len(gallery), gallery_path);
        for (size_t i = 0; i < count; i++) {
            const facecore_identified *r = &found[i];
            const char *stage = r->stage == FACECORE_STAGE_FIRST ? "first" : r->stage == FACECORE_STAGE_SECOND ? "second" : "full";
            char name[256] = "?";
            size_t name_size = 0;
            if (r->best.id != FACECORE_NO_PERSON) {
                s = facecore_gallery_person_name(gallery, r->best.id, name, sizeof name, &name_size);
                if (s != FACECORE_STATUS_OK && s != FACECORE_STATUS_BUFFER_TOO_SMALL) { rc = fail("reading a name", s); goto out; }
            }
            printf("face %zu: box x=%.0f y=%.0f w=%.0f h=%.0f score=%.2f -> ", i, r->face.x, r->face.y, r->face.width, r->face.height, r->face.score);
            if (r->known) printf("%s (%.3f, %s stage)\n", name, r->best.score, stage);
            else if (r->best.id != FACECORE_NO_PERSON) printf("unknown (closest %s, %.3f, %s stage)\n", name, r->best.score, stage);
            else printf("unknown (empty gallery)\n");
        }
        rc = 0;
        goto out;
    }

    facecore_face faces[MAX_FACES];
    size_t count = 0;
    embeddings = malloc(sizeof(float) * MAX_FACES * dim);
    if (!embeddings) goto out;
    s = facecore_pipeline_analyze(pipeline, &image, faces, MAX_FACES, embeddings, MAX_FACES * dim, &count);
    if (s == FACECORE_STATUS_BUFFER_TOO_SMALL) {
        fprintf(stderr, "facecore_identify: %zu faces, only %d handled\n", count, MAX_FACES);
        rc = 1;
        goto out;
    }
    if (s != FACECORE_STATUS_OK) { rc = fail("analysing the image", s); goto out; }

    if (enroll_name) {
        if (count == 0) { fprintf(stderr, "facecore_identify: no face in %s\n", image_path); goto out; }
        /* Faces come best first. */
        if ((s = facecore_gallery_enroll(gallery, enroll_name, space, embeddings, dim, NULL)) != FACECORE_STATUS_OK) { rc = fail("enrolling", s); goto out; }
        if ((s = facecore_gallery_save(gallery, gallery_path)) != FACECORE_STATUS_OK) { rc = fail("saving the gallery", s); goto out; }
        printf("enrolled %s from %s into %s (%zu people)\n", enroll_name, image_path, gallery_path, facecore_gallery_len(gallery));
        rc = 0;
        goto out;
    }

    printf("%zu face(s) in %s, %zu people in %s, threshold %.3f\n", count, image_path, facecore_gallery_len(gallery), gallery_path, threshold);
    for (size_t i = 0; i < count; i++) {
        const facecore_face *f = &faces[i];
        facecore_match best;
        bool known = false;
        char name[256] = "?";
        size_t name_size = 0;
        s = facecore_gallery_identify(gallery, space, embeddings + i * dim, dim, threshold, &best, &known);
        if (s != FACECORE_STATUS_OK) { rc = fail("identifying", s); goto out; }
        if (best.id != FACECORE_NO_PERSON) {
            s = facecore_gallery_person_name(gallery, best.id, name, sizeof name, &name_size);
            if (s != FACECORE_STATUS_OK && s != FACECORE_STATUS_BUFFER_TOO_SMALL) { rc = fail("reading a name", s); goto out; }
        }
        printf("face %zu: box x=%.0f y=%.0f w=%.0f h=%.0f score=%.2f -> ", i, f->x, f->y, f->width, f->height, f->score);
        if (known) printf("%s (%.3f)\n", name, best.score);
        else if (best.id != FACECORE_NO_PERSON) printf("unknown (closest %s, %.3f)\n", name, best.score);
        else printf("unknown (empty gallery)\n");
    }
    rc = 0;

out:
    free(embeddings);
    free(frame);
    facecore_gallery_free(gallery);
    facecore_pipeline_free(pipeline);
    facecore_decoded_image_free(decoded);
    return rc;
}
