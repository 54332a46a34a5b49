// Package awsfake serves local stand-ins for the AWS APIs lifeboat's queue and
// Lambda modes call, speaking the same wire protocols the real services do so
// the real aws-sdk-go-v2 clients can talk to them: SQS over the AWS JSON 1.0
// protocol (with visibility timeouts, receipt handles, receive counts, long
// polling and dead-letter redrive), Auto Scaling lifecycle actions over the
// AWS query protocol (with heartbeat timeouts), EC2 DescribeInstances over the
// EC2 query protocol, and S3 GetObject (path style). Tests start one with
// httptest.NewServer(awsfake.New(...)); `lifeboat queue emulate` serves one
// for demos. It checks no signatures and keeps everything in memory.
package awsfake

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"k8s.io/utils/clock"
)

// Account and Region are what the fake reports for ARNs and queue URLs.
const (
	Account = "123456789012"
	Region  = "us-east-1"
)

// Server routes requests to the fake services. It implements http.Handler.
type Server struct {
	// SQS is the queue service.
	SQS *SQS
	// AutoScaling holds lifecycle actions.
	AutoScaling *AutoScaling
	// EC2 holds instances.
	EC2 *EC2
	// S3 holds objects.
	S3 *S3
}

// New returns a server whose services share clk (clock.RealClock{} if nil).
// baseURL is the server's own address, used in the queue URLs it hands out;
// it can be set later with SetBaseURL once a listener exists.
func New(clk clock.WithTicker) *Server {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Server{SQS: newSQS(clk), AutoScaling: newAutoScaling(clk), EC2: newEC2(), S3: newS3()}
}

// SetBaseURL sets the scheme://host:port queue URLs start with.
func (s *Server) SetBaseURL(u string) { s.SQS.setBaseURL(strings.TrimRight(u, "/")) }

// ServeHTTP dispatches on the protocol: X-Amz-Target for SQS, the SigV4
// credential scope's service (or the Action) for the query protocols, and
// plain GETs for S3.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
		s.SQS.ServeHTTP(w, r)
		return
	}
	switch signingService(r) {
	case "s3":
		s.S3.ServeHTTP(w, r)
		return
	case "autoscaling":
		s.AutoScaling.ServeHTTP(w, r)
		return
	case "ec2":
		s.EC2.ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.S3.ServeHTTP(w, r)
		return
	}
	if err := r.ParseForm(); err == nil {
		switch r.PostForm.Get("Action") {
		case "CompleteLifecycleAction", "RecordLifecycleActionHeartbeat", "DetachInstances", "DescribeAutoScalingInstances":
			s.AutoScaling.ServeHTTP(w, r)
			return
		case "DescribeInstances":
			s.EC2.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "awsfake: unrecognised request", http.StatusBadRequest)
}

// signingService extracts the service from a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, ...".
func signingService(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
