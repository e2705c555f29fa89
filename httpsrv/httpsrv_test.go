package httpsrv_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/brokerd/brokerd/httpsrv"
)

func TestNew(t *testing.T) {
	h := http.NotFoundHandler()
	s := httpsrv.New(h)
	if s.ReadHeaderTimeout != 5*time.Second || s.IdleTimeout != 2*time.Minute || s.MaxHeaderBytes != 16<<10 || s.WriteTimeout != 0 || s.Handler == nil {
		t.Errorf("New(h) = ReadHeaderTimeout %v, IdleTimeout %v, MaxHeaderBytes %d, WriteTimeout %v, Handler %v; want 5s, 2m, 16384, 0, h",
			s.ReadHeaderTimeout, s.IdleTimeout, s.MaxHeaderBytes, s.WriteTimeout, s.Handler)
	}
}
