//! A real BMC for the hardware tests: OpenIPMI's `ipmi_sim` (Debian's `openipmi`) on a free
//! 127.0.0.1 UDP port, with a LAN channel speaking RMCP+, an SDR repository compiled by
//! `sdrcomp` (a temperature, a fan and a voltage sensor with thresholds, and a discrete
//! intrusion sensor) and a SEL. Killed and its state directory deleted on drop.
//!
//! Tests compare what wsmand says with what `ipmitool` ([`IpmiSim::ipmitool`]) says about the
//! same simulator, never with literals. When `ipmi_sim` is not installed, [`IpmiSim::start`]
//! prints why and returns `None`; set `WSMAN_TEST_REQUIRE_IPMI=1` to make that a failure.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process;

/// The administrator of the simulated BMC.
pub const BMC_USER: &str = "wsmanbmc";
pub const BMC_PASSWORD: &str = "bmc-Pass-1";
/// Accounts of the simulated BMC below Administrator: (name, password, the privilege's
/// name as `bmc.toml` writes it).
pub const BMC_OPERATOR: (&str, &str, &str) = ("wsmanop", "bmc-Oper-2", "Operator");
pub const BMC_READER: (&str, &str, &str) = ("wsmanuser", "bmc-User-3", "User");

const TOOLS: [&str; 3] = ["ipmi_sim", "sdrcomp", "ipmitool"];

/// The simulator's name; its state lives in `STATE/ipmi_sim/NAME`.
const NAME: &str = "wsmansim";

/// The sensors' SDRs (sdrcomp's input): the BMC's locator, three analog sensors and the
/// chassis intrusion switch. ID strings have lower-case letters so sdrcomp keeps them 8-bit
/// ASCII.
fn sdrs() -> String {
    let bmc = "sdr type 18\n\tdevice_slave_address 0x20\n\tdevice_channel_number 0\n\
               \tchassis true\n\tipmb_event_gen false\n\tipmb_event_recv false\n\
               \tfru_inventory false\n\tsel true\n\tsdr true\n\tsensor true\n\
               \tentity_id system_board\n\tentity_instance 1\n\tid_string \"wsman bmc\"\nendsdr\n";
    let cpu = analog(
        "2s_complement",
        "degrees_C",
        (1, 0),
        "unc uc unr",
        (0, 127),
        "",
    );
    let fan = analog("unsigned", "RPM", (60, 0), "lnc lc", (0, 255), "");
    let vcore = analog(
        "unsigned",
        "Volts",
        (5, -3),
        "lc uc",
        (35, 250),
        "\tnominal_specified true\n\tnominal_reading 240\n",
    );
    [
        bmc.to_owned(),
        sensor(1, 1, ("processor", "Temperature"), "1", &cpu, "Cpu Temp"),
        sensor(1, 2, ("fan_cooling_device", "Fan"), "1", &fan, "Fan 1"),
        sensor(1, 3, ("system_board", "Voltage"), "1", &vcore, "Vcore"),
        sensor(
            2,
            4,
            ("system_chassis", "Physical_Security"),
            "0x6f",
            "",
            "Intrusion",
        ),
    ]
    .concat()
}

/// The SDR of sensor `number` of record type `kind` (1 analog, 2 compact) on the BMC: its
/// entity and sensor type, its event/reading type code, the record's `rest`, its ID string.
fn sensor(
    kind: u8,
    number: u8,
    (entity, sensor_type): (&str, &str),
    reading_code: &str,
    rest: &str,
    id: &str,
) -> String {
    format!(
        "sdr type {kind}\n\tsensor_owner_id 0x20\n\tsensor_owner_lun 0\n\tchannel_number 0\n\
         \tsensor_number {number}\n\tentity_id {entity}\n\tentity_instance 1\n\
         \tsensor_type {sensor_type}\n\tinit_scanning true\n\tinit_sensor_type true\n\
         \tdefault_sensor_scan_on true\n\tevent_reading_type_code {reading_code}\n\
         {rest}\tid_string \"{id}\"\nendsdr\n"
    )
}

/// An analog sensor's reading: `format`, in `unit`, linear (the raw value times
/// `m`·10^`r_exp`), the thresholds named in `readable` (`lc uc`: lower and upper critical)
/// readable, within `range` (raw), then `extra` lines.
fn analog(
    format: &str,
    unit: &str,
    (m, r_exp): (i32, i32),
    readable: &str,
    (minimum, maximum): (i32, i32),
    extra: &str,
) -> String {
    let thresholds: String = readable
        .split(' ')
        .map(|threshold| format!("\t{threshold}_thrsh_readable true\n"))
        .collect();
    format!(
        "\tanalog_data_format {format}\n\trate_unit none\n\tmodifier_unit none\n\
         \tpercentage false\n\tbase_unit {unit}\n\tmodifier_unit_code unspecified\n\
         \tlinearization linear\n\tm {m}\n\ttolerance 0\n\tb 0\n\taccuracy 1\n\
         \taccuracy_exp 0\n\tsensor_direction input\n\tr_exp {r_exp}\n\tb_exp 0\n\
         {thresholds}{extra}\tsensor_maximum {maximum}\n\tsensor_minimum {minimum}\n"
    )
}

/// The simulator's command file: the BMC, its SEL, and the sensors' values and thresholds
/// (the fan reads above its lower thresholds; the CPU temperature is past its upper
/// non-critical threshold, so one state is not "Normal").
const EMU: &str = "mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 128 0x0a
sensor_add 0x20 0 1 0x01 0x01
sensor_set_value 0x20 0 1 83 0
sensor_set_threshold 0x20 0 1 settable 111000 95 90 80 00 00 00
sensor_add 0x20 0 2 0x04 0x01
sensor_set_value 0x20 0 2 90 0
sensor_set_threshold 0x20 0 2 settable 000011 00 00 00 00 10 20
sensor_add 0x20 0 3 0x02 0x01
sensor_set_value 0x20 0 3 60 0
sensor_set_threshold 0x20 0 3 settable 010010 00 70 00 00 50 00
sensor_add 0x20 0 4 0x05 0x6f
sensor_set_bit_clr_rest 0x20 0 4 0 1 0
mc_enable 0x20
";

/// SEL entries the test adds with `ipmitool sel add` (event message revision, sensor type,
/// sensor number, event direction/type, event data 1..3).
/// The fourth is the first one's deassertion.
pub const SEL_EVENTS: &str = "0x04 0x01 0x01 0x01 0x59 0x53 0x50\n\
                              0x04 0x04 0x02 0x01 0x52 0x0a 0x14\n\
                              0x04 0x05 0x04 0x6f 0x00 0xff 0xff\n\
                              0x04 0x01 0x01 0x81 0x59 0x53 0x50\n";

/// A running `ipmi_sim`; killed on drop.
pub struct IpmiSim {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl IpmiSim {
    /// Start a simulator, or `None` (with the reason printed) when OpenIPMI or ipmitool is
    /// missing. Panics when they are there but the BMC does not answer: a real failure.
    pub fn start() -> Option<IpmiSim> {
        if let Some(missing) = TOOLS.iter().find(|t| !on_path(t)) {
            let reason =
                format!("{missing} not found: install openipmi and ipmitool (scripts/lib.sh)");
            crate::skipped("WSMAN_TEST_REQUIRE_IPMI", &reason);
            return None;
        }
        let dir = crate::scratch_dir("wsman-ipmi-", "ipmi_sim");
        let state = dir.path().join("state").join("ipmi_sim").join(NAME);
        std::fs::create_dir_all(&state).expect("state directory");
        std::fs::write(dir.path().join("sim.sdrs"), sdrs()).expect("write the SDRs");
        std::fs::write(dir.path().join("sim.emu"), EMU).expect("write the command file");
        process::run_ok(
            Command::new("sdrcomp")
                .arg("-o")
                .arg(state.join("sdr.20.main"))
                .arg(dir.path().join("sim.sdrs")),
            Duration::from_secs(30),
            "sdrcomp",
        );
        let port = free_udp_port();
        std::fs::write(dir.path().join("lan.conf"), lan_conf(port)).expect("write lan.conf");
        let child = Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.path().join("lan.conf"))
            .arg("-f")
            .arg(dir.path().join("sim.emu"))
            .arg("-s")
            .arg(dir.path().join("state"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sim.log")).expect("log file"))
            .spawn()
            .expect("start ipmi_sim");
        let mut sim = IpmiSim { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if sim.try_ipmitool(&["mc", "info"]).is_some() {
                break;
            }
            if let Ok(Some(status)) = sim.child.try_wait() {
                panic!("ipmi_sim exited ({status}): {}", sim.log());
            }
            assert!(
                Instant::now() < deadline,
                "ipmi_sim did not answer: {}",
                sim.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(sim)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `bmc.toml` that points wsmand at this simulator.
    pub fn bmc_toml(&self) -> String {
        format!(
            "address = \"127.0.0.1:{}\"\nuser = \"{BMC_USER}\"\npassword = \"{BMC_PASSWORD}\"\n",
            self.port
        )
    }

    /// The `bmc.toml` that reads this simulator as `account` ([`BMC_OPERATOR`],
    /// [`BMC_READER`]), at the account's own privilege.
    pub fn bmc_toml_as(&self, account: (&str, &str, &str)) -> String {
        let (user, password, privilege) = account;
        format!(
            "address = \"127.0.0.1:{}\"\nuser = \"{user}\"\npassword = \"{password}\"\n\
             privilege = \"{privilege}\"\n",
            self.port
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ipmitool");
        c.args(["-I", "lanplus", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", BMC_USER, "-P", BMC_PASSWORD, "-N", "2", "-R", "3"])
            // Cipher suite 3, the one wsmand uses. Without -C ipmitool first asks for the
            // channel's cipher suites outside a session, which ipmi_sim never answers: three
            // timed-out tries, about 9 s per call.
            .args(["-C", "3"])
            .args(args);
        c
    }

    fn try_ipmitool(&self, args: &[&str]) -> Option<String> {
        let finished = process::run(&mut self.command(args), None, Duration::from_secs(30));
        finished.status.success().then_some(finished.stdout)
    }

    /// `ipmitool -I lanplus` against this simulator; panics when it fails.
    pub fn ipmitool(&self, args: &[&str]) -> String {
        let finished = process::run(&mut self.command(args), None, Duration::from_secs(60));
        assert!(
            finished.status.success(),
            "ipmitool {args:?}: {}",
            finished.describe()
        );
        finished.stdout
    }

    /// Add the entries of `events` (lines of `ipmitool sel add`'s format) to the SEL.
    pub fn add_sel_events(&self, events: &str) {
        let file = self.dir.path().join("events.txt");
        std::fs::write(&file, events).expect("write the events");
        self.ipmitool(&["sel", "add", file.to_str().expect("UTF-8 path")]);
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lan_conf(port: u16) -> String {
    format!(
        "name \"{NAME}\"\n\
         set_working_mc 0x20\n\
         \x20 startlan 1\n\
         \x20   addr 127.0.0.1 {port}\n\
         \x20   priv_limit admin\n\
         \x20   allowed_auths_callback none md5 straight\n\
         \x20   allowed_auths_user none md5 straight\n\
         \x20   allowed_auths_operator none md5 straight\n\
         \x20   allowed_auths_admin none md5 straight\n\
         \x20   guid a123456789abcdefa123456789abcdef\n\
         \x20 endlan\n\
         \x20 user 2 true \"{BMC_USER}\" \"{BMC_PASSWORD}\" admin 10 none md5 straight\n\
         \x20 user 3 true \"{}\" \"{}\" operator 10 none md5 straight\n\
         \x20 user 4 true \"{}\" \"{}\" user 10 none md5 straight\n",
        BMC_OPERATOR.0, BMC_OPERATOR.1, BMC_READER.0, BMC_READER.1,
    )
}

/// A UDP port that was free on 127.0.0.1 a moment ago.
fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind(("127.0.0.1", 0)).expect("bind udp 127.0.0.1:0");
    socket.local_addr().expect("local_addr").port()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(tool).is_file())
}
