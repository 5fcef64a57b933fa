-- wrk script: GET with the headers in $HEADERS ("name: value" pairs separated by "|").
for pair in string.gmatch(os.getenv("HEADERS") or "", "[^|]+") do
  local name, value = pair:match("^%s*(.-)%s*:%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end
done = function(summary, latency, requests)
  io.write(string.format("non2xx_or_errors: %d\n",
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
