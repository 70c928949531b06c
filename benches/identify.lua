-- wrk script: POST an authenticated Identify over keep-alive, then print one machine-readable
-- line with throughput, latency percentiles and errors for benches/identify.sh to read.
--
-- The Authorization value comes from the environment (WSMAN_BENCH_AUTH) so it never appears in
-- this file or on a command line.

wrk.method = "POST"
wrk.path = "/wsman"
wrk.body = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    .. 'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    .. '<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>'
wrk.headers["Content-Type"] = "application/soap+xml;charset=UTF-8"
wrk.headers["Connection"] = "Keep-Alive"
local auth = os.getenv("WSMAN_BENCH_AUTH")
if auth ~= nil and auth ~= "" then
    wrk.headers["Authorization"] = auth
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout
    io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d requests=%d errors=%d non2xx=%d\n",
        summary.requests / seconds, latency:percentile(50), latency:percentile(99),
        summary.requests, errors, summary.errors.status))
end
