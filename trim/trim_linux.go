package trim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Executable drops the pages of the running executable's code and
// constants from the process's resident set. Start-up touches a little of
// every package (each init function, and the kernel maps 64 KiB around
// each page touched), so a daemon that has started holds megabytes of its
// binary it will not read again; the kernel frees them only under memory
// pressure, and until then they count in the RSS that users see. The
// pages stay in the page cache: what the daemon runs later comes back with
// a minor fault.
//
// Only mappings of the executable that the process cannot write and has
// never written (no anonymous, copy-on-write pages: relocations of a
// dynamically linked binary are written before they turn read-only) are
// dropped, since dropping a written page would bring back the file's
// contents. It returns how many bytes of mappings it dropped.
func Executable() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	defer f.Close()
	maps, err := readonlyMappings(bufio.NewScanner(f), exe)
	if err != nil {
		return 0, fmt.Errorf("trim: read /proc/self/smaps: %w", err)
	}
	dropped := 0
	for _, m := range maps {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return dropped, fmt.Errorf("trim: madvise %#x-%#x: %w", m.start, m.end, errno)
		}
		dropped += int(m.end - m.start)
	}
	return dropped, nil
}

type mapping struct{ start, end uintptr }

// readonlyMappings lists the mappings of file exe in smaps that are
// private, not writable and hold no anonymous pages.
func readonlyMappings(s *bufio.Scanner, exe string) ([]mapping, error) {
	var (
		out  []mapping
		cur  mapping
		keep bool // cur is a candidate so far
	)
	flush := func() {
		if keep {
			out = append(out, cur)
		}
		keep = false
	}
	for s.Scan() {
		line := s.Bytes()
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if name := string(f[0]); name[len(name)-1] != ':' {
			// A mapping's header: start-end perms offset dev inode path.
			flush()
			if len(f) < 6 || string(bytes.Join(f[5:], []byte(" "))) != exe {
				continue
			}
			perms := string(f[1])
			if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
				continue
			}
			start, end, ok := bytes.Cut(f[0], []byte("-"))
			a, err1 := strconv.ParseUint(string(start), 16, 64)
			b, err2 := strconv.ParseUint(string(end), 16, 64)
			if !ok || err1 != nil || err2 != nil || b <= a {
				return nil, fmt.Errorf("malformed mapping %q", line)
			}
			cur, keep = mapping{uintptr(a), uintptr(b)}, true
			continue
		}
		if keep && string(f[0]) == "Anonymous:" && (len(f) < 2 || string(f[1]) != "0") {
			keep = false
		}
	}
	flush()
	return out, s.Err()
}
