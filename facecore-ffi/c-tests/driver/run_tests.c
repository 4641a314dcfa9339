/* Standalone driver for tests/api.c, so the C tests can also run outside cargo: under
 * AddressSanitizer or valgrind, linked against libfacecore.a (see scripts/c-checks.sh).
 *   run_tests FIXTURES_DIR TMP_DIR */
#include <stdio.h>

int fc_test_version(void);
int fc_test_nulls(void);
int fc_test_garbage(void);
int fc_test_images(void);
int fc_test_buffers(void);
int fc_test_gallery_files(const char *tmpdir);
void fc_set_fixtures(const char *dir);

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: run_tests FIXTURES_DIR TMP_DIR\n");
        return 2;
    }
    fc_set_fixtures(argv[1]);
    int failures = fc_test_version() + fc_test_nulls() + fc_test_garbage() + fc_test_images() + fc_test_buffers() +
                   fc_test_gallery_files(argv[2]);
    printf("C tests: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
