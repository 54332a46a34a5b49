// Package alibaba emulates the parts of the Alibaba Cloud ECS metadata
// service that announce a preemptible instance's reclaim:
// /latest/meta-data/instance/spot/termination-time (404 until a reclaim,
// then the UTC release time), the instance identity keys, and the
// hardened-mode token endpoint (PUT /latest/api/token), which Options.Hardened
// makes mandatory. It backs `lifeboat emulate alibaba` and the tests of the
// Alibaba notice source.
package alibaba

import (
	"log/slog"
	"net/http"
	"time"

	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/emulate"
	"github.com/lifeboat-dev/lifeboat/internal/emulate/keyserver"
)

// Wire constants of the ECS metadata service.
const (
	PathTerminationTime = "/latest/meta-data/instance/spot/termination-time"
	PathInstanceID      = "/latest/meta-data/instance-id"
	PathInstanceType    = "/latest/meta-data/instance/instance-type"
	PathRegionID        = "/latest/meta-data/region-id"
	PathZoneID          = "/latest/meta-data/zone-id"
	PathToken           = "/latest/api/token"                       //nolint:gosec // G101: a URL path, not a credential
	HeaderTokenTTL      = "X-aliyun-ecs-metadata-token-ttl-seconds" //nolint:gosec // G101: a header name, not a credential
	HeaderToken         = "X-aliyun-ecs-metadata-token"             //nolint:gosec // G101: a header name, not a credential
)

// Defaults for Options fields left empty.
const (
	DefaultInstanceID = "i-bp67acfmxazb4ph3xxxx"
	// DefaultNotice is how long before the release the key appears.
	DefaultNotice = 5 * time.Minute
)

// Options configure an emulated instance.
type Options struct {
	// InstanceID is served at instance-id (DefaultInstanceID if empty).
	InstanceID string
	// Hardened refuses metadata requests without a session token (401).
	Hardened bool
	// Clock times scheduled changes (clock.RealClock if nil).
	Clock clock.WithDelayedExecution
	// Log receives control requests and changes (slog.Default if nil).
	Log *slog.Logger
}

// Server is an emulated ECS metadata service.
type Server struct {
	*keyserver.Server
}

// New returns an emulator of a running preemptible instance.
func New(o Options) *Server {
	if o.InstanceID == "" {
		o.InstanceID = DefaultInstanceID
	}
	s := &Server{keyserver.New(keyserver.Options{
		Source: "alibaba-emulator",
		Values: map[string]string{
			PathInstanceID:   o.InstanceID,
			PathInstanceType: "ecs.g7.large",
			PathRegionID:     "cn-hangzhou",
			PathZoneID:       "cn-hangzhou-h",
		},
		Token:        &keyserver.TokenOptions{Path: PathToken, TTLHeader: HeaderTokenTTL, Header: HeaderToken, MinTTL: 1, MaxTTL: 21600},
		RequireToken: o.Hardened,
		Clock:        o.Clock,
		Log:          o.Log,
	})}
	s.Handle("POST "+emulate.ControlPrefix+"reclaim", s.handleReclaim)
	return s
}

// Reclaim writes the termination time after in: the release time is then
// notice later, in UTC, as ECS writes it ("2006-01-02T15:04:05Z").
func (s *Server) Reclaim(in, notice time.Duration) {
	// Computed now: a fake clock runs AfterFunc callbacks under its lock.
	v := s.Clock().Now().Add(in + notice).UTC().Format("2006-01-02T15:04:05Z")
	s.After(in, func() { s.Set(PathTerminationTime, v) })
}

// ReclaimRequest is the body of POST /lifeboat/reclaim.
type ReclaimRequest struct {
	// In is when the key appears (now if zero).
	In emulate.Duration `json:"in"`
	// Notice is the release time after that (DefaultNotice if zero).
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
