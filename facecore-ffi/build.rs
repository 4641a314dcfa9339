//! Sets the SONAME of the shared library to the name it is installed under
//! (`libfacecore.so.MAJOR.MINOR.PATCH`: before 1.0 there is no ABI promise across versions).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libfacecore.so.{version}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
