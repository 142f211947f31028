package main

import (
	"fmt"
	"os"
	"time"
)

// defaultUndoWindow is how long a decision may be undone unless
// SPENDSENSE_UNDO_WINDOW says otherwise.
const defaultUndoWindow = 5 * time.Minute

// undoWindow reads SPENDSENSE_UNDO_WINDOW: a Go duration ("5m", "90s"), or
// 0 to turn undo off (approvals are then delivered at once).
func undoWindow() (time.Duration, error) {
	v, ok := os.LookupEnv("SPENDSENSE_UNDO_WINDOW")
	if !ok || v == "" {
		return defaultUndoWindow, nil
	}
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("SPENDSENSE_UNDO_WINDOW=%q: want a duration such as 5m, or 0 to turn undo off", v)
	}
	return d, nil
}
