package logging

import (
	"log/slog"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{
		"": slog.LevelInfo, "info": slog.LevelInfo, "DEBUG": slog.LevelDebug,
		"warn": slog.LevelWarn, "Warning": slog.LevelWarn, "error": slog.LevelError,
	} {
		if got, err := ParseLevel(name); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, name := range []string{"verbose", "trace", "inf", "0"} {
		_, err := ParseLevel(name)
		if err == nil || !strings.Contains(err.Error(), Levels) {
			t.Errorf("ParseLevel(%q) = %v; want an error naming %s", name, err, Levels)
		}
	}
}
