package trim

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// Idle runs Executable once the process has been quiet for a while after
// work that ran code it seldom runs (start-up, a fetch from STS or the
// keychain): each call to Busy puts it off to Delay later. Between
// bursts of such work it costs no wakeup. It is safe for concurrent use.
type Idle struct {
	clock clockwork.Clock
	delay time.Duration
	log   *zap.Logger
	drop  func() (int, error)

	mu    sync.Mutex
	timer clockwork.Timer // nil until the first Busy
	done  bool
}

// NewIdle returns an Idle that trims delay after the last Busy.
func NewIdle(clock clockwork.Clock, delay time.Duration, log *zap.Logger) *Idle {
	return &Idle{clock: clock, delay: delay, log: log, drop: Executable}
}

// Busy puts the trim off to Delay from now.
func (i *Idle) Busy() {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case i.done:
	case i.timer == nil:
		i.timer = i.clock.AfterFunc(i.delay, i.trim)
	default:
		i.timer.Reset(i.delay)
	}
}

// Stop ends it; a trim under way finishes.
func (i *Idle) Stop() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.done = true
	if i.timer != nil {
		i.timer.Stop()
	}
}

func (i *Idle) trim() {
	if n, err := i.drop(); err != nil {
		i.log.Debug("could not trim the executable's resident pages", zap.Error(err))
	} else {
		i.log.Debug("trimmed the executable's resident pages", zap.Int("mapped_bytes", n))
	}
}
