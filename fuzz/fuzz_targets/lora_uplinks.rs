#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gridtwin::fuzz::run("lora_uplinks", data);
});
