package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/server"
)

// fixedCreds serves the same credentials for every profile, as a warm
// cache does.
type fixedCreds struct{ c cache.Credentials }

var _ server.Credentials = (*fixedCreds)(nil)

func (f *fixedCreds) Get(context.Context, string) (cache.Credentials, error) { return f.c, nil }

const (
	benchToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	benchHost  = "127.0.0.1:9911"
)

func benchCreds() cache.Credentials {
	return cache.Credentials{
		Credentials: aws.Credentials{
			AccessKeyID:     "ASIAIOSFODNN7EXAMPLE",
			SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
			// STS session tokens run to several hundred characters.
			SessionToken: strings.Repeat("FQoGZXIvYXdzEBYaDH1k", 20),
			CanExpire:    true,
			Expires:      time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
			AccountID:    "123456789012",
		},
		RoleARN: "arn:aws:iam::123456789012:role/UpdateApp",
	}
}

// benchLogger logs like the daemon (console encoding, info level) into
// io.Discard, so the issuance sampler's cost is counted.
func benchLogger() *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
}

func benchHandler() http.Handler {
	return server.New(&fixedCreds{benchCreds()}, server.Config{
		Token:          benchToken,
		Hosts:          []string{benchHost, "localhost:9911"},
		DefaultProfile: "prod",
		Log:            benchLogger(),
	})
}

// bareHandler is the baseline the endpoint is measured against: fixed JSON
// of the endpoint's size, with no checks at all.
func bareHandler(b *testing.B, h http.Handler) http.Handler {
	b.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, benchRequest())
	body := w.Body.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

func benchRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://"+benchHost+"/v1/credentials/prod", nil)
	r.Header.Set("Authorization", benchToken)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7")
	return r
}

func serveBench(b *testing.B, h http.Handler) {
	r := benchRequest()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s = %d %s, want 200", r.URL, w.Code, w.Body)
	}
	b.SetBytes(int64(w.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

func serveBenchParallel(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := benchRequest()
		for pb.Next() {
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
}

// BenchmarkCredentials is a cached credentials request through the real
// handler: Host and browser checks, token check, routing, JSON body and the
// sampled issuance log.
func BenchmarkCredentials(b *testing.B) { serveBench(b, benchHandler()) }

// BenchmarkBareHandler is a plain handler writing the same body.
func BenchmarkBareHandler(b *testing.B) { serveBench(b, bareHandler(b, benchHandler())) }

func BenchmarkCredentialsParallel(b *testing.B) { serveBenchParallel(b, benchHandler()) }

func BenchmarkBareHandlerParallel(b *testing.B) {
	serveBenchParallel(b, bareHandler(b, benchHandler()))
}
