package aws

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Wire constants of IMDSv2.
const (
	// TokenPath is where IMDSv2 session tokens are created with PUT.
	TokenPath = "/latest/api/token" //nolint:gosec // G101: a URL path, not a credential
	// MetadataPrefix starts every metadata path.
	MetadataPrefix = "/latest/meta-data/"
	// TokenTTLHeader carries the requested TTL (request) and granted TTL
	// (response) in seconds.
	TokenTTLHeader = "X-aws-ec2-metadata-token-ttl-seconds" //nolint:gosec // G101: a header name, not a credential
	// TokenHeader carries the session token on metadata requests.
	TokenHeader = "X-aws-ec2-metadata-token" //nolint:gosec // G101: a header name, not a credential
)

// handleToken issues a session token: the TTL header must be 1..21600 (400
// otherwise, as AWS does); a request relayed through a proxy (with
// X-Forwarded-For) is refused with 403, as AWS does.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	secs, err := strconv.Atoi(strings.TrimSpace(r.Header.Get(TokenTTLHeader)))
	if err != nil || secs < 1 || secs > int(MaxTokenTTL/time.Second) {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	ttl := min(time.Duration(secs)*time.Second, s.opts.TokenTTLMax)
	tok, err := newToken()
	if err != nil {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	now := s.now()
	s.mu.Lock()
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now.Add(ttl)
	s.mu.Unlock()
	w.Header().Set(TokenTTLHeader, strconv.Itoa(int(ttl/time.Second)))
	writeText(w, tok)
}

// requireToken rejects metadata requests with 401 when their token is
// invalid or expired, or when they carry none and IMDSv1 is disabled.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get(TokenHeader)
		if tok == "" && s.opts.IMDSv1 {
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		exp, ok := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !s.now().Before(exp) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ExpireTokens invalidates every session token issued so far, as if their
// TTL had passed.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// handleMetadata serves one metadata path, or 404 where AWS has nothing.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	body, ok := s.metadata(r.PathValue("path"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeText(w, body)
}

// metadata returns the body for a path below /latest/meta-data/.
func (s *Server) metadata(path string) (string, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch path {
	case "":
		return "ami-id\nautoscaling/\nevents/\ninstance-id\ninstance-type\nlocal-hostname\nplacement/\nspot/", true
	case "instance-id":
		return s.opts.InstanceID, true
	case "instance-type":
		return s.opts.InstanceType, true
	case "ami-id":
		return "ami-0abcdef1234567890", true
	case "local-hostname":
		return "ip-10-0-0-1." + s.opts.Region + ".compute.internal", true
	case "placement/availability-zone":
		return s.opts.Zone, true
	case "placement/region":
		return s.opts.Region, true
	case "spot/instance-action":
		return s.spotActionLocked(now)
	case "spot/termination-time":
		return s.terminationTimeLocked(now)
	case "events/recommendations/rebalance":
		return s.rebalanceLocked(now)
	case "events/maintenance/scheduled":
		return s.maintenanceJSONLocked(now, false), true
	case "events/maintenance/history":
		return s.maintenanceJSONLocked(now, true), true
	case "autoscaling/target-lifecycle-state":
		return s.asg.at(now), true
	}
	return "", false
}

func writeText(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = fmt.Fprint(w, body)
}

func newToken() (string, error) {
	b := make([]byte, 42)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}
