// A Windows host for the browser test, answering with recorded Windows WinRM responses
// (crates/wsman-proto/tests/fixtures/windows/, each with its provenance in that README).
//
//   node windows-replay.mjs FIXTURES_DIR [--updates DOCUMENTED_DIR]
//
// Listens on a free 127.0.0.1 port (printed as `listening PORT`) and answers POST /wsman:
// Identify with the Windows Server 2008 R2 answer, an Enumerate of Win32_Process and its Pull
// with the 2008 R2 recording, a Get of winrm/config with the recorded config, and anything else
// with Windows' recorded fault for an unknown class (HTTP 500). The answer's RelatesTo is the
// request's MessageID. Credentials are not checked: this is a recording, not a server.
//
// With --updates, a host of Windows Update's classes as well: Identify with the Server 2012 R2
// recording, an Enumerate of Win32_OperatingSystem with the Server 2012 recording (so the
// console knows it for Windows), and MSFT_WUOperations' and MSFT_WUSettings' methods with the
// answers of DOCUMENTED_DIR (crates/wsman-proto/tests/fixtures/windows-documented/updates/),
// which were built from Microsoft's documentation of the classes, not recorded (that README).

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const updatesAt = process.argv.indexOf('--updates');
const documentedDir = updatesAt > 0 ? process.argv[updatesAt + 1] : null;
const load = (path) => readFileSync(join(dir, path), 'utf8');
const recorded = {
  identify: load(documentedDir ? 'identify/identify.response.anonymous.server2012r2.xml' : 'identify/identify.response.anonymous.server2008r2.xml'),
  enumerate: load('enumerate/enumerate-wmi-win32_process.response.xml'),
  pull: load('enumerate/pull-wmi-win32_process.response.xml'),
  config: load('config/get-config.response.xml'),
  fault: load('faults/fault.enumerate-class-not-found.xml'),
};
const MAX_BODY = 512 * 1024;
/// Windows Update's methods (`/CLASS/METHOD<` in the request's Action) and their documented
/// answers, with --updates only.
const documented = documentedDir ? {
  '/MSFT_WUOperations/ScanForUpdates<': 'scan-for-updates.response.xml',
  '/MSFT_WUOperations/InstallUpdates<': 'install-updates.response.xml',
  '/MSFT_WUSettings/IsPendingReboot<': 'is-pending-reboot.response.xml',
  '/MSFT_WUSettings/GetLastScanSuccessDate<': 'get-last-scan-success-date.response.xml',
  '/MSFT_WUSettings/GetLastUpdateInstallationDate<': 'get-last-update-installation-date.response.xml',
} : {};
for (const [action, file] of Object.entries(documented)) documented[action] = readFileSync(join(documentedDir, file), 'utf8');
const operatingSystem = documentedDir ? load('health/server_2012/Win32_OperatingSystem_star_000.xml') : null;

function choose(body) {
  for (const [action, xml] of Object.entries(documented)) {
    if (body.includes(`/WindowsUpdate${action}`)) return [200, xml];
  }
  if (operatingSystem && body.includes('enumeration/Enumerate<') && body.includes('/Win32_OperatingSystem<')) return [200, operatingSystem];
  if (body.includes('wsmanidentity.xsd') && body.includes(':Identify')) return [200, recorded.identify];
  if (body.includes('enumeration/Enumerate<') && body.includes('/Win32_Process<')) return [200, recorded.enumerate];
  if (body.includes('enumeration/Pull<')) return [200, recorded.pull];
  if (body.includes('transfer/Get<') && body.includes('/config<')) return [200, recorded.config];
  return [500, recorded.fault];
}

function withRelatesTo(xml, body) {
  const id = /<[A-Za-z0-9]*:?MessageID[^>]*>([^<]*)</.exec(body);
  return id ? xml.replace(/(<[A-Za-z0-9]*:?RelatesTo[^>]*>)[^<]*/, `$1${id[1]}`) : xml;
}

const server = createServer((request, response) => {
  const chunks = [];
  let size = 0;
  request.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      response.writeHead(413).end();
      request.destroy();
      return;
    }
    chunks.push(chunk);
  });
  request.on('end', () => {
    if (request.method !== 'POST' || request.url !== '/wsman') {
      response.writeHead(404).end();
      return;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    const [status, xml] = choose(body);
    const out = Buffer.from(withRelatesTo(xml, body), 'utf8');
    response.writeHead(status, {
      'Content-Type': 'application/soap+xml;charset=UTF-8',
      'Content-Length': out.length,
    });
    response.end(out);
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
// Ends with its parent: the test closes our stdin.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
