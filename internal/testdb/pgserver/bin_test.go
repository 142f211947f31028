package pgserver

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeServerDir makes a folder holding executables named initdb and
// postgres (Bin only looks; it runs neither).
func fakeServerDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBinSearchOrder(t *testing.T) {
	t.Run("SPENDSENSE_PG_BIN first", func(t *testing.T) {
		dir, onPath := fakeServerDir(t), fakeServerDir(t)
		t.Setenv(EnvBin, dir)
		t.Setenv("PATH", onPath+string(os.PathListSeparator)+os.Getenv("PATH"))
		if got := Bin(); got != dir {
			t.Errorf("Bin() = %q, want %q", got, dir)
		}
	})
	t.Run("PATH before pg_config and Debian", func(t *testing.T) {
		onPath := fakeServerDir(t)
		t.Setenv(EnvBin, "")
		t.Setenv("PATH", onPath+string(os.PathListSeparator)+os.Getenv("PATH"))
		if got := Bin(); got != onPath {
			t.Errorf("Bin() = %q, want %q", got, onPath)
		}
	})
	t.Run("pg_config --bindir", func(t *testing.T) {
		bindir := fakeServerDir(t)
		tools := t.TempDir() // pg_config only: initdb is not on PATH
		script := "#!/bin/sh\necho " + bindir + "\n"
		if err := os.WriteFile(filepath.Join(tools, "pg_config"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv(EnvBin, "")
		t.Setenv("PATH", tools)
		if got := Bin(); got != bindir {
			t.Errorf("Bin() = %q, want %q", got, bindir)
		}
	})
	t.Run("a folder without postgres is skipped", func(t *testing.T) {
		half := t.TempDir()
		if err := os.WriteFile(filepath.Join(half, "initdb"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv(EnvBin, half)
		t.Setenv("PATH", t.TempDir())
		if got := Bin(); got == half {
			t.Errorf("Bin() = %q, which has no postgres", got)
		}
	})
}
