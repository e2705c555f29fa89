package trim

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const smaps = `00400000-00c00000 r-xp 00000000 fd:01 42 /usr/bin/brokerd
Size:               8192 kB
Rss:                7000 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw sd
00c00000-01400000 r--p 00800000 fd:01 42 /usr/bin/brokerd
Rss:                6000 kB
Anonymous:             0 kB
01400000-01500000 r--p 01000000 fd:01 42 /usr/bin/brokerd
Rss:                  64 kB
Anonymous:             8 kB
01500000-01600000 rw-p 01100000 fd:01 42 /usr/bin/brokerd
Anonymous:           300 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 7 /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 fd:01 42 /usr/bin/brokerd (deleted)
Anonymous:             0 kB
7f0000400000-7f0000500000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
`

// Only the executable's mappings that are read-only, private and never
// written are dropped.
func TestReadonlyMappings(t *testing.T) {
	got, err := readonlyMappings(bufio.NewScanner(strings.NewReader(smaps)), "/usr/bin/brokerd")
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{{0x400000, 0xc00000}, {0xc00000, 0x1400000}}
	if !slices.Equal(got, want) {
		t.Errorf("readonlyMappings = %#v, want %#v", got, want)
	}
	if _, err := readonlyMappings(bufio.NewScanner(strings.NewReader("zz-00 r-xp 0 0 0 /x\n")), "/x"); err == nil {
		t.Error("readonlyMappings of a malformed header = nil error, want one")
	}
}

// Trimming the running test binary lowers its file-backed RSS, and the
// code it dropped still runs.
func TestExecutable(t *testing.T) {
	before := rssFile(t)
	n, err := Executable()
	if err != nil || n == 0 {
		t.Fatalf("Executable() = %d, %v; want some bytes dropped", n, err)
	}
	if after := rssFile(t); after >= before {
		t.Errorf("RssFile %d kB after trimming, %d kB before; want less", after, before)
	}
	if got := strconv.Itoa(42); got != "42" { // code paged back in
		t.Errorf("strconv.Itoa(42) = %q after trimming", got)
	}
}

func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
