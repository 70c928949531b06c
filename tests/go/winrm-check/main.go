// Command winrm-check drives a WinRM server with masterzen/winrm, the WinRM library of Packer
// and Terraform (its NTLM is go-ntlmssp's), and prints what it saw as key=value lines for the
// test that runs it: the user `id -un` reports, a command's exit code and standard error, and
// the SHA-256 of a stdin stream as the remote sha256sum computed it next to our own.
//
// It is built offline against the distribution's packages (GO111MODULE=off, GOPATH the
// packaged source tree). On a failed request it prints error=... and exits 2.
package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/masterzen/winrm"
)

func main() {
	host := flag.String("host", "127.0.0.1", "server address")
	port := flag.Int("port", 5985, "server port")
	https := flag.Bool("https", false, "HTTPS (the certificate is not verified)")
	auth := flag.String("auth", "basic", "basic or ntlm")
	user := flag.String("user", "", "user name")
	password := flag.String("password", "", "password")
	stdinLen := flag.Int("stdin-bytes", 300000, "bytes of stdin to send to sha256sum")
	flag.Parse()

	endpoint := winrm.NewEndpoint(*host, *port, *https, true, nil, nil, nil, 60*time.Second)
	params := *winrm.DefaultParameters
	switch *auth {
	case "basic":
	case "ntlm":
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	default:
		fail(fmt.Errorf("unknown -auth %q", *auth))
	}
	client, err := winrm.NewClientWithParameters(endpoint, *user, *password, &params)
	if err != nil {
		fail(err)
	}

	var stdout, stderr bytes.Buffer
	code, err := client.Run("id -un", &stdout, &stderr)
	if err != nil {
		fail(err)
	}
	fmt.Printf("user=%s\n", strings.TrimSpace(stdout.String()))
	fmt.Printf("user-exit=%d\n", code)

	stdout.Reset()
	stderr.Reset()
	code, err = client.Run("echo to-stderr >&2; exit 7", &stdout, &stderr)
	if err != nil {
		fail(err)
	}
	fmt.Printf("exit=%d\n", code)
	fmt.Printf("stderr=%s\n", strings.TrimSpace(stderr.String()))

	// Deterministic, non-repeating input: several Send messages at the library's own chunking.
	input := make([]byte, *stdinLen)
	x := uint32(0x9e3779b9)
	for i := range input {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		input[i] = byte(x)
	}
	stdout.Reset()
	stderr.Reset()
	code, err = client.RunWithInput("sha256sum", &stdout, &stderr, bytes.NewReader(input))
	if err != nil {
		fail(err)
	}
	remote := strings.Fields(stdout.String())
	if len(remote) == 0 {
		remote = []string{""}
	}
	fmt.Printf("stdin-local=%x\n", sha256.Sum256(input))
	fmt.Printf("stdin-remote=%s\n", remote[0])
	fmt.Printf("stdin-exit=%d\n", code)
}

func fail(err error) {
	fmt.Printf("error=%s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	os.Exit(2)
}
