// ALE is C++: its static library (from ale-sys) needs the C++ standard library.
fn main() {
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let runtime = if target == "macos" { "c++" } else { "stdc++" };
    println!("cargo:rustc-link-lib=dylib={runtime}");
}
