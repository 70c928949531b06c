//! Arbitrary bytes as an SMBIOS entry point and table (the first byte says where the entry
//! point ends), through the decoder of CIM_PhysicalMemory and CIM_Processor. Any panic, hang
//! or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_providers::cim::smbios;

fuzz_target!(|data: &[u8]| {
    let Some((split, rest)) = data.split_first() else {
        return;
    };
    let (entry_point, table) = rest.split_at(usize::from(*split).min(rest.len()));
    let decoded = smbios::parse(entry_point, table);
    assert!(decoded.memory.len() + decoded.processors.len() <= smbios::MAX_STRUCTURES);
    let walked = smbios::structures(table);
    assert!(walked.len() <= smbios::MAX_STRUCTURES);
});
