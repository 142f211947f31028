//go:build !race

package seed_test

const raceDetector = false
