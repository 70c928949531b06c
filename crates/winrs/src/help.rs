//! `winrs -?`.

/// The help text (stdout for `-?`, stderr when no command is given).
pub(crate) const HELP: &str = "\
winrs - run a command on a remote host over WinRM (WS-Management)

USAGE
    winrs -r:HOST|URL [-SWITCH[:VALUE]]... COMMAND [ARGS]...

DESCRIPTION
    Opens a remote shell on HOST (a wsmand server or Windows), runs COMMAND in it and
    connects it to this terminal: the remote standard output and standard error are
    written to winrs's own, as they are produced and byte for byte; winrs's standard
    input is forwarded to the command (end of input closes the command's stdin); Ctrl-C
    is sent to the command as a ctrl_c signal. When the command ends, winrs deletes the
    shell and exits with the command's exit code.

    On wsmand, COMMAND and ARGS are joined with spaces and run as `/bin/sh -c \"...\"`
    (cmd.exe /c on Windows), so quote for the remote shell:
        winrs -r:host 'echo \"$HOME\"; exit 3'
    With -skipcmdshell, COMMAND is executed directly and each ARG is passed unchanged.

    Switches come before COMMAND; everything from COMMAND on belongs to the command.
    `--` ends the switches. Switch names are case-insensitive. Unlike Windows, only the
    `-` form is accepted (`/r:` would be ambiguous with Linux paths).

CONNECTION
    -r:HOST | -remote:HOST
        The endpoint: HOST, HOST:PORT, [IPv6]:PORT, or http(s)://HOST[:PORT][/PATH].
        Default port 5985 (HTTP) or 5986 (HTTPS), path /wsman. Default: localhost.
    -u:USER | -username:USER
        User name: USER, DOMAIN\\USER or USER@DOMAIN.
    -p:PASSWORD | -password:PASSWORD
        Password. When -u: is given without -p:, winrs asks for it on the terminal
        without echo; when stdin is not a terminal, -p: is required (stdin belongs to
        the remote command).
    -a:Negotiate | -a:Kerberos | -a:CredSSP | -a:Basic | -a:Certificate | -a:None
    | -auth:...
        Authentication mechanism. Kerberos uses the caller's ticket cache (KRB5CCNAME;
        kinit first), or gets a ticket with -u:/-p: (user or user@REALM), for the SPN
        HTTP/HOST (-spn:WSMAN for WSMAN/HOST); it proves the server, so TrustedHosts is
        not needed. Negotiate (NTLM, as Windows does without a domain)
        is the default when -u: is given; -a:Default means the same. Over HTTP every
        message is then encrypted with the session key, over HTTPS the login is bound
        to the TLS channel. CredSSP logs in with NTLM inside TLS, then delegates the
        -u:/-p: password to the server so the remote command can use it for a second
        hop; over HTTP every message is encrypted with that TLS session (the server
        needs Service/Auth/CredSSP=true). Basic sends the password with every request.
        Certificate uses a TLS client certificate (HTTPS only, with -certificate:).
    -spn:HTTP | -spn:WSMAN
        The service part of the server's Kerberos principal (-a:Kerberos; default HTTP).
    -certificate:THUMBPRINT | -certificate:FILE
        The client certificate for -a:Certificate: a thumbprint of a certificate in the
        configuration directory's certs/ (THUMBPRINT.crt and .key), or a PEM file with
        the certificate and its key (or the key next to it as FILE.key).
    -un | -unencrypted
        Send messages unencrypted over plain HTTP (needed for Basic over HTTP; the
        password then travels in clear text). Needs Client/AllowUnencrypted=true on
        this machine and Service/AllowUnencrypted=true on the server.
    -ssl | -usessl
        Use HTTPS for a HOST given without a scheme.
    -transport:http|https
        The same choice as a switch: -transport:https equals -usessl.
    -skipCAcheck
        Accept a server certificate no trusted CA vouches for (test hosts only).
    -skipCNcheck
        Accept a server certificate issued for another host name (test hosts only).
    -cacert:FILE
        Trust the PEM certificates in FILE (e.g. the server's self-signed certificate).
    -t:MS | -timeout:MS
        Operation timeout in milliseconds (default 60000): how long one Receive waits
        for output before asking again. Not a limit on the command's run time.

CLIENT SETTINGS
    Like Windows, winrs obeys this machine's WinRM client configuration
    (winrm/config/client in $WSMAND_CONFIG_DIR, default /etc/wsmand; set it with
    `winrm set winrm/config/client @{...}`):
    TrustedHosts      Any authentication over plain HTTP but -a:Kerberos needs the host
                      in this list (comma-separated names or addresses, * wildcards, *
                      for all, <local> for names without a dot): without Kerberos, HTTP
                      does not prove who the server is. Empty by default: use HTTPS, or
                      add the host.
    AllowUnencrypted  Must be true for -unencrypted (default false).

SHELL
    -d:PATH | -directory:PATH
        Working directory of the command (default: the user's home directory).
    -env:KEY=VALUE | -environment:KEY=VALUE
        Set an environment variable for the command; repeat for several.
    -nop | -noprofile
        Do not load the user's profile (WINRS_NOPROFILE).
    -cp:N | -codepage:N
        Code page of the stream bytes (WINRS_CODEPAGE). Default 65001 (UTF-8); winrs
        never transcodes, bytes pass unchanged both ways.
    -skipcmdshell
        Run COMMAND directly instead of through the shell interpreter
        (WINRS_SKIP_CMD_SHELL).
    -noe | -noecho
        Send stdin as a pipe rather than a console (WINRS_CONSOLEMODE_STDIN=FALSE).
    -? | -h | --help
        This help.

CTRL-C
    The first Ctrl-C sends ctrl_c to the command (SIGINT to its process group on
    wsmand); the command decides what to do, and its exit code is reported as usual
    (130 when SIGINT ended it). A second Ctrl-C terminates the command and ends winrs
    with exit code 130. SIGTERM or SIGHUP (the terminal closed) terminate the command,
    delete the shell and end winrs with 143 or 129.

EXIT STATUS
    0-255   The remote command's exit code. A code outside 0-255 (Windows NTSTATUS
            values such as 3221225786, negative values) is reported as 255, so that a
            failure can never look like success.
    130     Terminated by a second Ctrl-C (also what a command killed by ctrl_c returns).
    129/143 winrs got SIGHUP/SIGTERM; the remote command was terminated.
    250     Usage error: unknown switch, missing value, bad endpoint.
    251     Authentication failed (HTTP 401).
    252     Connection, TLS or HTTP error, or no answer in time.
    253     The server answered with a WS-Management fault (remote shells not allowed,
            quota exceeded, ...) or with a message that is not valid WS-Management.
    254     Local I/O error (reading stdin or the password, writing output).
    Errors are printed to stderr the way Windows' tools print them:
        WSManFault
            Message = ...

        Error number:  -2144108526 0x80338012
        ...

EXAMPLES
    winrs -r:https://server:5986 -u:alice uname -a
    winrs -r:winhost -u:alice -p:secret whoami       (Negotiate, encrypted over HTTP;
                                                      winhost in Client/TrustedHosts)
    winrs -r:https://server:5986 -a:Certificate -certificate:alice.pem id
    kinit alice@EXAMPLE.COM && winrs -r:server.example.com -a:Kerberos id
    winrs -r:server -a:Basic -un -u:alice -p:secret 'ls -l /var/log | head'
    winrs -r:https://server:5986 -a:CredSSP -u:alice -p:secret 'ssh other id'
    tar cf - dir | winrs -r:server -u:alice -p:secret 'tar xf - -C /tmp'
    winrs -r:server -u:alice /bin/sh              (interactive, line by line)
";

#[cfg(test)]
mod tests {
    use super::HELP;

    #[test]
    fn help_names_every_switch_and_exit_code() {
        for needle in [
            "-r:",
            "-u:",
            "-p:",
            "-a:Basic",
            "-a:Negotiate",
            "-a:Kerberos",
            "-a:CredSSP",
            "-spn:",
            "-a:Certificate",
            "-certificate:",
            "-transport:",
            "TrustedHosts",
            "AllowUnencrypted",
            "-unencrypted",
            "-usessl",
            "-skipCAcheck",
            "-skipCNcheck",
            "-directory:",
            "-d:",
            "-env:",
            "-noprofile",
            "-nop",
            "-codepage:",
            "-cp:",
            "-skipcmdshell",
            "-timeout:",
            "250",
            "251",
            "252",
            "253",
            "254",
            "130",
        ] {
            assert!(HELP.contains(needle), "help lacks {needle}");
        }
        assert!(
            HELP.lines().all(|l| l.chars().count() <= 92),
            "help lines too long"
        );
    }
}
