package store

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// AcceptedURLForms says, for error messages, what DATABASE_URL may be.
const AcceptedURLForms = "empty (./" + DefaultSQLitePath + "), a path to a SQLite file in an existing folder " +
	"(optionally as sqlite:PATH or file:PATH), or a postgres:// or postgresql:// URL"

// Target is a parsed DATABASE_URL: which engine, and where.
type Target struct {
	Engine Engine
	// Path is the SQLite file; URL the PostgreSQL connection URL.
	Path, URL string
}

// ParseURL checks a DATABASE_URL and says which database it names. It
// refuses, instead of guessing, anything that is neither a PostgreSQL URL
// nor a SQLite file whose folder exists: taken as a file name, a mistyped
// scheme (postgress://, Postgres://, mysql://) would become a new, empty
// SQLite database, and a monitoring check against it would stay green. It
// touches nothing but a stat of the folder.
func ParseURL(databaseURL string) (Target, error) {
	bad := func(why string) (Target, error) {
		return Target{}, fmt.Errorf("DATABASE_URL %q %s; accepted: %s", redactURL(databaseURL), why, AcceptedURLForms)
	}
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		if _, err := url.Parse(databaseURL); err != nil {
			return bad("is not a valid URL")
		}
		return Target{Engine: Postgres, URL: databaseURL}, nil
	}
	if scheme, _, ok := strings.Cut(databaseURL, "://"); ok && scheme != "sqlite" {
		if l := strings.ToLower(scheme); l == "postgres" || l == "postgresql" || l == "sqlite" {
			return bad("must write its scheme in lower case")
		}
		return bad("has the unknown scheme " + scheme + "://")
	}
	if strings.Contains(databaseURL, "=") && strings.Contains(databaseURL, " ") {
		return bad("looks like a key=value connection string")
	}
	path := sqlitePath(databaseURL)
	if strings.TrimSpace(path) == "" {
		return bad("names no file")
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return bad(fmt.Sprintf("is in a folder that does not exist (%s)", dir))
	case !fi.IsDir():
		return bad(fmt.Sprintf("is in %s, which is not a folder", dir))
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return bad("is a folder, not a file")
	}
	return Target{Engine: SQLite, Path: path}, nil
}

func sqlitePath(databaseURL string) string {
	switch {
	case databaseURL == "":
		return DefaultSQLitePath
	case strings.HasPrefix(databaseURL, "sqlite://"):
		return strings.TrimPrefix(databaseURL, "sqlite://")
	case strings.HasPrefix(databaseURL, "sqlite:"):
		return strings.TrimPrefix(databaseURL, "sqlite:")
	case strings.HasPrefix(databaseURL, "file:"):
		if u, err := url.Parse(databaseURL); err == nil && u.Opaque != "" {
			return u.Opaque
		}
		return strings.TrimPrefix(databaseURL, "file:")
	}
	return databaseURL
}

// redactURL hides a password in a URL for messages, even in one that does
// not parse.
func redactURL(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	authority, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	if !hasPassword {
		return s
	}
	return strings.Replace(s, authority[:at], user+":xxxxx", 1)
}
