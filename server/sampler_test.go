package server

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

func TestSampler(t *testing.T) {
	tests := []struct {
		first, n, want int
	}{
		{10, 5, 5},
		{10, 10, 10},
		{10, 1010, 11},
		{10, 5000, 14},
		{100, 5000, 104},
	}
	for _, tt := range tests {
		// The fake clock never moves: one window.
		s := sampler{first: uint64(tt.first), window: time.Second, clock: clockwork.NewFakeClock()}
		got := 0
		for range tt.n {
			if s.sample() {
				got++
			}
		}
		if got != tt.want {
			t.Errorf("sampler{first: %d} let %d of %d lines through, want %d", tt.first, got, tt.n, tt.want)
		}
	}
}

// TestSampler_Window checks that the first line of a window arms one timer
// on the injected clock, and that the next window lets the first lines
// through again.
func TestSampler_Window(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := sampler{first: 2, window: time.Second, clock: clock}
	var got []bool
	for range 3 {
		got = append(got, s.sample())
	}
	if want := []bool{true, true, false}; !slices.Equal(got, want) {
		t.Fatalf("sample() in the first window = %v, want %v", got, want)
	}
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatalf("waiting for the window's timer: %v", err)
	}

	clock.Advance(999 * time.Millisecond)
	if s.sample() {
		t.Errorf("sample() 999ms into the window = true, want false: the window is a second")
	}
	clock.Advance(time.Millisecond)
	// The timer's function runs on a goroutine of its own.
	for s.n.Load() != 0 {
		runtime.Gosched()
	}
	got = got[:0]
	for range 3 {
		got = append(got, s.sample())
	}
	if want := []bool{true, true, false}; !slices.Equal(got, want) {
		t.Errorf("sample() in the second window = %v, want %v", got, want)
	}
}
