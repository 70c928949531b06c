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

/// The sensors' SDRs (sdrcomp's input). ID strings have lower-case letters so sdrcomp keeps
/// them 8-bit ASCII.
const SDRS: &str = r#"
sdr type 18
	device_slave_address	0x20
	device_channel_number	0
	chassis			true
	ipmb_event_gen		false
	ipmb_event_recv		false
	fru_inventory		false
	sel			true
	sdr			true
	sensor			true
	entity_id		system_board
	entity_instance		1
	id_string		"wsman bmc"
endsdr
sdr type 1
	sensor_owner_id		0x20
	sensor_owner_lun	0
	channel_number		0
	sensor_number		1
	entity_id		processor
	entity_instance		1
	sensor_type		Temperature
	init_scanning		true
	init_sensor_type	true
	default_sensor_scan_on	true
	event_reading_type_code	1
	analog_data_format	2s_complement
	rate_unit		none
	modifier_unit		none
	percentage		false
	base_unit		degrees_C
	modifier_unit_code	unspecified
	linearization		linear
	m			1
	tolerance		0
	b			0
	accuracy		1
	accuracy_exp		0
	sensor_direction	input
	r_exp			0
	b_exp			0
	unc_thrsh_readable	true
	uc_thrsh_readable	true
	unr_thrsh_readable	true
	sensor_maximum		127
	sensor_minimum		0
	id_string		"Cpu Temp"
endsdr
sdr type 1
	sensor_owner_id		0x20
	sensor_owner_lun	0
	channel_number		0
	sensor_number		2
	entity_id		fan_cooling_device
	entity_instance		1
	sensor_type		Fan
	init_scanning		true
	init_sensor_type	true
	default_sensor_scan_on	true
	event_reading_type_code	1
	analog_data_format	unsigned
	rate_unit		none
	modifier_unit		none
	percentage		false
	base_unit		RPM
	modifier_unit_code	unspecified
	linearization		linear
	m			60
	tolerance		0
	b			0
	accuracy		1
	accuracy_exp		0
	sensor_direction	input
	r_exp			0
	b_exp			0
	lnc_thrsh_readable	true
	lc_thrsh_readable	true
	sensor_maximum		255
	sensor_minimum		0
	id_string		"Fan 1"
endsdr
sdr type 1
	sensor_owner_id		0x20
	sensor_owner_lun	0
	channel_number		0
	sensor_number		3
	entity_id		system_board
	entity_instance		1
	sensor_type		Voltage
	init_scanning		true
	init_sensor_type	true
	default_sensor_scan_on	true
	event_reading_type_code	1
	analog_data_format	unsigned
	rate_unit		none
	modifier_unit		none
	percentage		false
	base_unit		Volts
	modifier_unit_code	unspecified
	linearization		linear
	m			5
	tolerance		0
	b			0
	accuracy		1
	accuracy_exp		0
	sensor_direction	input
	r_exp			-3
	b_exp			0
	lc_thrsh_readable	true
	uc_thrsh_readable	true
	nominal_specified	true
	nominal_reading		240
	sensor_maximum		250
	sensor_minimum		35
	id_string		"Vcore"
endsdr
sdr type 2
	sensor_owner_id		0x20
	sensor_owner_lun	0
	channel_number		0
	sensor_number		4
	entity_id		system_chassis
	entity_instance		1
	sensor_type		Physical_Security
	init_scanning		true
	init_sensor_type	true
	default_sensor_scan_on	true
	event_reading_type_code	0x6f
	id_string		"Intrusion"
endsdr
"#;

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
        std::fs::write(dir.path().join("sim.sdrs"), SDRS).expect("write the SDRs");
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
