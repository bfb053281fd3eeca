-- wrk script of loadtest/bench: GET /<code> over a file of short codes, one code a line.
--
--   wrk -t1 -c64 -d10s -s loadtest/wrk/codes.lua http://127.0.0.1:8090 -- CODES_FILE random|sequential [THREADS]
--
-- random:     each request picks a code at random (a warm cache after the first pass);
-- sequential: codes are taken in file order, each once (a cold cache: every request is a first sight);
--             with several wrk threads, thread i takes codes i, i+T, i+2T... ; past the end it wraps and
--             counts the wrap, so the bench can tell a cold run that ran out of codes.
-- BENCH_DELAY_MS (environment): pause before each request on a connection, to hold the rate below the peak.
-- done() prints one line "BENCH {json}" that loadtest/bench parses.

local requests_ = {}
local mode = "random"
local position = 0
local stride = 1
wrapped = 0

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   mode = args[2] or "random"
   for line in io.lines(args[1]) do
      if #line > 0 then
         requests_[#requests_ + 1] = wrk.format("GET", "/" .. line)
      end
   end
   stride = tonumber(args[3] or "1")  -- wrk's -t: each thread's state is separate, so the count comes as an arg
   position = (thread_index or 0) + 1
   math.randomseed(os.time() + (thread_index or 0) * 7919)
end

function request()
   if mode == "sequential" then
      local r = requests_[position]
      position = position + stride
      if position > #requests_ then
         position = ((position - 1) % stride) + 1
         wrapped = wrapped + 1
      end
      return r
   end
   return requests_[math.random(#requests_)]
end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
   function delay()
      return pause
   end
end

function done(summary, latency, requests)
   local wraps = 0
   for _, thread in ipairs(threads) do
      wraps = wraps + (thread:get("wrapped") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, '
         .. '"status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
         .. '"mean_us": %.1f, "wrapped": %d}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean, wraps))
end
