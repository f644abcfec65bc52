//go:build race

package client

// raceDetector is true in builds with the race detector.
const raceDetector = true
