package trim

import (
	"runtime/debug"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// Idle gives back memory after work that ran code the process seldom runs
// (start-up, a fetch from STS or the keychain): it collects the heap and
// returns its free pages to the system (debug.FreeOSMemory; collecting
// reads the code's tables that Executable would otherwise drop too soon),
// then runs Executable. Where it can, it does so while the process is
// still awake from that work: any wakeup of an idle Go process, a timer's
// too, keeps the runtime polling for as long as it runs, 4 to 58 context
// switches for a trim on its own (scripts/idle).
//
// Work that ends Gap or more after the last trim is trimmed at once. Work
// closer to it (a burst of fetches) is trimmed Gap after the burst's last,
// from a timer, as is start-up when no work follows within Gap. It is
// safe for concurrent use.
type Idle struct {
	clock clockwork.Clock
	gap   time.Duration
	log   *zap.Logger
	drop  func() (int, error)

	mu    sync.Mutex
	timer clockwork.Timer // armed for a burst's trim, else nil
	last  time.Time       // of the last trim; zero before the first
	done  bool
	wg    sync.WaitGroup // trims under way
}

// NewIdle returns an Idle that trims at most once per gap for work in a
// burst.
func NewIdle(clock clockwork.Clock, gap time.Duration, log *zap.Logger) *Idle {
	return &Idle{clock: clock, gap: gap, log: log, drop: Executable}
}

// Started arms the trim of start-up's pages Gap from now; the first Busy
// before then trims at once instead.
func (i *Idle) Started() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.later()
}

// Busy says that work ran seldom-run code just now.
func (i *Idle) Busy() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.done {
		return
	}
	if now := i.clock.Now(); !i.last.IsZero() && now.Sub(i.last) < i.gap {
		i.later()
		return
	}
	if i.timer != nil {
		i.timer.Stop()
		i.timer = nil
	}
	i.start()
}

// Stop ends it and waits for a trim under way.
func (i *Idle) Stop() {
	i.mu.Lock()
	i.done = true
	if i.timer != nil {
		i.timer.Stop()
	}
	i.mu.Unlock()
	i.wg.Wait()
}

// later arms or puts off the timer to Gap from now. The caller holds mu.
func (i *Idle) later() {
	switch {
	case i.done:
	case i.timer == nil:
		i.timer = i.clock.AfterFunc(i.gap, i.fire)
	default:
		i.timer.Reset(i.gap)
	}
}

func (i *Idle) fire() {
	i.mu.Lock()
	defer i.mu.Unlock()
	// A timer that Busy stopped too late finds a trim within Gap.
	if i.done || (!i.last.IsZero() && i.clock.Now().Sub(i.last) < i.gap) {
		return
	}
	i.timer = nil
	i.start()
}

// start runs a trim in the background. The caller holds mu and has
// checked done, so that Stop's Wait comes after the Add.
func (i *Idle) start() {
	i.last = i.clock.Now()
	i.wg.Go(i.trim)
}

func (i *Idle) trim() {
	debug.FreeOSMemory()
	if n, err := i.drop(); err != nil {
		i.log.Debug("could not trim the executable's resident pages", zap.Error(err))
	} else {
		i.log.Debug("trimmed the executable's resident pages", zap.Int("mapped_bytes", n))
	}
}
