//go:build !linux

package engine

import "time"

var processStart = time.Now()

// threadCPU falls back to wall time where the thread's CPU time cannot be read.
func threadCPU() time.Duration { return time.Since(processStart) }

const cpuClock = false
