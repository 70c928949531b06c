'use strict';
// Drives npm's winrm-client against a wsmand on loopback, for
// crates/wsman-server/tests/node_winrm.rs, and prints one JSON line of what the client returned.
//
//   node drive.js run  PORT USER PASSWORD COMMAND   runCommand: one Receive, stdout or else stderr
//   node drive.js poll PORT USER PASSWORD COMMAND   its polled API: Receive until it says complete
//
// A user name with a domain (`DOMAIN\user`) makes the client log in with NTLM, otherwise Basic.
const { runCommand, Shell, Command } = require('winrm-client');

const [mode, port, username, password, command] = process.argv.slice(2);
const host = '127.0.0.1';

async function poll() {
  const params = {
    host,
    port: Number(port),
    path: '/wsman',
    username,
    password,
    authMethod: username.includes('\\') || username.includes('@') ? 'ntlm' : 'basic',
  };
  const shellId = await Shell.doCreateShell(params);
  const shell = { ...params, shellId };
  let stdout = '';
  let stderr = '';
  let receives = 0;
  try {
    const commandId = await Command.doExecuteCommand({ ...shell, command });
    // The client's own loop (monitorCommandOutput) stops at the first End, as this one does.
    for (;;) {
      const result = await Command.doReceiveOutputNonBlocking({ ...shell, command, commandId });
      receives += 1;
      stdout += result.output;
      stderr += result.stderr;
      if (result.isComplete || receives > 1000) {
        break;
      }
    }
  } finally {
    await Shell.doDeleteShell(shell);
  }
  return { stdout, stderr, receives };
}

async function main() {
  let result;
  if (mode === 'run') {
    result = { output: await runCommand(command, host, username, password, Number(port)) };
  } else if (mode === 'poll') {
    result = await poll();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error) => {
  process.stderr.write(`winrm-client failed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
