//go:build race

package engine_test

// raceEnabled: the race detector slows policy programs about tenfold, so tests that need a
// program close to the time budget use smaller ones.
const raceEnabled = true
