//! `Win32_LogicalDisk` and `Win32_Volume`: the file systems a Windows tool would see as drives
//! and volumes, from the mount table and `statvfs`.
//!
//! Which mounts count: those of file systems on a device (not marked `nodev` in
//! /proc/filesystems) and network or layered ones (NFS, CIFS, overlay, ZFS), each device once
//! (bind mounts and subvolume mounts of an already listed device are left out, as Windows lists
//! a volume once). Pseudo file systems (proc, sysfs, tmpfs, cgroup, ...) are no drives.

use std::collections::HashSet;
use std::path::Path;

use wsman_proto::cim::{Instance, Value};

use super::perf_disk::{DiskStat, FORMATTED_DISK_COUNTERS};
use super::schema::{merged, ClassSchema, Property, LOGICAL_DEVICE};
use super::{procfs, Class, Instances};
use crate::{Context, Filter};

/// File systems without a block device that still hold a user's files: network shares, and the
/// layered and pooled roots of containers and ZFS hosts.
const WITHOUT_DEVICE: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "9p",
    "virtiofs",
    "overlay",
    "zfs",
    "fuse.sshfs",
    "ceph",
    "glusterfs",
];

/// Network file systems: Windows' "Network Connection" drive type.
const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "fuse.sshfs",
    "ceph",
    "glusterfs",
];

/// One line of /proc/self/mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the file system's device.
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    /// The mount source (`/dev/vda1`, `server:/export`).
    pub source: String,
    pub read_only: bool,
}

/// Undo mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    unescape_with(field, |escape| {
        let digits = escape.get(..3)?;
        digits
            .bytes()
            .all(|b| (b'0'..=b'7').contains(&b))
            .then(|| u8::from_str_radix(digits, 8).ok())?
            .map(|b| (b, 3))
    })
}

/// `text` with each backslash escape `decode` reads (from the text after the backslash: the
/// byte and how many characters it took) replaced by its byte; other backslashes kept.
fn unescape_with(text: &str, decode: impl Fn(&str) -> Option<(u8, usize)>) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some((b, taken)) = text.get(i + 1..).and_then(&decode) {
                out.push(b);
                i += 1 + taken;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounts of a mountinfo text, in mount order; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut left = before.split(' ');
            let device = left.nth(2)?.to_owned();
            let mount_point = unescape(left.nth(1)?);
            let options = left.next()?;
            let mut right = after.split(' ');
            let fs_type = right.next()?.to_owned();
            let source = unescape(right.next()?);
            Some(Mount {
                device,
                mount_point,
                fs_type,
                source,
                read_only: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// File system types the kernel marks `nodev` (no block device behind them).
fn nodev_types(filesystems: &str) -> HashSet<String> {
    filesystems
        .lines()
        .filter_map(|l| l.strip_prefix("nodev"))
        .map(|t| t.trim().to_owned())
        .collect()
}

/// The mounts that are drives, each device once (the first mount of it, which is the one
/// mounted first: `/` before a bind mount of one of its directories).
pub fn drives(mounts: Vec<Mount>, nodev: &HashSet<String>) -> Vec<Mount> {
    let mut seen = HashSet::new();
    mounts
        .into_iter()
        .filter(|m| !nodev.contains(&m.fs_type) || WITHOUT_DEVICE.contains(&m.fs_type.as_str()))
        .filter(|m| seen.insert(m.device.clone()))
        .collect()
}

fn host_drives() -> Vec<Mount> {
    let mountinfo = procfs::read_text("/proc/self/mountinfo").unwrap_or_default();
    let filesystems = procfs::read_text("/proc/filesystems").unwrap_or_default();
    drives(parse_mountinfo(&mountinfo), &nodev_types(&filesystems))
}

/// Sizes of a mounted file system, in bytes; `None` when it cannot be asked (a hung network
/// share answers an error, not a hang: statvfs of an unreachable NFS mount with `soft`).
struct Space {
    size: u64,
    /// Free space an ordinary user can use (what `df` shows as available).
    free: u64,
    block_size: u64,
    name_max: u64,
}

fn space(mount_point: &str) -> Option<Space> {
    let s = nix::sys::statvfs::statvfs(Path::new(mount_point)).ok()?;
    let fragment = s.fragment_size();
    Some(Space {
        size: s.blocks().saturating_mul(fragment),
        free: s.blocks_available().saturating_mul(fragment),
        block_size: s.block_size(),
        name_max: s.name_max(),
    })
}

/// The name under /dev/disk/by-label or by-uuid that points at `source`, if any.
fn disk_link(kind: &str, source: &str) -> Option<String> {
    let target = std::fs::canonicalize(source).ok()?;
    std::fs::read_dir(format!("/dev/disk/{kind}"))
        .ok()?
        .filter_map(Result::ok)
        .find(|e| std::fs::canonicalize(e.path()).ok().as_deref() == Some(target.as_path()))
        .map(|e| unescape_udev(&e.file_name().to_string_lossy()))
}

/// udev writes special characters of labels as `\xNN`.
fn unescape_udev(name: &str) -> String {
    unescape_with(name, |escape| {
        let hex = escape.strip_prefix('x')?.get(..2)?;
        Some((u8::from_str_radix(hex, 16).ok()?, 3))
    })
}

fn is_network(m: &Mount) -> bool {
    NETWORK.contains(&m.fs_type.as_str())
}

/// Windows' DriveType: 4 network drive, 3 local disk.
fn drive_type(m: &Mount) -> u32 {
    if is_network(m) {
        4
    } else {
        3
    }
}

/// Windows' Access: 1 readable, 3 read/write.
fn access(m: &Mount) -> u16 {
    if m.read_only {
        1
    } else {
        3
    }
}

fn size_values(space: Option<&Space>) -> [Value; 4] {
    match space {
        Some(s) => [
            Value::from(s.size),
            Value::from(s.free),
            Value::from(s.block_size),
            Value::from(s.name_max),
        ],
        None => [Value::Null, Value::Null, Value::Null, Value::Null],
    }
}

/// `Win32_LogicalDisk`, keyed by DeviceID: the mount point (Windows' drive letter).
pub struct LogicalDisk;

fn logical_disk(m: &Mount, host: &str) -> Instance {
    let space = space(&m.mount_point);
    let [size, free, block_size, name_max] = size_values(space.as_ref());
    let network = is_network(m);
    let local = |v: Option<String>| if network { Value::Null } else { v.into() };
    Instance::new("Win32_LogicalDisk", "root/cimv2")
        .with("Access", access(m))
        .with("BlockSize", block_size)
        .with("Caption", m.mount_point.clone())
        .with("Compressed", false)
        .with("CreationClassName", "Win32_LogicalDisk")
        .with(
            "Description",
            if network {
                "Network Connection"
            } else {
                "Local Fixed Disk"
            },
        )
        .with_key("DeviceID", m.mount_point.clone())
        .with("DriveType", drive_type(m))
        .with("FileSystem", m.fs_type.clone())
        .with("FreeSpace", free)
        .with("MaximumComponentLength", name_max)
        // 12: fixed hard disk media.
        .with(
            "MediaType",
            if network { Value::Null } else { 12u32.into() },
        )
        .with("Name", m.mount_point.clone())
        .with(
            "ProviderName",
            if network {
                Value::Text(m.source.clone())
            } else {
                Value::Null
            },
        )
        .with("Size", size)
        .with("SystemCreationClassName", "Win32_ComputerSystem")
        .with("SystemName", host.to_owned())
        .with(
            "VolumeName",
            local(Some(disk_link("by-label", &m.source).unwrap_or_default())),
        )
        .with("VolumeSerialNumber", local(disk_link("by-uuid", &m.source)))
}

/// What a drive declares both as Win32_LogicalDisk and as Win32_Volume: its properties as a
/// logical device, its file system's and its space.
const DRIVE: [Property; 32] = merged(
    LOGICAL_DEVICE,
    &[
        ("Access", "uint16"),
        ("BlockSize", "uint64"),
        ("Compressed", "boolean"),
        ("DriveType", "uint32"),
        ("ErrorMethodology", "string"),
        ("FileSystem", "string"),
        ("FreeSpace", "uint64"),
        ("NumberOfBlocks", "uint64"),
        ("Purpose", "string"),
        ("QuotasIncomplete", "boolean"),
        ("QuotasRebuilding", "boolean"),
        ("SupportsDiskQuotas", "boolean"),
        ("SupportsFileBasedCompression", "boolean"),
    ],
);

const LOGICAL_DISK_PROPERTIES: [Property; 40] = merged(
    &DRIVE,
    &[
        ("MaximumComponentLength", "uint32"),
        ("MediaType", "uint32"),
        ("ProviderName", "string"),
        ("QuotasDisabled", "boolean"),
        ("Size", "uint64"),
        ("VolumeDirty", "boolean"),
        ("VolumeName", "string"),
        ("VolumeSerialNumber", "string"),
    ],
);

const LOGICAL_DISK: ClassSchema = ClassSchema::without_methods(
    "Win32_LogicalDisk",
    "root/cimv2",
    &["DeviceID"],
    &[],
    "CIM_LogicalDisk",
    &LOGICAL_DISK_PROPERTIES,
);

impl Class for LogicalDisk {
    schema!(LOGICAL_DISK);
    fn instances(&self, _ctx: &Context<'_>, filter: Option<&Filter>) -> Instances {
        let host = procfs::host_name();
        let only = filter.and_then(|f| f.pinned("DeviceID"));
        Ok(host_drives()
            .iter()
            .filter(|m| only.as_deref().is_none_or(|d| d == m.mount_point))
            .map(|m| logical_disk(m, &host))
            .collect())
    }
}

/// The I/O counters of a drive's block device (`/sys/dev/block/MAJ:MIN/stat`), for the rates
/// of the formatted disk counters.
fn io_counters(device: &str) -> Option<DiskStat> {
    let text = procfs::read_text(format!("/sys/dev/block/{device}/stat")).ok()?;
    DiskStat::parse(&text)
}

/// What a drive's device did per second between two samples.
struct Rates {
    read_bytes: u64,
    write_bytes: u64,
    reads: u64,
    writes: u64,
    busy_percent: u64,
    /// Requests in flight at the second sample.
    queue: u64,
}

/// One sample of every drive: mount point, device, its counters.
type DiskSample = Vec<(String, String, Option<DiskStat>)>;

fn disk_sample(drives: &[Mount]) -> DiskSample {
    drives
        .iter()
        .map(|m| {
            (
                m.mount_point.clone(),
                m.device.clone(),
                io_counters(&m.device),
            )
        })
        .collect()
}

/// `Win32_PerfFormattedData_PerfDisk_LogicalDisk`, keyed by Name (the drive's mount point, as
/// Win32_LogicalDisk's DeviceID, and `_Total`): free space now, and I/O rates of the drive's
/// block device over the time since the previous query (two samples 250 ms apart without
/// one), as WMI's formatted classes compute from the previous sample. A drive without a block
/// device of its own (network, overlay) has nil rates.
#[derive(Default)]
pub struct PerfFormattedLogicalDisk {
    previous: super::perf::PreviousSample<DiskSample>,
}

const PERF_FORMATTED_LOGICAL_DISK_PROPERTIES: [Property; 32] = merged(
    &FORMATTED_DISK_COUNTERS,
    &[("FreeMegabytes", "uint32"), ("PercentFreeSpace", "uint32")],
);

const PERF_FORMATTED_LOGICAL_DISK: ClassSchema = ClassSchema::performance(
    "Win32_PerfFormattedData_PerfDisk_LogicalDisk",
    "Win32_PerfFormattedData",
    &PERF_FORMATTED_LOGICAL_DISK_PROPERTIES,
);

impl Class for PerfFormattedLogicalDisk {
    schema!(PERF_FORMATTED_LOGICAL_DISK);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let drives = host_drives();
        let (started, before) = self.previous.take_or_sample(|| Ok(disk_sample(&drives)))?;
        let after = disk_sample(&drives);
        let elapsed_ms = super::perf::PreviousSample::<DiskSample>::elapsed_ms(started);
        let per_second = |delta: u64| delta.saturating_mul(1000) / elapsed_ms;
        let (mut total_size, mut total_free) = (0u64, 0u64);
        let mut out = Vec::new();
        for (mount_point, device, counters) in &after {
            let space = space(mount_point);
            if let Some(space) = &space {
                total_size += space.size;
                total_free += space.free;
            }
            let previous = before
                .iter()
                .find(|(m, d, _)| m == mount_point && d == device)
                .and_then(|(_, _, c)| *c);
            let rates = counters.zip(previous).map(|(now, then)| {
                let delta = now.since(&then);
                Rates {
                    read_bytes: per_second(delta.read_bytes()),
                    write_bytes: per_second(delta.written_bytes()),
                    reads: per_second(delta.reads),
                    writes: per_second(delta.writes),
                    busy_percent: (delta.io_ms.saturating_mul(100) / elapsed_ms).min(100),
                    queue: now.in_flight,
                }
            });
            let rate = |pick: fn(&Rates) -> u64| rates.as_ref().map(pick);
            out.push(
                Instance::new(self.name(), self.namespace())
                    .with("CurrentDiskQueueLength", rate(|r| r.queue))
                    .with("DiskBytesPersec", rate(|r| r.read_bytes + r.write_bytes))
                    .with("DiskReadBytesPersec", rate(|r| r.read_bytes))
                    .with("DiskReadsPersec", rate(|r| r.reads))
                    .with("DiskTransfersPersec", rate(|r| r.reads + r.writes))
                    .with("DiskWriteBytesPersec", rate(|r| r.write_bytes))
                    .with("DiskWritesPersec", rate(|r| r.writes))
                    .with(
                        "FreeMegabytes",
                        space.as_ref().map(|s| s.free / (1024 * 1024)),
                    )
                    .with_key("Name", mount_point.clone())
                    .with("PercentDiskTime", rate(|r| r.busy_percent))
                    .with(
                        "PercentFreeSpace",
                        space
                            .as_ref()
                            .filter(|s| s.size > 0)
                            .map(|s| s.free * 100 / s.size),
                    ),
            );
        }
        self.previous.keep(after);
        // Space over every drive; the rates of _Total are left nil rather than double-counting
        // drives that share a device.
        out.push(
            Instance::new(self.name(), self.namespace())
                .with("CurrentDiskQueueLength", Value::Null)
                .with("DiskBytesPersec", Value::Null)
                .with("DiskReadBytesPersec", Value::Null)
                .with("DiskReadsPersec", Value::Null)
                .with("DiskTransfersPersec", Value::Null)
                .with("DiskWriteBytesPersec", Value::Null)
                .with("DiskWritesPersec", Value::Null)
                .with("FreeMegabytes", total_free / (1024 * 1024))
                .with_key("Name", "_Total")
                .with("PercentDiskTime", Value::Null)
                .with(
                    "PercentFreeSpace",
                    (total_size > 0).then(|| total_free * 100 / total_size),
                ),
        );
        Ok(out)
    }
}

/// `Win32_Volume`, keyed by DeviceID: `\\?\Volume{UUID}\` for a file system with a GUID, else
/// its source device; Name is the mount point.
pub struct Volume;

/// A GUID as Windows writes it in volume names (36 characters, hex and dashes).
fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn volume(m: &Mount, host: &str) -> Instance {
    let space = space(&m.mount_point);
    let [size, free, block_size, name_max] = size_values(space.as_ref());
    let uuid = (!is_network(m))
        .then(|| disk_link("by-uuid", &m.source))
        .flatten();
    let device_id = match &uuid {
        Some(u) if is_guid(u) => format!("\\\\?\\Volume{{{u}}}\\"),
        _ => m.source.clone(),
    };
    let label = (!is_network(m))
        .then(|| disk_link("by-label", &m.source))
        .flatten();
    Instance::new("Win32_Volume", "root/cimv2")
        .with("Access", access(m))
        .with("Automount", true)
        .with("BlockSize", block_size)
        // Windows' boot volume holds the system (here `/`); its system volume holds what the
        // firmware starts (here `/boot` or `/boot/efi`).
        .with("BootVolume", m.mount_point == "/")
        .with("Capacity", size)
        .with("Caption", m.mount_point.clone())
        .with("CreationClassName", "Win32_Volume")
        .with_key("DeviceID", device_id)
        .with("DriveLetter", Value::Null)
        .with("DriveType", drive_type(m))
        .with("FileSystem", m.fs_type.clone())
        .with("FreeSpace", free)
        .with("Label", label)
        .with("MaximumFileNameLength", name_max)
        .with("Name", m.mount_point.clone())
        .with("SerialNumber", Value::Null)
        .with("SystemCreationClassName", "Win32_ComputerSystem")
        .with("SystemName", host.to_owned())
        .with(
            "SystemVolume",
            m.mount_point == "/boot" || m.mount_point == "/boot/efi",
        )
}

const VOLUME_PROPERTIES: [Property; 44] = merged(
    &DRIVE,
    &[
        ("Automount", "boolean"),
        ("BootVolume", "boolean"),
        ("Capacity", "uint64"),
        ("DirtyBitSet", "boolean"),
        ("DriveLetter", "string"),
        ("IndexingEnabled", "boolean"),
        ("Label", "string"),
        ("MaximumFileNameLength", "uint32"),
        ("PageFilePresent", "boolean"),
        ("QuotasEnabled", "boolean"),
        ("SerialNumber", "uint32"),
        ("SystemVolume", "boolean"),
    ],
);

const VOLUME: ClassSchema = ClassSchema::without_methods(
    "Win32_Volume",
    "root/cimv2",
    &["DeviceID"],
    &[],
    "CIM_StorageVolume",
    &VOLUME_PROPERTIES,
);

impl Class for Volume {
    schema!(VOLUME);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        let host = procfs::host_name();
        Ok(host_drives().iter().map(|m| volume(m, &host)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
28 27 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw
29 27 254:16 / /srv/my\\040data ro,relatime - xfs /dev/vdb ro
30 27 254:0 /var/lib/x /mnt/bind rw,relatime - ext4 /dev/vda rw
31 27 0:50 / /mnt/share rw,relatime - nfs4 server:/export rw
garbage line
";

    #[test]
    fn drives_are_device_and_network_mounts_once_each() {
        let nodev = nodev_types("nodev\tproc\nnodev\ttmpfs\n\text4\n\txfs\nnodev\tnfs4\n");
        let drives = drives(parse_mountinfo(MOUNTINFO), &nodev);
        let points: Vec<_> = drives.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(points, ["/", "/srv/my data", "/mnt/share"]);
        assert!(drives[1].read_only);
        assert_eq!(drives[1].source, "/dev/vdb");
        assert_eq!(drive_type(&drives[2]), 4);
        assert_eq!(access(&drives[0]), 3);
    }

    #[test]
    fn escapes_and_guids() {
        assert_eq!(unescape("a\\040b\\134c\\0"), "a b\\c\\0");
        assert_eq!(unescape_udev("my\\x20disk"), "my disk");
        assert!(is_guid("0f3c5a1e-3b7e-4c1d-9b51-2a1c2e3d4f5a"));
        assert!(!is_guid("1234-ABCD"));
    }
}
