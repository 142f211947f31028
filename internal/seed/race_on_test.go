//go:build race

package seed_test

// raceDetector is true when the tests run with -race, which slows the
// seeder several times over.
const raceDetector = true
