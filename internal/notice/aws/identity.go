package aws

import (
	"context"
	"strings"
	"time"
)

// identity is what notices say about the instance, read once (lazily, when
// the first notice is built); fields that failed are retried on the next.
type identity struct {
	instanceID, instanceType, zone, region string
}

func (id identity) attributes() map[string]string {
	a := map[string]string{}
	for k, v := range map[string]string{
		"instance-type": id.instanceType, "zone": id.zone, "region": id.region,
	} {
		if v != "" {
			a[k] = v
		}
	}
	return a
}

// identity returns the instance's identity, reading what is still unknown.
// No read starts once RequestTimeout has passed (wall time: this bounds I/O),
// so a slow metadata service delays a notice by at most two timeouts.
// Failures only leave fields empty.
func (s *Source) identity(ctx context.Context) identity {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	start := time.Now()
	for _, f := range []struct {
		path  string
		field *string
	}{
		{"instance-id", &s.id.instanceID},
		{"instance-type", &s.id.instanceType},
		{"placement/availability-zone", &s.id.zone},
		{"placement/region", &s.id.region},
	} {
		if *f.field != "" || ctx.Err() != nil || time.Since(start) > s.cfg.RequestTimeout {
			continue
		}
		if v, found, err := s.getText(ctx, f.path, plausibleValue); err == nil && found {
			*f.field = v
		}
	}
	return s.id
}

// plausibleValue accepts identifiers such as i-0abc, m5.large, us-east-1a.
func plausibleValue(v string) bool {
	if v == "" || len(v) > 128 {
		return false
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._:", r)
		if !ok {
			return false
		}
	}
	return true
}
