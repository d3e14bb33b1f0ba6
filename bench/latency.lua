-- wrk: prints the tail wrk's own summary leaves out (it stops at p99), in µs, for the bench to read.
-- The other scripts load it through BENCH_LATENCY_LUA; alone, it is the script of runs that need none.
function done(summary, latency, requests)
  io.write(string.format("bench-latency p99 %d p99.9 %d max %d\n", latency:percentile(99), latency:percentile(99.9), latency.max))
end
