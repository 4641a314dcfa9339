/* Standalone driver for tests/api.c, tests/reliability.c, tests/pixel_formats.c, tests/liveness.c,
 * tests/stream.c and tests/identify.c, so the C tests can also run outside cargo: under
 * AddressSanitizer or valgrind, linked against libfacecore.a (see scripts/c-checks.sh).
 *   run_tests FIXTURES_DIR TMP_DIR */
#include <stdio.h>

int fc_test_version(void);
int fc_test_nulls(void);
int fc_test_garbage(void);
int fc_test_images(void);
int fc_test_buffers(void);
int fc_test_gallery_files(const char *tmpdir);
int fc_test_gallery_security(const char *tmpdir, const char *yunet_path);
int fc_test_threads(const char *tmpdir, int seconds);
int fc_test_pixel_formats(const char *fixtures_dir);
int fc_test_liveness(const char *fixtures_dir);
int fc_test_pipeline_liveness(const char *fixtures_dir);
int fc_test_stream(const char *fixtures_dir); /* tests/stream.c */
int fc_test_identify(const char *fixtures_dir); /* tests/identify.c */
void fc_set_fixtures(const char *dir);

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: run_tests FIXTURES_DIR TMP_DIR\n");
        return 2;
    }
    fc_set_fixtures(argv[1]);
    int failures = fc_test_version() + fc_test_nulls() + fc_test_garbage() + fc_test_images() + fc_test_buffers() +
                   fc_test_gallery_files(argv[2]);
    char yunet[4096];
    snprintf(yunet, sizeof yunet, "%s/../../facecore/models/yunet_2023mar.onnx", argv[1]);
    failures += fc_test_gallery_security(argv[2], yunet) + fc_test_threads(argv[2], 2) + fc_test_pixel_formats(argv[1]) +
                fc_test_liveness(argv[1]) + fc_test_pipeline_liveness(argv[1]);
    failures += fc_test_stream(argv[1]) + fc_test_identify(argv[1]);
    printf("C tests: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
