//! Exports `wsman_os::zstd_contexts`' `ZSTD_createDCtx` and `ZSTD_freeDCtx` from the daemon,
//! so that libsystemd's journal reads bind to them and reuse one zstd context per thread
//! instead of making one per compressed field (see that module for why).

fn main() {
    for symbol in ["ZSTD_createDCtx", "ZSTD_freeDCtx"] {
        // `-u` pulls the definition in from the rlib; the export puts it in the dynamic
        // symbol table, where it comes before libzstd's.
        println!("cargo::rustc-link-arg-bin=wsmand=-Wl,-u,{symbol}");
        println!("cargo::rustc-link-arg-bin=wsmand=-Wl,--export-dynamic-symbol={symbol}");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
