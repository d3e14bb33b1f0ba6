# prints cpu ticks of jwtproxy primary and workers
for p in $(pgrep -f "jwtproxy.js -config /tmp/prof/v.yaml"); do echo "$p ppid=$(awk '{print $4}' /proc/$p/stat) ticks=$(awk '{print $14+$15}' /proc/$p/stat)"; done
