//go:build race

package eval

// raceEnabled: the race detector adds allocations, so allocation tests skip.
const raceEnabled = true
