// The whole C++ side of the dlib plugin, in one translation unit (a lean build: the DNN
// templates are instantiated once, here, and the rest links to Debian's libdlib.so).
//
// Every function is `extern "C"` and `noexcept` in effect: each body runs inside
// try/catch(...), and a failure is returned as a status with a one-line message written
// into the caller's buffer. A C++ exception must never unwind into Rust.
//
// The networks and the pre-processing mirror dlib's own Python bindings (the code that
// face_recognition 1.3 calls), so the same photo and box give the same embedding:
// - frontal_face_detector: pyramid_up `upsample` times, detect with adjust_threshold,
//   rect_down back (dlib/tools/python/src/simple_object_detector_py.h);
// - mmod: pyramid_up the matrix<rgb_pixel> `upsample` times, run, rect_down
//   (tools/python/src/cnn_face_detector.cpp);
// - ResNet: get_face_chip_details(shape, 150, 0.25), extract_image_chips, net(chips, 16)
//   (tools/python/src/face_recognition.cpp with num_jitters = 1).

#include <dlib/dnn.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_processing/shape_predictor.h>
#include <dlib/image_transforms.h>
#include <dlib/revision.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <new>
#include <string>
#include <vector>

using namespace dlib;

namespace {

// ---- the networks, exactly as dlib's examples and Python bindings declare them ----

// mmod_human_face_detector.dat (dnn_mmod_face_detection_ex.cpp).
template <long num_filters, typename SUBNET> using con5d = con<num_filters, 5, 5, 2, 2, SUBNET>;
template <long num_filters, typename SUBNET> using con5 = con<num_filters, 5, 5, 1, 1, SUBNET>;
template <typename SUBNET>
using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, SUBNET>>>>>>>>>;
template <typename SUBNET> using rcon5 = relu<affine<con5<45, SUBNET>>>;
using mmod_net = loss_mmod<con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;

// dlib_face_recognition_resnet_model_v1.dat (dnn_face_recognition_ex.cpp).
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = add_prev1<block<N, BN, 1, tag1<SUBNET>>>;
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<block<N, BN, 2, tag1<SUBNET>>>>>>;
template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, SUBNET>>>>>;
template <int N, typename SUBNET> using ares = relu<residual<block, N, affine, SUBNET>>;
template <int N, typename SUBNET> using ares_down = relu<residual_down<block, N, affine, SUBNET>>;
template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;
using resnet_net = loss_metric<fc_no_bias<128, avg_pool_everything<
    alevel0<alevel1<alevel2<alevel3<alevel4<
    max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;

// ---- errors ----

void set_error(char* err, size_t len, const std::string& text) {
    if (err == nullptr || len == 0) return;
    // One line: dlib's messages can span several lines.
    std::string line;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == '\t') {
            if (!line.empty() && line.back() != ' ') line.push_back(' ');
        } else {
            line.push_back(c);
        }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::strncpy(err, line.c_str(), len - 1);
    err[len - 1] = '\0';
}

// Runs `f`; any exception becomes status 1 and a one-line message.
template <typename F> int guarded(char* err, size_t len, F&& f) {
    try {
        f();
        return 0;
    } catch (const serialization_error& e) {
        set_error(err, len, std::string("dlib could not read it: ") + e.what());
    } catch (const std::bad_alloc&) {
        set_error(err, len, "out of memory (a damaged file can declare huge sizes)");
    } catch (const std::exception& e) {
        set_error(err, len, e.what());
    } catch (...) {
        set_error(err, len, "unknown C++ exception");
    }
    return 1;
}

// Deserialises `path` into `value`, failing on trailing bytes: a file with more data than
// the model type reads is some other dlib object that happened to parse.
template <typename T> void load_exact(const char* path, T& value) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(std::string("cannot open ") + path);
    deserialize(value, in);
    in.peek();
    if (!in.eof()) throw serialization_error("the file has data after the model (it is a different dlib object)");
}

// The photo as dlib's image type. `rgb` is packed, rows*cols*3 bytes.
void to_matrix(const uint8_t* rgb, long rows, long cols, matrix<rgb_pixel>& img) {
    img.set_size(rows, cols);
    static_assert(sizeof(rgb_pixel) == 3, "rgb_pixel is 3 packed bytes");
    std::memcpy(&img(0, 0), rgb, static_cast<size_t>(rows * cols * 3));
}

/// A new T loaded from `path` by load_exact; nullptr with the message in `err` on failure.
template <class T>
T* load_new(const char* path, char* err, size_t len) {
    T* p = new (std::nothrow) T;
    if (p == nullptr) {
        set_error(err, len, "out of memory");
        return nullptr;
    }
    if (guarded(err, len, [&] { load_exact(path, *p); }) != 0) {
        delete p;
        return nullptr;
    }
    return p;
}

}  // namespace

extern "C" {

/// A detection: dlib's inclusive rectangle and its confidence (detection margin).
struct fl_detection {
    int64_t left, top, right, bottom;
    double confidence;
};

/// Detections owned by the C++ side; free with fl_detections_free.
struct fl_detections {
    fl_detection* items;
    size_t len;
};

void fl_detections_free(fl_detections d) { delete[] d.items; }

static fl_detections copy_out(const std::vector<fl_detection>& v) {
    fl_detections out{nullptr, v.size()};
    if (!v.empty()) {
        out.items = new fl_detection[v.size()];
        std::copy(v.begin(), v.end(), out.items);
    }
    return out;
}

// ---- HOG ----

void* fl_hog_new(char* err, size_t len) {
    frontal_face_detector* d = nullptr;
    guarded(err, len, [&] { d = new frontal_face_detector(get_frontal_face_detector()); });
    return d;
}

void fl_hog_free(void* d) { delete static_cast<frontal_face_detector*>(d); }

int fl_hog_detect(void* handle, const uint8_t* rgb, long rows, long cols, unsigned upsample,
                  double adjust_threshold, fl_detections* out, char* err, size_t len) {
    return guarded(err, len, [&] {
        auto& detector = *static_cast<frontal_face_detector*>(handle);
        matrix<rgb_pixel> img;
        to_matrix(rgb, rows, cols, img);
        pyramid_down<2> pyr;
        std::vector<rect_detection> dets;
        if (upsample == 0) {
            detector(img, dets, adjust_threshold);
        } else {
            array2d<rgb_pixel> up;
            pyramid_up(img, up, pyr);
            for (unsigned i = 1; i < upsample; ++i) pyramid_up(up);
            detector(up, dets, adjust_threshold);
            for (auto& d : dets) d.rect = pyr.rect_down(d.rect, upsample);
        }
        std::vector<fl_detection> v;
        for (auto& d : dets)
            v.push_back({d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), d.detection_confidence});
        *out = copy_out(v);
    });
}

// ---- MMOD CNN ----

void* fl_mmod_new(const char* path, char* err, size_t len) {
    return load_new<mmod_net>(path, err, len);
}

void fl_mmod_free(void* net) { delete static_cast<mmod_net*>(net); }

int fl_mmod_detect(void* handle, const uint8_t* rgb, long rows, long cols, unsigned upsample,
                   double adjust_threshold, fl_detections* out, char* err, size_t len) {
    return guarded(err, len, [&] {
        auto& net = *static_cast<mmod_net*>(handle);
        matrix<rgb_pixel> img;
        to_matrix(rgb, rows, cols, img);
        pyramid_down<2> pyr;
        for (unsigned i = 0; i < upsample; ++i) pyramid_up(img, pyr);
        // process() passes the threshold to loss_mmod (operator() would take it as a batch size).
        std::vector<mmod_rect> dets = net.process(img, adjust_threshold);
        std::vector<fl_detection> v;
        for (auto& d : dets) {
            rectangle r = pyr.rect_down(d.rect, upsample);
            v.push_back({r.left(), r.top(), r.right(), r.bottom(), d.detection_confidence});
        }
        *out = copy_out(v);
    });
}

// ---- 5-point shape predictor ----

void* fl_shape_new(const char* path, unsigned long* num_parts, char* err, size_t len) {
    shape_predictor* sp = load_new<shape_predictor>(path, err, len);
    if (sp != nullptr) *num_parts = sp->num_parts();
    return sp;
}

void fl_shape_free(void* sp) { delete static_cast<shape_predictor*>(sp); }

// ---- ResNet embedder ----

void* fl_resnet_new(const char* path, char* err, size_t len) {
    return load_new<resnet_net>(path, err, len);
}

void fl_resnet_free(void* net) { delete static_cast<resnet_net*>(net); }

/// One face to embed: its inclusive rectangle.
struct fl_face {
    int64_t left, top, right, bottom;
};

// Where facelab's five detector landmarks (Landmarks5 order: image-left eye, image-right
// eye, nose tip, image-left and image-right mouth corner) sit in the frame of dlib's 5-point
// chip template (get_face_chip_details, before padding). The eyes are the means of dlib's
// two corner points of each eye; the nose tip and mouth corners are dlib's 68-point mean
// face (points 30, 48 and 54), the same table get_face_chip_details uses for 68 points.
const double DETECTOR_TEMPLATE[5][2] = {
    {(0.1205750620789 + 0.3340850613712) / 2, (0.2137274526848 + 0.2290642403242) / 2},
    {(0.8595674595992 + 0.6460604764104) / 2, (0.2134981538014 + 0.2289674387677) / 2},
    {0.490127, 0.515625},
    {0.254149, 0.780233},
    {0.726104, 0.780233},
};

/// Embeds `n` faces of one photo. With `sp`, the shape predictor finds the five points
/// inside each rectangle and the chip is get_face_chip_details(shape, 150, 0.25), as
/// face_recognition does. Without it, `landmarks` holds the detector's five points (10
/// floats per face, Landmarks5 order), mapped onto DETECTOR_TEMPLATE with the same size
/// and padding. Writes 128 floats per face into `out`, and with `sp` the predicted points
/// (10 floats per face) into `parts_out`. With `mirror`, each chip is also embedded mirrored
/// left to right and the face's descriptor is the mean of the two.
int fl_resnet_embed(void* handle, void* sp_handle, const uint8_t* rgb, long rows, long cols,
                    const fl_face* faces, size_t n, const float* landmarks, int mirror,
                    float* out, float* parts_out, char* err, size_t len) {
    return guarded(err, len, [&] {
        auto& net = *static_cast<resnet_net*>(handle);
        auto* sp = static_cast<shape_predictor*>(sp_handle);
        const double size = 150, padding = 0.25;
        matrix<rgb_pixel> img;
        to_matrix(rgb, rows, cols, img);
        std::vector<chip_details> dets;
        dets.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            if (sp != nullptr) {
                rectangle r(faces[i].left, faces[i].top, faces[i].right, faces[i].bottom);
                full_object_detection shape = (*sp)(img, r);
                if (shape.num_parts() != 5) throw error("the shape predictor does not give 5 points");
                for (unsigned long k = 0; k < 5; ++k) {
                    parts_out[i * 10 + 2 * k] = static_cast<float>(shape.part(k).x());
                    parts_out[i * 10 + 2 * k + 1] = static_cast<float>(shape.part(k).y());
                }
                dets.push_back(get_face_chip_details(shape, 150, 0.25));
            } else {
                std::vector<dpoint> from, to;
                for (int k = 0; k < 5; ++k) {
                    dpoint t(DETECTOR_TEMPLATE[k][0], DETECTOR_TEMPLATE[k][1]);
                    from.push_back((padding + t) / (2 * padding + 1) * size);
                    to.push_back(dpoint(landmarks[i * 10 + 2 * k], landmarks[i * 10 + 2 * k + 1]));
                }
                dets.push_back(chip_details(from, to, chip_dims(150, 150)));
            }
        }
        dlib::array<matrix<rgb_pixel>> chips;
        extract_image_chips(img, dets, chips);
        const size_t per_face = mirror ? 2 : 1;
        std::vector<matrix<rgb_pixel>> batch;
        batch.reserve(n * per_face);
        for (auto& chip : chips) {
            batch.push_back(chip);
            if (mirror) batch.push_back(fliplr(chip));
        }
        std::vector<matrix<float, 0, 1>> descriptors = net(batch, 16);
        if (descriptors.size() != n * per_face)
            throw error("the network gave a different number of descriptors");
        for (size_t i = 0; i < n; ++i) {
            for (size_t j = 0; j < per_face; ++j)
                if (descriptors[i * per_face + j].size() != 128)
                    throw error("the network gave a descriptor of the wrong size");
            for (long k = 0; k < 128; ++k) {
                float sum = 0;
                for (size_t j = 0; j < per_face; ++j) sum += descriptors[i * per_face + j](k);
                out[i * 128 + k] = sum / static_cast<float>(per_face);
            }
        }
    });
}

/// OpenBLAS's thread count, where the BLAS dlib links is OpenBLAS (Debian's default
/// alternative); a weak reference, so another BLAS simply has none.
void openblas_set_num_threads(int) __attribute__((weak));

/// Sets the BLAS threads of the process; 0 when this BLAS has no such control.
int fl_blas_threads(int n) {
    if (openblas_set_num_threads == nullptr) return 0;
    openblas_set_num_threads(n);
    return 1;
}

#define FL_STR2(x) #x
#define FL_STR(x) FL_STR2(x)

/// dlib's version, e.g. "19.24.0".
const char* fl_dlib_version() {
    return FL_STR(DLIB_MAJOR_VERSION) "." FL_STR(DLIB_MINOR_VERSION) "." FL_STR(DLIB_PATCH_VERSION);
}

}  // extern "C"
