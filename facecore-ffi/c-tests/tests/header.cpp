// The header must compile as C++ (extern "C", enums, bool) and link from C++ code.
#include <cstring>
#include <string>

#include "facecore.h"

extern "C" int fc_test_cpp(void) {
    int failures = 0;
    if (std::string(facecore_version()) != FACECORE_VERSION_STRING) failures++;
    facecore_gallery *g = nullptr;
    if (facecore_gallery_new(&g) != FACECORE_STATUS_OK || g == nullptr) failures++;
    float v[4] = {1.0f, 0.0f, 0.0f, 0.0f};
    facecore_status s = facecore_gallery_enroll(g, "cpp", "space", v, 4, nullptr);
    if (s != FACECORE_STATUS_OK) failures++;
    if (facecore_gallery_len(g) != 1) failures++;
    facecore_gallery_free(g);
    facecore_image image = {};
    image.format = FACECORE_PIXEL_FORMAT_BGRA;
    facecore_face face = {};
    size_t n = 0;
    if (facecore_detect(nullptr, &image, &face, 1, &n) != FACECORE_STATUS_NULL_ARGUMENT) failures++;
    if (facecore_last_error_message() == nullptr) failures++;
    return failures;
}
