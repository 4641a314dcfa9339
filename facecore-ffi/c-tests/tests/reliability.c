/* Reliability tests of the C ABI: encrypted galleries, stable person ids, size limits, models
 * from memory checked against the manifest, and eight pthreads sharing one gallery. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facecore.h"

static int failures;

#include "check.h"

#define DIM 128
#define SPACE "dlib-resnet-v1"

/* A deterministic pseudo-random vector per seed (distinct seeds give near-orthogonal ones). */
static void vec(float *v, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 12345u;
    for (int i = 0; i < DIM; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v[i] = (float)(x % 2001) / 1000.0f - 1.0f;
    }
}

static bool contains(const unsigned char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return true;
    return false;
}

static bool name_is(const facecore_gallery *g, uint64_t id, const char *want) {
    char name[64];
    size_t n = 0;
    return facecore_gallery_person_name(g, id, name, sizeof name, &n) == FACECORE_STATUS_OK && strcmp(name, want) == 0;
}

int fc_test_gallery_security(const char *tmpdir, const char *yunet_path) {
    failures = 0;
    char path[1200], plain[1200];
    snprintf(path, sizeof path, "%s/sealed.gallery", tmpdir);
    snprintf(plain, sizeof plain, "%s/plain.gallery", tmpdir);
    float a[DIM], b[DIM];
    vec(a, 1);
    vec(b, 2);
    uint8_t key[FACECORE_GALLERY_KEY_BYTES], other[FACECORE_GALLERY_KEY_BYTES];
    OK(facecore_gallery_key_generate(key, sizeof key));
    OK(facecore_gallery_key_generate(other, sizeof other));
    CHECK(memcmp(key, other, sizeof key) != 0);
    CHECK_STATUS(facecore_gallery_key_generate(key, 16), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_gallery_key_generate(NULL, 32), FACECORE_STATUS_NULL_ARGUMENT);

    /* Stable ids: removal does not shift them, and they are never given again. */
    facecore_gallery *g = NULL, *g2 = NULL;
    OK(facecore_gallery_new(&g));
    uint64_t ann = 0, bob = 0, cy = 0, id = 0;
    OK(facecore_gallery_enroll(g, "ann", SPACE, a, DIM, &ann));
    OK(facecore_gallery_enroll(g, "bob", SPACE, b, DIM, &bob));
    OK(facecore_gallery_set_metadata(g, "bob", "{\"badge\": 7}"));
    bool removed = false;
    OK(facecore_gallery_remove(g, "ann", &removed));
    CHECK(removed);
    OK(facecore_gallery_enroll(g, "cy", SPACE, a, DIM, &cy));
    CHECK(ann == 1 && bob == 2 && cy == 3);
    CHECK(name_is(g, bob, "bob") && name_is(g, cy, "cy"));
    size_t n = 0;
    CHECK_STATUS(facecore_gallery_person_name(g, ann, NULL, 0, &n), FACECORE_STATUS_NO_SUCH_PERSON);
    char meta[32];
    OK(facecore_gallery_person_metadata(g, bob, meta, sizeof meta, &n));
    CHECK(strcmp(meta, "{\"badge\": 7}") == 0);
    OK(facecore_gallery_person_id(g, "cy", &id));
    CHECK(id == cy);
    CHECK_STATUS(facecore_gallery_person_id(g, "ann", &id), FACECORE_STATUS_NO_SUCH_PERSON);
    OK(facecore_gallery_person_at(g, 0, &id));
    CHECK(id == bob);
    OK(facecore_gallery_person_at(g, 1, &id));
    CHECK(id == cy);
    CHECK_STATUS(facecore_gallery_person_at(g, 2, &id), FACECORE_STATUS_INVALID_ARGUMENT);

    /* Encrypted file: round trip, wrong key, substitution by a plain file, no key. */
    OK(facecore_gallery_save_encrypted(g, path, key, sizeof key));
    OK(facecore_gallery_load_encrypted(path, key, sizeof key, &g2));
    CHECK(facecore_gallery_len(g2) == 2 && name_is(g2, cy, "cy"));
    OK(facecore_gallery_remove_id(g2, bob, &removed));
    CHECK(removed && facecore_gallery_len(g2) == 1);
    OK(facecore_gallery_enroll(g2, "dee", SPACE, b, DIM, &id));
    CHECK(id == 4); /* the id counter survived the round trip */
    facecore_gallery_free(g2);
    g2 = NULL;
    CHECK_STATUS(facecore_gallery_load_encrypted(path, other, sizeof other, &g2), FACECORE_STATUS_KEY);
    CHECK_STATUS(facecore_gallery_load(path, &g2), FACECORE_STATUS_KEY);
    CHECK_STATUS(facecore_gallery_load_encrypted(path, key, 31, &g2), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_gallery_load_encrypted(path, NULL, 32, &g2), FACECORE_STATUS_NULL_ARGUMENT);
    OK(facecore_gallery_save(g, plain));
    CHECK_STATUS(facecore_gallery_load_encrypted(plain, key, sizeof key, &g2), FACECORE_STATUS_KEY);
    CHECK(g2 == NULL);

    /* In memory; a forged byte (checksum recomputed or not) is refused. */
    size_t size = 0;
    CHECK_STATUS(facecore_gallery_save_encrypted_to_memory(g, key, sizeof key, NULL, 0, &size), FACECORE_STATUS_BUFFER_TOO_SMALL);
    unsigned char *buf = malloc(size);
    CHECK(buf != NULL);
    if (buf) {
        OK(facecore_gallery_save_encrypted_to_memory(g, key, sizeof key, buf, size, &size));
        OK(facecore_gallery_load_encrypted_from_memory(buf, size, key, sizeof key, &g2));
        CHECK(facecore_gallery_len(g2) == 2);
        facecore_gallery_free(g2);
        g2 = NULL;
        CHECK(!contains(buf, size, "bob")); /* nothing readable */
        buf[size / 2] ^= 1;
        CHECK_STATUS(facecore_gallery_load_encrypted_from_memory(buf, size, key, sizeof key, &g2), FACECORE_STATUS_GALLERY);
        free(buf);
    }

    /* Limits: a gallery over the configured size is refused before it is read. */
    uint64_t old = 0, v = 0;
    OK(facecore_limit_get(FACECORE_LIMIT_GALLERY_FILE_BYTES, &old));
    CHECK(old == (uint64_t)2 << 30);
    OK(facecore_limit_set(FACECORE_LIMIT_GALLERY_FILE_BYTES, 100));
    OK(facecore_limit_get(FACECORE_LIMIT_GALLERY_FILE_BYTES, &v));
    CHECK(v == 100);
    CHECK_STATUS(facecore_gallery_load(plain, &g2), FACECORE_STATUS_LIMIT_EXCEEDED);
    CHECK_STATUS(facecore_gallery_save(g, plain), FACECORE_STATUS_LIMIT_EXCEEDED); /* never write what cannot load */
    OK(facecore_limit_set(FACECORE_LIMIT_GALLERY_FILE_BYTES, old));
    OK(facecore_gallery_load(plain, &g2));
    facecore_gallery_free(g2);
    g2 = NULL;
    CHECK_STATUS(facecore_limit_set(FACECORE_LIMIT_IMAGE_SIDE, 0), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_limit_set(FACECORE_LIMIT_IMAGE_SIDE, (uint64_t)1 << 40), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_limit_set(77, 1), FACECORE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(facecore_limit_get(FACECORE_LIMIT_IMAGE_SIDE, NULL), FACECORE_STATUS_NULL_ARGUMENT);
    facecore_gallery_free(g);

    /* Models from memory: the manifest's bytes, or a custom network under its own space. */
    size_t yl = 0;
    unsigned char *yunet = read_all(yunet_path, &yl);
    CHECK(yunet != NULL && yl > 1000);
    if (yunet) {
        facecore_detector *d = NULL;
        facecore_embedder *e = NULL;
        yunet[yl / 2] ^= 1; /* one weight changed */
        CHECK_STATUS(facecore_detector_new_from_memory(yunet, yl, NULL, &d), FACECORE_STATUS_MODEL_LOAD);
        OK(facecore_detector_new_custom_from_memory(yunet, yl, NULL, &d));
        facecore_detector_free(d);
        CHECK_STATUS(facecore_embedder_new_from_memory(FACECORE_EMBED_MODEL_SFACE, yunet, yl, &e), FACECORE_STATUS_MODEL_LOAD);
        CHECK_STATUS(facecore_embedder_new_custom_from_memory(FACECORE_EMBED_MODEL_SFACE, "sface-2021dec", yunet, yl, &e),
                     FACECORE_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(facecore_embedder_new_custom_from_memory(FACECORE_EMBED_MODEL_SFACE, "mine", yunet, yl, &e),
                     FACECORE_STATUS_MODEL_LOAD); /* not an embedding network */
        OK(facecore_limit_get(FACECORE_LIMIT_MODEL_FILE_BYTES, &old));
        OK(facecore_limit_set(FACECORE_LIMIT_MODEL_FILE_BYTES, 1000));
        CHECK_STATUS(facecore_detector_new_custom_from_memory(yunet, yl, NULL, &d), FACECORE_STATUS_LIMIT_EXCEEDED);
        OK(facecore_limit_set(FACECORE_LIMIT_MODEL_FILE_BYTES, old));
        CHECK(e == NULL);
        free(yunet);
    }
    return failures;
}

/* ---- eight threads on one gallery ---- */

#define VICTIMS 200
#define ENROL_MAX 1500

struct shared {
    facecore_gallery *g;
    const char *path;
    uint64_t anchor;
    time_t deadline;
    int removed;
    int enrolled[2];
    int identified;
    int saves;
};

struct worker {
    struct shared *s;
    int role; /* 0-3 identify, 4-5 enrol, 6 remove, 7 save and load */
    int failures;
};

static void *work(void *arg) {
    struct worker *w = arg;
    struct shared *s = w->s;
    float probe[DIM];
    char name[64];
    int n = 0;
    while (time(NULL) < s->deadline) {
        if (w->role < 4) {
            /* The anchor is always found, under its own id and name. */
            vec(probe, 0);
            facecore_match best;
            bool known = false;
            if (facecore_gallery_identify(s->g, SPACE, probe, DIM, 0.99f, &best, &known) != FACECORE_STATUS_OK || !known ||
                best.id != s->anchor || !name_is(s->g, best.id, "anchor"))
                w->failures++;
            /* A victim's probe finds that victim (or, once removed, someone else): an id is
             * never reported under another person's name. */
            int v = n % VICTIMS;
            vec(probe, 1000 + (uint32_t)v);
            facecore_match top[3];
            size_t count = 0;
            if (facecore_gallery_search(s->g, SPACE, probe, DIM, top, 3, &count) != FACECORE_STATUS_OK || count == 0) {
                w->failures++;
            } else if (top[0].score > 0.999f) {
                snprintf(name, sizeof name, "victim-%d", v);
                size_t sz = 0;
                char got[64];
                facecore_status st = facecore_gallery_person_name(s->g, top[0].id, got, sizeof got, &sz);
                if (st == FACECORE_STATUS_OK ? strcmp(got, name) != 0 : st != FACECORE_STATUS_NO_SUCH_PERSON) w->failures++;
            }
            if (w->role == 0) s->identified++;
        } else if (w->role < 6) {
            if (n < ENROL_MAX) {
                snprintf(name, sizeof name, "t%d-%d", w->role, n);
                vec(probe, 100000u * (uint32_t)w->role + (uint32_t)n);
                if (facecore_gallery_enroll(s->g, name, SPACE, probe, DIM, NULL) != FACECORE_STATUS_OK) w->failures++;
                s->enrolled[w->role - 4] = n + 1;
            } else {
                sched_yield();
            }
        } else if (w->role == 6) {
            if (n < VICTIMS) {
                bool removed = false;
                snprintf(name, sizeof name, "victim-%d", n);
                if (facecore_gallery_remove(s->g, name, &removed) != FACECORE_STATUS_OK || !removed) w->failures++;
                s->removed = n + 1;
                struct timespec ts = {0, 5 * 1000 * 1000};
                nanosleep(&ts, NULL);
            } else {
                sched_yield();
            }
        } else {
            facecore_gallery *back = NULL;
            if (facecore_gallery_save(s->g, s->path) != FACECORE_STATUS_OK ||
                facecore_gallery_load(s->path, &back) != FACECORE_STATUS_OK)
                w->failures++;
            else if (facecore_gallery_len(back) < 1 || !name_is(back, s->anchor, "anchor"))
                w->failures++;
            facecore_gallery_free(back);
            s->saves++;
        }
        n++;
    }
    return NULL;
}

int fc_test_threads(const char *tmpdir, int seconds) {
    failures = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/threads.gallery", tmpdir);
    struct shared s = {0};
    s.path = path;
    OK(facecore_gallery_new(&s.g));
    float v[DIM];
    vec(v, 0);
    OK(facecore_gallery_enroll(s.g, "anchor", SPACE, v, DIM, &s.anchor));
    for (int i = 0; i < VICTIMS; i++) {
        char name[32];
        snprintf(name, sizeof name, "victim-%d", i);
        vec(v, 1000 + (uint32_t)i);
        OK(facecore_gallery_enroll(s.g, name, SPACE, v, DIM, NULL));
    }
    s.deadline = time(NULL) + seconds;
    pthread_t threads[8];
    struct worker workers[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (struct worker){&s, i, 0};
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].failures) fprintf(stderr, "thread %d (role %d): %d failed check(s)\n", i, i, workers[i].failures);
        failures += workers[i].failures;
    }
    /* No enrolment lost, every removal applied, and the saved file holds the final state. */
    size_t expected = 1 + (size_t)(VICTIMS - s.removed) + (size_t)s.enrolled[0] + (size_t)s.enrolled[1];
    CHECK(facecore_gallery_len(s.g) == expected);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < s.enrolled[t]; i++) {
            char name[32];
            uint64_t id = 0;
            snprintf(name, sizeof name, "t%d-%d", t + 4, i);
            CHECK(facecore_gallery_person_id(s.g, name, &id) == FACECORE_STATUS_OK && name_is(s.g, id, name));
        }
    }
    OK(facecore_gallery_save(s.g, path));
    facecore_gallery *back = NULL;
    OK(facecore_gallery_load(path, &back));
    CHECK(facecore_gallery_len(back) == expected);
    facecore_gallery_free(back);
    facecore_gallery_free(s.g);
    printf("C threads: %d s, %d identify rounds (thread 0), %d + %d enrolled, %d removed, %d save+load rounds, %d failure(s)\n",
           seconds, s.identified, s.enrolled[0], s.enrolled[1], s.removed, s.saves, failures);
    CHECK(s.identified > 0 && s.saves > 0 && s.removed > 0 && s.enrolled[0] > 0);
    return failures;
}
