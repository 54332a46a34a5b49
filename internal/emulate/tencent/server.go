// Package tencent emulates the part of the Tencent Cloud CVM metadata
// service that announces a spot instance's reclaim:
// /latest/meta-data/spot/termination-time (404 until a reclaim, then the
// reclaim time as "2006-01-02 15:04:05" in UTC+8, without a zone marker)
// and the instance identity keys. It backs `lifeboat emulate tencent` and
// the tests of the Tencent notice source.
package tencent

import (
	"log/slog"
	"net/http"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	"github.com/lifeboat-dev/lifeboat/internal/emulate/keyserver"
)

// Wire constants of the CVM metadata service.
const (
	PathTerminationTime = "/latest/meta-data/spot/termination-time"
	PathInstanceID      = "/latest/meta-data/instance-id"
	PathZone            = "/latest/meta-data/placement/zone"
	// TimeLayout is how CVM writes the termination time (UTC+8, no zone).
	TimeLayout = "2006-01-02 15:04:05"
)

// Defaults for Options fields left empty.
const (
	DefaultInstanceID = "ins-lifeboat1"
	// DefaultNotice is how long before the reclaim the key appears (about
	// two minutes, like EC2; Tencent does not document it).
	DefaultNotice = 2 * time.Minute
)

// UTC8 is the zone CVM writes the termination time in.
var UTC8 = time.FixedZone("UTC+8", 8*60*60)

// Options configure an emulated instance.
type Options struct {
	// InstanceID is served at instance-id (DefaultInstanceID if empty).
	InstanceID string
	// Clock times scheduled changes (clock.RealClock if nil).
	Clock clock.WithDelayedExecution
	// Log receives control requests and changes (slog.Default if nil).
	Log *slog.Logger
}

// Server is an emulated CVM metadata service.
type Server struct {
	*keyserver.Server
}

// New returns an emulator of a running spot instance.
func New(o Options) *Server {
	if o.InstanceID == "" {
		o.InstanceID = DefaultInstanceID
	}
	s := &Server{keyserver.New(keyserver.Options{
		Source: "tencent-emulator",
		Values: map[string]string{PathInstanceID: o.InstanceID, PathZone: "ap-guangzhou-3"},
		Clock:  o.Clock,
		Log:    o.Log,
	})}
	s.Handle("POST "+emulate.ControlPrefix+"reclaim", s.handleReclaim)
	return s
}

// Reclaim writes the termination time after in: the reclaim time is then
// notice later, written in UTC+8 without a zone as CVM does.
func (s *Server) Reclaim(in, notice time.Duration) {
	// Computed now: a fake clock runs AfterFunc callbacks under its lock.
	v := s.Clock().Now().Add(in + notice).In(UTC8).Format(TimeLayout)
	s.After(in, func() { s.Set(PathTerminationTime, v) })
}

// ReclaimRequest is the body of POST /lifeboat/reclaim.
type ReclaimRequest struct {
	// In is when the key appears (now if zero).
	In emulate.Duration `json:"in"`
	// Notice is the reclaim time after that (DefaultNotice if zero).
	Notice emulate.Duration `json:"notice"`
}

func (s *Server) handleReclaim(w http.ResponseWriter, r *http.Request) {
	var b ReclaimRequest
	if !keyserver.Decode(w, r, &b) {
		return
	}
	if b.In < 0 || b.Notice < 0 {
		keyserver.BadRequest(w, &emulate.ValidationError{Field: "in/notice", Problem: "must not be negative"})
		return
	}
	if b.Notice == 0 {
		b.Notice = emulate.Duration(DefaultNotice)
	}
	s.Reclaim(b.In.D(), b.Notice.D())
	w.WriteHeader(http.StatusNoContent)
}
