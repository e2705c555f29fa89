//go:build integration && unix

package motoserver

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	url := Run(t)
	resp, err := http.Get(url + "/moto-api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/moto-api/ = %s, want 200 OK", url, resp.Status)
	}
}

func TestServer_Stop(t *testing.T) {
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if log := s.Log(); !strings.Contains(log, "GET /moto-api/") {
		t.Errorf("Log() = %q, want the readiness request", log)
	}
	s.Stop()
	s.Stop() // a second Stop does nothing
	if !s.cmd.ProcessState.Exited() && s.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("moto_server ended with %v, want SIGTERM to end it", s.cmd.ProcessState)
	}
	if resp, err := http.Get(s.URL + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s/moto-api/ after Stop = %s, want no answer", s.URL, resp.Status)
	}
}

// TestStart_portTaken checks that Start tries another port when moto_server
// exits at start, as it does when another process took the port.
func TestStart_portTaken(t *testing.T) {
	real, err := exec.LookPath(binary)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\necho started >>\"$0.count\"\n"+
		"[ \"$(wc -l <\"$0.count\")\" -gt 1 ] || { echo 'Address already in use' >&2; exit 1; }\nexec %q \"$@\"\n", real)
	if err := os.WriteFile(filepath.Join(bin, binary), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	url := Run(t)
	b, _ := os.ReadFile(filepath.Join(bin, binary+".count"))
	if n := strings.Count(string(b), "started"); n != 2 {
		t.Errorf("moto_server started %d times, want 2 (one failure, then %s)", n, url)
	}
}

// TestStart_diesWithParent kills a test binary that started a moto_server
// and checks that moto_server dies with it.
func TestStart_diesWithParent(t *testing.T) {
	if os.Getenv("MOTOSERVER_TEST_HELPER") == "1" {
		s, err := Start(os.Getenv("MOTOSERVER_TEST_DIR"))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(s.cmd.Process.Pid)
		select {} // until killed
	}
	if runtime.GOOS != "linux" {
		t.Skip("only Linux has a parent-death signal")
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestStart_diesWithParent$")
	helper.Env = append(os.Environ(), "MOTOSERVER_TEST_HELPER=1", "MOTOSERVER_TEST_DIR="+t.TempDir())
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper printed %q, want moto_server's pid", line)
	}
	helper.Process.Kill()
	helper.Wait()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("moto_server (pid %d) still runs 10 s after the process that started it was killed", pid)
		}
	}
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}
