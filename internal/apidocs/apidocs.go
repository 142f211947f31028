// Package apidocs serves the interactive API documentation (/docs) from
// files embedded in the binary: Swagger UI at a pinned version
// (assets/README.md says which, with its licence and checksums). The page
// loads nothing from another host, so it works offline and behind
// firewalls, and its Content-Security-Policy forbids it to.
package apidocs

import (
	"embed"
	"io/fs"
	"net/http"
)

// Version is the vendored swagger-ui-dist release.
const Version = "5.31.1"

//go:embed assets/swagger-ui-bundle.js assets/swagger-ui.css assets/init.js assets/favicon-32x32.png
//go:embed assets/LICENSE assets/NOTICE assets/swagger-ui-bundle.js.LICENSE.txt
var assets embed.FS

// contentSecurityPolicy allows the page this server's own scripts, styles,
// images and API calls, and nothing else. Swagger UI sets inline style
// attributes, hence 'unsafe-inline' for styles only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// page is the documentation page. Its links are relative ("docs/assets/…"
// from /docs resolves to /docs/assets/…), so the page also works behind a
// reverse proxy that mounts the API under a prefix.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SpendSense Operator API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec="openapi.json"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/init.js"></script>
</body>
</html>
`

// Register adds GET /docs (the page) and GET /docs/assets/ (its files) to
// mux. The page reads the OpenAPI document from /openapi.json.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write([]byte(page))
	})
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic("apidocs: " + err.Error()) // the embed pattern guarantees the folder
	}
	files := http.StripPrefix("/docs/assets/", http.FileServerFS(sub))
	mux.Handle("GET /docs/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		// The files change only with the binary; a day is long enough to
		// save the 1.5 MB on every visit and short enough after an upgrade.
		h.Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
}
