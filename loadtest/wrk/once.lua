-- wrk script of loadtest/bench_burst.py: GET /<code> for each code of a file exactly once.
--
--   wrk -t1 -c64 -d60s -s loadtest/wrk/once.lua http://127.0.0.1:8080 -- CODES_FILE
--
-- One wrk thread (-t1) hands out the codes in file order; past the last one, connections wait a second before
-- each request, and ask for /robots.txt (no click), until loadtest/bench_burst.py stops wrk (SIGINT).
-- The agent is a phone's, so the clicks count as human in the report. wrk 4.1 asks request() once more than
-- it sends, first: the file's first line is a placeholder for that call (a path that is no code, a 404).
-- done() prints one line "BENCH {json}".

local requests_ = {}
local position = 0

function init(args)
   wrk.headers["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
      .. "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
   for line in io.lines(args[1]) do
      if #line > 0 then
         requests_[#requests_ + 1] = wrk.format("GET", "/" .. line)
      end
   end
end

local idle = wrk.format("GET", "/robots.txt")  -- sent by connections once every code is taken: no click

function request()
   position = position + 1
   if position > #requests_ then
      return idle
   end
   return requests_[position]
end

function delay()
   if position >= #requests_ then
      return 1000  -- every code is taken: the connections idle until loadtest/bench_burst.py stops wrk
   end
   return 0
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx_3xx": %d, "p50_us": %d, "p99_us": %d}\n',
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
      latency:percentile(50), latency:percentile(99)))
end
