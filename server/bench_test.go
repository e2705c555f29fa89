package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/server"
)

// The benchmarks' figures are in the README; scripts/load measures the
// same comparison over TCP with wrk.

const benchToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func benchCreds() creds.Credentials {
	return creds.Credentials{
		Credentials: aws.Credentials{
			AccessKeyID:     "ASIAIOSFODNN7EXAMPLE",
			SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
			// STS session tokens run to several hundred characters.
			SessionToken: strings.Repeat("FQoGZXIvYXdzEBYaDH1k", 20),
			CanExpire:    true,
			Expires:      time.Now().Add(time.Hour),
			AccountID:    "123456789012",
		},
		RoleARN: "arn:aws:iam::123456789012:role/UpdateApp",
	}
}

// benchHandler is the endpoint over a warm cache, logging like the daemon
// (console encoding, info level) into io.Discard so that the issuance
// sampler and the lines it lets through are counted. fetches counts the
// cache's fetches. clock is the samplers' clock, nil for the real one.
func benchHandler(tb testing.TB, clock clockwork.Clock) (h http.Handler, fetches *atomic.Int64) {
	tb.Helper()
	fetches = new(atomic.Int64)
	cr := benchCreds()
	c := cache.New(func(context.Context, string) (creds.Credentials, error) {
		fetches.Add(1)
		return cr, nil
	}, cache.Config{})
	tb.Cleanup(c.Close)
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	h = server.New(c, server.Config{
		Token:          benchToken,
		Hosts:          []string{srvHost, "localhost:9911"},
		DefaultProfile: "prod",
		Log:            log,
		Clock:          clock,
	})
	w := httptest.NewRecorder()
	r := benchRequest()
	h.ServeHTTP(w, r) // warms the cache
	if w.Code != http.StatusOK {
		tb.Fatalf("GET %s = %d %s, want 200", r.URL, w.Code, w.Body)
	}
	return h, fetches
}

// bareHandler writes the endpoint's body as fixed bytes, with no checks at
// all: the baseline.
func bareHandler(b *testing.B) http.Handler {
	h, _ := benchHandler(b, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, benchRequest())
	body := w.Body.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// benchRequest is what the Go SDK sends.
func benchRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://"+srvHost+"/v1/credentials/prod", nil)
	r.Header.Set("Authorization", benchToken)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7")
	return r
}

// discard is a ResponseWriter that keeps nothing, so that a benchmark
// counts the handler's own costs only.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// serveBench runs h with a new httptest.ResponseRecorder per request, and
// with a reused writer that keeps nothing.
func serveBench(b *testing.B, h http.Handler) {
	r := benchRequest()
	b.Run("recorder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
	b.Run("discard", func(b *testing.B) {
		w := &discard{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := benchRequest()
			for pb.Next() {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	})
}

// BenchmarkCredentials is a cached credentials request through the real
// handler: Host and browser checks, token check, cache lookup, body and
// the sampled issuance log.
func BenchmarkCredentials(b *testing.B) {
	h, fetches := benchHandler(b, nil)
	serveBench(b, h)
	if n := fetches.Load(); n != 1 {
		b.Errorf("the cache fetched %d times, want once (the warm-up)", n)
	}
}

// BenchmarkBareHandler is a plain handler writing the same body.
func BenchmarkBareHandler(b *testing.B) { serveBench(b, bareHandler(b)) }

// TestServer_NoAllocs checks what BenchmarkCredentials/discard shows: a
// cached credentials request through ServeHTTP allocates nothing. The
// samplers' clock does not move, and the requests measured come after the
// window's first lines and before its next sampled one, so that no log line
// is written while they run.
func TestServer_NoAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate")
	}
	h, fetches := benchHandler(t, clockwork.NewFakeClock())
	r := benchRequest()
	w := &discard{h: http.Header{}}
	serve := func() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	for range 20 { // past the first lines of the window
		serve()
	}
	if n := testing.AllocsPerRun(500, serve); n != 0 {
		t.Errorf("a cached request allocates %v times, want 0", n)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || fetches.Load() != 1 {
		t.Errorf("GET %s = %d after %d fetches, want 200 from the one fetch", r.URL, rec.Code, fetches.Load())
	}
}
