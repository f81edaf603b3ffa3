//! Builds the firmware with avr-gcc (its Makefile) and the simavr glue with the host's C compiler.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let firmware = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../firmware");
    println!("cargo:rerun-if-changed={}", firmware.join("src").display());
    println!(
        "cargo:rerun-if-changed={}",
        firmware.join("Makefile").display()
    );
    println!("cargo:rerun-if-changed=src/shim.c");
    let fw_out = out.join("firmware");
    let status = Command::new("make")
        .arg("-C")
        .arg(&firmware)
        .arg(format!("OUT={}", fw_out.display()))
        .status()
        .expect("make runs (the firmware needs gcc-avr and avr-libc)");
    assert!(status.success(), "the firmware did not build");
    println!(
        "cargo:rustc-env=NODE_ELF={}",
        fw_out.join("node.elf").display()
    );
    cc::Build::new()
        .file("src/shim.c")
        .include("/usr/include/simavr")
        .warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .compile("gtshim");
    println!("cargo:rustc-link-lib=simavr");
}
