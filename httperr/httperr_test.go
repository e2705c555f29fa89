package httperr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/httperr"
)

// lastKind is the last kind fault declares; TestAnswer_Kinds fails when a
// kind is added without a row here.
const lastKind = fault.Cancelled

func TestAnswer_Kinds(t *testing.T) {
	tests := []struct {
		kind       fault.Kind
		wantStatus int
		wantCode   string
	}{
		{fault.Internal, 500, "InternalError"},
		{fault.NotFound, 404, "ProfileNotFound"},
		{fault.NoKeys, 404, "NoKeys"},
		{fault.InvalidConfig, 400, "InvalidConfig"},
		{fault.InvalidInput, 400, "InvalidInput"},
		{fault.Unsupported, 400, "UnsupportedSource"},
		{fault.LoginRequired, 401, "LoginRequired"},
		{fault.Forbidden, 403, "Forbidden"},
		{fault.KeychainLocked, 503, "KeychainLocked"},
		{fault.KeychainUnavailable, 503, "KeychainUnavailable"},
		{fault.STSUnavailable, 503, "STSUnavailable"},
		{fault.Throttled, 503, "Throttling"},
		{fault.Refused, 403, "AccessDenied"},
		{fault.Cancelled, 503, "Cancelled"},
	}
	seen := map[fault.Kind]bool{}
	for _, tt := range tests {
		seen[tt.kind] = true
		err := fault.New(tt.kind, "what went wrong")
		status, code, message := httperr.Answer(err)
		if status != tt.wantStatus || code != tt.wantCode || message != "what went wrong" {
			t.Errorf("Answer(%v error) = %d, %q, %q, want %d, %q, %q", tt.kind, status, code, message, tt.wantStatus, tt.wantCode, "what went wrong")
		}
	}
	for k := fault.Internal; k <= lastKind; k++ {
		if !seen[k] {
			t.Errorf("kind %v has no row in TestAnswer_Kinds", k)
		}
	}
	if k := lastKind + 1; k.String() != fmt.Sprintf("Kind(%d)", int(k)) {
		t.Errorf("fault declares %v after %v: add it to TestAnswer_Kinds and move lastKind", k, lastKind)
	}
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"edge error", httperr.Errorf(http.StatusNotFound, "NotFound", "no such path %q", "/x"), 404, "NotFound", `no such path "/x"`},
		{"wrapped edge error", fmt.Errorf("route: %w", httperr.Errorf(http.StatusForbidden, "InvalidHost", "wrong host")), 403, "InvalidHost", "wrong host"},
		{"plain", errors.New("boom"), 500, "InternalError", "boom"},
		{"code overrides the kind's", &fault.Error{Kind: fault.Refused, Code: "ExpiredToken", Message: "the session expired"}, 403, "ExpiredToken", "the session expired"},
		{"code through %w", fmt.Errorf("assume role: %w", &fault.Error{Kind: fault.STSUnavailable, Code: "CredentialsExpired", Message: "past"}),
			503, "CredentialsExpired", "assume role: past"},
		{"kind through %w twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", fault.New(fault.NotFound, "no profile"))), 404, "ProfileNotFound", "a: b: no profile"},
		{"message from the wrapped error", fault.Wrap(fault.KeychainLocked, errors.New("the collection is locked")), 503, "KeychainLocked", "the collection is locked"},
		{"unknown kind", fault.New(fault.Kind(99), "odd"), 500, "InternalError", "odd"},
		{"success status", httperr.Errorf(http.StatusOK, "Odd", "odd"), 500, "Odd", "odd"},
		{"no status", httperr.Errorf(0, "Odd", "odd"), 500, "Odd", "odd"},
		{"redirect status", httperr.Errorf(http.StatusFound, "Odd", "odd"), 500, "Odd", "odd"},
		{"status below 4xx", httperr.Errorf(399, "Odd", "odd"), 500, "Odd", "odd"},
		{"status beyond 5xx", httperr.Errorf(600, "Odd", "odd"), 500, "Odd", "odd"},
		{"lowest error status", httperr.Errorf(400, "Odd", "odd"), 400, "Odd", "odd"},
		{"highest error status", httperr.Errorf(599, "Odd", "odd"), 599, "Odd", "odd"},
		{"empty code and message", httperr.Errorf(http.StatusBadGateway, "", ""), 502, "InternalError", "brokerd failed without saying why: see its log"},
		{"fault without message", &fault.Error{Kind: fault.NoKeys}, 404, "NoKeys", "brokerd failed without saying why: see its log"},
		{"plain without message", errors.New(""), 500, "InternalError", "brokerd failed without saying why: see its log"},
		{"nil", nil, 500, "InternalError", "brokerd failed without saying why: see its log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, message := httperr.Answer(tt.err)
			if status != tt.wantStatus || code != tt.wantCode || message != tt.wantMsg {
				t.Errorf("Answer(%v) = %d, %q, %q, want %d, %q, %q", tt.err, status, code, message, tt.wantStatus, tt.wantCode, tt.wantMsg)
			}

			w := httptest.NewRecorder()
			ws, wc, wm := httperr.Write(w, tt.err)
			if ws != status || wc != code || wm != message {
				t.Errorf("Write(%v) returned %d, %q, %q, want what Answer gives: %d, %q, %q", tt.err, ws, wc, wm, status, code, message)
			}
			checkBody(t, w, tt.wantStatus, tt.wantCode, tt.wantMsg)
		})
	}
}

// checkBody checks that w holds the JSON error body the SDKs read.
func checkBody(t *testing.T, w *httptest.ResponseRecorder, wantStatus int, wantCode, wantMsg string) {
	t.Helper()
	if w.Code != wantStatus {
		t.Errorf("status = %d, want %d", w.Code, wantStatus)
	}
	// The Go SDK parses the body only with exactly this Content-Type.
	if ct := w.Header()["Content-Type"]; !slices.Equal(ct, []string{"application/json"}) {
		t.Errorf("Content-Type = %q, want exactly [application/json]", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body = %q, want JSON: %v", w.Body, err)
	}
	if len(body) != 2 || body["code"] != wantCode || body["message"] != wantMsg {
		t.Errorf("body = %s, want {code: %q, message: %q}", w.Body, wantCode, wantMsg)
	}
}

func TestWrite_EscapesJSON(t *testing.T) {
	msg := "a \"quoted\" name, a \\ and a </script> with \x00 and \xff"
	w := httptest.NewRecorder()
	httperr.Write(w, fault.New(fault.InvalidInput, "%s", msg))
	var body struct{ Code, Message string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("Write of message %q = %q, want JSON: %v", msg, w.Body, err)
	}
	// encoding/json writes invalid UTF-8 as U+FFFD.
	if want := "a \"quoted\" name, a \\ and a </script> with \x00 and \uFFFD"; body.Message != want {
		t.Errorf("Write of message %q read back %q, want %q", msg, body.Message, want)
	}
}

func TestRecover(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h := httperr.Recover(zap.New(core), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("a bug") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/x", nil))

	checkBody(t, w, 500, "InternalError", "brokerd hit a bug and logged it: please report it with brokerd's log")
	panics := logs.FilterMessage("request handler panicked").All()
	if len(panics) != 1 {
		t.Fatalf("logged %d panics, want 1: %v", len(panics), logs.All())
	}
	fields := panics[0].ContextMap()
	if fields["path"] != "/v1/x" || fields["panic"] != "a bug" || fields["stack"] == "" {
		t.Errorf("panic logged with %v, want its path, value and stack", fields)
	}
}

func TestRecover_Passes(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := httperr.Recover(zap.New(core), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("short and stout"))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusTeapot || w.Body.String() != "short and stout" || w.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("Recover around a handler that does not panic = %d %q %q, want its own answer", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if logs.Len() != 0 {
		t.Errorf("Recover logged %v, want nothing", logs.All())
	}
}

// TestRecover_AbortHandler checks that http.ErrAbortHandler, which
// net/http uses to drop a connection quietly, goes on up.
func TestRecover_AbortHandler(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := httperr.Recover(zap.New(core), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	w := httptest.NewRecorder()
	got := func() (v any) {
		defer func() { v = recover() }()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		return nil
	}()
	if got != http.ErrAbortHandler {
		t.Errorf("Recover around panic(http.ErrAbortHandler) panicked with %v, want http.ErrAbortHandler", got)
	}
	if w.Body.Len() != 0 || logs.Len() != 0 {
		t.Errorf("Recover around panic(http.ErrAbortHandler) wrote %q and logged %v, want neither", w.Body, logs.All())
	}
}

func TestError(t *testing.T) {
	err := httperr.Errorf(http.StatusTeapot, "Teapot", "%d cups", 3)
	var e *httperr.Error
	if !errors.As(err, &e) || e.Status != http.StatusTeapot || e.Code != "Teapot" || e.Message != "3 cups" || err.Error() != "3 cups" {
		t.Errorf("Errorf(418, Teapot, %%d cups, 3) = %#v, want status 418, code Teapot, message %q", err, "3 cups")
	}
}
