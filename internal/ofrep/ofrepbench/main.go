// Command ofrepbench is a test helper, not a product binary: it serves
// either the ceiling handler or the flagops OFREP handler over an in-memory
// snapshot (flags tier-replicas and rollout-50, plus filler for bulk runs;
// static key ofreptest.Key) so scripts/bench-ofrep.sh can load-test OFREP
// reproducibly before the full server exists.
//
//	go run ./internal/ofrep/ofrepbench -mode flagops -addr 127.0.0.1:8080
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/ofrep/ofreptest"
)

func main() {
	mode := flag.String("mode", "flagops", "ceiling or flagops")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flags := flag.Int("flags", 100, "number of flags in the snapshot (bulk answer size)")
	flag.Parse()

	fo, _, err := ofreptest.Handler(*flags)
	if err != nil {
		log.Fatal(err)
	}
	var h http.Handler = fo
	if *mode == "ceiling" {
		// The ceiling's bulk answer is flagops' own answer, byte for byte.
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, ofrep.PathBulk, strings.NewReader(string(ofreptest.Body(1, "pro"))))
		r.Header.Set("X-API-Key", ofreptest.Key)
		fo.ServeHTTP(w, r)
		h = ofreptest.Ceiling(w.Body.Bytes())
	} else if *mode != "flagops" {
		log.Fatalf("unknown -mode %q", *mode)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("ofrepbench: %s on %s", *mode, *addr)
	log.Fatal(srv.ListenAndServe())
}
