//go:build integration

package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
)

// TestBadNamesKeepDaemonFlat asks a running daemon for 100,000 distinct
// names that no profile can have, or that no profile has: random bytes,
// names with a NUL, invalid UTF-8, 5,000 characters, and valid-looking
// names that are not in the config file or keychain. None may grow the
// daemon's memory (VmRSS within 2 MiB of its value after a warm-up with the
// same mix; less is fine), change brokerd status, or flood its log (under
// 100 lines in any second). Requests go over a few keep-alive connections, on loopback only.
func TestBadNamesKeepDaemonFlat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	if raceEnabled {
		// The race detector's own memory grows with every goroutine and
		// address the daemon touches: measure the binary users run.
		e.daemonPrefix = []string{"sh", "-c", `shift; exec "$0" "$@"`, buildPlain(t)}
	}
	d := e.startDaemon(t, "--default-profile", prod)
	d.credentials(t, prod)

	const workers = 4
	client := &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: workers, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var seq atomic.Int64
	// hammer sends n requests for fresh bad names from the workers and
	// returns the answers by status and code.
	hammer := func(n int, deadline time.Duration) map[string]int {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		var mu sync.Mutex
		answers := map[string]int{}
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(n))
		for range workers {
			wg.Go(func() {
				local := map[string]int{}
				defer func() {
					mu.Lock()
					for k, v := range local {
						answers[k] += v
					}
					mu.Unlock()
				}()
				for left.Add(-1) >= 0 && ctx.Err() == nil {
					name := badName(int(seq.Add(1)))
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/v1/credentials/"+url.PathEscape(name), nil)
					if err != nil {
						t.Errorf("request for %q: %v", name, err)
						return
					}
					req.Header.Set("Authorization", d.Token)
					resp, err := client.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("GET for a bad name: %v", err)
						}
						return
					}
					var body struct{ Code string }
					json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					local[fmt.Sprintf("%d %s", resp.StatusCode, body.Code)]++
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			t.Fatalf("%d requests for bad names did not finish within %v (answers so far %v)", n, deadline, answers)
		}
		return answers
	}

	// Warm up with the same mix, so that the heap, the connections and the
	// daemon's goroutines are at their working size, then let it settle.
	hammer(10_000, 2*time.Minute)
	rss0 := settledRSS(t, d.PID)
	st0 := statusJSON(t, e)
	logStart := time.Now()
	linesBefore := strings.Count(d.log(), "\n")

	var peak atomic.Int64
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if r := vmRSS(t, d.PID); r > peak.Load() {
				peak.Store(r)
			}
		}
	})
	start := time.Now()
	answers := hammer(100_000, 5*time.Minute)
	took := time.Since(start)
	close(stopSampling)
	sampling.Wait()
	rss1 := settledRSS(t, d.PID)
	st1 := statusJSON(t, e)

	perSecond, lines := logRate(d.log(), linesBefore)
	t.Logf("100000 requests in %v (%.0f/s); answers %v", took.Round(time.Millisecond), 100_000/took.Seconds(), answers)
	t.Logf("VmRSS after warm-up %.1f MiB, peak %.1f MiB, after %.1f MiB (%+.2f MiB)",
		mib(rss0), mib(peak.Load()), mib(rss1), mib(rss1-rss0))
	t.Logf("daemon log: %d lines in %v, at most %d in one second", lines, time.Since(logStart).Round(time.Second), perSecond)

	for k, n := range answers {
		if !strings.HasPrefix(k, "400 ") && !strings.HasPrefix(k, "404 ") {
			t.Errorf("%d bad names answered %s, want 400 InvalidProfileName or 404", n, k)
		}
	}
	// Less is no leak: the runtime hands back what the warm-up left.
	if grew := rss1 - rss0; grew > 2<<20 {
		t.Errorf("VmRSS went from %.1f to %.1f MiB over 100,000 bad names, want it to grow by under 2 MiB", mib(rss0), mib(rss1))
	}
	if st0 != st1 {
		t.Errorf("brokerd status changed over 100,000 bad names:\nbefore %s\nafter  %s", st0, st1)
	}
	if perSecond >= 100 {
		t.Errorf("the daemon logged %d lines in one second, want under 100", perSecond)
	}
}

// badName returns the i-th name of the mix: every 50th looks valid but
// names no profile; the others cannot be profile names.
func badName(i int) string {
	b := make([]byte, 1+i%64)
	rand.Read(b)
	tag := strconv.Itoa(i)
	switch {
	case i%50 == 0:
		return "nosuch-" + hex.EncodeToString(b[:min(len(b), 8)]) + "-" + tag
	case i%4 == 0:
		return string(b) + tag // random bytes
	case i%4 == 1:
		return "dev\x00" + tag // a NUL
	case i%4 == 2:
		return "\xff\xfe" + tag + "\xc3" // invalid UTF-8
	default:
		return strings.Repeat("a", 5000-len(tag)) + tag // 5,000 characters
	}
}

// vmRSS reads a process's resident set size in bytes.
func vmRSS(t testing.TB, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the daemon's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// settledRSS waits until a process's VmRSS stops moving (the runtime hands
// freed memory back gradually), at most 20 s, and returns it.
func settledRSS(t testing.TB, pid int) int64 {
	t.Helper()
	last := vmRSS(t, pid)
	steady := 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && steady < 4; {
		time.Sleep(500 * time.Millisecond)
		now := vmRSS(t, pid)
		if d := now - last; d < 128<<10 && d > -128<<10 {
			steady++
		} else {
			steady = 0
		}
		last = now
	}
	return last
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// statusJSON is the profiles and sessions of `brokerd status --json` but
// for the profiles of other tests, whose keys share the keychain.
func statusJSON(t testing.TB, e *Env) string {
	t.Helper()
	st := e.status(t)
	mine := slices.DeleteFunc(st.Profiles, func(p control.Profile) bool { return !strings.HasPrefix(p.Name, e.prefix+"-") })
	b, err := json.Marshal([]any{mine, st.Sessions})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logRate counts the daemon's log lines after the first skip lines, and the
// most that carry the same second in their timestamp.
func logRate(log string, skip int) (perSecond, lines int) {
	all := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if skip > len(all) {
		skip = len(all)
	}
	bySecond := map[string]int{}
	for _, l := range all[skip:] {
		lines++
		if len(l) >= 19 && l[4] == '-' && l[10] == 'T' {
			bySecond[l[:19]]++
		}
	}
	counts := make([]int, 0, len(bySecond))
	for _, n := range bySecond {
		counts = append(counts, n)
	}
	if len(counts) > 0 {
		perSecond = slices.Max(counts)
	}
	return perSecond, lines
}

// buildPlain builds brokerd without the race detector into a directory of
// the test and returns its path.
func buildPlain(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "brokerd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/brokerd/brokerd/cmd/brokerd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build brokerd without -race: %v\n%s", err, out)
	}
	return bin
}
