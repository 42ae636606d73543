//! Rebuild when the built-in rule pack changes: `include_dir!` embeds `rules/` but cannot
//! tell cargo which files it read.
fn main() {
    println!("cargo:rerun-if-changed=rules");
}
