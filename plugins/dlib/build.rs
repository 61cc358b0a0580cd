//! Builds the dlib bridge: one C++ translation unit against Debian's `libdlib-dev` headers,
//! linked to the system `libdlib.so` (no dlib sources are compiled or downloaded).

fn main() {
    println!("cargo:rerun-if-changed=cpp/bridge.cpp");
    let include = std::path::Path::new("/usr/include/dlib/dnn.h");
    if !include.is_file() {
        panic!(
            "dlib's headers are missing ({}): install Debian's libdlib-dev (scripts/setup.sh does)",
            include.display()
        );
    }
    cc::Build::new()
        .cpp(true)
        .file("cpp/bridge.cpp")
        .std("c++14")
        // dlib's headers are noisy under -Wall; their warnings are not ours to fix.
        .warnings(false)
        // No debug info: the DNN templates' debug info doubles the compile time, and the
        // bridge's frames add nothing to a backtrace (dlib's own code is in libdlib.so).
        .debug(false)
        .compile("facelab_dlib_bridge");
    println!("cargo:rustc-link-lib=dylib=dlib");
    // The DNN layers' matrix products call cblas_sgemm from the headers, so the bridge links
    // BLAS itself (Debian's libdlib is built with DLIB_USE_BLAS). There is no unversioned
    // libblas.so without libblas-dev, hence the verbatim name.
    println!("cargo:rustc-link-lib=dylib:+verbatim=libblas.so.3");
}
