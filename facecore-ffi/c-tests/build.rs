//! Compiles tests/*.c (C99) and tests/*.cpp against include/facecore.h with warnings as errors.

fn main() {
    let include = "../../include";
    let mut c = cc::Build::new();
    c.std("c99").include(include).warnings(true).extra_warnings(true).warnings_into_errors(true).flag_if_supported("-pedantic");
    let mut cpp = cc::Build::new();
    cpp.cpp(true).std("c++11").include(include).warnings(true).extra_warnings(true).warnings_into_errors(true);
    for entry in std::fs::read_dir("tests").into_iter().flatten().flatten() {
        let path = entry.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("c") => {
                c.file(&path);
            }
            Some("cpp") => {
                cpp.file(&path);
            }
            _ => {}
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    c.compile("facecore_c_tests");
    cpp.compile("facecore_cpp_tests");
    println!("cargo:rerun-if-changed=../../include/facecore.h");
    println!("cargo:rerun-if-changed=tests");
}
