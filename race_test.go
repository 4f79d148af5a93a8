//go:build race

package main

// raceEnabled: the race detector adds allocations of its own (sync.Pool
// drops items at random), so allocation budgets do not apply.
const raceEnabled = true
